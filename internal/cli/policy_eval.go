package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wardenhq/warden/internal/fetch"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cedar-policy/cedar-go/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
)

// maxClaimsFile bounds a --claims file (a JWT payload is far smaller).
const maxClaimsFile = 1 << 20

// claimFlags are the claim-mapping flags shared by "policy test" and
// "policy eval": the names of the claims the principal's fields come from.
type claimFlags struct {
	roles, scopes, groups, team, tenant, env, clientID string
}

func (c *claimFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&c.roles, "roles-claim", "", `claim holding the roles (default "roles"; "-" ignores it)`)
	fl.StringVar(&c.scopes, "scopes-claim", "", `claim holding the scopes (default "scope", else "scp")`)
	fl.StringVar(&c.groups, "groups-claim", "", `claim holding the groups (default "groups")`)
	fl.StringVar(&c.team, "team-claim", "", `claim holding the team (default "team")`)
	fl.StringVar(&c.tenant, "tenant-claim", "", `claim holding the tenant (default "tenant")`)
	fl.StringVar(&c.env, "env-claim", "", `claim holding the env (default "env")`)
	fl.StringVar(&c.clientID, "client-id-claim", "", `claim naming the OAuth client (default "client_id", else "azp")`)
}

func (c *claimFlags) mapping() authn.ClaimMapping {
	return authn.ClaimMapping{
		Roles: c.roles, Scopes: c.scopes, Groups: c.groups,
		Team: c.team, Tenant: c.tenant, Env: c.env, ClientID: c.clientID,
	}
}

type policyTestFlags struct {
	claims  claimFlags
	verbose bool
}

// newPolicyTestCmd is "warden policy test DIR".
func newPolicyTestCmd(stdio IO) *cobra.Command {
	var f policyTestFlags
	cmd := &cobra.Command{
		Use:   "test DIR",
		Short: "Run the test cases of a policy bundle directory",
		Long: `Compile the bundle in DIR (policies/*.cedar validated against
schema.cedarschema, entities.json) and run every case of DIR/tests/*.yaml.

A test file has optional named principals (claim sets) and a list of cases:

  principals:
    eve: {sub: eve, roles: [evaluator], tenant: acme}
  cases:
    - name: an evaluator reads a trace of her tenant
      principal: eve                 # or claims: {...}, or token: <JWT>
      action: trace:read
      resource: {type: Trace, id: tr-1, attributes: {tenant: acme}}
      context: {env: production}     # optional
      expect: allow                  # allow | deny
      reasons: [evaluator-read-traces]   # optional: the deciding policy ids

Unknown keys are errors. Claims go through the same claim mapping as the
gateway (the --*-claim flags change it, as the issuer configuration does). A
case's token is decoded WITHOUT verifying its signature: a test case is not a
credential. See docs/policy.md.

Output: one line per failing case,
  FAIL FILE:LINE NAME: expected allow, got deny (no policy permits ...)
then the summary line "N passed, M failed".

Exit codes: 0 every case passed; 1 a case failed, or the bundle or a test
file is invalid (each problem printed with file and line), or there are no
cases; 2 usage error or unreadable directory.`,
		Example: `  # Run the reference bundle's tests
  warden policy test examples/policy

  # An issuer that puts roles in "groups" and the tenant in "org_id"
  warden policy test ./bundle --roles-claim groups --tenant-claim org_id`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyTest(cmd.Context(), stdio, f, args[0])
		},
	}
	f.claims.register(cmd.Flags())
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "also print a PASS line for every passing case")
	return cmd
}

func runPolicyTest(ctx context.Context, stdio IO, f policyTestFlags, dir string) error {
	if err := checkDir(dir); err != nil {
		return usageErrorf("policy test: %w", err)
	}
	opts := bundleTestOptions(stdio, policy.Meta{})
	opts.Principal = f.claims.mapping().Principal
	rep, err := policy.RunTests(ctx, os.DirFS(dir), opts)
	switch {
	case errors.Is(err, policy.ErrNoTests):
		return invalidErrorf("policy test: %s: %w", dir, err)
	case err != nil:
		return compileProblems(stdio, "policy test", dir, err)
	}
	if f.verbose {
		for _, r := range rep.Results {
			if r.Passed {
				fmt.Fprintf(stdio.Stdout, "PASS %s:%d %s\n", filepath.Join(dir, filepath.FromSlash(r.File)), r.Line, r.Name)
			}
		}
	}
	if err := rep.Write(stdio.Stdout, dir); err != nil {
		return err
	}
	if rep.Failed > 0 {
		return silentExit(exitInvalid)
	}
	return nil
}

