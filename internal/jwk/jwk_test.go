package jwk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestGenerateRoundTrip(t *testing.T) {
	for _, alg := range Algorithms() {
		t.Run(alg, func(t *testing.T) {
			k, err := GenerateRSA(alg, "", MinRSABits)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckAlg(alg, k.Key); err != nil {
				t.Fatalf("generated key does not fit its alg: %v", err)
			}
			tp, _ := k.Thumbprint()
			if isHMAC := strings.HasPrefix(alg, "HS"); isHMAC == (k.KeyID == tp) {
				t.Errorf("kid = %q, thumbprint %q: want the thumbprint for asymmetric keys only", k.KeyID, tp)
			}
			data, err := json.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseKey(data)
			if err != nil {
				t.Fatalf("ParseKey(Marshal(k)): %v", err)
			}
			if back.KeyID != k.KeyID || back.Alg != alg || !back.IsPrivate() {
				t.Errorf("round trip lost identity: %+v", back)
			}
			if tp2, _ := back.Thumbprint(); tp2 != tp {
				t.Errorf("thumbprint changed: %s != %s", tp2, tp)
			}
			// The signing and verifying halves work together.
			m, err := SigningMethod(alg)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := m.Sign("a.b", back.SigningKey())
			if err != nil {
				t.Fatal(err)
			}
			pub, err := back.Public()
			if strings.HasPrefix(alg, "HS") {
				if !errors.Is(err, ErrSymmetric) {
					t.Fatalf("Public() of an HMAC key: err = %v, want ErrSymmetric", err)
				}
				pub = back
			} else if err != nil {
				t.Fatal(err)
			} else if pub.IsPrivate() {
				t.Fatal("Public() returned private material")
			}
			if err := m.Verify("a.b", sig, pub.VerifyingKey()); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if !strings.HasPrefix(alg, "HS") {
				pj, _ := json.Marshal(pub)
				if strings.Contains(string(pj), `"d"`) {
					t.Fatalf("public JWK leaks d: %s", pj)
				}
			}
		})
	}
}

func TestThumbprintRFC7638(t *testing.T) {
	// RFC 7638 §3.1 example.
	const doc = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	k, err := ParseKey([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := k.Thumbprint()
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint = %s, want %s", got, want)
	}
}

func TestParseKeyRejects(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := json.Marshal(&Key{Key: &ec.PublicKey})
	var m map[string]any
	_ = json.Unmarshal(good, &m)
	with := func(k string, v any) string {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		b, _ := json.Marshal(c)
		return string(b)
	}
	x := m["x"].(string)
	tests := []struct{ name, doc, want string }{
		{"not json", `nope`, "invalid JSON"},
		{"array", `[]`, "not a JSON object"},
		{"trailing", string(good) + `{}`, "trailing data"},
		{"duplicate kty", `{"kty":"EC","kty":"oct","k":"` + strings.Repeat("A", 43) + `"}`, "duplicate member"},
		{"missing kty", with("kty", nil), "missing"},
		{"unknown kty", with("kty", "XYZ"), "unsupported"},
		{"padding", with("x", x+"="), "not base64url"},
		{"std alphabet", with("x", strings.ReplaceAll(strings.ReplaceAll(x, "-", "+"), "_", "/")+"+"), "not base64url"},
		{"newline", with("x", x[:10]+"\n"+x[10:]), "not base64url"},
		{"short coordinate", with("x", x[:40]), "32 bytes"},
		{"off curve", with("y", x), "point is invalid"},
		{"wrong curve alg", with("alg", "ES384"), "cannot be used"},
		{"alg none", with("alg", "none"), "never allowed"},
		{"short hmac", `{"kty":"oct","k":"c2hvcnQ"}`, "shorter than 32"},
		{"bad utf8", "{\"kty\":\"oct\",\"kid\":\"\xff\"}", "UTF-8"},
		{"too deep", `{"kty":"EC","a":[[[[[[1]]]]]]}`, "nested deeper"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseKey(%s) err = %v, want containing %q", tc.doc, err, tc.want)
			}
		})
	}
}

