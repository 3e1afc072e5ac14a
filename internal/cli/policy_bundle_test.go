package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testutil"
)

// runWarden runs the command line in-process with a fixed clock.
func runWarden(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
		Now:    func() time.Time { return time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC) },
	})
	return code, out.String(), errb.String()
}

// TestPolicyBuildVerifyReference builds the reference bundle examples/policy,
// then verifies it and tampered copies, asserting the exit codes.
func TestPolicyBuildVerifyReference(t *testing.T) {
	dir := t.TempDir()
	keys, other := filepath.Join(dir, "keys"), filepath.Join(dir, "other")
	for _, d := range []string{keys, other} {
		if code, _, stderr := runWarden(t, nil, "keys", "generate", "--kid", "bundle-k1", "--out", d); code != 0 {
			t.Fatalf("keys generate: exit %d: %s", code, stderr)
		}
	}
	out := filepath.Join(dir, "bundle.tar.gz")
	code, stdout, stderr := runWarden(t, nil, "policy", "build", "../../examples/policy",
		"--signing-key", filepath.Join(keys, "private.jwk"), "-o", out, "--revision", "ref-1")
	if code != exitOK {
		t.Fatalf("build: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	digest := regexp.MustCompile(`(?m)^digest:   (sha256:[0-9a-f]{64})$`).FindStringSubmatch(stdout)
	if digest == nil || !regexp.MustCompile(`(?m)^tests:    [1-9]\d* passed$`).MatchString(stdout) {
		t.Fatalf("build output:\n%s", stdout)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("bundle file: %v, mode %v", err, fi.Mode())
	}
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	jwks := filepath.Join(keys, "jwks.json")
	for _, tc := range []struct {
		name   string
		bundle string
		args   []string
		code   int
		stderr string
	}{
		{"valid", out, []string{"--jwks", jwks}, exitOK, ""},
		{"valid with the key file", out, []string{"--key", filepath.Join(keys, "private.jwk")}, exitOK, ""},
		{"wrong key", out, []string{"--jwks", filepath.Join(other, "jwks.json")}, exitInvalid, `^warden: invalid bundle: signature: `},
		{"policy byte changed", write("t1.tar.gz", testutil.RewriteBundle(t, good, testutil.FlipByte("policies/models.cedar", 40))),
			[]string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: digest: policies/models.cedar: SHA-256 does not match the manifest\n$`},
		{"manifest byte changed", write("t2.tar.gz", testutil.RewriteBundle(t, good, testutil.FlipByte(".manifest.json", 30))),
			[]string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: signature: .signature.jws: signature by key "bundle-k1" does not verify\n$`},
		{"signature byte changed", write("t3.tar.gz", testutil.RewriteBundle(t, good, testutil.FlipByte(".signature.jws", -8))),
			[]string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: signature: `},
		{"unsigned", write("t4.tar.gz", testutil.RewriteBundle(t, good, func(n string, b []byte) ([]byte, bool) { return b, n != ".signature.jws" })),
			[]string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: unsigned: `},
		{"missing file", write("t5.tar.gz", testutil.RewriteBundle(t, good, func(n string, b []byte) ([]byte, bool) { return b, n != "entities.json" })),
			[]string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: missing_file: entities.json: `},
		{"truncated", write("t6.tar.gz", good[:len(good)/3]), []string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: format: `},
		{"too large", write("t7.tar.gz", make([]byte, 9<<20)), []string{"--jwks", jwks}, exitInvalid, `^warden: invalid bundle: too_large: `},
		{"no keys", out, nil, exitUsage, `^warden: policy verify: give --key or --jwks`},
		{"unreadable key", out, []string{"--key", filepath.Join(dir, "absent.jwk")}, exitUsage, `^warden: policy verify: --key: `},
		{"unreadable bundle", filepath.Join(dir, "absent.tar.gz"), []string{"--jwks", jwks}, exitUsage, `^warden: policy verify: open `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWarden(t, nil, append([]string{"policy", "verify", tc.bundle}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			if tc.code == exitOK {
				if !regexp.MustCompile(`(?m)^digest:   `+digest[1]+`$`).MatchString(stdout) || !regexp.MustCompile(`(?m)^revision: ref-1$`).MatchString(stdout) {
					t.Errorf("verify output does not match the build:\n%s", stdout)
				}
				return
			}
			if stdout != "" {
				t.Errorf("stdout on failure: %q", stdout)
			}
			if !regexp.MustCompile(tc.stderr).MatchString(stderr) {
				t.Errorf("stderr %q does not match %q", stderr, tc.stderr)
			}
		})
	}
}

func TestPolicyBuildExitCodes(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if code, _, stderr := runWarden(t, nil, "keys", "generate", "--out", keys); code != 0 {
		t.Fatalf("keys generate: %s", stderr)
	}
	key := filepath.Join(keys, "private.jwk")
	src := filepath.Join(dir, "src")
	if err := os.CopyFS(src, os.DirFS("../../examples/policy")); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.CopyFS(bad, os.DirFS("../../examples/policy")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "policies", "zz.cedar"), []byte("permit (principal, action == Action::\"nope\", resource);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "b.tar.gz")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
	}{
		{"built", nil, []string{src, "--signing-key", key, "-o", out}, exitOK},
		{"reproducible time", map[string]string{"SOURCE_DATE_EPOCH": "1795000000"}, []string{src, "--signing-key", key, "-o", out}, exitOK},
		{"schema violation", nil, []string{bad, "--signing-key", key, "-o", out}, exitInvalid},
		{"no such dir", nil, []string{filepath.Join(dir, "absent"), "--signing-key", key, "-o", out}, exitUsage},
		{"not a dir", nil, []string{key, "--signing-key", key, "-o", out}, exitUsage},
		{"no output", nil, []string{src, "--signing-key", key}, exitUsage},
		{"no key", nil, []string{src, "-o", out}, exitUsage},
		{"public key", nil, []string{src, "--signing-key", filepath.Join(keys, "jwks.json"), "-o", out}, exitUsage},
		{"bad SOURCE_DATE_EPOCH", map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, []string{src, "--signing-key", key, "-o", out}, exitUsage},
		{"unwritable output", nil, []string{src, "--signing-key", key, "-o", filepath.Join(dir, "absent", "b.tar.gz")}, exitUsage},
		{"two dirs", nil, []string{src, src, "--signing-key", key, "-o", out}, exitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runWarden(t, tc.env, append([]string{"policy", "build"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
		})
	}
}
