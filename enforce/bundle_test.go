package enforce_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
