package authn

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// TestInteropGoJose verifies tokens signed by an independent JOSE library
// (go-jose), so that the strict parser does not only accept what Warden's
// own test helpers produce.
func TestInteropGoJose(t *testing.T) {
	ks := testKeys(t)
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, CacheSize: -1})
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			name := keyForAlg[alg]
			signer, err := jose.NewSigner(
				jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: ks.priv[name].SigningKey()},
				(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", name),
			)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := josejwt.Signed(signer).Claims(validClaims()).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if p.Subject != "alice" || !p.HasScope("trace:read") {
				t.Errorf("principal %+v", p)
			}
		})
	}
}
