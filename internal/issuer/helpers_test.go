package issuer_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/examples"
	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/token"
)

// idpIssuer is the company IdP the test trusts for subject tokens.
const (
	idpIssuer = "https://idp.example"
	audience  = "warden"
)

// env is one issuer on a real loopback HTTP server over a real store.
type env struct {
	t        testing.TB
	st       store.Store
	clock    *testutil.Clock
	keys     *issuer.KeyRing
	revs     *issuer.Revocations
	verifier *authn.Verifier // the gateway's: trusts the IdP and Warden
	engine   *policy.Engine
	audit    *audit.Log
	iss      *issuer.Issuer
	srv      *httptest.Server
	handler  atomic.Pointer[http.Handler] // what srv serves: the issuer, or a gateway in front of it
	url      string
	idp      *token.Signer
	kek      []byte
}

var testKEK = []byte("0123456789abcdef0123456789abcdef")

// newEnv starts an issuer over b's database; opts adjust its Config.
func newEnv(t testing.TB, b *storetest.Backend, opts ...func(*issuer.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, clock: &testutil.Clock{}, kek: testKEK}
	e.st = b.Open(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	if e.keys, err = issuer.NewKeyRing(ctx, issuer.KeyRingConfig{Store: e.st.Issuer(), KEK: e.kek, MaxTTL: time.Hour, Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if e.revs, err = issuer.NewRevocations(ctx, e.st.Issuer(), e.clock.Now); err != nil {
		t.Fatal(err)
	}
	idpKey, err := jwk.Generate("EdDSA", "idp-1")
	if err != nil {
		t.Fatal(err)
	}
	if e.idp, err = token.NewSigner(token.SignerConfig{Key: idpKey, Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	idpPub, _ := idpKey.Public()
	cfg := issuer.Config{
		Issuer: e.url, Audiences: []string{audience}, Store: e.st.Issuer(), Keys: e.keys, Revocations: e.revs,
		Clock: e.clock.Now, ResyncInterval: 50 * time.Millisecond,
	}
	if e.verifier, err = authn.New(ctx, authn.Config{
		Issuers: []authn.IssuerConfig{
			{Issuer: idpIssuer, Audiences: []string{audience}, Algorithms: []string{"EdDSA"}, Keys: []*jwk.Key{idpPub}, RequiredClaims: []string{"jti"}},
			cfg.OwnIssuerConfig(nil),
		},
		Denylist: e.revs,
		Clock:    e.clock.Now,
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.verifier.Close() })
	if e.engine, err = policy.New(policy.Config{Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(examples.Policy, "policy")
	if err := e.engine.Load(ctx, sub, policy.Meta{Revision: "test"}); err != nil {
		t.Fatal(err)
	}
	if e.audit, err = audit.New(ctx, audit.Config{Store: e.st, Node: "n1", Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.audit.Close(context.Background()) })
	cfg.Verifier, cfg.Engine, cfg.Audit = e.verifier, e.engine, e.audit
	for _, o := range opts {
		o(&cfg)
	}
	if e.iss, err = issuer.New(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.iss.Close() })
	e.serve(e.iss)
	e.srv = &httptest.Server{Listener: ln, Config: &http.Server{ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*e.handler.Load()).ServeHTTP(w, r) })}}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// serve makes the server serve h.
func (e *env) serve(h http.Handler) { e.handler.Store(&h) }

// addClient registers a client and returns its secret.
func (e *env) addClient(id string, scopes []string, grants ...string) string {
	e.t.Helper()
	secret, h, err := issuer.NewSecret(issuer.SecretPrefix)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.Issuer().AddClient(context.Background(), store.Client{ID: id, SecretHash: h, Scopes: scopes, GrantTypes: grants, Created: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// userToken is an IdP token for a person.
func (e *env) userToken(sub string, ttl time.Duration, roles, scopes []string) string {
	e.t.Helper()
	tok, err := e.idp.Mint(context.Background(), token.Claims{Issuer: idpIssuer, Subject: sub, Audience: []string{audience}, TTL: ttl,
		Roles: roles, Scopes: scopes, Tenant: "acme"})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// post sends a form to path with Basic credentials (id "" sends none) and
// decodes the JSON answer.
func (e *env) post(path, id, secret string, form url.Values) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, http.Header, map[string]any) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			e.t.Fatalf("%s: non-JSON body %q", req.URL.Path, body)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// tokenOK requests a token and fails the test unless it is issued.
func (e *env) tokenOK(id, secret string, form url.Values) map[string]any {
	e.t.Helper()
	code, h, m := e.post(issuer.TokenPath, id, secret, form)
	if code != http.StatusOK {
		e.t.Fatalf("token request %v: %d %v", form.Get("grant_type"), code, m)
	}
	if h.Get("Cache-Control") != "no-store" {
		e.t.Errorf("token response Cache-Control %q, want no-store", h.Get("Cache-Control"))
	}
	return m
}

// wantError checks an OAuth error answer.
func wantError(t testing.TB, code int, m map[string]any, wantCode int, wantErr string) {
	t.Helper()
	if code != wantCode || m["error"] != wantErr {
		t.Fatalf("got %d %v, want %d %s", code, m, wantCode, wantErr)
	}
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// introspect returns the introspection answer for tok, asked by id.
func (e *env) introspect(id, secret, tok string) map[string]any {
	e.t.Helper()
	code, _, m := e.post(issuer.IntrospectPath, id, secret, form("token", tok))
	if code != http.StatusOK {
		e.t.Fatalf("introspect: %d %v", code, m)
	}
	return m
}

// auditRecords returns the committed records with action.
func (e *env) auditRecords(action string) []audit.Record {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		es, err := audit.Query(context.Background(), e.st, audit.Filter{Action: action, Limit: 1000})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(es) > 0 || time.Now().After(deadline) {
			out := make([]audit.Record, len(es))
			for i := range es {
				out[i] = es[i].Record
			}
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tokenClaims(iss, sub string) token.Claims {
	return token.Claims{Issuer: iss, Subject: sub, Audience: []string{audience}, TTL: time.Minute}
}
