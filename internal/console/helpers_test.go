package console_test

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/console"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/token"
)

const (
	testIssuer   = "https://issuer.test/"
	testAudience = "warden"
	testNode     = "console-test"
	referenceDir = "../../examples/policy"
)

// env is a console on a real loopback server with the reference bundle, a
// real verifier and a SQLite audit log.
type env struct {
	t       testing.TB
	srv     *httptest.Server
	console *console.Console
	engine  *policy.Engine
	store   store.Store
	backend *storetest.Backend // raw SQL, to tamper with the audit log
	audit   *audit.Log
	signer  *token.Signer
	key     *jwk.Key
	logs    *testutil.SyncBuffer
	clock   *testutil.Clock
	// tokens lists every token handed out, for the no-token-in-logs check.
	mu     sync.Mutex
	tokens []string
}

type envOptions struct {
	noMint bool
	clock  *testutil.Clock
	// engineersConsole adds a policy that lets engineers use the console
	// (the reference bundle lets only admins), for principals with
	// console:view but not audit:read.
	engineersConsole bool
	// denylist, if set, is the verifier's revocation list.
	denylist authn.Denylist
}

// denylist is a revocation list tests add to.
type denylist struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (d *denylist) revoke(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ids == nil {
		d.ids = map[string]bool{}
	}
	d.ids[id] = true
}

func (d *denylist) Revoked(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids[id]
}

// engineersConsolePolicy is the policy envOptions.engineersConsole adds.
const engineersConsolePolicy = `@id("test-engineers-console")
@reason("in these tests, engineers use the console")
permit (
  principal is User in Role::"engineer",
  action == Action::"console:view",
  resource is Console
);
`

// bundleFS is the reference bundle, with the test policy if asked.
func bundleFS(t testing.TB, opt envOptions) fs.FS {
	t.Helper()
	if !opt.engineersConsole {
		return os.DirFS(referenceDir)
	}
	return testutil.DirWith(t, referenceDir, map[string]string{"policies/test-console.cedar": engineersConsolePolicy})
}

// jwks is the public JWK Set of the test issuer.
func (e *env) jwks() string {
	e.t.Helper()
	pub, err := e.key.Public()
	if err != nil {
		e.t.Fatal(err)
	}
	set, err := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
	if err != nil {
		e.t.Fatal(err)
	}
	return string(set)
}

func newEnv(t testing.TB, opt envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, logs: &testutil.SyncBuffer{}, clock: opt.clock}
	if e.clock == nil {
		e.clock = &testutil.Clock{}
	}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	var err error
	if e.key, err = jwk.Generate("EdDSA", "console-test-key"); err != nil {
		t.Fatal(err)
	}
	pub, err := e.key.Public()
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.New(ctx, authn.Config{
		Issuers: []authn.IssuerConfig{{
			Issuer: testIssuer, Audiences: []string{testAudience}, Algorithms: []string{"EdDSA"},
			Keys: []*jwk.Key{pub}, RequiredClaims: []string{"jti"},
		}},
		Clock:    e.clock.Now,
		Logger:   logger.With("component", "authn"),
		Denylist: opt.denylist,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })

	if e.engine, err = policy.New(policy.Config{Clock: e.clock.Now, Logger: logger.With("component", "policy")}); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.Load(ctx, bundleFS(t, opt), policy.Meta{Revision: "test-rev", Digest: "sha256:test"}); err != nil {
		t.Fatal(err)
	}

	e.backend = storetest.NewSQLite(t)
	e.store = e.backend.Open(t)
	if e.audit, err = audit.New(ctx, audit.Config{Store: e.store, Node: testNode, Clock: e.clock.Now, Logger: logger.With("component", "audit")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.audit.Close(cctx)
	})

	if e.signer, err = token.NewSigner(token.SignerConfig{Key: e.key, Clock: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	cfg := console.Config{
		Verifier: v, Engine: e.engine, Store: e.store, Audit: e.audit, Node: testNode,
		Clock: e.clock.Now, Logger: logger.With("component", "console"),
	}
	if !opt.noMint {
		cfg.InsecureDevMint = &console.MintConfig{
			Signer: e.signer, Issuer: testIssuer, Audience: []string{testAudience},
			Presets: []console.Preset{
				{Name: "ada", Subject: "ada", Roles: []string{"admin"}, Team: "platform"},
				{Name: "eve", Subject: "eve", Roles: []string{"evaluator"}, Team: "research", Scopes: []string{"models:premium"}},
			},
		}
	}
	if e.console, err = console.New(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, e.console)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// mint returns a token of the test issuer and remembers it.
func (e *env) mint(sub string, roles ...string) string {
	e.t.Helper()
	return e.mintClaims(token.Claims{Subject: sub, Roles: roles, Tenant: "acme"})
}

func (e *env) mintClaims(c token.Claims) string {
	e.t.Helper()
	if c.Issuer == "" {
		c.Issuer = testIssuer
	}
	if c.Audience == nil {
		c.Audience = []string{testAudience}
	}
	if c.TTL == 0 {
		c.TTL = time.Hour
	}
	tok, err := e.signer.Mint(context.Background(), c)
	if err != nil {
		e.t.Fatal(err)
	}
	e.remember(tok)
	return tok
}

func (e *env) remember(tok string) {
	e.mu.Lock()
	e.tokens = append(e.tokens, tok)
	e.mu.Unlock()
}

// checkNoTokenInLogs fails if any token handed out, or its signature, or
// anything shaped like a JWT appears in the server's log.
func (e *env) checkNoTokenInLogs() {
	e.t.Helper()
	logs := e.logs.String()
	if logs == "" {
		e.t.Error("the server logged nothing: the check would be vacuous")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, tok := range e.tokens {
		if leaks(logs, tok) {
			e.t.Errorf("a token appears in the server log")
		}
	}
	if strings.Contains(logs, "eyJ") {
		e.t.Errorf("something shaped like a JWT appears in the server log")
	}
}

// appendRecord writes an audit record and waits until it is committed.
func (e *env) appendRecord(rec audit.Record) {
	e.t.Helper()
	before := e.audit.Stats().Committed
	if err := e.audit.Append(context.Background(), rec); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.audit.Stats().Committed <= before {
		if time.Now().After(deadline) {
			e.t.Fatal("audit record not committed in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is an HTTP client with its own cookie jar.
type client struct {
	t    testing.TB
	e    *env
	http *http.Client
	csrf string
}

func (e *env) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &client{t: e.t, e: e, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request; body, if not nil, is sent as JSON. Extra headers are
// name, value pairs.
func (c *client) do(method, path, body string, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" && method == http.MethodPost {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return res, string(b)
}

// leaks reports whether s holds tok or its signature segment.
func leaks(s, tok string) bool {
	if strings.Contains(s, tok) {
		return true
	}
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	return len(sig) >= 16 && strings.Contains(s, sig)
}
