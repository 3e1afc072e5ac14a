// Package testutil holds helpers shared by Warden's tests. It is imported
// only from _test.go files.
package testutil

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/wardenhq/warden/internal/jwk"
)

// RawJWT builds a compact JWS from raw header and payload JSON, signed with
// alg and signingKey (a private key, or any []byte for HS*: which is how
// the tests craft algorithm-confusion tokens). The header is used as given,
// so its "alg" may differ from the one signed with. Use it for hostile
// tokens: duplicate names, odd types, dangerous headers.
func RawJWT(tb testing.TB, header, payload []byte, alg string, signingKey any) string {
	tb.Helper()
	input := B64(header) + "." + B64(payload)
	m, err := jwk.SigningMethod(alg)
	if err != nil {
		tb.Fatalf("RawJWT: %v", err)
	}
	sig, err := m.Sign(input, signingKey)
	if err != nil {
		tb.Fatalf("RawJWT: sign %s: %v", alg, err)
	}
	return input + "." + B64(sig)
}

// MintJWT marshals header and claims with encoding/json and signs them like
// RawJWT.
func MintJWT(tb testing.TB, header, claims map[string]any, alg string, signingKey any) string {
	tb.Helper()
	return RawJWT(tb, MustJSON(tb, header), MustJSON(tb, claims), alg, signingKey)
}

// UnsignedJWT builds header.payload.signature from raw parts, with no
// cryptography: for "alg":"none" tokens and forged signatures.
func UnsignedJWT(header, payload, signature []byte) string {
	return B64(header) + "." + B64(payload) + "." + B64(signature)
}

// B64 is unpadded base64url.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// MustJSON marshals v or fails the test.
func MustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("MustJSON: %v", err)
	}
	return b
}
