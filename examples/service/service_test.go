package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/cli"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/wardentest"
)

// TestService runs the example service (its real HTTP server on
// 127.0.0.1, built by run as main builds it) against a real Warden with
// SQLite, and checks the acceptance of issue 9 from the outside.
func TestService(t *testing.T) {
	w, clients := wardentest.Start(t, "policy", map[string][]string{
		"records-svc": {"audit:ingest"},
		"reader":      {"trace:read", "record:read"},
		"operator":    {"trace:read", "trace:replay", "record:read", "pii:view", "workflow:approve", "record:delete"},
	})
	dir := t.TempDir()
	file := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundlePath := file("bundle.tar.gz", w.SignBundle("policy", "svc-1", w.BundleKey))
	auditDB := filepath.Join(dir, "audit.db")
	logs := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{
			"-listen", "127.0.0.1:0", "-warden", w.URL, "-issuer", wardentest.Issuer, "-audience", wardentest.Audience,
			"-client-id", "records-svc", "-client-secret-file", file("secret", []byte(clients["records-svc"].Secret+"\n")),
			"-bundle", bundlePath, "-bundle-keys", file("bundle.jwks.json", wardentest.PublicJWKS(t, w.BundleKey)),
			"-audit", auditDB, "-env", "staging",
		}, logs, ready)
	}()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		t.Fatalf("service ended: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("service did not start")
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("service: %v", err)
			}
		}
	}
	defer stop()

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(method, path, tok string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &m)
		return resp.StatusCode, m
	}
	reader, operator := w.Token(clients["reader"]), w.Token(clients["operator"])

	t.Run("allowed and denied by route", func(t *testing.T) {
		for _, c := range []struct {
			method, path, tok string
			want              int
		}{
			{"GET", "/traces/t-1", reader, 200},
			{"POST", "/traces/t-1/replay", reader, 403},
			{"POST", "/traces/t-1/replay", operator, 202},
			{"GET", "/traces/t-1", "", 401},
			{"GET", "/elsewhere", reader, 404},
		} {
			if got, body := get(c.method, c.path, c.tok); got != c.want {
				t.Errorf("%s %s: %d %v, want %d", c.method, c.path, got, body, c.want)
			}
		}
	})

	t.Run("Decide: personal data only for pii:view", func(t *testing.T) {
		if _, m := get("GET", "/records/r-1", reader); m["email"] != "[redacted]" {
			t.Errorf("reader sees %v", m)
		}
		if _, m := get("GET", "/records/r-1", operator); m["email"] != "ada@example.com" {
			t.Errorf("operator sees %v", m)
		}
	})

	t.Run("high-risk action refused at once after revocation", func(t *testing.T) {
		op := w.Token(clients["operator"])
		if got, _ := get("GET", "/traces/t-2", op); got != 200 {
			t.Fatalf("before revocation: %d", got)
		}
		w.Revoke(clients["operator"], op)
		if got, body := get("POST", "/workflows/w-1/approve", op); got == 200 {
			t.Fatalf("approve right after revocation: %d %v", got, body)
		}
	})

	t.Run("revoked token refused within 1s", func(t *testing.T) {
		op := w.Token(clients["operator"])
		if got, _ := get("GET", "/traces/t-3", op); got != 200 {
			t.Fatalf("before revocation: %d", got)
		}
		start := time.Now()
		w.Revoke(clients["operator"], op)
		for {
			got, _ := get("GET", "/traces/t-3", op)
			if got == 401 {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("still %d 1s after the revocation", got)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("refused %v after the revocation", time.Since(start))
	})

	t.Run("untrusted or tampered bundle never activates", func(t *testing.T) {
		open := filepath.Join(t.TempDir(), "policy")
		copyPolicy(t, "policy", open)
		if err := os.WriteFile(filepath.Join(open, "policies", "service.cedar"), []byte("permit (principal, action, resource);\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		rogue, err := jwk.Generate("EdDSA", w.BundleKey.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		good := w.SignBundle("policy", "svc-1", w.BundleKey)
		tampered := testutil.RewriteBundle(t, good, func(name string, body []byte) ([]byte, bool) {
			if name == "policies/service.cedar" {
				return []byte("permit (principal, action, resource);\n"), true
			}
			return body, true
		})
		for name, data := range map[string][]byte{"untrusted key": w.SignBundle(open, "rogue-1", rogue), "tampered": tampered} {
			before := strings.Count(logs.String(), "policy bundle rejected")
			if err := os.WriteFile(bundlePath+".tmp", data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(bundlePath+".tmp", bundlePath); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(logs.String(), "policy bundle rejected") == before {
				if time.Now().After(deadline) {
					t.Fatalf("%s: the service did not look at the new bundle in 10s\n%s", name, logs.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if got, _ := get("POST", "/traces/t-1/replay", reader); got != 403 {
				t.Errorf("%s bundle decided: replay by a reader is %d", name, got)
			}
			if got, _ := get("GET", "/traces/t-1", reader); got != 200 {
				t.Errorf("%s: the last good bundle stopped serving: %d", name, got)
			}
		}
	})

	t.Run("Warden stopped: low risk works, high risk denied", func(t *testing.T) {
		op := w.Token(clients["operator"])
		waitShipped(t, filepath.Join(w.Dir, "warden.db"))
		w.Stop()
		if got, body := get("GET", "/traces/t-4", op); got != 200 {
			t.Errorf("low-risk: %d %v", got, body)
		}
		if got, body := get("GET", "/records/r-2", op); got != 200 || body["email"] != "bob@example.com" {
			t.Errorf("Decide on local state: %d %v", got, body)
		}
		if got, body := get("DELETE", "/records/r-2", op); got != 403 {
			t.Errorf("high-risk: %d %v, want 403", got, body)
		}
	})

	stop()
	st, err := store.Open(context.Background(), "sqlite://"+auditDB, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := audit.Verify(context.Background(), st, "svc.records-svc")
	if err != nil || !rep.OK() || rep.Records < 20 {
		t.Fatalf("the service's decision chain: %v %+v", err, rep)
	}
	// `warden audit verify` checks the service's chain, locally and as
	// shipped to Warden, like any node's.
	for _, db := range []string{auditDB, filepath.Join(w.Dir, "warden.db")} {
		var out, errOut strings.Builder
		if code := cli.Run(context.Background(), []string{"audit", "verify", "--store", "sqlite://" + db, "--node", "svc.records-svc"}, cli.IO{Stdout: &out, Stderr: &errOut}); code != 0 {
			t.Errorf("warden audit verify %s: exit %d\n%s%s", filepath.Base(db), code, out.String(), errOut.String())
		}
	}
}

// waitShipped waits until Warden's store holds a part of the service's
// chain that verifies (shipped with POST /audit/ingest).
func waitShipped(t *testing.T, wardenDB string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := store.Open(context.Background(), "sqlite://"+wardenDB, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := audit.Verify(context.Background(), st, "svc.records-svc")
		st.Close()
		if err == nil && rep.OK() && rep.Records > 0 {
			t.Logf("Warden holds %d records of the service's chain", rep.Records)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no shipped records at Warden after 10s: %v %+v", err, rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyPolicy copies the bundle source directory src to dst.
func copyPolicy(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
