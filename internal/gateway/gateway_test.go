package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/testutil"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "warden"
	upstreamKey  = "Bearer sk-upstream-credential"
)

// seen is what the test upstream received.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

type upstreamRecorder struct {
	mu  sync.Mutex
	got []seen
}

func (u *upstreamRecorder) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.got) == 0 {
		t.Fatal("upstream received nothing")
	}
	return u.got[len(u.got)-1]
}

func (u *upstreamRecorder) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// ServeHTTP is a small OpenAI-compatible model API and tool API that puts
// PII in its answers.
func (u *upstreamRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.got = append(u.got, seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()
	switch {
	case r.URL.Path == "/base/v1/models":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"gpt-4o-mini","object":"model"},{"id":"claude-sonnet","object":"model"},{"id":"unknown-model","object":"model"}]}`)
	case r.URL.Path == "/base/v1/chat/completions" && bytes.Contains(body, []byte(`"stream":true`)):
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for _, part := range []string{"Write to jane.d", "oe@example.com today."} {
			b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": part}}}})
			io.WriteString(w, "data: "+string(b)+"\n\n")
			fl.Flush()
		}
		io.WriteString(w, `data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	case r.URL.Path == "/base/v1/chat/completions":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c1","choices":[{"index":0,"message":{"role":"assistant","content":"Contact jane.doe@example.com"}}]}`)
	case r.URL.Path == "/base/v1/embeddings":
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "raw")
	case r.URL.Path == "/base/api/traces/tr-key":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"}`)
	case strings.HasPrefix(r.URL.Path, "/base/api/traces/tr-slow"):
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case r.URL.Path == "/base/v1/completions":
		// A private key split across two events: the stream must be cut.
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, `data: {"choices":[{"index":0,"text":"ok -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"}]}`+"\n\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, `data: {"choices":[{"index":0,"text":"\n-----END PRIVATE KEY-----"}]}`+"\n\n")
	case strings.HasPrefix(r.URL.Path, "/base/api/traces/"):
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "trace for ops@example.com")
	default:
		http.NotFound(w, r)
	}
}

// traceSpec is the resource of the trace routes: the reference bundle
// refuses a tenant-scoped resource without a tenant (tenant-required), so
// the routes give every trace the test principals' tenant.
var traceSpec = gateway.ResourceSpec{Type: "Trace", ID: "{id}", Attributes: map[string]string{"tenant": "acme"}}

type fixture struct {
	gw    *gateway.Gateway
	srv   *httptest.Server
	up    *upstreamRecorder
	key   *jwk.Key
	log   *audit.Log
	st    store.Store
	upURL string
	logs  syncBuffer
}

func (f *fixture) up0URL(testing.TB) string { return f.upURL }

