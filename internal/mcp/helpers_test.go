package mcp_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/mcp"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/testutil"
	"github.com/wardenhq/warden/internal/token"
)

const (
	testIssuer  = "https://issuer.test"
	publicURL   = "https://warden.test"
	resourceURI = publicURL + "/mcp/demo"
	upstreamKey = "Bearer upstream-secret-credential"
)

// testPolicy is added to the reference bundle: evaluators call the tools
// the bundle marks read-only; everyone reads the readme. The policy example
// of docs/mcp.md (nobody deletes in production) is added too, for server
// "demo" (see testBundle).
const testPolicy = `
@id("mcp-test-evaluator-read-only")
@reason("evaluators call read-only tools")
permit (principal in Role::"evaluator", action == Action::"tool:call", resource is Tool)
when { resource has read_only && resource.read_only };


@id("mcp-test-readme")
@reason("everyone reads the readme")
permit (principal, action == Action::"resource:read", resource == Resource::"demo/file:///docs/readme.md");
`

// testEntities are the tools the bundle knows (trusted attributes).
// delete_records is a staging tool: the reference bundle's
// destructive-tool-guard treats a destructive tool of unknown env as one in
// production, which would hide it from the engineer's list.
var testEntities = []map[string]any{
	{"uid": map[string]any{"type": "Tool", "id": "demo/search"}, "attrs": map[string]any{"risk": "low", "read_only": true, "server": "demo"}, "parents": []any{}},
	{"uid": map[string]any{"type": "Tool", "id": "demo/delete_records"}, "attrs": map[string]any{"risk": "high", "destructive": true, "server": "demo", "env": "staging"}, "parents": []any{}},
	{"uid": map[string]any{"type": "Tool", "id": "demo/reindex"}, "attrs": map[string]any{"risk": "high", "server": "demo"}, "parents": []any{}},
}

// testPrivateKey is what the guard blocks by default.
const testPrivateKey = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----"

// Reference principals.
var (
	eve   = map[string]any{"sub": "eve", "roles": []string{"evaluator"}, "tenant": "acme"}
	paul  = map[string]any{"sub": "paul", "team": "platform", "tenant": "acme"}
	erin  = map[string]any{"sub": "erin", "roles": []string{"engineer"}, "tenant": "acme"}
	priya = map[string]any{"sub": "priya", "roles": []string{"engineer"}, "scope": "pii:read", "tenant": "acme"}
)

// upstream is the go-sdk MCP server behind Warden: stateless for
// 2026-07-28 requests, stateful (sessions) for the 2025 generations.
type upstream struct {
	srv      *httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	off      bool // not recording (benchmarks)
}

// record turns the recording of requests on or off.
func (u *upstream) record(on bool) {
	u.mu.Lock()
	u.off = !on
	u.mu.Unlock()
}

func (u *upstream) seen() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.requests...)
}

type searchArgs struct {
	Query string `json:"query"`
}

type deleteArgs struct {
	Env string   `json:"env"`
	IDs []string `json:"ids,omitempty"`
}

func newMCPServer() *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "demo", Version: "1.0.0"}, nil)
	destructive := true
	sdk.AddTool(s, &sdk.Tool{Name: "search", Description: "search the docs", Annotations: &sdk.ToolAnnotations{ReadOnlyHint: true}},
		func(ctx context.Context, req *sdk.CallToolRequest, in searchArgs) (*sdk.CallToolResult, any, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				_ = req.Session.NotifyProgress(ctx, &sdk.ProgressNotificationParams{ProgressToken: tok, Progress: 0.5, Message: "asking ops@example.com"})
			}
			return &sdk.CallToolResult{
				Content: []sdk.Content{&sdk.TextContent{Text: "found " + in.Query + ": owner jane.doe@example.com"}},
			}, map[string]any{"owner": "jane.doe@example.com", "hits": 1}, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "delete_records", Description: "delete records", Annotations: &sdk.ToolAnnotations{DestructiveHint: &destructive}},
		func(ctx context.Context, req *sdk.CallToolRequest, in deleteArgs) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "deleted in " + in.Env}}}, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "dump_key", Description: "leaks a private key"},
		func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: testPrivateKey}}}, nil, nil
		})
	sdk.AddTool(s, &sdk.Tool{Name: "reindex", Description: "rebuild the index"},
		func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "reindexed"}}}, nil, nil
		})
	s.AddResource(&sdk.Resource{URI: "file:///docs/readme.md", Name: "readme", MIMEType: "text/markdown"},
		func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, Text: "# Readme\nmail support@example.com"}}}, nil
		})
	s.AddResource(&sdk.Resource{URI: "file:///docs/secret.md", Name: "secret"},
		func(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
			return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: req.Params.URI, Text: "secret"}}}, nil
		})
	s.AddPrompt(&sdk.Prompt{Name: "summarize", Description: "summarize a trace"},
		func(ctx context.Context, req *sdk.GetPromptRequest) (*sdk.GetPromptResult, error) {
			return &sdk.GetPromptResult{Messages: []*sdk.PromptMessage{{Role: "user", Content: &sdk.TextContent{Text: "summarize"}}}}, nil
		})
	return s
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	s := newMCPServer()
	stateless := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, &sdk.StreamableHTTPOptions{Stateless: true})
	stateful := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil)
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		if !u.off {
			u.requests = append(u.requests, r.Clone(context.Background()))
		}
		u.mu.Unlock()
		if r.Header.Get("Mcp-Protocol-Version") >= "2026-07-28" {
			stateless.ServeHTTP(w, r)
			return
		}
		stateful.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// fixture is Warden (the real gateway with the MCP mount) on 127.0.0.1 in
