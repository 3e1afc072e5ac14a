package enforce_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wardenhq/warden/enforce"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/wardentest"
)

// policyDir is the example service's bundle source.
func policyDir(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "service", "policy")
}

const testIssuer = "https://idp.test"

// keys are a token signing key and a bundle signing key.
type keys struct {
	token, bundle *jwk.Key
}

func newKeys(t testing.TB) keys {
	t.Helper()
	tk, err := jwk.Generate("ES256", "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	bk, err := jwk.Generate("EdDSA", "bundle-1")
	if err != nil {
		t.Fatal(err)
	}
	return keys{token: tk, bundle: bk}
}

// config is an in-memory Enforcer configuration: static JWKS, the example
// bundle signed in memory, no Warden, no decision log.
func (k keys) config(t testing.TB) enforce.Config {
	return enforce.Config{
		Issuers: []enforce.Issuer{{
			Issuer: testIssuer, Audiences: []string{"service"}, Algorithms: []string{"ES256"},
			JWKS: wardentest.PublicJWKS(t, k.token), RequiredClaims: []string{"jti"},
		}},
		Bundle: enforce.Bundle{Data: wardentest.SignBundle(t, policyDir(t), "test-1", k.bundle), PublicKeys: wardentest.PublicJWKS(t, k.bundle)},
		Audit:  enforce.Audit{InsecureNoAudit: true},
		Env:    "staging",
	}
}

// mint signs a token for an agent with scopes.
func (k keys) mint(t testing.TB, sub, scope string, extra map[string]any) string {
	claims := map[string]any{
		"iss": testIssuer, "aud": "service", "sub": sub, "client_id": sub, "scope": scope,
		"jti": fmt.Sprintf("%s-%d", sub, time.Now().UnixNano()), "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}
	for n, v := range extra {
		claims[n] = v
	}
	return testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "tok-1", "typ": "JWT"}, claims, "ES256", k.token.SigningKey())
}

func newEnforcer(t testing.TB, cfg enforce.Config) *enforce.Enforcer {
	t.Helper()
	e, err := enforce.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// serviceRoutes is the route table of the tests (the example service's).
var serviceRoutes = []enforce.Route{
	{Name: "trace-read", Methods: []string{"GET"}, Pattern: "/traces/{id}", Action: "trace:read", Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{id}"}},
	{Name: "trace-replay", Methods: []string{"POST"}, Pattern: "/traces/{id}/replay", Action: "trace:replay", Resource: enforce.ResourceTemplate{Type: "Trace", ID: "{id}"}},
	{Name: "record-read", Methods: []string{"GET"}, Pattern: "/records/{id}", Action: "record:read", Resource: enforce.ResourceTemplate{Type: "Record", ID: "{id}", Attributes: map[string]string{"tenant": "header:X-Tenant"}}},
	{Name: "record-delete", Methods: []string{"DELETE"}, Pattern: "/records/{id}", Action: "record:delete", Resource: enforce.ResourceTemplate{Type: "Record", ID: "{id}"}},
	{Name: "workflow-approve", Methods: []string{"POST"}, Pattern: "/workflows/{id}/approve", Action: "workflow:approve", Resource: enforce.ResourceTemplate{Type: "Workflow", ID: "{id}"}},
}

// echoHandler answers 200 with the principal's subject and the id path
// value, so tests see what the middleware handed on.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := enforce.PrincipalFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"subject": p.Subject, "ok": ok, "id": r.PathValue("id")})
	})
}

// serve runs e's middleware over h on a real loopback server.
func serve(t testing.TB, e *enforce.Enforcer, routes []enforce.Route, h http.Handler) *httptest.Server {
	t.Helper()
	mw, err := e.Middleware(routes)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw(h))
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status    int
	header    http.Header
	body      map[string]any
	requestID string
}

func call(t testing.TB, method, url, token string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, requestID: resp.Header.Get("X-Request-Id")}
	_ = json.Unmarshal(b, &a.body)
	return a
}

// errorField returns body.error[name].
func (a answer) errorField(name string) string {
	e, _ := a.body["error"].(map[string]any)
	s, _ := e[name].(string)
	return s
}
