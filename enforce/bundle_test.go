package enforce_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/enforce"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/wardentest"
)

// TestBundleNeverActivatesUnlessSigned watches a bundle file: a bundle
// signed by an untrusted key, a tampered one and garbage are each refused,
// and the last good bundle keeps deciding; a good one activates.
func TestBundleNeverActivatesUnlessSigned(t *testing.T) {
	k := newKeys(t)
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	write := func(data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good := wardentest.SignBundle(t, policyDir(t), "good-1", k.bundle)
	write(good)
	cfg := k.config(t)
	cfg.Bundle = enforce.Bundle{Path: path, PublicKeys: wardentest.PublicJWKS(t, k.bundle)}
	e := newEnforcer(t, cfg)
	if err := e.Ready(); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, e, serviceRoutes, echoHandler())
	reader := k.mint(t, "reader", "trace:read", nil)

	rogue, err := jwk.Generate("EdDSA", "bundle-1") // same kid, other key
	if err != nil {
		t.Fatal(err)
	}
	tampered := testutil.RewriteBundle(t, good, func(name string, body []byte) ([]byte, bool) {
		if strings.HasPrefix(name, "policies/") {
			return []byte(`permit (principal, action, resource);`), true
		}
		return body, true
	})
	for name, data := range map[string][]byte{
		"untrusted key": wardentest.SignBundle(t, policyDir(t), "rogue-1", rogue),
		"tampered":      tampered,
		"not a bundle":  []byte("garbage"),
	} {
		t.Run(name, func(t *testing.T) {
			write(data)
			if err := e.Reload(context.Background()); err == nil {
				t.Fatal("Reload accepted the bundle")
			}
			s := e.Status()
			if s.BundleRevision != "good-1" || s.LastBundleError == "" || !s.Ready {
				t.Fatalf("status %+v: want good-1 still active, the refusal recorded", s)
			}
			if a := call(t, "GET", srv.URL+"/traces/t-1", reader, nil); a.status != 200 {
				t.Fatalf("last good bundle: %d", a.status)
			}
			if a := call(t, "POST", srv.URL+"/traces/t-1/replay", reader, nil); a.status != 403 {
				t.Fatalf("the refused bundle decided: replay %d", a.status)
			}
		})
	}
	write(wardentest.SignBundle(t, policyDir(t), "good-2", k.bundle))
	if err := e.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.Status(); s.BundleRevision != "good-2" {
		t.Fatalf("revision %q, want good-2", s.BundleRevision)
	}
}

// TestNoBundleDeniesEverything: an Enforcer whose bundle never verified is
// not ready and answers 403 to every request.
func TestNoBundleDeniesEverything(t *testing.T) {
	k := newKeys(t)
	cfg := k.config(t)
	rogue, _ := jwk.Generate("EdDSA", "bundle-1")
	cfg.Bundle.Data = wardentest.SignBundle(t, policyDir(t), "rogue", rogue)
	e := newEnforcer(t, cfg)
	if err := e.Ready(); err == nil {
		t.Fatal("Ready without a bundle")
	}
	srv := serve(t, e, serviceRoutes, echoHandler())
	if a := call(t, "GET", srv.URL+"/traces/t-1", k.mint(t, "reader", "trace:read", nil), nil); a.status != 403 {
		t.Fatalf("status %d, want 403", a.status)
	}
}

// TestBundleFromURL polls a bundle URL in the background with
// If-None-Match: an unchanged bundle is revalidated (304), a new one
// activates without a restart.
func TestBundleFromURL(t *testing.T) {
	k := newKeys(t)
	var mu sync.Mutex
	current, etag := wardentest.SignBundle(t, policyDir(t), "url-1", k.bundle), `"v1"`
	var notModified int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("If-None-Match") == etag {
			notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(current)
	}))
	defer srv.Close()
	cfg := k.config(t)
	cfg.Bundle = enforce.Bundle{URL: srv.URL + "/bundle.tar.gz", PublicKeys: wardentest.PublicJWKS(t, k.bundle), PollInterval: 20 * time.Millisecond}
	e := newEnforcer(t, cfg)
	if s := e.Status(); s.BundleRevision != "url-1" {
		t.Fatalf("status %+v", s)
	}
	waitFor(t, "a revalidation (304)", func() bool { mu.Lock(); defer mu.Unlock(); return notModified > 0 })
	mu.Lock()
	current, etag = wardentest.SignBundle(t, policyDir(t), "url-2", k.bundle), `"v2"`
	mu.Unlock()
	waitFor(t, "the new bundle", func() bool { return e.Status().BundleRevision == "url-2" })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
