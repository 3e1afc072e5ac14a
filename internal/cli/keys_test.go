package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
)

func TestKeysGenerate(t *testing.T) {
	tests := []struct {
		alg      string
		wantJWKS bool
	}{
		{"ES256", true}, {"ES384", true}, {"ES512", true}, {"EdDSA", true},
		{"RS256", true}, {"PS256", true}, {"RS512", true},
		{"HS256", false}, {"HS384", false}, {"HS512", false},
	}
	for _, tc := range tests {
		t.Run(tc.alg, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new", "keys")
			args := []string{"keys", "generate", "--alg", tc.alg, "--kid", "k-" + tc.alg, "--out", dir}
			if strings.HasPrefix(tc.alg, "RS") || strings.HasPrefix(tc.alg, "PS") {
				args = append(args, "--rsa-bits", "2048")
			}
			r := runCLI(t, "", time.Time{}, nil, args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range []string{"kid:     k-" + tc.alg, "alg:     " + tc.alg, filepath.Join(dir, "private.jwk")} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
				}
			}

			assertMode(t, dir, 0o700)
			priv := filepath.Join(dir, "private.jwk")
			assertMode(t, priv, 0o600)
			keys, err := jwk.LoadFile(priv)
			if err != nil {
				t.Fatalf("load private.jwk: %v", err)
			}
			if len(keys) != 1 || !keys[0].IsPrivate() || keys[0].Alg != tc.alg || keys[0].KeyID != "k-"+tc.alg {
				t.Fatalf("private.jwk: %d keys, private %v, alg %q, kid %q", len(keys), keys[0].IsPrivate(), keys[0].Alg, keys[0].KeyID)
			}
			if err := jwk.CheckAlg(tc.alg, keys[0].Key); err != nil {
				t.Errorf("generated key does not fit its alg: %v", err)
			}

			pubPath := filepath.Join(dir, "jwks.json")
			_, statErr := os.Stat(pubPath)
			if !tc.wantJWKS {
				if statErr == nil {
					t.Fatalf("jwks.json written for symmetric %s: a secret must never be published", tc.alg)
				}
				if !strings.Contains(r.stdout, "shared secret") {
					t.Errorf("stdout does not explain the missing JWKS:\n%s", r.stdout)
				}
				return
			}
			if statErr != nil {
				t.Fatalf("jwks.json: %v", statErr)
			}
			data, err := os.ReadFile(pubPath)
			if err != nil {
				t.Fatal(err)
			}
			set, err := jwk.ParseSet(data)
			if err != nil {
				t.Fatalf("parse jwks.json: %v", err)
			}
			if len(set.Keys) != 1 || set.Keys[0].IsPrivate() || set.Keys[0].KeyID != "k-"+tc.alg || set.Keys[0].Alg != tc.alg {
				t.Fatalf("jwks.json: %s", data)
			}
			for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"k"`} {
				if strings.Contains(string(data), private+":") {
					t.Errorf("jwks.json contains private member %s:\n%s", private, data)
				}
			}
		})
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

func TestKeysGenerateRefusals(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no out", []string{"keys", "generate"}, "--out DIR is required"},
		{"alg none", []string{"keys", "generate", "--alg", "none", "--out", "x"}, `unsupported --alg "none"`},
		{"alg lower case", []string{"keys", "generate", "--alg", "es256", "--out", "x"}, `unsupported --alg "es256"`},
		{"rsa 1024", []string{"keys", "generate", "--alg", "RS256", "--rsa-bits", "1024", "--out", "x"}, "at least 2048 bits"},
		{"rsa 2047", []string{"keys", "generate", "--alg", "PS256", "--rsa-bits", "2047", "--out", "x"}, "at least 2048 bits"},
		{"rsa 16384", []string{"keys", "generate", "--alg", "RS256", "--rsa-bits", "16384", "--out", "x"}, "at most 8192"},
		{"rsa bits odd", []string{"keys", "generate", "--alg", "RS256", "--rsa-bits", "2049", "--out", "x"}, "multiple of 8"},
		{"rsa bits on EC", []string{"keys", "generate", "--alg", "ES256", "--rsa-bits", "4096", "--out", "x"}, "RS* and PS* keys only"},
		{"positional arg", []string{"keys", "generate", "--out", "x", "extra"}, "unknown command"},
		{"unknown flag", []string{"keys", "generate", "--bits", "1"}, "unknown flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			r := runCLI(t, "", time.Time{}, nil, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, exitUsage, tc.wantErr)
			}
			if _, err := os.Stat("x"); err == nil {
				t.Errorf("a refused command created its output directory")
			}
		})
	}
}

func TestKeysGenerateOverwrite(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "private.jwk")
	pub := filepath.Join(dir, "jwks.json")
	if r := runCLI(t, "", time.Time{}, nil, "keys", "generate", "--alg", "ES256", "--out", dir); r.code != 0 {
		t.Fatalf("first generate: %d %s", r.code, r.stderr)
	}
	before, _ := os.ReadFile(priv)

	// Without --force nothing is touched, for an HMAC key too (its missing
	// jwks.json would leave the old one behind).
	for _, alg := range []string{"ES256", "HS256"} {
		r := runCLI(t, "", time.Time{}, nil, "keys", "generate", "--alg", alg, "--out", dir)
		if r.code != exitUsage || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("%s over existing files: exit %d, %q; want 2, already exists", alg, r.code, r.stderr)
		}
	}
	if after, _ := os.ReadFile(priv); string(after) != string(before) {
		t.Fatalf("private.jwk changed without --force")
	}

	// --force replaces a too-permissive file with a 0600 one.
	if err := os.Chmod(priv, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, "", time.Time{}, nil, "keys", "generate", "--alg", "EdDSA", "--out", dir, "--force"); r.code != 0 {
		t.Fatalf("--force: %d %s", r.code, r.stderr)
	}
	assertMode(t, priv, 0o600)
	if after, _ := os.ReadFile(priv); string(after) == string(before) {
		t.Errorf("--force did not replace private.jwk")
	}

	// An HMAC key with --force removes the now stale public JWKS.
	if r := runCLI(t, "", time.Time{}, nil, "keys", "generate", "--alg", "HS256", "--out", dir, "--force"); r.code != 0 {
		t.Fatalf("--force HS256: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(pub); err == nil {
		t.Errorf("stale jwks.json left beside an HMAC key")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after --force, want only private.jwk (no temporary files)", len(entries))
	}
}