type fixtureOpts struct {
	closedAudit bool
	failOpen    bool
	asyncAudit  bool
	trusted     []netip.Prefix
	env         string // Config.Env
	// extraPolicy is added to the reference bundle as
	// policies/zz-test.cedar.
	extraPolicy string
	// issuer is Config.Issuer.
	issuer http.Handler
	// mounts is Config.Mounts.
	mounts []gateway.Mount
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer = testutil.SyncBuffer

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{up: &upstreamRecorder{}}
	upSrv := httptest.NewServer(f.up)
	t.Cleanup(upSrv.Close)

	key, err := jwk.Generate("ES256", "k1")
	if err != nil {
		t.Fatal(err)
	}
	f.key = key
	pub, err := key.Public()
	if err != nil {
		t.Fatal(err)
	}
	v, err := authn.New(ctx, authn.Config{Issuers: []authn.IssuerConfig{{
		Issuer: testIssuer, Audiences: []string{testAudience}, Algorithms: []string{"ES256"}, Keys: []*jwk.Key{pub},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	eng, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var bundleFS fs.FS = os.DirFS("../../examples/policy")
	if o.extraPolicy != "" {
		bundleFS = testutil.DirWith(t, "../../examples/policy", map[string]string{"policies/zz-test.cedar": o.extraPolicy})
	}
	if err := eng.Load(ctx, bundleFS, policy.Meta{Revision: "r1", Digest: "sha256:test"}); err != nil {
		t.Fatal(err)
	}
	gd, err := guard.New(guard.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "audit.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	dur := audit.DurabilityBatch
	if o.asyncAudit {
		dur = audit.DurabilityAsync
	}
	alog, err := audit.New(ctx, audit.Config{Store: st, Node: "test", Durability: dur})
	if err != nil {
		t.Fatal(err)
	}
	if o.closedAudit {
		if err := alog.Close(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Cleanup(func() { alog.Close(context.Background()) })
	}
	f.log = alog
	gw, err := gateway.New(gateway.Config{
		Verifier: v, Engine: eng, Guard: gd, Audit: alog, AuditFailOpen: o.failOpen, Issuer: o.issuer, Mounts: o.mounts,
		Routes: []gateway.RouteSpec{
			{Name: "chat", Kind: gateway.KindModel, Methods: []string{"POST"}, Path: "/v1/chat/completions", Upstream: "llm"},
			{Name: "completions", Kind: gateway.KindModel, Methods: []string{"POST"}, Path: "/v1/completions", Upstream: "llm"},
			{Name: "embeddings", Kind: gateway.KindModel, Methods: []string{"POST"}, Path: "/v1/embeddings", Upstream: "llm"},
			{Name: "models", Kind: gateway.KindModel, Methods: []string{"GET"}, Path: "/v1/models", Upstream: "llm"},
			{Name: "trace_read", Kind: gateway.KindTool, Methods: []string{"GET"}, Path: "/api/traces/{id}", Action: "trace:read",
				Resource: traceSpec, Upstream: "llm"},
			{Name: "trace_replay", Kind: gateway.KindTool, Methods: []string{"POST"}, Path: "/api/traces/{id}/replay", Action: "trace:replay",
				Resource: traceSpec, Upstream: "slow"},
			{Name: "trace_gone", Kind: gateway.KindTool, Methods: []string{"DELETE"}, Path: "/api/traces/{id}", Action: "trace:read",
				Resource: traceSpec, Upstream: "gone"},
		},
		Upstreams: []gateway.UpstreamSpec{
			{Name: "llm", URL: upSrv.URL + "/base", Headers: map[string]string{"Authorization": upstreamKey}},
			{Name: "slow", URL: upSrv.URL + "/base/api/traces/tr-slow", Timeout: 200 * time.Millisecond},
			{Name: "gone", URL: "http://127.0.0.1:1"},
		},
		Limits:         gateway.Limits{MaxBodyBytes: 4096},
		Node:           "test",
		Env:            o.env,
		TrustedProxies: o.trusted,
		Logger:         slog.New(slog.NewJSONHandler(&f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.gw = gw
	f.upURL = upSrv.URL + "/base"
	f.srv = httptest.NewServer(gw)
	t.Cleanup(f.srv.Close)
	return f
}

// token mints a token for the reference principal claims.
func (f *fixture) token(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": testIssuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "jti-" + claims["sub"].(string)}
	for k, v := range claims {
		c[k] = v
	}
	return testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}, c, "ES256", f.key.SigningKey())
}

var (
	rita  = map[string]any{"sub": "rita", "team": "research", "scope": "models:premium", "tenant": "acme"}
	paul  = map[string]any{"sub": "paul", "team": "platform", "tenant": "acme"}
	eve   = map[string]any{"sub": "eve", "roles": []string{"evaluator"}, "tenant": "acme"}
	priya = map[string]any{"sub": "priya", "team": "research", "scope": "pii:read", "tenant": "acme"}
)

type result struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) do(t *testing.T, method, path, token, body string, hdr map[string]string) result {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rb)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

func errCode(t *testing.T, body string) (code, decisionID string) {
	t.Helper()
	var e struct {
		Error struct {
			Code       string `json:"code"`
			RequestID  string `json:"request_id"`
			DecisionID string `json:"decision_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if e.Error.RequestID == "" {
		t.Errorf("error body without request_id: %s", body)
	}
	return e.Error.Code, e.Error.DecisionID
}

// records returns the audit records stored so far.
func (f *fixture) records(t *testing.T) []audit.Record {
	t.Helper()
	// Result records are queued without waiting for their commit.
	if err := f.log.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := audit.Query(context.Background(), f.st, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]audit.Record, len(es))
	for i, e := range es {
		out[i] = e.Record
	}
	return out
}

// recordFor returns the decision record of a request.
func (f *fixture) recordFor(t *testing.T, requestID string) audit.Record {
	t.Helper()
	return f.phaseRecord(t, requestID, audit.PhaseDecision)
}

// resultFor returns the result record of a proxied request. The gateway
// appends it after the response has been sent, so it may still be on its
// way when the client has the answer: resultFor waits up to 5 seconds.
func (f *fixture) resultFor(t *testing.T, requestID string) audit.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, r := range f.requestRecords(t, requestID) {
			if r.Phase == audit.PhaseResult {
				return f.phaseRecord(t, requestID, audit.PhaseResult)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s: no result record", requestID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// phaseRecord returns the one record of requestID with the phase; it fails
// the test if there is not exactly one.
func (f *fixture) phaseRecord(t *testing.T, requestID, phase string) audit.Record {
	t.Helper()
	recs := f.requestRecords(t, requestID)
	var out []audit.Record
	for _, r := range recs {
		if r.Phase == phase {
			out = append(out, r)
		}
	}
	if len(out) != 1 {
		t.Fatalf("request %s: %d %s records, want 1 (all: %+v)", requestID, len(out), phase, recs)
	}
	return out[0]
}

func (f *fixture) requestRecords(t *testing.T, requestID string) []audit.Record {
	t.Helper()
	if requestID == "" {
		t.Fatal("no request id")
	}
	if err := f.log.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := audit.Query(context.Background(), f.st, audit.Filter{RequestID: requestID})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]audit.Record, len(es))
	for i, e := range es {
		out[i] = e.Record
	}
	return out
}

const chatBody = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi, I am bob@example.org"}],"max_tokens":100}`

func TestModelRoutes(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ritaTok, paulTok := f.token(t, rita), f.token(t, paul)

	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		body       string
		wantStatus int
		wantCode   string
		proxied    bool
	}{
		{"allowed chat completion", "POST", "/v1/chat/completions", ritaTok, chatBody, 200, "", true},
		{"premium model without the premium scope", "POST", "/v1/chat/completions", paulTok, chatBody, 403, "forbidden", false},
		{"no token", "POST", "/v1/chat/completions", "", chatBody, 401, "unauthorized", false},
		{"bad token", "POST", "/v1/chat/completions", ritaTok[:len(ritaTok)-4] + "AAAA", chatBody, 401, "unauthorized", false},
		{"unknown path", "POST", "/v1/unknown", ritaTok, chatBody, 404, "not_found", false},
		{"body over the limit", "POST", "/v1/chat/completions", ritaTok, `{"model":"gpt-4o","x":"` + strings.Repeat("a", 5000) + `"}`, 413, "request_too_large", false},
		{"malformed JSON", "POST", "/v1/chat/completions", ritaTok, `{"model":"gpt-4o",`, 400, "invalid_request", false},
		{"model response of an uninspectable type", "POST", "/v1/embeddings", ritaTok, `{"model":"gpt-4o-mini","input":"x"}`, 502, "bad_gateway", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.up.count()
			res := f.do(t, tc.method, tc.path, tc.token, tc.body, map[string]string{"X-Request-Id": "client-chosen", "Cookie": "session=secret"})
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", res.status, tc.wantStatus, res.body)
			}
			id := res.header.Get("X-Request-Id")
			if id == "" || id == "client-chosen" {
				t.Errorf("X-Request-Id = %q, want a fresh one", id)
			}
			if tc.wantCode != "" {
				if code, _ := errCode(t, res.body); code != tc.wantCode {
					t.Errorf("code = %q, want %q", code, tc.wantCode)
				}
			}
			if got := f.up.count() > before; got != tc.proxied {
				t.Fatalf("proxied = %v, want %v", got, tc.proxied)
			}
			if tc.proxied {
				s := f.up.last(t)
				if got := s.Header.Values("Authorization"); len(got) != 1 || got[0] != upstreamKey {
					t.Errorf("upstream Authorization = %q, want only the injected credential", got)
				}
				if s.Header.Get("Cookie") != "" {
					t.Error("the caller's cookie reached the upstream")
				}
				if got := s.Header.Get("X-Request-Id"); got != id {
					t.Errorf("upstream X-Request-Id = %q, want %q", got, id)
				}
			}
			for _, s := range f.up.got {
				if strings.Contains(s.Header.Get("Authorization"), ritaTok) || bytes.Contains(s.Body, []byte(ritaTok)) {
					t.Fatal("the caller's token reached the upstream")
				}
			}
			if res.status == 401 {
				wa := res.header.Get("WWW-Authenticate")
				if !strings.HasPrefix(wa, `Bearer realm="warden"`) {
					t.Errorf("WWW-Authenticate = %q", wa)
				}
				if tc.token != "" && !strings.Contains(wa, `error="invalid_token"`) {
					t.Errorf("WWW-Authenticate = %q, want error=invalid_token", wa)
				}
				if tc.token != "" && strings.Contains(wa+res.body, tc.token[:20]) {
					t.Error("the token is echoed")
				}
			}
			rec := f.recordFor(t, id)
			wantDecision := audit.Deny
			if tc.proxied {
				wantDecision = audit.Allow
			}
			if rec.Decision != wantDecision {
				t.Errorf("audit decision = %q, want %q", rec.Decision, wantDecision)
			}
		})
	}
}

func TestAllowedChatDetails(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	res := f.do(t, "POST", "/v1/chat/completions", f.token(t, rita), chatBody, nil)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	// rita has no pii:read: the prompt and the answer are redacted.
	s := f.up.last(t)
	if s.Path != "/base/v1/chat/completions" {
		t.Errorf("upstream path = %q", s.Path)
	}
	if bytes.Contains(s.Body, []byte("bob@example.org")) || !bytes.Contains(s.Body, []byte("[REDACTED:email]")) {
		t.Errorf("upstream body not redacted: %s", s.Body)
	}
	if strings.Contains(res.body, "jane.doe@example.com") || !strings.Contains(res.body, "[REDACTED:email]") {
		t.Errorf("response not redacted: %s", res.body)
	}
	rec := f.recordFor(t, res.header.Get("X-Request-Id"))
	if rec.Subject != "rita" || rec.Issuer != testIssuer || rec.JTI != "jti-rita" || rec.Route != "chat" ||
		rec.Action != "model:invoke" || rec.ResourceType != "Model" || rec.ResourceID != "gpt-4o" ||
		rec.BundleRevision != "r1" || rec.DecisionID == "" || rec.ClientIP != "127.0.0.1" || len(rec.Policies) == 0 {
		t.Errorf("audit record = %+v", rec)
	}
	if len(rec.Guards) != 1 || rec.Guards[0].Phase != "request" || rec.Guards[0].Hits["email"] != 1 {
		t.Errorf("audit guards = %+v", rec.Guards)
	}
	if got := f.gw.Stats().GuardHits["email"]; got != 2 {
		t.Errorf("guard hits email = %d, want 2", got)
	}
}

func TestDenyCarriesDecision(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	res := f.do(t, "POST", "/v1/chat/completions", f.token(t, paul), chatBody, nil)
	if res.status != 403 {
		t.Fatalf("status %d", res.status)
	}
	code, did := errCode(t, res.body)
	if code != "forbidden" || did == "" || !strings.Contains(res.body, "premium-tier models need the models:premium scope") {
		t.Errorf("deny body = %s", res.body)
	}
	rec := f.recordFor(t, res.header.Get("X-Request-Id"))
	if rec.DecisionID != did || rec.Decision != audit.Deny || len(rec.Policies) != 1 || rec.Policies[0] != "model-premium-scope" {
		t.Errorf("audit record = %+v", rec)
	}
}

func TestPIIVisibleWithScope(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	res := f.do(t, "POST", "/v1/chat/completions", f.token(t, priya), body, nil)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if !strings.Contains(res.body, "jane.doe@example.com") {
		t.Errorf("priya (pii:read) sees %s, want the email unredacted", res.body)
	}
	if s := f.up.last(t); !bytes.Contains(s.Body, []byte(`"hi"`)) {
		t.Errorf("upstream body = %s", s.Body)
	}
}

func TestStreamRedaction(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	res := f.do(t, "POST", "/v1/chat/completions", f.token(t, rita), body, nil)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q", ct)
	}
	var text strings.Builder
	for _, line := range strings.Split(res.body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var ev struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		for _, c := range ev.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if got := text.String(); strings.Contains(got, "example.com") || !strings.Contains(got, "[REDACTED:email]") {
		t.Errorf("streamed text = %q, want the split email redacted", got)
	}
	if !strings.HasSuffix(res.body, "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE]: %q", res.body)
	}
}

func TestModelList(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tests := []struct {
		name   string
		claims map[string]any
		want   []string
	}{
		{"research with premium", rita, []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet"}},
		{"platform without premium", paul, []string{"gpt-4o-mini"}},
		{"no team", eve, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, "GET", "/v1/models", f.token(t, tc.claims), "", nil)
			if res.status != 200 {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			var l struct {
				Data []struct{ ID string } `json:"data"`
			}
			if err := json.Unmarshal([]byte(res.body), &l); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, m := range l.Data {
				got = append(got, m.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("models = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestToolRoute(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	res := f.do(t, "GET", "/api/traces/tr-shared?x=1", f.token(t, eve), "", nil)
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	// Other content types pass through on tool routes.
	if res.body != "trace for ops@example.com" {
		t.Errorf("body = %q", res.body)
	}
	if s := f.up.last(t); s.Path != "/base/api/traces/tr-shared" || s.Query != "x=1" {
		t.Errorf("upstream got %s?%s", s.Path, s.Query)
	}
	res = f.do(t, "GET", "/api/traces/tr-shared", f.token(t, paul), "", nil)
	if res.status != 403 {
		t.Errorf("paul: status %d, want 403", res.status)
	}
}

func TestGuardsAndUpstreamFailures(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	eveTok, ritaTok := f.token(t, eve), f.token(t, rita)
	keyPrompt := `{"model":"gpt-4o","messages":[{"role":"user","content":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"}]}`
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		body       string
		wantStatus int
		wantCode   string
		proxied    bool
	}{
		{"private key in the prompt", "POST", "/v1/chat/completions", ritaTok, keyPrompt, 403, "blocked", false},
		{"private key in the response", "GET", "/api/traces/tr-key", eveTok, "", 403, "blocked", true},
		{"upstream timeout", "POST", "/api/traces/tr-1/replay", eveTok, "", 504, "gateway_timeout", true},
		{"upstream down", "DELETE", "/api/traces/tr-1", eveTok, "", 502, "bad_gateway", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.up.count()
			res := f.do(t, tc.method, tc.path, tc.token, tc.body, nil)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", res.status, tc.wantStatus, res.body)
			}
			if code, _ := errCode(t, res.body); code != tc.wantCode {
				t.Errorf("code = %q, want %q", code, tc.wantCode)
			}
			if strings.Contains(res.body, "PRIVATE KEY") {
				t.Error("the key reached the client")
			}
			if got := f.up.count() > before; got != tc.proxied {
				t.Errorf("proxied = %v, want %v", got, tc.proxied)
			}
		})
	}
}

func TestAuthz(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	eveTok, paulTok := f.token(t, eve), f.token(t, paul)
	orig := map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/api/traces/tr-shared"}
	tests := []struct {
		name       string
		token      string
		hdr        map[string]string
		wantStatus int
	}{
		{"allowed", eveTok, orig, 200},
		{"denied", paulTok, orig, 403},
		{"no token", "", orig, 401},
		{"bad token", eveTok[:len(eveTok)-4] + "AAAA", orig, 401},
		{"unknown path", eveTok, map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/nope"}, 403},
		{"model route", eveTok, map[string]string{"X-Original-Method": "POST", "X-Original-URI": "/v1/chat/completions"}, 403},
		{"no original request", eveTok, nil, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.up.count()
			res := f.do(t, "GET", "/authz", tc.token, "", tc.hdr)
			if res.status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", res.status, tc.wantStatus, res.body)
			}
			if f.up.count() != before {
				t.Error("forward auth reached the upstream")
			}
			switch res.status {
			case 200:
				if res.header.Get("X-Warden-Subject") != "eve" || res.header.Get("X-Warden-Roles") != "evaluator" ||
					res.header.Get("X-Warden-Tenant") != "acme" || res.header.Get("X-Warden-Decision-Id") == "" {
					t.Errorf("identity headers = %v", res.header)
				}
			case 401:
				if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer ") {
					t.Errorf("WWW-Authenticate = %q", res.header.Get("WWW-Authenticate"))
				}
			}
			rec := f.recordFor(t, res.header.Get("X-Request-Id"))
			if (rec.Decision == audit.Allow) != (res.status == 200) {
				t.Errorf("audit decision %q for status %d", rec.Decision, res.status)
			}
		})
	}
}

func TestAuditEveryRequest(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	tok := f.token(t, rita)
	f.do(t, "POST", "/v1/chat/completions", tok, chatBody, nil)
	f.do(t, "POST", "/v1/chat/completions", "", chatBody, nil)
	f.do(t, "GET", "/nope", tok, "", nil)
	recs := f.records(t)
	phases := map[string]int{}
	for _, r := range recs {
		phases[r.Phase]++
	}
	// Three decisions, and the result of the one proxied request.
	if len(recs) != 4 || phases[audit.PhaseDecision] != 3 || phases[audit.PhaseResult] != 1 {
		t.Fatalf("%d records %v, want 3 decisions and 1 result", len(recs), phases)
	}
	for _, r := range recs {
		if r.JTI != "" && r.JTI != "jti-rita" {
			t.Errorf("JTI = %q", r.JTI)
		}
		b, _ := json.Marshal(r)
		if bytes.Contains(b, []byte(tok[:30])) {
			t.Error("a token is in the audit record")
		}
	}
	var n uint64
	for _, c := range f.gw.Stats().Requests {
		n += c.Count
	}
	if n != 3 {
		t.Errorf("stats count %d requests, want 3", n)
	}
	if f.gw.Stats().DecisionLatency.Count != 1 {
		t.Errorf("decision latency count = %d, want 1", f.gw.Stats().DecisionLatency.Count)
	}
}

func TestAuditFailure(t *testing.T) {
	for _, open := range []bool{false, true} {
		f := newFixture(t, fixtureOpts{closedAudit: true, failOpen: open})
		res := f.do(t, "POST", "/v1/chat/completions", f.token(t, rita), chatBody, nil)
		want := 503
		if open {
			want = 200
		}
		if res.status != want {
			t.Fatalf("fail open %v: status %d, want %d (%s)", open, res.status, want, res.body)
		}
		if !open {
			if code, _ := errCode(t, res.body); code != "audit_unavailable" {
				t.Errorf("code = %q", code)
			}
			if f.up.count() != 0 {
				t.Error("proxied although the audit log refused the record")
			}
		}
		// Failing open, the result record is refused too: counted, and
		// the answer (already sent) is unaffected.
		wantFailures := uint64(1)
		if open {
			wantFailures = 2
		}
		// The result record is appended after the answer: wait for it.
		deadline := time.Now().Add(5 * time.Second)
		for f.gw.Stats().AuditFailures < wantFailures && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := f.gw.Stats().AuditFailures; got != wantFailures {
			t.Errorf("audit failures = %d, want %d", got, wantFailures)
		}
	}
}

func TestClientIPAndLogs(t *testing.T) {
	f := newFixture(t, fixtureOpts{trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	tok := f.token(t, rita)
	res := f.do(t, "POST", "/v1/chat/completions", tok, chatBody, map[string]string{"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if got := res.header.Values("X-Request-Id"); len(got) != 1 {
		t.Errorf("X-Request-Id = %q, want one", got)
	}
	if rec := f.recordFor(t, res.header.Get("X-Request-Id")); rec.ClientIP != "203.0.113.9" {
		t.Errorf("client IP = %q, want the first untrusted hop", rec.ClientIP)
	}
	if got := f.up.last(t).Header.Get("X-Forwarded-For"); got != "203.0.113.9" {
		t.Errorf("upstream X-Forwarded-For = %q", got)
	}
	f.do(t, "POST", "/v1/chat/completions", tok+"x", chatBody, nil)
	f.do(t, "POST", "/v1/chat/completions", "x"+tok, chatBody, nil)
	logs := f.logs.String()
	if !strings.Contains(logs, res.header.Get("X-Request-Id")) {
		t.Errorf("no debug line for the request in %s", logs)
	}
	if strings.Contains(logs, tok[10:40]) {
		t.Error("a token is in the logs")
	}
}

func TestStreamBlockAborts(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/completions", strings.NewReader(`{"model":"gpt-4o","prompt":"x","stream":true}`))
	req.Header.Set("Authorization", "Bearer "+f.token(t, rita))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		return // aborted before the status line was flushed: as good
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Errorf("stream ended cleanly, want it aborted; got %q", b)
	}
	if bytes.Contains(b, []byte("MIIEvQ")) || bytes.Contains(b, []byte("PRIVATE KEY")) {
		t.Errorf("key material reached the client: %q", b)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := gateway.New(gateway.Config{}); err == nil {
		t.Fatal("New accepted an empty config")
	}
}

var _ = netip.Addr{}
