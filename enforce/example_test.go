package enforce_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wardenhq/warden/enforce"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
)

// exampleSetup returns what a deployment provides: the token issuer's
// public JWK Set and a way to mint its tokens, and a bundle signed with the
// key whose public half the service trusts. Here all of it is generated in
// memory.
func exampleSetup() (issuerJWKS []byte, mint func(sub, scope string) string, signedBundle, bundleKeys []byte) {
	tokenKey, _ := jwk.Generate("ES256", "tok-1")
	bundleKey, _ := jwk.Generate("EdDSA", "bundle-1")
	pub := func(k *jwk.Key) []byte {
		p, _ := k.Public()
		b, _ := (&jwk.Set{Keys: []*jwk.Key{p}}).MarshalJSON()
		return b
	}
	files, err := bundle.ReadDir("../examples/service/policy")
	if err != nil {
		panic(err)
	}
	signedBundle, _, err = bundle.Build(files, bundle.BuildOptions{Revision: "example-1", Created: time.Now(), Key: bundleKey})
	if err != nil {
		panic(err)
	}
	mint = func(sub, scope string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
			"iss": "https://idp.example", "aud": "records", "sub": sub, "client_id": sub, "scope": scope,
			"jti": sub + "-1", "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "tok-1"
		s, err := tok.SignedString(tokenKey.SigningKey())
		if err != nil {
			panic(err)
		}
		return s
	}
	return pub(tokenKey), mint, signedBundle, pub(bundleKey)
}

// A service wraps its handlers with the middleware and a route table; the
// handler asks Decide about what only it knows.
func Example() {
	issuerJWKS, mint, signedBundle, bundleKeys := exampleSetup()

	e, err := enforce.New(context.Background(), enforce.Config{
		Issuers: []enforce.Issuer{{
			Issuer: "https://idp.example", Audiences: []string{"records"}, Algorithms: []string{"ES256"},
			JWKS: issuerJWKS, RequiredClaims: []string{"jti"},
		}},
		// In production: Bundle{Path: "bundle.tar.gz"} or Bundle{URL: ...}.
		Bundle: enforce.Bundle{Data: signedBundle, PublicKeys: bundleKeys},
		// In production: Audit{Store: "sqlite:///var/lib/records/audit.db", Node: "records"}.
		Audit: enforce.Audit{InsecureNoAudit: true},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	protect, err := e.Middleware([]enforce.Route{{
		Name: "record-read", Methods: []string{"GET"}, Pattern: "/records/{id}", Action: "record:read",
		Resource: enforce.ResourceTemplate{Type: "Record", ID: "{id}"},
	}})
	if err != nil {
		panic(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := enforce.PrincipalFrom(r.Context())
		d := e.Decide(r.Context(), "pii:view", enforce.Resource{Type: "Record", ID: r.PathValue("id")}, nil)
		fmt.Fprintf(w, "%s reads %s, personal data shown: %v", p.Subject, r.PathValue("id"), d.Allowed)
	})
	srv := httptest.NewServer(protect(handler))
	defer srv.Close()

	for _, tok := range []string{mint("reader", "record:read"), mint("auditor", "record:read pii:view"), mint("intruder", "trace:read"), ""} {
		req, _ := http.NewRequest("GET", srv.URL+"/records/r-1", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body := make([]byte, 200)
		n, _ := resp.Body.Read(body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Printf("%d %s\n", resp.StatusCode, body[:n])
		} else {
			fmt.Println(strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))))
		}
	}
	// Output:
	// 200 reader reads r-1, personal data shown: false
	// 200 auditor reads r-1, personal data shown: true
	// 403
	// 401 Bearer realm="warden"
}

// Ready tells a readiness probe whether the Enforcer can allow anything: a
// bundle that does not verify never activates.
func ExampleEnforcer_Ready() {
	issuerJWKS, _, signedBundle, _ := exampleSetup()
	_, _, _, otherKeys := exampleSetup() // a bundle key the service does not trust
	e, err := enforce.New(context.Background(), enforce.Config{
		Issuers: []enforce.Issuer{{Issuer: "https://idp.example", Audiences: []string{"records"}, Algorithms: []string{"ES256"}, JWKS: issuerJWKS}},
		Bundle:  enforce.Bundle{Data: signedBundle, PublicKeys: otherKeys},
		Audit:   enforce.Audit{InsecureNoAudit: true},
	})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	fmt.Println(e.Ready() != nil, e.Status().BundleRevision == "")
	// Output: true true
}
