package jwk

import (
	"encoding/json"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to every key parser: none may panic, and any
// key that comes back must be internally consistent.
func FuzzLoad(f *testing.F) {
	for _, alg := range []string{"ES256", "EdDSA", "HS256"} {
		k, err := GenerateRSA(alg, "", 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(mustJSON(k))
		if pub, err := k.Public(); err == nil {
			f.Add(mustJSON(&Set{Keys: []*Key{pub}}))
		}
	}
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := Load(data)
		if err != nil {
			return
		}
		for _, k := range keys {
			if k.Alg != "" {
				if err := CheckAlg(k.Alg, k.Key); err != nil {
					t.Fatalf("parsed key does not fit its own alg: %v", err)
				}
			}
			if _, err := k.Thumbprint(); err != nil {
				t.Fatalf("thumbprint: %v", err)
			}
			if _, err := json.Marshal(k); err != nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}

// FuzzParseSet targets the JWKS parser that sees documents fetched from
// issuers' jwks_uri.
func FuzzParseSet(f *testing.F) {
	k, _ := GenerateRSA("ES256", "k1", 0)
	pub, _ := k.Public()
	f.Add(mustJSON(&Set{Keys: []*Key{pub}}))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}],"keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSet(data)
		if err != nil {
			return
		}
		if len(s.Keys) == 0 || len(s.Keys) > MaxSetKeys {
			t.Fatalf("ParseSet returned %d keys without error", len(s.Keys))
		}
	})
}