func TestRSABounds(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(&Key{Key: &small.PublicKey})
	if _, err := ParseKey(doc); err == nil || !strings.Contains(err.Error(), "1024 bits") {
		t.Fatalf("1024-bit RSA JWK: err = %v", err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if _, err := ParsePEM(p); err == nil || !strings.Contains(err.Error(), "1024 bits") {
		t.Fatalf("1024-bit RSA PEM: err = %v", err)
	}
	if _, err := GenerateRSA("RS256", "", 1024); err == nil {
		t.Fatal("GenerateRSA accepted 1024 bits")
	}
}

func TestPEMNeverHMAC(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	keys, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		if err := CheckAlg(alg, keys[0].Key); err == nil {
			t.Errorf("CheckAlg(%s, EC public key) = nil", alg)
		}
	}
	if err := CheckAlg("ES256", keys[0].Key); err != nil {
		t.Error(err)
	}
}

func TestLoadFormats(t *testing.T) {
	ed, _ := GenerateRSA("EdDSA", "ed", 0)
	ec, _ := GenerateRSA("ES384", "ec", 0)
	pubEd, _ := ed.Public()
	pubEC, _ := ec.Public()
	set, _ := json.Marshal(&Set{Keys: []*Key{pubEd, pubEC}})
	keys, err := Load(set)
	if err != nil || len(keys) != 2 || keys[1].KeyID != "ec" {
		t.Fatalf("Load(jwks) = %v, %v", keys, err)
	}
	pk8, _ := x509.MarshalPKCS8PrivateKey(ec.Key)
	keys, err = Load(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk8}))
	if err != nil || !keys[0].IsPrivate() {
		t.Fatalf("Load(pkcs8) = %v, %v", keys, err)
	}
	if alg, _ := DefaultAlgFor(keys[0].Key); alg != "ES384" {
		t.Errorf("DefaultAlgFor(P-384) = %s", alg)
	}
	if _, err := Load([]byte("garbage")); err == nil {
		t.Error("Load(garbage) = nil error")
	}
	// A set skips keys Warden does not use but refuses malformed ones.
	mixed := `{"keys":[{"kty":"OKP","crv":"X25519","x":"` + strings.Repeat("A", 43) + `"},` + string(mustJSON(pubEd)) + `]}`
	s, err := ParseSet([]byte(mixed))
	if err != nil || len(s.Keys) != 1 {
		t.Fatalf("ParseSet(mixed) = %v, %v", s, err)
	}
	bad := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}`
	if _, err := ParseSet([]byte(bad)); err == nil {
		t.Fatal("ParseSet accepted a short Ed25519 key")
	}
	if _, err := ParseSet([]byte(`{"keys":[]}`)); err == nil {
		t.Fatal("ParseSet accepted an empty set")
	}
	if got := s.Lookup(pubEd.KeyID); len(got) != 1 {
		t.Fatalf("Lookup = %v", got)
	}
}

func TestCheckAlgMatrix(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	secret32 := make([]byte, 32)
	tests := []struct {
		alg string
		key any
		ok  bool
	}{
		{"ES256", &p256.PublicKey, true},
		{"ES256", p256, true},
		{"ES256", &p384.PublicKey, false},
		{"ES384", &p384.PublicKey, true},
		{"ES512", &p384.PublicKey, false},
		{"EdDSA", ed.Public(), true},
		{"EdDSA", &p256.PublicKey, false},
		{"RS256", &rsaKey.PublicKey, true},
		{"PS256", rsaKey, true},
		{"RS256", ed.Public(), false},
		{"HS256", secret32, true},
		{"HS384", secret32, false},
		{"HS256", &rsaKey.PublicKey, false},
		{"none", secret32, false},
		{"hs256", secret32, false},
	}
	for _, tc := range tests {
		err := CheckAlg(tc.alg, tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("CheckAlg(%s, %s) = %v, want ok=%v", tc.alg, describe(tc.key), err, tc.ok)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestPSSStrictSalt: a PS256 signature with a salt length other than the hash
// length (valid PSS, but not RFC 7518 §3.5) is refused.
func TestPSSStrictSalt(t *testing.T) {
	k, err := GenerateRSA("PS256", "", MinRSABits)
	if err != nil {
		t.Fatal(err)
	}
	priv := k.Key.(*rsa.PrivateKey)
	input := "header.payload"
	sum := sha256Sum(input)
	sig, err := rsa.SignPSS(rand.Reader, priv, crypto.SHA256, sum, &rsa.PSSOptions{SaltLength: 20})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := SigningMethod("PS256")
	if err := m.Verify(input, sig, k.VerifyingKey()); err == nil {
		t.Fatal("PS256 with a 20-byte salt verified")
	}
	good, err := m.Sign(input, k.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(input, good, k.VerifyingKey()); err != nil {
		t.Fatalf("own PS256 signature: %v", err)
	}
}

func sha256Sum(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// TestRSAPrivateMembersBounded: private members longer than the modulus are
// refused before any arithmetic (found by FuzzJWKS as a multi-second stall).
func TestRSAPrivateMembersBounded(t *testing.T) {
	k, err := GenerateRSA("RS256", "k", MinRSABits)
	if err != nil {
		t.Fatal(err)
	}
	for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
		var m map[string]any
		if err := json.Unmarshal(mustJSON(k), &m); err != nil {
			t.Fatal(err)
		}
		m[member] = strings.Repeat("_", 4000) // 3000 bytes of 0xff
		doc := mustJSON(m)
		start := time.Now()
		_, err := ParseKey(doc)
		if err == nil || !strings.Contains(err.Error(), "longer than the modulus") {
			t.Errorf("member %s: err = %v", member, err)
		}
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Logf("member %s: refusal took %v (should be immediate)", member, d)
		}
	}
}
