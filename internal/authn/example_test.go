package authn_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/jwk"
)

func Example() {
	ctx := context.Background()

	// The identity provider's signing key; Warden only gets the public half
	// (in production: JWKSURL or JWKSFile).
	key, err := jwk.Generate("EdDSA", "idp-2026-11")
	if err != nil {
		log.Fatal(err)
	}
	pub, err := key.Public()
	if err != nil {
		log.Fatal(err)
	}

	v, err := authn.New(ctx, authn.Config{
		Issuers: []authn.IssuerConfig{{
			Issuer:     "https://idp.example.com",
			Audiences:  []string{"warden"},
			Algorithms: []string{"EdDSA"},
			Leeway:     30 * time.Second,
			Type:       "at+jwt",
			Keys:       []*jwk.Key{pub},
			Claims:     authn.ClaimMapping{Roles: "groups", Tenant: "org_id"},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	// A token as the identity provider would mint it.
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss":    "https://idp.example.com",
		"sub":    "alice",
		"aud":    "warden",
		"exp":    now.Add(15 * time.Minute).Unix(),
		"iat":    now.Unix(),
		"scope":  "model:invoke trace:read",
		"groups": []string{"evaluator"},
		"org_id": "acme",
	})
	tok.Header["kid"] = "idp-2026-11"
	tok.Header["typ"] = "at+jwt"
	signed, err := tok.SignedString(key.SigningKey())
	if err != nil {
		log.Fatal(err)
	}

	p, err := v.Verify(ctx, signed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Subject, p.Roles, p.Scopes, p.Tenant)

	// A token signed with any other key is rejected, with a stable reason.
	forger, err := jwk.Generate("EdDSA", "")
	if err != nil {
		log.Fatal(err)
	}
	forged, err := tok.SignedString(forger.SigningKey())
	if err != nil {
		log.Fatal(err)
	}
	_, err = v.Verify(ctx, forged)
	var ve *authn.VerifyError
	if errors.As(err, &ve) {
		fmt.Println(ve.Reason, errors.Is(err, authn.ErrBadSignature))
	}
	// Output:
	// alice [evaluator] [model:invoke trace:read] acme
	// bad_signature true
}