// front of the go-sdk upstream.
type fixture struct {
	up    *upstream
	srv   *httptest.Server
	key   *jwk.Key
	store store.Store
	log   *audit.Log
	proxy *mcp.Proxy
}

type fixtureOpts struct {
	scopes         []string
	auditArguments bool
	limits         mcp.Limits
	asyncAudit     bool   // audit.DurabilityAsync instead of batch
	closedAudit    bool   // the audit log refuses every record
	upstreamURL    string // instead of the go-sdk upstream
	// mintKey, when set, makes Warden mint upstream tokens with it
	// (audience "https://upstream.test").
	mintKey *jwk.Key
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{up: newUpstream(t)}
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
		Issuer: testIssuer, Audiences: []string{resourceURI, "https://other.test/mcp/other"}, Algorithms: []string{"ES256"}, Keys: []*jwk.Key{pub},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	eng, err := policy.New(policy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Load(ctx, testBundle(t), policy.Meta{Revision: "r1", Digest: "sha256:test"}); err != nil {
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
	f.store = st
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
	upURL := f.up.srv.URL + "/mcp"
	if o.upstreamURL != "" {
		upURL = o.upstreamURL
	}
	sc := mcp.ServerConfig{
		Name: "demo", URL: upURL, Headers: map[string]string{"Authorization": upstreamKey},
		Scopes: o.scopes, AuditArguments: o.auditArguments, Timeout: 10 * time.Second,
	}
	var mint func(context.Context, token.Claims) (string, error)
	if o.mintKey != nil {
		signer, err := token.NewSigner(token.SignerConfig{Key: o.mintKey})
		if err != nil {
			t.Fatal(err)
		}
		mint = signer.Mint
		sc.Headers = nil
		sc.UpstreamToken = &mcp.UpstreamToken{Audience: "https://upstream.test"}
	}
	p, err := mcp.New(mcp.Config{
		Servers: []mcp.ServerConfig{sc}, Mint: mint, TokenIssuer: publicURL,
		Verifier: v, Engine: eng, Guard: gd, Audit: alog,
		AuthorizationServers: []string{testIssuer},
		PublicURL:            publicURL,
		Limits:               o.limits,
		Node:                 "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	f.proxy = p
	gw, err := gateway.New(gateway.Config{Verifier: v, Engine: eng, Guard: gd, Audit: alog, Mounts: []gateway.Mount{p.Mount()}, Node: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(gw)
	t.Cleanup(f.srv.Close)
	return f
}

// testBundle is the reference bundle plus testPolicy and testEntities.
func testBundle(t testing.TB) fs.FS {
	t.Helper()
	raw, err := os.ReadFile("../../examples/policy/entities.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref []map[string]any
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	// testEntities replace the reference bundle's entities of the same uid
	// (it declares the demo server's tools too).
	uid := func(e map[string]any) string {
		u := e["uid"].(map[string]any)
		return u["type"].(string) + "::" + u["id"].(string)
	}
	override := map[string]bool{}
	for _, e := range testEntities {
		override[uid(e)] = true
	}
	var ents []any
	for _, e := range ref {
		if !override[uid(e)] {
			ents = append(ents, e)
		}
	}
	for _, e := range testEntities {
		ents = append(ents, e)
	}
	b, err := json.Marshal(ents)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/mcp.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, _ := strings.Cut(string(doc), "```cedar\n")
	example, _, _ = strings.Cut(example, "```")
	if !strings.Contains(example, `Tool::"search/delete_records"`) {
		t.Fatalf("docs/mcp.md has no policy example for search/delete_records")
	}
	example = strings.ReplaceAll(example, `Tool::"search/`, `Tool::"demo/`)
	return testutil.DirWith(t, "../../examples/policy", map[string]string{
		"policies/zz-mcp-test.cedar": testPolicy, "policies/zz-mcp-docs.cedar": example, "entities.json": string(b),
	})
}

// token mints a token for claims with aud = resourceURI unless claims say.
func (f *fixture) token(t testing.TB, claims map[string]any) string {
	t.Helper()
	c := map[string]any{"iss": testIssuer, "aud": resourceURI, "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(), "jti": "jti-" + claims["sub"].(string)}
	for k, v := range claims {
		c[k] = v
	}
	return testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}, c, "ES256", f.key.SigningKey())
}

// bearer adds a token to every request and records the responses' content
// types.
type bearer struct {
	token string
	mu    sync.Mutex
	types []string
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		b.mu.Lock()
		b.types = append(b.types, resp.Header.Get("Content-Type"))
		b.mu.Unlock()
	}
	return resp, err
}

func (b *bearer) sawSSE() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.types {
		if strings.HasPrefix(t, "text/event-stream") {
			return true
		}
	}
	return false
}

// connect opens a go-sdk client session through Warden.
func (f *fixture) connect(t testing.TB, claims map[string]any, version string, copts *sdk.ClientOptions) (*sdk.ClientSession, *bearer) {
	t.Helper()
	b := &bearer{token: f.token(t, claims)}
	c := sdk.NewClient(&sdk.Implementation{Name: "test-client", Version: "1.0.0"}, copts)
	tr := &sdk.StreamableClientTransport{Endpoint: f.srv.URL + "/mcp/demo", HTTPClient: &http.Client{Transport: b, Timeout: 30 * time.Second}, MaxRetries: -1}
	cs, err := c.Connect(context.Background(), tr, &sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, b
}

// records returns the audit records stored so far.
func (f *fixture) records(t testing.TB) []audit.Record {
	t.Helper()
	if err := f.log.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	es, err := audit.Query(context.Background(), f.store, audit.Filter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]audit.Record, len(es))
	for i, e := range es {
		out[i] = e.Record
	}
	return out
}
