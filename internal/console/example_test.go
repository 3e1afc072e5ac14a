package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/console"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
)

// Mount the console on an admin mux: it needs the verifier that signs
// people in and the engine that decides console:view.
func ExampleNew() {
	ctx := context.Background()
	key, _ := jwk.Generate("EdDSA", "k1")
	pub, _ := key.Public()
	verifier, err := authn.New(ctx, authn.Config{Issuers: []authn.IssuerConfig{{
		Issuer: "https://issuer.example/", Audiences: []string{"warden"}, Algorithms: []string{"EdDSA"}, Keys: []*jwk.Key{pub},
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer verifier.Close()
	engine, _ := policy.New(policy.Config{})
	if err := engine.Load(ctx, os.DirFS("../../examples/policy"), policy.Meta{Revision: "r1"}); err != nil {
		fmt.Println(err)
		return
	}
	c, err := console.New(console.Config{Verifier: verifier, Engine: engine})
	if err != nil {
		fmt.Println(err)
		return
	}
	admin := http.NewServeMux()
	admin.Handle(console.Prefix, c)

	// Without a session, pages send the browser to the sign-in page.
	rec := httptest.NewRecorder()
	admin.ServeHTTP(rec, httptest.NewRequest("GET", "/console/audit", nil))
	fmt.Println(rec.Code, rec.Header().Get("Location"))
	// Output: 303 /console/
}
