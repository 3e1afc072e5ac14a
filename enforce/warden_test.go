package enforce_test

import (
	"context"
	"path/filepath"
	"testing"

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

func TestHighRiskIntrospection(t *testing.T) {
	w, clients := wardentest.Start(t, policyDir(t), map[string][]string{
		"records-svc": {"introspect"},
		"operator":    {"trace:read", "workflow:approve", "record:delete"},
	})
	db := filepath.Join(t.TempDir(), "audit.db")
	cfg := wardenConfig(t, w, clients["records-svc"], db)
	e := newEnforcer(t, cfg)
	srv := serve(t, e, serviceRoutes, echoHandler())
	op := clients["operator"]

	tok := w.Token(op)
	if a := call(t, "POST", srv.URL+"/workflows/w-1/approve", tok, nil); a.status != 200 {
		t.Fatalf("high-risk allow of an active token: %d %v", a.status, a.body)
	}
	// Revoked at Warden: a token that was not introspected in the last
	// IntrospectionCacheTTL is refused on its next high-risk action, at
	// once, whatever the revocation feed has delivered.
	fresh := w.Token(op)
	if a := call(t, "GET", srv.URL+"/traces/t-1", fresh, nil); a.status != 200 {
		t.Fatalf("low-risk: %d", a.status)
	}
	w.Revoke(op, fresh)
	if a := call(t, "DELETE", srv.URL+"/records/r-1", fresh, nil); a.status != 403 && a.status != 401 {
		t.Fatalf("high-risk action right after revocation: %d %v, want 403 (or 401 once the feed delivered)", a.status, a.body)
	}

	// Warden stopped: low-risk keeps working on local state, high-risk is
	// refused.
	other := w.Token(op)
	if a := call(t, "GET", srv.URL+"/traces/t-2", other, nil); a.status != 200 {
		t.Fatalf("low-risk before stop: %d", a.status)
	}
	w.Stop()
	if a := call(t, "GET", srv.URL+"/traces/t-2", other, nil); a.status != 200 {
		t.Fatalf("low-risk with Warden stopped: %d %v", a.status, a.body)
	}
	a := call(t, "POST", srv.URL+"/workflows/w-2/approve", other, nil)
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
	if rep, err := audit.Verify(context.Background(), st, "svc-test"); err != nil || !rep.OK() || rep.Records != 6 {
		t.Fatalf("verify the service's chain: %v %+v", err, rep)
	}
	recs, err := audit.Query(context.Background(), st, audit.Filter{Node: "svc-test"})
	if err != nil {
		t.Fatal(err)
	}
	var allow, deny int
	for _, en := range recs {
		r := en.Record
		switch r.Decision {
		case audit.Allow:
			allow++
		case audit.Deny:
			deny++
		}
		if r.Subject != "operator" || r.RequestID == "" || r.DecisionID == "" || r.BundleRevision != "svc-1" {
			t.Errorf("record %+v lacks identity, ids or bundle", r)
		}
	}
	if allow != 4 || deny != 2 {
		t.Errorf("records: %d allow, %d deny; want 4 and 2", allow, deny)
	}
}