// checkDir reports whether dir is a readable directory.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

// compileProblems prints each problem of a *policy.CompileError on stderr,
// with its path under dir, and returns an invalid-input error (exit 1).
// Other errors mean the directory could not be read (exit 2).
func compileProblems(stdio IO, cmd, dir string, err error) error {
	var ce *policy.CompileError
	if !errors.As(err, &ce) {
		return usageErrorf("%s: %w", cmd, err)
	}
	for _, p := range ce.Problems {
		if p.File != "" {
			p.File = filepath.Join(dir, filepath.FromSlash(p.File))
		}
		fmt.Fprintln(stdio.Stderr, oneLine(p.String()))
	}
	return invalidErrorf("%s: %d problem(s) in %s", cmd, len(ce.Problems), dir)
}

type policyEvalFlags struct {
	dir, bundle      string
	key, jwks        string
	insecureUnsigned bool
	token, claims    string
	claimMap         claimFlags
	action, resource string
	attrs            []string
	context          string
	explain, json    bool
}

// newPolicyEvalCmd is "warden policy eval".
func newPolicyEvalCmd(stdio IO) *cobra.Command {
	var f policyEvalFlags
	cmd := &cobra.Command{
		Use:   `eval (--dir DIR | --bundle FILE) (--token JWT | --claims FILE) --action A --resource 'Type::"id"'`,
		Short: "Evaluate one request against a policy bundle",
		Long: `Ask a bundle one question: may this principal perform this action on this
resource? The bundle is a source directory (--dir) or a built bundle
(--bundle), which is verified first: its signature with --key or --jwks, its
manifest and every file digest, exactly as a node does before loading it.

The principal comes from a token (--token JWT, or --token - to read it from
stdin) or a JSON file of claims (--claims FILE), through the same claim
mapping as the gateway (the --*-claim flags change it). The token is DECODED,
NOT VERIFIED: eval answers "what would the policy say for these claims", not
"is this token good"; use "warden token verify" for that.

--resource names the resource as a Cedar entity, Type::"id". Its attributes
are those of the same entity in entities.json, overridden by --attr k=v (a
value that parses as JSON, like 3, true or ["a"], is taken as JSON, anything
else as a string). --context is a JSON object of request facts (env,
max_tokens, ...); Cedar extension values use Cedar's JSON form, e.g.
{"ip": {"__extn": {"fn": "ip", "arg": "10.0.0.1"}}}.

--explain names the policies that permitted or forbade, with their @reason
and file:line, says when no policy permits the action for that principal on
that resource, and shows both evaluations of a delegated token (the agent
acting for the user, and the user). --json prints the whole decision.

Exit codes: 0 allow; 1 deny, or an invalid bundle; 2 usage error or
unreadable input.

SECURITY CONSIDERATIONS
  The token is not verified, so eval never proves anything about a caller.
  --insecure-unsigned accepts a bundle without a signature; a bundle that is
  signed is still verified against --key or --jwks.`,
		Example: `  # Explain a decision against the reference bundle's sources
  warden policy eval --dir examples/policy --claims alice.json \
    --action trace:read --resource 'Trace::"tr-1"' --attr tenant=acme --explain

  # Against a signed bundle, with a token and request context
  warden policy eval --bundle bundle.tar.gz --jwks ./keys/jwks.json --token "$TOKEN" \
    --action model:invoke --resource 'Model::"gpt-4o"' --context '{"env": "production", "max_tokens": 2048}'`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPolicyEval(cmd.Context(), stdio, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dir, "dir", "", "bundle source directory")
	fl.StringVar(&f.bundle, "bundle", "", "built bundle file (.tar.gz), verified before use")
	fl.StringVar(&f.key, "key", "", "with --bundle: trusted key file (PEM, JWK or JWK Set)")
	fl.StringVar(&f.jwks, "jwks", "", "with --bundle: trusted JWK Set file, or https:// URL")
	fl.BoolVar(&f.insecureUnsigned, "insecure-unsigned", false, "with --bundle: accept a bundle WITHOUT a signature")
	fl.StringVar(&f.token, "token", "", `JWT whose claims make the principal (decoded, NOT verified); "-" reads stdin`)
	fl.StringVar(&f.claims, "claims", "", "JSON file of claims that make the principal")
	f.claimMap.register(fl)
	fl.StringVar(&f.action, "action", "", "action, e.g. trace:read")
	fl.StringVar(&f.resource, "resource", "", `resource as a Cedar entity, e.g. 'Model::"gpt-4o"'`)
	fl.StringArrayVar(&f.attrs, "attr", nil, "resource attribute k=v (repeatable; JSON values, else strings)")
	fl.StringVar(&f.context, "context", "", "request context as a JSON object")
	fl.BoolVar(&f.explain, "explain", false, "explain which policies decided, and why")
	fl.BoolVar(&f.json, "json", false, "print the decision as JSON")
	return cmd
}

func runPolicyEval(ctx context.Context, stdio IO, f policyEvalFlags) error {
	// Usage first, before reading anything.
	switch {
	case (f.dir == "") == (f.bundle == ""):
		return usageErrorf("policy eval: give exactly one of --dir and --bundle")
	case (f.token == "") == (f.claims == ""):
		return usageErrorf("policy eval: give exactly one of --token and --claims")
	case f.action == "":
		return usageErrorf("policy eval: --action is required")
	case f.resource == "":
		return usageErrorf(`policy eval: --resource is required (Type::"id")`)
	case f.explain && f.json:
		return usageErrorf("policy eval: --explain and --json are alternatives")
	case f.dir != "" && (f.key != "" || f.jwks != "" || f.insecureUnsigned):
		return usageErrorf("policy eval: --key, --jwks and --insecure-unsigned apply to --bundle")
	case f.key != "" && f.jwks != "":
		return usageErrorf("policy eval: give one of --key and --jwks, not both")
	case f.bundle != "" && f.key == "" && f.jwks == "" && !f.insecureUnsigned:
		return usageErrorf("policy eval: --bundle needs --key or --jwks to verify it (or --insecure-unsigned for an unsigned bundle)")
	}
	var uid types.EntityUID
	if err := uid.UnmarshalCedar([]byte(f.resource)); err != nil {
		return usageErrorf(`policy eval: --resource %q: want a Cedar entity like Model::"gpt-4o"`, f.resource)
	}
	attrs, err := parseAttrs(f.attrs)
	if err != nil {
		return usageErrorf("policy eval: %w", err)
	}
	var reqCtx map[string]any
	if f.context != "" {
		if reqCtx, err = decodeJSONObject([]byte(f.context)); err != nil {
			return usageErrorf("policy eval: --context: %w", err)
		}
	}

	// The principal.
	claims, verifiedNote, err := evalClaims(stdio, f)
	if err != nil {
		return usageErrorf("policy eval: %w", err)
	}
	principal, err := f.claimMap.mapping().Principal(claims)
	if err != nil {
		return invalidErrorf("policy eval: claims: %w", err)
	}

	// The bundle.
	fsys, meta, source, err := evalBundle(ctx, stdio, f)
	if err != nil {
		return err
	}
	engine, err := policy.New(policy.Config{Clock: stdio.Now})
	if err != nil {
		return err
	}
	if err := engine.Load(ctx, fsys, meta); err != nil {
		return compileProblems(stdio, "policy eval", source, err)
	}

	d := engine.Decide(ctx, policy.Request{
		Principal: principal,
		Action:    f.action,
		Resource:  policy.Resource{Type: string(uid.Type), ID: string(uid.ID), Attributes: attrs},
		Context:   reqCtx,
	})
	if verifiedNote != "" {
		fmt.Fprintf(stdio.Stderr, "warning: %s\n", verifiedNote)
	}
	switch {
	case f.json:
		out, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Stdout, "%s\n", out)
	case f.explain:
		fmt.Fprint(stdio.Stdout, d.Explain())
	default:
		verdict := "DENY"
		if d.Allowed {
			verdict = "ALLOW"
		}
		fmt.Fprintf(stdio.Stdout, "%s: %s\n", verdict, d.Summary())
	}
	if !d.Allowed {
		return silentExit(exitInvalid)
	}
	return nil
}

