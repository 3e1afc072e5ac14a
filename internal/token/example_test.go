package token_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/token"
)

func Example() {
	key, err := jwk.Generate("EdDSA", "example-key")
	if err != nil {
		log.Fatal(err)
	}
	signer, err := token.NewSigner(token.SignerConfig{
		Key:   key,
		Clock: func() time.Time { return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := signer.Mint(context.Background(), token.Claims{
		Issuer:   "https://issuer.example",
		Subject:  "alice",
		Audience: []string{"warden"},
		TTL:      15 * time.Minute,
		Roles:    []string{"evaluator"},
		Scopes:   []string{"model:invoke", "trace:read"},
		Actor:    &token.Actor{Subject: "support-bot"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// A compact JWS: header.payload.signature, each base64url.
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		log.Fatal(err)
	}
	delete(claims, "jti") // random
	out, _ := json.Marshal(claims)
	fmt.Println(string(header))
	fmt.Println(string(out))
	// Output:
	// {"alg":"EdDSA","kid":"example-key","typ":"at+jwt"}
	// {"act":{"sub":"support-bot"},"aud":"warden","exp":1795515300,"iat":1795514400,"iss":"https://issuer.example","nbf":1795514400,"roles":["evaluator"],"scope":"model:invoke trace:read","sub":"alice"}
}
