package enforce_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardenhq/warden/enforce"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/wardentest"
)

// wardenConfig is an Enforcer trusting w's tokens (its JWKS over HTTP),
// following its revocations, introspecting as svc, with a local SQLite log.
func wardenConfig(t testing.TB, w *wardentest.Warden, svc wardentest.Client, dbPath string) enforce.Config {
	return enforce.Config{
		Issuers: []enforce.Issuer{{
			Issuer: wardentest.Issuer, Audiences: []string{wardentest.Audience}, Algorithms: []string{"ES256", "EdDSA"},
			JWKSURL: w.JWKSURL(), RequiredClaims: []string{"jti"},
		}},
		Bundle: enforce.Bundle{Data: w.SignBundle(policyDir(t), "svc-1", w.BundleKey), PublicKeys: wardentest.PublicJWKS(t, w.BundleKey)},
		Warden: enforce.Warden{URL: w.URL, ClientID: svc.ID, ClientSecret: svc.Secret},
		Audit:  enforce.Audit{Store: "sqlite://" + dbPath, Node: "svc-test"},
	}
}

// TestWithWarden runs the Enforcer against a real Warden: high-risk allows
// introspected, a revocation refused within 1s through the feed, Warden
// stopped (low risk works, high risk refused), and every request in a
// decision chain that verifies.
func TestWithWarden(t *testing.T) {
	w, clients := wardentest.Start(t, policyDir(t), map[string][]string{
		"records-svc": {"introspect"},
		"operator":    {"trace:read", "workflow:approve", "record:delete"},
	})
	db := filepath.Join(t.TempDir(), "audit.db")
	cfg := wardenConfig(t, w, clients["records-svc"], db)
	e := newEnforcer(t, cfg)
	srv := serve(t, e, serviceRoutes, echoHandler())
	op := clients["operator"]
	requests := 0
	do := func(method, path, tok string) answer {
		t.Helper()
		requests++
		return call(t, method, srv.URL+path, tok, nil)
	}

	tok := w.Token(op)
	if a := do("POST", "/workflows/w-1/approve", tok); a.status != 200 {
		t.Fatalf("high-risk allow of an active token: %d %v", a.status, a.body)
	}
	// Revoked at Warden: a token that was not introspected in the last
	// IntrospectionCacheTTL is refused on its next high-risk action, at
	// once, whatever the revocation feed has delivered.
	fresh := w.Token(op)
	if a := do("GET", "/traces/t-1", fresh); a.status != 200 {
		t.Fatalf("low-risk: %d", a.status)
	}
	w.Revoke(op, fresh)
	if a := do("DELETE", "/records/r-1", fresh); a.status != 403 && a.status != 401 {
		t.Fatalf("high-risk action right after revocation: %d %v, want 403 (or 401 once the feed delivered)", a.status, a.body)
	}

	// The revocation feed: a revoked token is refused within 1s, on every
	// action.
	lr := w.Token(op)
	if a := do("GET", "/traces/t-3", lr); a.status != 200 {
		t.Fatalf("low-risk: %d", a.status)
	}
	start := time.Now()
	w.Revoke(op, lr)
	for do("GET", "/traces/t-3", lr).status != 401 {
		if time.Since(start) > time.Second {
			t.Fatalf("a revoked token still served after 1s (feed status %+v)", e.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("revocation reached the service after %v", time.Since(start))
	if !e.Status().RevocationsCurrent {
		t.Errorf("status %+v: revocations not current", e.Status())
	}

	// Warden stopped: low-risk keeps working on local state, high-risk is
	// refused.
	other := w.Token(op)
	if a := do("GET", "/traces/t-2", other); a.status != 200 {
		t.Fatalf("low-risk before stop: %d", a.status)
	}
	w.Stop()
	if a := do("GET", "/traces/t-2", other); a.status != 200 {
		t.Fatalf("low-risk with Warden stopped: %d %v", a.status, a.body)
	}
	a := do("POST", "/workflows/w-2/approve", other)
	if a.status != 403 || a.errorField("code") != "forbidden" {
		t.Fatalf("high-risk with Warden stopped: %d %v, want 403", a.status, a.body)
	}
	e.Close()

	// Every request has its decision record in a chain that verifies.
	st, err := store.Open(context.Background(), "sqlite://"+db, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rep, err := audit.Verify(context.Background(), st, "svc-test"); err != nil || !rep.OK() || rep.Records != uint64(requests) {
		t.Fatalf("verify the service's chain: %v %+v", err, rep)
	}
	recs, err := audit.Query(context.Background(), st, audit.Filter{Node: "svc-test"})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != requests {
		t.Fatalf("%d records for %d requests", len(recs), requests)
	}
	for _, en := range recs {
		r := en.Record
		if r.RequestID == "" || r.Method == "" || r.Path == "" || r.ClientIP == "" || r.Decision == "" {
			t.Errorf("record %+v lacks the request", r)
		}
		if r.ErrorCode == "unauthorized" {
			continue // revoked: refused before any decision
		}
		if r.Subject != "operator" || r.DecisionID == "" || r.BundleRevision != "svc-1" || r.Route == "" || r.Action == "" {
			t.Errorf("record %+v lacks identity, decision or bundle", r)
		}
	}
}