// evalClaims reads the claims of --token (decoded, not verified) or
// --claims, and a warning to print when they came from an unverified token.
func evalClaims(stdio IO, f policyEvalFlags) (map[string]any, string, error) {
	if f.claims != "" {
		data, err := readCapped(f.claims, maxClaimsFile)
		if err != nil {
			return nil, "", fmt.Errorf("--claims: %w", err)
		}
		claims, err := decodeJSONObject(data)
		if err != nil {
			return nil, "", fmt.Errorf("--claims %s: %w", f.claims, err)
		}
		// The claim mapping expects claims as a JWT decoder gives them.
		claims, err = reencode(claims)
		return claims, "", err
	}
	tok := f.token
	if tok == "-" {
		data, err := io.ReadAll(io.LimitReader(stdio.Stdin, authn.DefaultMaxTokenBytes+1))
		if err != nil {
			return nil, "", fmt.Errorf("read the token from stdin: %w", err)
		}
		tok = strings.TrimSpace(string(data))
	}
	p, err := authn.Parse(tok, 0)
	if err != nil {
		return nil, "", fmt.Errorf("--token: %w", err)
	}
	return p.Claims, "the token was decoded, NOT verified (its signature, expiry, issuer and audience were not checked)", nil
}

// evalBundle opens --dir or --bundle (verifying the bundle) and returns its
// file system, its meta and the name to show in problems.
func evalBundle(ctx context.Context, stdio IO, f policyEvalFlags) (fs.FS, policy.Meta, string, error) {
	if f.dir != "" {
		if err := checkDir(f.dir); err != nil {
			return nil, policy.Meta{}, "", usageErrorf("policy eval: %w", err)
		}
		return os.DirFS(f.dir), policy.Meta{Revision: "dir:" + f.dir}, f.dir, nil
	}
	var keys []*jwk.Key
	var err error
	switch {
	case f.key != "":
		if keys, err = jwk.LoadFile(f.key); err != nil {
			return nil, policy.Meta{}, "", usageErrorf("policy eval: --key: %w", err)
		}
	case f.jwks != "":
		if keys, err = loadJWKS(ctx, fetch.Client(stdio.HTTPClient, defaultFetchTimeout), f.jwks); err != nil {
			return nil, policy.Meta{}, "", usageErrorf("policy eval: --jwks: %w", err)
		}
	}
	data, err := readBundleFile(f.bundle)
	if err != nil {
		return nil, policy.Meta{}, "", usageErrorf("policy eval: %w", err)
	}
	b, err := bundle.Open(data, bundle.OpenOptions{Keys: keys, InsecureAllowUnsigned: f.insecureUnsigned})
	if err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			return nil, policy.Meta{}, "", invalidErrorf("policy eval: %s: %s", f.bundle, bundleProblem(be, ""))
		}
		return nil, policy.Meta{}, "", invalidErrorf("policy eval: %s: %w", f.bundle, err)
	}
	if !b.Signed {
		fmt.Fprintf(stdio.Stderr, "warning: %s is NOT signed (accepted because of --insecure-unsigned)\n", f.bundle)
	}
	rev, digest := b.Meta()
	return b.FS(), policy.Meta{Revision: rev, Digest: digest}, f.bundle, nil
}

// parseAttrs parses --attr k=v flags: a value that is valid JSON is taken
// as JSON, anything else as a string.
func parseAttrs(flags []string) (map[string]any, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	attrs := make(map[string]any, len(flags))
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--attr %q: want key=value", kv)
		}
		if _, dup := attrs[k]; dup {
			return nil, fmt.Errorf("--attr %s given twice", k)
		}
		var val any = v
		dec := json.NewDecoder(strings.NewReader(v))
		dec.UseNumber()
		var j any
		if err := dec.Decode(&j); err == nil && j != nil {
			if _, err := dec.Token(); err == io.EOF {
				val = j
			}
		}
		attrs[k] = val
	}
	return attrs, nil
}

// decodeJSONObject decodes one JSON object, keeping numbers exact.
func decodeJSONObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("want a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return m, nil
}

// reencode turns json.Number values into float64, as a JWT decoder gives
// them to the claim mapping.
func reencode(m map[string]any) (map[string]any, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = json.Unmarshal(b, &out)
	return out, err
}

// readCapped reads a file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s exceeds %d bytes", path, limit)
	}
	return data, nil
}
