package token

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/wardenhq/warden/internal/jwk"
)

// TestInteropGoJose checks that tokens minted by a Signer verify with an
// independent implementation, go-jose v4, using the key as go-jose reads it
// from Warden's published JWKS (or, for HMAC, from the private JWK).
func TestInteropGoJose(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA", "RS256", "PS256", "HS256", "ES384", "ES512", "RS512", "PS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			key := generate(t, alg)
			s, err := NewSigner(SignerConfig{Key: key, Clock: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			c := baseClaims()
			c.Audience = []string{"warden", "billing"}
			c.Roles = []string{"evaluator"}
			c.Scopes = []string{"model:invoke", "trace:read"}
			c.Actor = &Actor{Subject: "support-bot"}
			tok, err := s.Mint(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}

			verifyKey := goJoseKey(t, key)
			parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose ParseSigned: %v", err)
			}
			if len(parsed.Headers) != 1 {
				t.Fatalf("go-jose sees %d signatures, want 1", len(parsed.Headers))
			}
			h := parsed.Headers[0]
			if h.KeyID != key.KeyID || h.Algorithm != alg || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("go-jose header: kid %q alg %q typ %v; want %q %q at+jwt", h.KeyID, h.Algorithm, h.ExtraHeaders["typ"], key.KeyID, alg)
			}
			var std josejwt.Claims
			var custom struct {
				Roles []string `json:"roles"`
				Scope string   `json:"scope"`
				Act   struct {
					Sub string `json:"sub"`
				} `json:"act"`
			}
			if err := parsed.Claims(verifyKey, &std, &custom); err != nil {
				t.Fatalf("go-jose Claims (signature check): %v", err)
			}
			err = std.ValidateWithLeeway(josejwt.Expected{
				Issuer:      "https://issuer.example",
				Subject:     "alice",
				AnyAudience: josejwt.Audience{"billing"},
				Time:        testNow.Add(14 * time.Minute),
			}, 0)
			if err != nil {
				t.Errorf("go-jose Validate: %v", err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{Time: testNow.Add(16 * time.Minute)}, 0); err == nil {
				t.Errorf("go-jose accepted the token after exp")
			}
			if std.ID == "" || len(custom.Roles) != 1 || custom.Roles[0] != "evaluator" ||
				custom.Scope != "model:invoke trace:read" || custom.Act.Sub != "support-bot" {
				t.Errorf("go-jose claims: jti %q roles %v scope %q act %q", std.ID, custom.Roles, custom.Scope, custom.Act.Sub)
			}

			// A token from another key must fail with go-jose too.
			other := generate(t, alg)
			if err := parsed.Claims(goJoseKey(t, other), &std); err == nil {
				t.Errorf("go-jose verified the token with an unrelated key")
			}
		})
	}
}

// goJoseKey returns the verification key go-jose reads from Warden's JSON:
// the public JWKS for asymmetric keys, the private JWK for an HMAC secret.
func goJoseKey(t *testing.T, key *jwk.Key) any {
	t.Helper()
	if key.Type() == "oct" {
		b, err := key.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var jk jose.JSONWebKey
		if err := json.Unmarshal(b, &jk); err != nil {
			t.Fatalf("go-jose reads Warden's oct JWK: %v", err)
		}
		return jk.Key
	}
	pub, err := key.Public()
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&jwk.Set{Keys: []*jwk.Key{pub}}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("go-jose reads Warden's JWKS: %v", err)
	}
	found := set.Key(key.KeyID)
	if len(found) != 1 {
		t.Fatalf("go-jose finds %d keys with kid %q in %s", len(found), key.KeyID, b)
	}
	if !found[0].IsPublic() || !found[0].Valid() {
		t.Fatalf("go-jose: JWKS key public=%v valid=%v", found[0].IsPublic(), found[0].Valid())
	}
	return found[0].Key
}
