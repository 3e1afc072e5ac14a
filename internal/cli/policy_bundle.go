package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/wardenhq/warden/internal/fetch"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
)

type policyBuildFlags struct {
	signingKey, kid  string
	out              string
	revision         string
	insecureUnsigned bool
}

func newPolicyBuildCmd(stdio IO) *cobra.Command {
	var f policyBuildFlags
	cmd := &cobra.Command{
		Use:   "build DIR --signing-key KEY -o bundle.tar.gz",
		Short: "Validate, test and sign a policy bundle",
		Long: `Build a signed policy bundle from a source directory:

  DIR/policies/*.cedar      Cedar policies (at least one)
  DIR/schema.cedarschema    the schema every policy is validated against
  DIR/entities.json         static entities (optional)
  DIR/tests/*.yaml          test cases (optional, but run when present)

Entries whose names start with a dot (.git) and top-level files that are not
bundle content (README.md, LICENSE, a bundle.tar.gz built there) are ignored.
Anything else out of place is refused (policy/x.cedar, policies/x.txt, a
top-level x.cedar or schema.json, another directory, a link), so that a
misnamed policy cannot silently drop out of the bundle.

The build stops, and writes nothing, when a policy does not parse or does not
validate against the schema (an unknown action, entity type or attribute is
reported with file and line), when entities.json does not fit the schema, or
when a test case fails. Test cases run with the default claim mapping (roles,
scope/scp, groups, team, tenant, env, client_id/azp).

The output is a deterministic tar.gz: the files, .manifest.json (version,
revision, creation time, and the SHA-256 and size of every file) and
.signature.jws (a detached JWS over the manifest, header alg, kid and typ
"warden-bundle+jws"). The creation time is now, or SOURCE_DATE_EPOCH when
set (reproducible builds). The revision defaults to the creation time and a
short hash of the files (20261124T101500Z-3f2a9c0b1d4e). The digest printed,
"sha256:" and the SHA-256 of the manifest, is the one stamped into every
decision made with the bundle.

The signing key is a private JWK or PEM file; its "alg" (or the default for
its type: EdDSA, ES256/384/512 by curve, RS256, HS256) signs, and its "kid"
(or its RFC 7638 thumbprint when it has none) names it. Nodes select the
verification key by that kid.

Exit codes: 0 built; 1 the bundle is invalid (layout, policies, schema,
entities, a failing test); 2 usage error, unreadable directory or key, or the
output could not be written.

SECURITY CONSIDERATIONS
  Whoever holds the signing key decides what every node enforces: keep it
  off the nodes, mode 0600, ideally in the CI that builds from reviewed code.
  Nodes trust only the public keys they are configured with.
  An HMAC (HS*) key is a shared secret: every node that can verify such a
  bundle could also sign one. Prefer EdDSA or ECDSA.
  --insecure-unsigned writes a bundle without a signature; nodes refuse it
  unless they are told to accept unsigned bundles, which lets anyone who can
  write the bundle file or answer the bundle URL decide every request.`,
		Example: `  # Generate a signing key once, then build and sign the reference bundle
  warden keys generate --out ./keys
  warden policy build examples/policy --signing-key ./keys/private.jwk -o bundle.tar.gz

  # A named revision, reproducibly
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) warden policy build ./policy \
    --signing-key ./keys/private.jwk --revision "$(git describe --tags)" -o bundle.tar.gz

  # Check it as a node would
  warden policy verify bundle.tar.gz --jwks ./keys/jwks.json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyBuild(cmd.Context(), stdio, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.signingKey, "signing-key", "", "private key file (JWK or PEM) to sign the bundle with (required)")
	fl.StringVar(&f.kid, "kid", "", "the key to use when the key file holds several")
	fl.StringVarP(&f.out, "out", "o", "", "bundle file to write (required; mode 0644, replaced atomically)")
	fl.StringVar(&f.revision, "revision", "", "bundle revision (default: creation time and a short hash of the files)")
	fl.BoolVar(&f.insecureUnsigned, "insecure-unsigned", false, "write the bundle WITHOUT a signature (nodes refuse it unless told to accept unsigned bundles)")
	return cmd
}

func runPolicyBuild(ctx context.Context, stdio IO, f policyBuildFlags, dir string) error {
	switch {
	case f.out == "":
		return usageErrorf("policy build: -o is required (the bundle file to write)")
	case f.signingKey == "" && !f.insecureUnsigned:
		return usageErrorf("policy build: --signing-key is required (or build an unsigned bundle with --insecure-unsigned)")
	case f.signingKey != "" && f.insecureUnsigned:
		return usageErrorf("policy build: --signing-key and --insecure-unsigned contradict each other")
	case f.kid != "" && f.signingKey == "":
		return usageErrorf("policy build: --kid needs --signing-key")
	}
	created, err := buildTime(stdio)
	if err != nil {
		return err
	}
	var key *jwk.Key
	if f.signingKey != "" {
		if key, err = loadSigningKey(f.signingKey, f.kid); err != nil {
			return usageErrorf("policy build: --signing-key: %w", err)
		}
	}
	if fi, err := os.Stat(dir); err != nil {
		return usageErrorf("policy build: %w", err)
	} else if !fi.IsDir() {
		return usageErrorf("policy build: %s is not a directory", dir)
	}

	files, err := bundle.ReadDir(dir)
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			return invalidErrorf("policy build: %s", bundleProblem(be, dir))
		}
		return usageErrorf("policy build: %w", err)
	}
	data, b, err := bundle.Build(files, bundle.BuildOptions{
		Revision:         f.revision,
		Created:          created,
		Key:              key,
		InsecureUnsigned: f.insecureUnsigned,
	})
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			return invalidErrorf("policy build: %s", bundleProblem(be, dir))
		}
		return usageErrorf("policy build: %w", err) // key or revision
	}
	rev, digest := b.Meta()
	meta := policy.Meta{Revision: rev, Digest: digest}

	// Compile and test exactly the bytes that go into the bundle.
	compiled, err := policy.Compile(b.FS(), meta)
	if err != nil {
		return reportProblems(stdio, "policy build", dir, err)
	}
	tests := "none (no tests/*.yaml)"
	report, err := policy.RunTests(ctx, b.FS(), bundleTestOptions(stdio, meta))
	switch {
	case errors.Is(err, policy.ErrNoTests):
		fmt.Fprintf(stdio.Stderr, "warning: %s has no test cases (tests/*.yaml)\n", dir)
	case err != nil:
		return reportProblems(stdio, "policy build", dir, err)
	case report.Failed > 0:
		if err := report.Write(stdio.Stderr, dir); err != nil {
			return err
		}
		return invalidErrorf("policy build: %d test case(s) failed; no bundle written", report.Failed)
	default:
		tests = fmt.Sprintf("%d passed", report.Passed)
	}

	if err := writeKeyFile(f.out, data, 0o644, true); err != nil {
		return usageErrorf("policy build: %w", err)
	}
	signer := "NONE: UNSIGNED (--insecure-unsigned)"
	if b.Signed {
		signer = fmt.Sprintf("%s (%s)", b.KeyID, b.Alg)
	} else {
		fmt.Fprintf(stdio.Stderr, "warning: %s is NOT signed; nodes load it only when configured to accept unsigned bundles\n", f.out)
	}
	w := stdio.Stdout
	fmt.Fprintf(w, "wrote %s\n", f.out)
	fmt.Fprintf(w, "revision: %s\n", rev)
	fmt.Fprintf(w, "digest:   %s\n", digest)
	fmt.Fprintf(w, "created:  %s\n", b.Manifest.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "files:    %d\n", len(b.Manifest.Files))
	fmt.Fprintf(w, "policies: %d\n", len(compiled.Policies()))
	fmt.Fprintf(w, "tests:    %s\n", tests)
	fmt.Fprintf(w, "key:      %s\n", signer)
	return nil
}

// buildTime is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func buildTime(stdio IO) (time.Time, error) {
	s := stdio.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return stdio.Now(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 || sec > 253402300799 { // 9999-12-31T23:59:59Z
		return time.Time{}, usageErrorf("policy build: SOURCE_DATE_EPOCH=%q is not a Unix time in seconds", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// bundleTestOptions runs a bundle's test cases the way "warden policy test"
// does: the default claim mapping, tokens decoded without verification, the
// command's clock.
func bundleTestOptions(stdio IO, meta policy.Meta) policy.TestOptions {
	return policy.TestOptions{
		Principal: authn.ClaimMapping{}.Principal,
		DecodeToken: func(token string) (map[string]any, error) {
			p, err := authn.Parse(token, 0)
			if err != nil {
				return nil, err
			}
			return p.Claims, nil
		},
		Clock: stdio.Now,
		Meta:  meta,
	}
}

// reportProblems prints each problem of a *policy.CompileError on stderr
// (paths under dir) and returns an invalid-input error; other errors are
// returned as they are.
func reportProblems(stdio IO, cmd, dir string, err error) error {
	var ce *policy.CompileError
	if !errors.As(err, &ce) {
		return invalidErrorf("%s: %w", cmd, err)
	}
	for _, p := range ce.Problems {
		if p.File != "" {
			p.File = filepath.Join(dir, filepath.FromSlash(p.File))
		}
		fmt.Fprintln(stdio.Stderr, oneLine(p.String()))
	}
	return invalidErrorf("%s: %d problem(s) in %s; no bundle written", cmd, len(ce.Problems), dir)
}

// bundleProblem renders a *bundle.Error for a person: the reason code, the
// file (under dir, for a source directory) and what is wrong with it.
func bundleProblem(be *bundle.Error, dir string) string {
	msg := "<nil>"
	if be.Err != nil {
		msg = be.Err.Error()
	}
	switch {
	case be.Path == "":
		return fmt.Sprintf("%s: %s", be.Reason, msg)
	case dir != "":
		return fmt.Sprintf("%s: %s: %s", be.Reason, filepath.Join(dir, filepath.FromSlash(be.Path)), msg)
	}
	return fmt.Sprintf("%s: %s: %s", be.Reason, be.Path, msg)
}

type policyVerifyFlags struct {
	key, jwks        string
	insecureUnsigned bool
}

func newPolicyVerifyCmd(stdio IO) *cobra.Command {
	var f policyVerifyFlags
	cmd := &cobra.Command{
		Use:   "verify BUNDLE (--key FILE | --jwks FILE|URL)",
		Short: "Verify a policy bundle's signature and contents as a node would",
		Long: `Verify a bundle with the code a node runs before loading it, in this order and
before any policy is parsed:

  1. the archive: within size limits (8 MiB compressed, 16 MiB of files,
     4 MiB per file, 1000 entries, counted while decompressing), regular
     files only (no links, devices or directories), clean relative paths
     inside the bundle layout (no absolute paths, no "..", no duplicates);
  2. the signature over .manifest.json with the trusted keys, selected by
     kid (a key without kid, such as a PEM key, by its RFC 7638 thumbprint);
  3. the manifest (strict JSON);
  4. every file against its SHA-256 and size, none missing, none unlisted.

Then the policies are compiled and validated against the schema, to say
whether a node would load the bundle.

Exactly one source of trusted keys:
  --key FILE        a public key as PEM, a JWK or a JWK Set (a private key
                    file is accepted and only its public half used; for HS*
                    the "oct" JWK secret)
  --jwks FILE|URL   a JWK Set, from a file or fetched once over HTTPS
                    (plain HTTP only for loopback addresses)

Exit codes:
  0  valid: prints the revision, digest, creation time, files and signing key
  1  invalid: one line "invalid bundle: REASON: detail", where REASON is a
     stable code: format, too_large, path, link, layout, unsigned, signature,
     untrusted_key, manifest, digest, unlisted_file, missing_file, or policy
     (verified, but the policies would not load)
  2  usage error, or an unreadable bundle or key file

SECURITY CONSIDERATIONS
  The keys you name are the only ones trusted; nothing in the bundle can
  name or carry a key (the signature header may hold only alg, kid and typ,
  and alg "none" is refused). --insecure-unsigned accepts a bundle that has
  no signature at all, so it shows only that the files match the manifest,
  which anyone could have written.`,
		Example: `  # Verify against the public JWK Set written by "warden keys generate"
  warden policy verify bundle.tar.gz --jwks ./keys/jwks.json

  # Verify against a PEM public key
  warden policy verify bundle.tar.gz --key ./bundle-signing.pub.pem`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyVerify(cmd.Context(), stdio, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.key, "key", "", "trusted key file: PEM, JWK or JWK Set")
	fl.StringVar(&f.jwks, "jwks", "", "trusted keys: a JWK Set file, or an https:// URL to fetch it from")
	fl.BoolVar(&f.insecureUnsigned, "insecure-unsigned", false, "accept a bundle WITHOUT a signature (checks only that the files match the manifest)")
	return cmd
}

func runPolicyVerify(ctx context.Context, stdio IO, f policyVerifyFlags, path string) error {
	var keys []*jwk.Key
	var err error
	switch {
	case f.key != "" && f.jwks != "":
		return usageErrorf("policy verify: give one of --key and --jwks, not both")
	case f.key != "":
		if keys, err = jwk.LoadFile(f.key); err != nil {
			return usageErrorf("policy verify: --key: %w", err)
		}
	case f.jwks != "":
		if keys, err = loadJWKS(ctx, fetch.Client(stdio.HTTPClient, defaultFetchTimeout), f.jwks); err != nil {
			return usageErrorf("policy verify: --jwks: %w", err)
		}
	case !f.insecureUnsigned:
		return usageErrorf("policy verify: give --key or --jwks (the keys to trust)")
	}
	data, err := readBundleFile(path)
	if err != nil {
		return usageErrorf("policy verify: %w", err)
	}
	b, err := bundle.Open(data, bundle.OpenOptions{Keys: keys, InsecureAllowUnsigned: f.insecureUnsigned})
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			return invalidErrorf("invalid bundle: %s", bundleProblem(be, ""))
		}
		return invalidErrorf("invalid bundle: %w", err)
	}
	rev, digest := b.Meta()
	compiled, err := policy.Compile(b.FS(), policy.Meta{Revision: rev, Digest: digest})
	if err != nil {
		return invalidErrorf("invalid bundle: policy: signature and digests are valid, but a node would not load it: %w", err)
	}
	signer := "NONE: UNSIGNED (accepted because of --insecure-unsigned)"
	if b.Signed {
		signer = fmt.Sprintf("%s (%s)", b.KeyID, b.Alg)
	}
	w := stdio.Stdout
	fmt.Fprintf(w, "valid: %s\n", path)
	fmt.Fprintf(w, "revision: %s\n", rev)
	fmt.Fprintf(w, "digest:   %s\n", digest)
	fmt.Fprintf(w, "created:  %s\n", b.Manifest.Created.Format(time.RFC3339))
	fmt.Fprintf(w, "files:    %d\n", len(b.Manifest.Files))
	fmt.Fprintf(w, "policies: %d\n", len(compiled.Policies()))
	fmt.Fprintf(w, "key:      %s\n", signer)
	return nil
}

// readBundleFile reads a bundle file, at most one byte past the default
// compressed-size limit (Open then refuses it as too large).
func readBundleFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, bundle.DefaultMaxCompressed+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}
