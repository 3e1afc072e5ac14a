package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/gateway"
	"github.com/wardenhq/warden/internal/guard"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/token"
)

// A gateway in front of a model API: the reference bundle lets the research
// team invoke gpt-4o-mini, and the guard redacts the email address in the
// answer because the caller has no pii:read scope. (No audit log here:
// Config.Audit is nil, which only examples and tests may do.)
func ExampleNew() {
	ctx := context.Background()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"choices":[{"message":{"content":"write to ops@example.com"}}],"auth":%q}`, r.Header.Get("Authorization"))
	}))
	defer upstream.Close()

	key, _ := jwk.Generate("ES256", "k1")
	pub, _ := key.Public()
	verifier, err := authn.New(ctx, authn.Config{Issuers: []authn.IssuerConfig{{
		Issuer: "https://issuer.example", Audiences: []string{"warden"}, Algorithms: []string{"ES256"}, Keys: []*jwk.Key{pub},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer verifier.Close()
	engine, _ := policy.New(policy.Config{})
	if err := engine.Load(ctx, os.DirFS("../../examples/policy"), policy.Meta{Revision: "example"}); err != nil {
		fmt.Println(err)
		return
	}
	gd, _ := guard.New(guard.Config{})

	gw, err := gateway.New(gateway.Config{
		Verifier: verifier, Engine: engine, Guard: gd,
		Routes:    []gateway.RouteSpec{{Name: "chat", Kind: gateway.KindModel, Methods: []string{"POST"}, Path: "/v1/chat/completions", Upstream: "llm"}},
		Upstreams: []gateway.UpstreamSpec{{Name: "llm", URL: upstream.URL, Headers: map[string]string{"Authorization": "Bearer upstream-key"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, _ := token.NewSigner(token.SignerConfig{Key: key})
	tok, _ := signer.Mint(ctx, token.Claims{Issuer: "https://issuer.example", Subject: "rita", Audience: []string{"warden"}, TTL: time.Hour, Team: "research", Tenant: "acme"})

	req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{"model":"gpt-4o-mini","messages":[]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	gw.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	fmt.Println(rec.Code, string(body))
	// Output: 200 {"choices":[{"message":{"content":"write to [REDACTED:email]"}}],"auth":"Bearer upstream-key"}
}
