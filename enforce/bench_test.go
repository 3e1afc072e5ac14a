package enforce

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/testutil"
)

// benchEnforcer is an Enforcer over the example service's bundle with a
// static ES256 key; auditStore "" runs without a decision log.
func benchEnforcer(b *testing.B, tk *jwk.Key, cacheSize int, auditStore string, async bool) (*Enforcer, func() string) {
	b.Helper()
	bk, _ := jwk.Generate("EdDSA", "bundle-1")
	pub := func(k *jwk.Key) []byte {
		p, _ := k.Public()
		out, _ := (&jwk.Set{Keys: []*jwk.Key{p}}).MarshalJSON()
		return out
	}
	files, err := bundle.ReadDir("../examples/service/policy")
	if err != nil {
		b.Fatal(err)
	}
	data, _, err := bundle.Build(files, bundle.BuildOptions{Revision: "bench", Created: time.Now(), Key: bk})
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{
		Issuers:        []Issuer{{Issuer: "https://idp.test", Audiences: []string{"svc"}, Algorithms: []string{"ES256"}, JWKS: pub(tk)}},
		Bundle:         Bundle{Data: data, PublicKeys: pub(bk)},
		Audit:          Audit{InsecureNoAudit: true},
		TokenCacheSize: cacheSize,
		Env:            "production",
	}
	if auditStore != "" {
		cfg.Audit = Audit{Store: auditStore, Node: "bench", Async: async}
		if async {
			// The benchmark outruns the store's commits; the queue
			// absorbs the whole run, so the figure is what a request
			// pays, not back-pressure.
			cfg.Audit.QueueSize = 1 << 21
		}
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	n := 0
	mint := func() string {
		n++
		return testutil.MintJWT(b, map[string]any{"alg": "ES256", "kid": "tok-1"}, map[string]any{
			"iss": "https://idp.test", "aud": "svc", "sub": "reader", "client_id": "reader", "scope": "trace:read record:read",
			"jti": fmt.Sprint("j-", n), "exp": time.Now().Add(time.Hour).Unix(),
		}, "ES256", tk.SigningKey())
	}
	return e, mint
}

var benchRoutes = []Route{
	{Name: "trace-read", Methods: []string{"GET"}, Pattern: "/traces/{id}", Action: "trace:read", Resource: ResourceTemplate{Type: "Trace", ID: "{id}"}},
	{Name: "record-read", Methods: []string{"GET"}, Pattern: "/records/{id}", Action: "record:read", Resource: ResourceTemplate{Type: "Record", ID: "{id}", Attributes: map[string]string{"tenant": "header:X-Tenant"}}},
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })

// runBench serves one GET /traces/t-1 per iteration, in process (no
// network), so the figure is the handler chain alone.
func runBench(b *testing.B, h http.Handler, tokens func(i int) string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "/traces/t-1", nil)
	req.RemoteAddr = "10.0.0.7:4242"
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if tokens != nil {
			req.Header.Set("Authorization", "Bearer "+tokens(i))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}

// BenchmarkHandler is the handler without the middleware: the baseline.
func BenchmarkHandler(b *testing.B) {
	runBench(b, okHandler, nil)
}

// BenchmarkMiddleware is the handler behind the middleware: verified-token
// cache hit or miss, with or without the decision log.
func BenchmarkMiddleware(b *testing.B) {
	cases := []struct {
		name   string
		cache  int
		audit  bool
		async  bool
		unique bool // a new token every request
	}{
		{name: "cached-token", cache: 0},
		{name: "uncached-token", cache: -1},
		{name: "cached-token+audit-async", cache: 0, audit: true, async: true},
		{name: "cached-token+audit-batch", cache: 0, audit: true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			store := ""
			if tc.audit {
				store = "sqlite://" + filepath.Join(b.TempDir(), "audit.db") + "?synchronous=normal"
			}
			tk, _ := jwk.Generate("ES256", "tok-1")
			e, mint := benchEnforcer(b, tk, tc.cache, store, tc.async)
			mw, err := e.Middleware(benchRoutes)
			if err != nil {
				b.Fatal(err)
			}
			tok := mint()
			runBench(b, mw(okHandler), func(int) string { return tok })
		})
	}
}

// BenchmarkParts times the stages of one request on their own: the
// verified-token cache hit, the full verification, the policy decision,
// and the audit append (async: the enqueue the request pays).
func BenchmarkParts(b *testing.B) {
	ctx := context.Background()
	tk, _ := jwk.Generate("ES256", "tok-1")
	e, mint := benchEnforcer(b, tk, 0, "sqlite://"+filepath.Join(b.TempDir(), "audit.db")+"?synchronous=normal", true)
	tok := mint()
	p, err := e.verifier.Verify(ctx, tok)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify-cached", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := e.verifier.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("route-match", func(b *testing.B) {
		mw, err := e.Middleware(benchRoutes)
		if err != nil {
			b.Fatal(err)
		}
		rt := mw(okHandler).(*middleware).router
		b.ReportAllocs()
		for range b.N {
			if _, ok := rt.Match("GET", "/traces/t-1"); !ok {
				b.Fatal("no match")
			}
		}
	})
	b.Run("verify-uncached", func(b *testing.B) {
		u, _ := benchEnforcer(b, tk, -1, "", false)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := u.verifier.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decide", func(b *testing.B) {
		b.ReportAllocs()
		req := policy.Request{Principal: p, Action: "trace:read", Resource: policy.Resource{Type: "Trace", ID: "t-1"}, Context: map[string]any{"env": "production"}}
		for range b.N {
			if d := e.engine.Decide(ctx, req); !d.Allowed {
				b.Fatal(d.Errors)
			}
		}
	})
	b.Run("audit-append-async", func(b *testing.B) {
		b.ReportAllocs()
		rec := audit.Record{RequestID: "r", Phase: audit.PhaseDecision, Decision: audit.Allow, Method: "GET", Path: "/traces/t-1", Action: "trace:read"}
		for i := range b.N {
			if i%4096 == 4095 { // keep the queue from filling: commits are not what is timed
				b.StopTimer()
				if err := e.audit.Sync(ctx); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			if err := e.audit.Append(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	})
}
