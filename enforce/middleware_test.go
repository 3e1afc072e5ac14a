package enforce_test

import (
	"context"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/store"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/enforce"
)

func TestMiddleware(t *testing.T) {
	k := newKeys(t)
	e := newEnforcer(t, k.config(t))
	if err := e.Ready(); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, e, serviceRoutes, echoHandler())
	reader := k.mint(t, "reader", "trace:read record:read", nil)
	acme := k.mint(t, "acme-reader", "record:read", map[string]any{"tenant": "acme"})
	expired := k.mint(t, "reader", "trace:read", map[string]any{"exp": 1000})

	tests := []struct {
		name      string
		method    string
		path      string
		token     string
		hdr       map[string]string
		status    int
		code      string // error code, "" for 200
		challenge string // substring of WWW-Authenticate
		message   string // substring of the public message
	}{
		{name: "allowed by route", method: "GET", path: "/traces/t-1", token: reader, status: 200},
		{name: "no token", method: "GET", path: "/traces/t-1", status: 401, code: "unauthorized", challenge: `Bearer realm="warden"`},
		{name: "malformed authorization", method: "GET", path: "/traces/t-1", hdr: map[string]string{"Authorization": "Basic abc"}, status: 401, code: "unauthorized", challenge: `error="invalid_request"`},
		{name: "expired token", method: "GET", path: "/traces/t-1", token: expired, status: 401, code: "unauthorized", challenge: `error="invalid_token"`},
		{name: "forged token", method: "GET", path: "/traces/t-1", token: reader[:len(reader)-4] + "AAAA", status: 401, code: "unauthorized", challenge: `error="invalid_token"`},
		{name: "denied by policy (no scope)", method: "POST", path: "/traces/t-1/replay", token: reader, status: 403, code: "forbidden", message: "access denied by policy"},
		{name: "forbid's reason is the message", method: "GET", path: "/records/r-1", token: acme, hdr: map[string]string{"X-Tenant": "globex"}, status: 403, code: "forbidden", message: "never reaches another tenant"},
		{name: "own tenant", method: "GET", path: "/records/r-1", token: acme, hdr: map[string]string{"X-Tenant": "acme"}, status: 200},
		{name: "no route (authenticated)", method: "GET", path: "/nothing", token: reader, status: 404, code: "not_found"},
		{name: "no route before authentication is a 401", method: "GET", path: "/nothing", status: 401, code: "unauthorized"},
		{name: "method not routed", method: "PUT", path: "/traces/t-1", token: reader, status: 404, code: "not_found"},
		{name: "dot segment never matches", method: "GET", path: "/traces/%2e%2e", token: reader, status: 404, code: "not_found"},
		{name: "bad resource attribute is a 400", method: "GET", path: "/records/r-1", token: acme, hdr: map[string]string{"X-Tenant": strings.Repeat("a", 300)}, status: 400, code: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, tc.method, srv.URL+tc.path, tc.token, tc.hdr)
			if a.status != tc.status {
				t.Fatalf("status %d, want %d (%v)", a.status, tc.status, a.body)
			}
			if a.requestID == "" {
				t.Error("no X-Request-Id")
			}
			if tc.code == "" {
				if a.body["ok"] != true || a.body["id"] == "" {
					t.Errorf("handler saw %v, want a principal and the id path value", a.body)
				}
				return
			}
			if got := a.errorField("code"); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if got := a.errorField("request_id"); got != a.requestID {
				t.Errorf("request_id %q, header %q", got, a.requestID)
			}
			if got := a.header.Get("WWW-Authenticate"); !strings.Contains(got, tc.challenge) || (tc.status == 401) != (got != "") {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.status == 403 && a.errorField("decision_id") == "" {
				t.Error("403 without decision_id")
			}
			if !strings.Contains(a.errorField("message"), tc.message) {
				t.Errorf("message %q, want %q", a.errorField("message"), tc.message)
			}
			if a.header.Get("Content-Type") != "application/json" || a.header.Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", a.header)
			}
		})
	}
}

func TestMiddlewarePathValues(t *testing.T) {
	k := newKeys(t)
	e := newEnforcer(t, k.config(t))
	srv := serve(t, e, serviceRoutes, echoHandler())
	a := call(t, "GET", srv.URL+"/traces/t%20one", k.mint(t, "reader", "trace:read", nil), nil)
	if a.status != 200 || a.body["id"] != "t one" || a.body["subject"] != "reader" {
		t.Fatalf("%d %v, want id %q decoded and subject reader", a.status, a.body, "t one")
	}
}

