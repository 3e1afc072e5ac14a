package authzen_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/authzen"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
	"github.com/wardenhq/warden/internal/token"
)

// A service asks whether the evaluator Eve, whose token it forwards, may
// read a trace of her tenant, and of another tenant, in one batch. (No audit
// log here: Config.Audit is nil, which only examples and tests may do.)
func ExampleNew() {
	ctx := context.Background()
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
	h, err := authzen.New(authzen.Config{Verifier: verifier, Engine: engine})
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, _ := token.NewSigner(token.SignerConfig{Key: key})
	tok, _ := signer.Mint(ctx, token.Claims{Issuer: "https://issuer.example", Subject: "eve", Audience: []string{"warden"}, TTL: time.Hour, Roles: []string{"evaluator"}, Tenant: "acme"})

	req := httptest.NewRequest("POST", authzen.EvaluationsPath, strings.NewReader(`{
	  "action": {"name": "trace:read"},
	  "evaluations": [
	    {"resource": {"type": "Trace", "id": "tr-1", "properties": {"tenant": "acme"}}},
	    {"resource": {"type": "Trace", "id": "tr-2", "properties": {"tenant": "globex"}}}
	  ]}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Result().Body)
	// Decision ids are random: show their place only.
	out := regexp.MustCompile(`"decision_id":"[^"]*"`).ReplaceAllString(string(body), `"decision_id":"ID"`)
	fmt.Println(rec.Code, out)
	// Output: 200 {"evaluations":[{"decision":true,"context":{"decision_id":"ID","reason_ids":["evaluator-read-traces"],"reasons":["evaluators read and replay traces to judge model behaviour"]}},{"decision":false,"context":{"decision_id":"ID","reason_ids":["tenant-isolation"],"reasons":["tenants are isolated: a principal reaches only resources of its own tenant"]}}]}
}
