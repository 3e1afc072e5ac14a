package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/wardenhq/warden/internal/jwk"
)

// Names of the files "keys generate" writes into --out.
const (
	privateKeyFile = "private.jwk"
	publicJWKSFile = "jwks.json"
)

// newKeysCmd is the "keys" command group.
func newKeysCmd(stdio IO) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Generate signing keys and their public JWKS; rotate the token issuer's key",
		Long: `Generate the keys Warden signs tokens with and the public JWK Set that
verifiers use to check them.`,
		Example: `  warden keys generate --out ./keys`,
		Args:    usageArgs(cobra.NoArgs),
		// Runnable, so that "warden keys bogus" is an unknown command (exit 2)
		// rather than help with exit 0.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKeysGenerateCmd(stdio), newKeysRotateCmd(stdio))
	return cmd
}

type keysGenerateFlags struct {
	alg     string
	kid     string
	out     string
	force   bool
	rsaBits int
}

func newKeysGenerateCmd(stdio IO) *cobra.Command {
	var f keysGenerateFlags
	cmd := &cobra.Command{
		Use:   "generate --out DIR [--alg ALG] [--kid KID]",
		Short: "Generate a signing key: a private JWK and a public JWKS",
		Long: `Generate a new signing key and write two files into DIR:

  DIR/private.jwk   the private key as a JWK with "kid" and "alg" (mode 0600).
                    Keep it secret: whoever holds it can mint tokens.
  DIR/jwks.json     the public key as a JWK Set, safe to publish; this is what
                    "warden token verify --jwks" and Warden's issuer trust read.

For HMAC algorithms (HS256, HS384, HS512) the key is a shared secret: there is
no public half, so no jwks.json is written, and every verifier needs
private.jwk itself. Prefer an asymmetric algorithm whenever the verifier is not
the signer.

DIR is created with mode 0700 if it does not exist. Existing files are never
overwritten unless --force is given. The key ID defaults to the key's RFC 7638
thumbprint; for an HMAC secret it is 128 random bits instead, since the
thumbprint of a secret is a hash of it and the kid travels in every token
header. RSA keys have --rsa-bits bits (at least 2048); HMAC secrets are
32, 48 or 64 random bytes for HS256, HS384 and HS512.

Algorithms: ` + strings.Join(jwk.Algorithms(), ", ") + `.`,
		Example: `  # An Ed25519 key (the default algorithm)
  warden keys generate --out ./keys

  # An ECDSA P-256 key with a chosen key ID
  warden keys generate --alg ES256 --kid signing-2026-11 --out ./keys-es256

  # A 4096-bit RSA-PSS key, replacing the files already in ./keys-rsa
  warden keys generate --alg PS256 --rsa-bits 4096 --out ./keys-rsa --force`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeysGenerate(cmd, stdio, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.alg, "alg", jwk.DefaultAlg, "signing algorithm: "+strings.Join(jwk.Algorithms(), "|"))
	fl.StringVar(&f.kid, "kid", "", `key ID ("kid"); default: the RFC 7638 thumbprint (random for HMAC secrets)`)
	fl.StringVar(&f.out, "out", "", "directory to write private.jwk and jwks.json into (required)")
	fl.BoolVar(&f.force, "force", false, "overwrite existing key files in --out")
	fl.IntVar(&f.rsaBits, "rsa-bits", jwk.DefaultRSABits, fmt.Sprintf("RSA modulus size for RS*/PS* (%d to %d)", jwk.MinRSABits, jwk.MaxRSABits))
	return cmd
}

func runKeysGenerate(cmd *cobra.Command, stdio IO, f keysGenerateFlags) error {
	if f.out == "" {
		return usageErrorf("keys generate: --out DIR is required")
	}
	if !slices.Contains(jwk.Algorithms(), f.alg) {
		return usageErrorf("keys generate: unsupported --alg %q (want one of %s)", f.alg, strings.Join(jwk.Algorithms(), ", "))
	}
	isRSA := strings.HasPrefix(f.alg, "RS") || strings.HasPrefix(f.alg, "PS")
	isHMAC := strings.HasPrefix(f.alg, "HS")
	if cmd.Flags().Changed("rsa-bits") {
		switch {
		case !isRSA:
			return usageErrorf("keys generate: --rsa-bits applies to RS* and PS* keys only, not %s", f.alg)
		case f.rsaBits < jwk.MinRSABits:
			return usageErrorf("keys generate: --rsa-bits %d refused: RSA keys must have at least %d bits", f.rsaBits, jwk.MinRSABits)
		case f.rsaBits > jwk.MaxRSABits:
			return usageErrorf("keys generate: --rsa-bits %d refused: at most %d bits", f.rsaBits, jwk.MaxRSABits)
		case f.rsaBits%8 != 0:
			return usageErrorf("keys generate: --rsa-bits %d refused: must be a multiple of 8", f.rsaBits)
		}
	}
	if f.kid != "" && strings.TrimSpace(f.kid) != f.kid {
		return usageErrorf("keys generate: --kid must not start or end with white space")
	}

	privPath := filepath.Join(f.out, privateKeyFile)
	pubPath := filepath.Join(f.out, publicJWKSFile)
	if !f.force {
		// Checked before generating, so that nothing is half written. An HMAC
		// key writes no jwks.json, but an existing one would be left beside a
		// key it does not belong to, so it blocks too.
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return usageErrorf("keys generate: %s already exists (use --force to overwrite it)", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return usageErrorf("keys generate: %w", err)
			}
		}
	}

	key, err := jwk.GenerateRSA(f.alg, f.kid, f.rsaBits)
	if err != nil {
		return usageErrorf("keys generate: %w", err)
	}
	privJSON, err := indentJSON(key)
	if err != nil {
		return usageErrorf("keys generate: encode private key: %w", err)
	}
	var pubJSON []byte
	if !isHMAC {
		pub, err := key.Public()
		if err != nil {
			return usageErrorf("keys generate: public key: %w", err)
		}
		if pubJSON, err = indentJSON(&jwk.Set{Keys: []*jwk.Key{pub}}); err != nil {
			return usageErrorf("keys generate: encode JWKS: %w", err)
		}
	}

	if err := os.MkdirAll(f.out, 0o700); err != nil {
		return usageErrorf("keys generate: %w", err)
	}
	if err := writeKeyFile(privPath, privJSON, 0o600, f.force); err != nil {
		return usageErrorf("keys generate: %w", err)
	}
	if isHMAC {
		if f.force {
			// A jwks.json from a previous key would now describe a key that
			// no longer signs anything.
			if err := os.Remove(pubPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return usageErrorf("keys generate: remove stale %s: %w", pubPath, err)
			}
		}
	} else if err := writeKeyFile(pubPath, pubJSON, 0o644, f.force); err != nil {
		return usageErrorf("keys generate: %w", err)
	}

	w := stdio.Stdout
	fmt.Fprintf(w, "kid:     %s\n", key.KeyID)
	fmt.Fprintf(w, "alg:     %s\n", key.Alg)
	fmt.Fprintf(w, "private: %s (mode 0600; keep it secret)\n", privPath)
	if isHMAC {
		fmt.Fprintf(w, "public:  none: %s is a shared secret, so there is no public key to publish;\n", key.Alg)
		fmt.Fprintf(w, "         every verifier needs %s itself (use --key with warden token verify)\n", privPath)
	} else {
		fmt.Fprintf(w, "public:  %s\n", pubPath)
	}
	return nil
}

// indentJSON marshals v and indents it, with a final newline.
func indentJSON(v json.Marshaler) ([]byte, error) {
	raw, err := v.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// writeKeyFile writes data to path with mode perm. Without force it fails if
// path exists (O_EXCL). With force it writes a temporary file in the same
// directory and renames it over path, so that the result has exactly perm
// even when the old file was more permissive, and readers never see a
// half-written key.
func writeKeyFile(path string, data []byte, perm fs.FileMode, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s already exists (use --force to overwrite it)", path)
			}
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(path)
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