func TestMiddlewareRoutesRefused(t *testing.T) {
	k := newKeys(t)
	e := newEnforcer(t, k.config(t))
	for name, routes := range map[string][]enforce.Route{
		"no methods":     {{Name: "a", Pattern: "/a/{id}", Action: "trace:read", Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{id}"}}},
		"no action":      {{Name: "a", Methods: []string{"GET"}, Pattern: "/a/{id}", Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{id}"}}},
		"unknown param":  {{Name: "a", Methods: []string{"GET"}, Pattern: "/a/{id}", Action: "trace:read", Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{nope}"}}},
		"duplicate name": {serviceRoutes[0], serviceRoutes[0]},
	} {
		if _, err := e.Middleware(routes); err == nil {
			t.Errorf("%s: Middleware accepted the routes", name)
		}
	}
}

func TestDecide(t *testing.T) {
	k := newKeys(t)
	e := newEnforcer(t, k.config(t))
	if d := e.Decide(context.Background(), "pii:view", enforce.Resource{Type: "Record", ID: "r-1"}, nil); d.Allowed || len(d.Errors) == 0 {
		t.Fatalf("Decide without a principal: %+v, want a deny with an error", d)
	}
	var got []enforce.Decision
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, e.Decide(r.Context(), "pii:view", enforce.Resource{Type: "Record", ID: r.PathValue("id")}, nil))
	})
	srv := serve(t, e, serviceRoutes, h)
	for _, scope := range []string{"record:read", "record:read pii:view"} {
		if a := call(t, "GET", srv.URL+"/records/r-1", k.mint(t, "op", scope, nil), nil); a.status != 200 {
			t.Fatalf("status %d", a.status)
		}
	}
	if len(got) != 2 || got[0].Allowed || !got[1].Allowed || got[1].Policies[0] != "view-pii" || got[1].BundleRevision != "test-1" || got[1].ID == "" {
		t.Fatalf("decisions %+v, want deny then allow by view-pii", got)
	}
}

func TestHighRiskWithoutWarden(t *testing.T) {
	k := newKeys(t)
	e := newEnforcer(t, k.config(t))
	srv := serve(t, e, serviceRoutes, echoHandler())
	a := call(t, "POST", srv.URL+"/workflows/w-1/approve", k.mint(t, "op", "workflow:approve", nil), nil)
	if a.status != 403 || !strings.Contains(a.errorField("message"), "confirmed") {
		t.Fatalf("high-risk allow without Warden: %d %v, want 403", a.status, a.body)
	}
}

func TestConfigRefused(t *testing.T) {
	k := newKeys(t)
	tests := map[string]func(*enforce.Config){
		"no issuers":         func(c *enforce.Config) { c.Issuers = nil },
		"two key sources":    func(c *enforce.Config) { c.Issuers[0].JWKSURL = "https://idp.test/jwks" },
		"no bundle keys":     func(c *enforce.Config) { c.Bundle.PublicKeys = nil },
		"private bundle key": func(c *enforce.Config) { b, _ := k.bundle.MarshalJSON(); c.Bundle.PublicKeys = b },
		"two bundle sources": func(c *enforce.Config) { c.Bundle.Path = "x.tar.gz" },
		"no audit":           func(c *enforce.Config) { c.Audit = enforce.Audit{} },
		"ship without warden": func(c *enforce.Config) {
			c.Audit = enforce.Audit{Store: "sqlite://" + t.TempDir() + "/a.db", Ship: true}
		},
		"plain http warden": func(c *enforce.Config) {
			c.Warden = enforce.Warden{URL: "http://warden.example", ClientID: "a", ClientSecret: "b"}
		},
		"warden without creds": func(c *enforce.Config) { c.Warden = enforce.Warden{URL: "https://warden.example"} },
		"long introspection cache": func(c *enforce.Config) {
			c.Warden = enforce.Warden{URL: "https://warden.example", ClientID: "a", ClientSecret: "b", IntrospectionCacheTTL: enforce.MaxIntrospectionCacheTTL + 1}
		},
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := k.config(t)
			mod(&cfg)
			if e, err := enforce.New(context.Background(), cfg); err == nil {
				e.Close()
				t.Fatal("New accepted the configuration")
			}
		})
	}
}

// TestTrustedProxies: X-Forwarded-For is believed only from a trusted peer,
// malformed forwarding headers from one are refused, and the client address
// is what the decision record holds.
func TestTrustedProxies(t *testing.T) {
	k := newKeys(t)
	tok := k.mint(t, "op", "trace:read", nil)
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		xff     string
		status  int
		wantIP  string
	}{
		{"untrusted peer", nil, "203.0.113.7", 200, "127.0.0.1"},
		{"trusted peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "198.51.100.9, 203.0.113.7", 200, "203.0.113.7"},
		{"trusted peer, malformed", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "not-an-address", 400, "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "audit.db")
			cfg := k.config(t)
			cfg.TrustedProxies = tc.trusted
			cfg.Audit = enforce.Audit{Store: "sqlite://" + db, Node: "svc-test"}
			e := newEnforcer(t, cfg)
			srv := serve(t, e, serviceRoutes, echoHandler())
			if a := call(t, "GET", srv.URL+"/traces/t-1", tok, map[string]string{"X-Forwarded-For": tc.xff}); a.status != tc.status {
				t.Fatalf("status %d %v, want %d", a.status, a.body, tc.status)
			}
			e.Close()
			st, err := store.Open(context.Background(), "sqlite://"+db, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			recs, err := audit.Query(context.Background(), st, audit.Filter{Node: "svc-test"})
			if err != nil || len(recs) != 1 {
				t.Fatalf("records %v, %v, want one", recs, err)
			}
			if got := recs[0].Record.ClientIP; got != tc.wantIP {
				t.Errorf("ClientIP %q, want %q", got, tc.wantIP)
			}
		})
	}
	for _, p := range []string{"0.0.0.0/0", "10.1.2.3/8", "::/0"} {
		cfg := k.config(t)
		cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix(p)}
		if e, err := enforce.New(context.Background(), cfg); err == nil {
			e.Close()
			t.Errorf("TrustedProxies %s accepted", p)
		}
	}
}
