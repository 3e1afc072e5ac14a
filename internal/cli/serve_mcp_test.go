package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/echo"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

// bearerRT adds a bearer token to every request.
type bearerRT string

func (b bearerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// TestServeMCP: `warden serve` with an mcp server mounts it at
// /mcp/<name>, serves its metadata, and keeps MCP and route audiences
// apart (a token for one is refused on the other).
func TestServeMCP(t *testing.T) {
	dir := t.TempDir()
	tokenKey, err := jwk.Generate("ES256", "k1")
	if err != nil {
		t.Fatal(err)
	}
	bundleKey, err := jwk.Generate("EdDSA", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := writePublicJWKS(filepath.Join(dir, "tokens.jwks.json"), tokenKey); err != nil {
		t.Fatal(err)
	}
	if err := writePublicJWKS(filepath.Join(dir, "bundle.jwks.json"), bundleKey); err != nil {
		t.Fatal(err)
	}
	files, err := embeddedPolicy()
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := bundle.Build(files, bundle.BuildOptions{Revision: "r-mcp", Created: time.Now(), Key: bundleKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.tar.gz"), archive, 0o600); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		gotAuth []string
	)
	srv := sdk.NewServer(&sdk.Implementation{Name: "up", Version: "1"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "lookup"}, func(ctx context.Context, req *sdk.CallToolRequest, in struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "ok"}}}, nil, nil
	})
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, &sdk.StreamableHTTPOptions{Stateless: true})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer up.Close()
	models := httptest.NewServer(echo.Handler(echo.Config{}))
	defer models.Close()
	kek := make([]byte, issuer.KEKBytes)
	rand.Read(kek)
	if err := os.WriteFile(filepath.Join(dir, "kek"), []byte(base64.StdEncoding.EncodeToString(kek)), 0o600); err != nil {
		t.Fatal(err)
	}
	const public = "http://warden.test"
	cfg := fmt.Sprintf(`issuers:
  - issuer: https://issuer.test/
    audiences: [warden]
    algorithms: [ES256]
    keys_file: tokens.jwks.json
policy:
  bundle: bundle.tar.gz
  keys: [bundle.jwks.json]
store: %q
audit:
  node: test-node
upstreams:
  - name: echo
    url: %s
models:
  upstream: echo
token_issuer:
  audiences: [warden]
  key_encryption_key: {file: kek}
mcp:
  public_url: %s
  authorization_servers: [https://issuer.test/]
  servers:
    - name: search
      url: %s/mcp
      headers:
        Authorization: {value: upstream-credential, prefix: "Bearer "}
    - name: minted
      url: %s/mcp
      upstream_token: {audience: https://upstream.test, ttl: 30s}
`, "sqlite://"+filepath.Join(dir, "w.db"), models.URL, public, up.URL, up.URL)
	cfgPath := filepath.Join(dir, "warden.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr serveBuffer
	errc := make(chan error, 1)
	go func() {
		errc <- runServeCmd(ctx, io.Discard, &stderr, "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0")
	}()
	serving := regexp.MustCompile(`"msg":"serving","data":"([^"]+)","admin":"([^"]+)"`)
	var data, admin string
	for deadline := time.Now().Add(20 * time.Second); data == ""; time.Sleep(20 * time.Millisecond) {
		if m := serving.FindStringSubmatch(stderr.String()); m != nil {
			data, admin = "http://"+m[1], "http://"+m[2]
		}
		select {
		case err := <-errc:
			t.Fatalf("serve ended early: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", stderr.String())
		}
	}
	// "serving" is logged before the bundle has loaded; until it has,
	// every decision is a deny.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready:\n%s", stderr.String())
		}
	}
	mint := func(aud string) string {
		return testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}, map[string]any{
			"iss": "https://issuer.test/", "sub": "erin", "aud": aud, "roles": []string{"engineer"}, "tenant": "acme", "jti": "j-" + aud,
			"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
		}, "ES256", tokenKey.SigningKey())
	}
	mcpTok, routeTok := mint(public+"/mcp/search"), mint("warden")

	resp, err := http.Get(data + "/.well-known/oauth-protected-resource/mcp/search")
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(meta), `"resource":"`+public+`/mcp/search"`) || !strings.Contains(string(meta), `"authorization_servers":["https://issuer.test/"]`) {
		t.Errorf("metadata = %d %s", resp.StatusCode, meta)
	}
	status := func(path, tok string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, data+path, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if code, chal := status("/mcp/search", routeTok); code != 401 || !strings.Contains(chal, `resource_metadata="`+public+`/.well-known/oauth-protected-resource/mcp/search"`) {
		t.Errorf("route token on the MCP server: %d %q, want 401 with resource_metadata", code, chal)
	}
	if code, _ := status("/v1/chat/completions", mcpTok); code != 401 {
		t.Errorf("MCP token on a model route: %d, want 401", code)
	}

	c := sdk.NewClient(&sdk.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: data + "/mcp/search", HTTPClient: &http.Client{Transport: bearerRT(mcpTok), Timeout: 20 * time.Second}}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "lookup"})
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "ok" {
		t.Fatalf("call = %v, %v", res, err)
	}
	mu.Lock()
	for _, a := range gotAuth {
		if a != "Bearer upstream-credential" {
			t.Fatalf("upstream got Authorization %q", a)
		}
	}
	gotAuth = nil
	mu.Unlock()

	// The second server gets a token Warden mints per request.
	cs2, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: data + "/mcp/minted", HTTPClient: &http.Client{Transport: bearerRT(mint(public + "/mcp/minted")), Timeout: 20 * time.Second}}, nil)
	if err != nil {
		t.Fatalf("connect minted: %v", err)
	}
	defer cs2.Close()
	if _, err := cs2.CallTool(ctx, &sdk.CallToolParams{Name: "lookup"}); err != nil {
		t.Fatalf("call minted: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gotAuth) == 0 {
		t.Fatal("the minted server's upstream received nothing")
	}
	for _, a := range gotAuth {
		parts := strings.Split(strings.TrimPrefix(a, "Bearer "), ".")
		if len(parts) != 3 {
			t.Fatalf("upstream got Authorization %q, want a minted JWT", a)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var claims struct {
			Iss string `json:"iss"`
			Aud any    `json:"aud"`
			Act struct {
				Sub string `json:"sub"`
			} `json:"act"`
			Exp, Iat int64
		}
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if claims.Iss != data || claims.Aud != "https://upstream.test" || claims.Act.Sub != "erin" || claims.Exp-claims.Iat != 30 {
			t.Errorf("minted claims = %+v", claims)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("serve: %v", err)
	}
}
