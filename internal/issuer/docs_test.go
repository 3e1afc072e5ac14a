package issuer_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/wardenhq/warden/internal/echo"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/issuer"
	"github.com/wardenhq/warden/internal/store/storetest"
	"github.com/wardenhq/warden/internal/testutil"
)

// docBlock returns the fenced block after marker in docs/issuer.md.
func docBlock(t *testing.T, marker string) string {
	t.Helper()
	return testutil.DocBlock(t, "../../docs/issuer.md", marker)
}

// TestDocsCurl runs the curl walkthrough of docs/issuer.md against a real
// server and compares its output with the documented one.
func TestDocsCurl(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("eval-runner", []string{"trace:read", "model:invoke"}, issuer.GrantClientCredentials, issuer.GrantRefreshToken, issuer.GrantTokenExchange)
	user := e.userToken("eve", time.Hour, []string{"evaluator"}, []string{"trace:read"})
	out := testutil.RunDocScript(t, docBlock(t, "<!-- issuer-curl -->"), "WARDEN="+e.url, "CLIENT_SECRET="+secret, "USER_TOKEN="+user)
	got := strings.ReplaceAll(out, e.url, "WARDEN")
	if want := docBlock(t, "<!-- issuer-curl-output -->"); got != want {
		t.Errorf("documented output:\n%s\nactual:\n%s", want, got)
	}
}

// TestDocsGo checks that the Go examples of docs/issuer.md are the
// functions below, and runs them: an agent calls a route through the
// gateway with a client_credentials token, and go-oidc verifies a token
// from the discovery document.
func TestDocsGo(t *testing.T) {
	src, err := os.ReadFile("docs_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"<!-- issuer-go-client -->", "<!-- issuer-go-verify -->"} {
		if b := docBlock(t, m); !strings.Contains(string(src), b) {
			t.Errorf("the example after %s is not in docs_test.go verbatim:\n%s", m, b)
		}
	}

	e := newEnv(t, storetest.NewSQLite(t))
	up := httptest.NewServer(echo.Handler(echo.Config{}))
	defer up.Close()
	gw, err := gateway.New(gateway.Config{
		Verifier: e.verifier, Engine: e.engine, Audit: e.audit, Issuer: e.iss,
		Upstreams: []gateway.UpstreamSpec{{Name: "echo", URL: up.URL}},
		Routes: []gateway.RouteSpec{{Name: "trace-read", Kind: gateway.KindTool, Methods: []string{"GET"}, Path: "/api/traces/{id}",
			Action: "trace:read", Upstream: "echo",
			Resource: gateway.ResourceSpec{Type: "Trace", ID: "{id}", Attributes: map[string]string{"tenant": "header:X-Tenant"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.serve(gw)
	secret := e.addClient("eval-runner", []string{"trace:read"}, issuer.GrantClientCredentials)

	resp, err := callAsAgent(t.Context(), e.url, "eval-runner", secret, e.url+"/api/traces/t-1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("agent call through the gateway: %d %s", resp.StatusCode, body)
	}
	if _, err := callAsAgent(t.Context(), e.url, "eval-runner", "wrong", e.url+"/api/traces/t-1"); err == nil {
		t.Fatal("a wrong secret got through")
	}

	tok := e.tokenOK("eval-runner", secret, form("grant_type", "client_credentials"))["access_token"].(string)
	sub, cid, err := verifyWardenToken(t.Context(), e.url, audience, tok)
	if err != nil || sub != "eval-runner" || cid != "eval-runner" {
		t.Fatalf("verifyWardenToken = %q, %q, %v", sub, cid, err)
	}
	if _, _, err := verifyWardenToken(t.Context(), e.url, "another-audience", tok); err == nil {
		t.Fatal("go-oidc accepted a token for another audience")
	}
}

// callAsAgent calls url through the gateway with a token from Warden's
// client_credentials grant; the client refreshes it before it expires.
func callAsAgent(ctx context.Context, issuer, clientID, secret, url string) (*http.Response, error) {
	cc := clientcredentials.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		TokenURL:     issuer + "/oauth2/token",
		Scopes:       []string{"trace:read"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Tenant", "acme")
	return cc.Client(ctx).Do(req)
}

// verifyWardenToken checks a Warden access token: signature by a published
// key, iss, aud and exp. It returns the subject and the client.
func verifyWardenToken(ctx context.Context, issuer, audience, token string) (sub, clientID string, err error) {
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return "", "", err
	}
	t, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, token)
	if err != nil {
		return "", "", err
	}
	var claims struct {
		ClientID string `json:"client_id"`
	}
	if err := t.Claims(&claims); err != nil {
		return "", "", err
	}
	return t.Subject, claims.ClientID, nil
}

// TestDocsFeedCurl runs the revocation-feed walkthrough of docs/issuer.md
// against a real server and compares its output with the documented one.
func TestDocsFeedCurl(t *testing.T) {
	e := newEnv(t, storetest.NewSQLite(t))
	secret := e.addClient("billing", nil, issuer.GrantClientCredentials)
	out := testutil.RunDocScript(t, docBlock(t, "<!-- feed-curl -->"), "TMPDIR="+t.TempDir(), "WARDEN="+e.url, "CLIENT_SECRET="+secret)
	if want := docBlock(t, "<!-- feed-curl-output -->"); out != want {
		t.Errorf("documented output:\n%s\nactual:\n%s", want, out)
	}
}
