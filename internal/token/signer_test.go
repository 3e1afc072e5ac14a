package token

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wardenhq/warden/internal/jwk"
)

var testNow = time.Date(2026, 11, 24, 10, 0, 0, 500_000_000, time.UTC)

func fixedClock() time.Time { return testNow }

func generate(t testing.TB, alg string) *jwk.Key {
	t.Helper()
	k, err := jwk.GenerateRSA(alg, "", 2048)
	if err != nil {
		t.Fatalf("generate %s: %v", alg, err)
	}
	return k
}

// decodeParts splits a compact JWS and decodes its header and payload.
func decodeParts(t *testing.T, tok string) (header, claims map[string]any, signingInput string, sig []byte) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	dec := func(s string, v any) {
		b, err := base64.RawURLEncoding.Strict().DecodeString(s)
		if err != nil {
			t.Fatalf("base64url %q: %v", s, err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatalf("json: %v", err)
		}
	}
	dec(parts[0], &header)
	dec(parts[1], &claims)
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	return header, claims, parts[0] + "." + parts[1], sig
}

func baseClaims() Claims {
	return Claims{Issuer: "https://issuer.example", Subject: "alice", Audience: []string{"warden"}, TTL: 15 * time.Minute}
}

func TestNewSigner(t *testing.T) {
	es256 := generate(t, "ES256")
	es256NoAlg := &jwk.Key{KeyID: "k1", Key: es256.Key}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa2048 := generate(t, "RS256")
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := es256.Public()
	if err != nil {
		t.Fatal(err)
	}
	secret32 := bytes.Repeat([]byte{7}, 32)

	tests := []struct {
		name    string
		cfg     SignerConfig
		wantAlg string
		wantKid string
		wantErr string
	}{
		{name: "no key", cfg: SignerConfig{}, wantErr: "no key"},
		{name: "public key", cfg: SignerConfig{Key: pub}, wantErr: "key is public"},
		{name: "alg from key", cfg: SignerConfig{Key: es256}, wantAlg: "ES256", wantKid: es256.KeyID},
		{name: "alg mismatch", cfg: SignerConfig{Key: es256, Alg: "ES384"}, wantErr: "does not match"},
		{name: "alg none", cfg: SignerConfig{Key: es256NoAlg, Alg: "none"}, wantErr: `"none" is never allowed`},
		{name: "alg NoNe", cfg: SignerConfig{Key: es256NoAlg, Alg: "NoNe"}, wantErr: `"none" is never allowed`},
		{name: "alg unknown", cfg: SignerConfig{Key: es256NoAlg, Alg: "ES256K"}, wantErr: "unsupported alg"},
		{name: "alg lower case", cfg: SignerConfig{Key: es256NoAlg, Alg: "es256"}, wantErr: "unsupported alg"},
		{name: "curve does not fit alg", cfg: SignerConfig{Key: es256NoAlg, Alg: "ES384"}, wantErr: "cannot be used"},
		{name: "EC alg chosen by curve", cfg: SignerConfig{Key: &jwk.Key{KeyID: "p384", Key: p384}}, wantAlg: "ES384", wantKid: "p384"},
		{name: "RSA alg chosen", cfg: SignerConfig{Key: &jwk.Key{KeyID: "r", Key: rsa2048.Key}}, wantAlg: "RS256", wantKid: "r"},
		{name: "RSA as PS256", cfg: SignerConfig{Key: &jwk.Key{KeyID: "r", Key: rsa2048.Key}, Alg: "PS256"}, wantAlg: "PS256", wantKid: "r"},
		{name: "RSA 1024 refused", cfg: SignerConfig{Key: &jwk.Key{KeyID: "r", Key: rsa1024}, Alg: "RS256"}, wantErr: "cannot be used"},
		{name: "RSA key for EdDSA", cfg: SignerConfig{Key: &jwk.Key{KeyID: "r", Key: rsa2048.Key}, Alg: "EdDSA"}, wantErr: "cannot be used"},
		{name: "HMAC alg chosen", cfg: SignerConfig{Key: &jwk.Key{KeyID: "h", Key: secret32}}, wantAlg: "HS256", wantKid: "h"},
		{name: "HMAC too short for HS384", cfg: SignerConfig{Key: &jwk.Key{KeyID: "h", Key: secret32}, Alg: "HS384"}, wantErr: "cannot be used"},
		{name: "HMAC 31 bytes", cfg: SignerConfig{Key: &jwk.Key{KeyID: "h", Key: secret32[:31]}, Alg: "HS256"}, wantErr: "cannot be used"},
		{name: "HMAC key for ES256", cfg: SignerConfig{Key: &jwk.Key{KeyID: "h", Key: secret32}, Alg: "ES256"}, wantErr: "cannot be used"},
		{name: "kid override", cfg: SignerConfig{Key: es256, KeyID: "other"}, wantAlg: "ES256", wantKid: "other"},
		{name: "negative max ttl", cfg: SignerConfig{Key: es256, MaxTTL: -time.Second}, wantErr: "negative MaxTTL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("NewSigner error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSigner: %v", err)
			}
			if s.Alg() != tc.wantAlg || s.KeyID() != tc.wantKid {
				t.Errorf("alg, kid = %q, %q; want %q, %q", s.Alg(), s.KeyID(), tc.wantAlg, tc.wantKid)
			}
		})
	}
}

func TestNewSignerKidDefaultsToThumbprint(t *testing.T) {
	k := generate(t, "EdDSA")
	want, err := k.Thumbprint()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(SignerConfig{Key: &jwk.Key{Key: k.Key}})
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != want {
		t.Errorf("kid = %q, want thumbprint %q", s.KeyID(), want)
	}
}

func TestMintClaims(t *testing.T) {
	key := generate(t, "ES256")
	s, err := NewSigner(SignerConfig{Key: key, Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	iat := testNow.Truncate(time.Second).Unix()
	num := func(n int64) json.Number { return json.Number(fmtInt(n)) }

	tests := []struct {
		name   string
		claims Claims
		want   map[string]any // without jti
	}{
		{
			name:   "minimal, one audience is a string",
			claims: baseClaims(),
			want: map[string]any{
				"iss": "https://issuer.example", "sub": "alice", "aud": "warden",
				"iat": num(iat), "nbf": num(iat), "exp": num(iat + 900),
			},
		},
		{
			name: "everything",
			claims: Claims{
				Issuer: "https://issuer.example", Subject: "alice", Audience: []string{"warden", "billing"},
				TTL: 90*time.Second + 700*time.Millisecond, ClientID: "cli", Roles: []string{"evaluator", "viewer"},
				Scopes: []string{"model:invoke", "trace:read"}, Team: "ml", Tenant: "acme", Env: "staging",
				Actor: &Actor{Subject: "agent-7", ClientID: "support-bot", Actor: &Actor{Subject: "orchestrator", Issuer: "https://other.example"}},
				Extra: map[string]any{"max_tokens": 512, "tags": []string{"a", "b"}, "auth_time": iat - 60, "note": "<&>"},
			},
			want: map[string]any{
				"iss": "https://issuer.example", "sub": "alice", "aud": []any{"warden", "billing"},
				"iat": num(iat), "nbf": num(iat), "exp": num(iat + 90),
				"client_id": "cli", "roles": []any{"evaluator", "viewer"}, "scope": "model:invoke trace:read",
				"team": "ml", "tenant": "acme", "env": "staging",
				"act": map[string]any{"sub": "agent-7", "client_id": "support-bot",
					"act": map[string]any{"sub": "orchestrator", "iss": "https://other.example"}},
				"max_tokens": num(512), "tags": []any{"a", "b"}, "auth_time": num(iat - 60), "note": "<&>",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := s.Mint(context.Background(), tc.claims)
			if err != nil {
				t.Fatalf("Mint: %v", err)
			}
			header, claims, input, sig := decodeParts(t, tok)
			if diff := cmp.Diff(map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": key.KeyID}, header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			jti, _ := claims["jti"].(string)
			delete(claims, "jti")
			if b, err := base64.RawURLEncoding.Strict().DecodeString(jti); err != nil || len(b) < 16 {
				t.Errorf("jti %q: want >= 128 bits of base64url (err %v)", jti, err)
			}
			if diff := cmp.Diff(tc.want, claims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			method, err := jwk.SigningMethod("ES256")
			if err != nil {
				t.Fatal(err)
			}
			if err := method.Verify(input, sig, key.VerifyingKey()); err != nil {
				t.Errorf("signature does not verify: %v", err)
			}
		})
	}
}

func fmtInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestMintRejects(t *testing.T) {
	s, err := NewSigner(SignerConfig{Key: generate(t, "EdDSA"), Clock: fixedClock, MaxTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*Claims)
		wantErr string
		wantIs  error
	}{
		{name: "no iss", edit: func(c *Claims) { c.Issuer = "" }, wantErr: `"iss" is required`},
		{name: "no sub", edit: func(c *Claims) { c.Subject = "" }, wantErr: `"sub" is required`},
		{name: "no aud", edit: func(c *Claims) { c.Audience = nil }, wantErr: `"aud" is required`},
		{name: "empty aud", edit: func(c *Claims) { c.Audience = []string{"warden", ""} }, wantErr: `"aud" is required`},
		{name: "invalid UTF-8 sub", edit: func(c *Claims) { c.Subject = "\xff" }, wantErr: "not valid UTF-8"},
		{name: "zero ttl", edit: func(c *Claims) { c.TTL = 0 }, wantErr: "ttl must be positive"},
		{name: "negative ttl", edit: func(c *Claims) { c.TTL = -time.Minute }, wantErr: "ttl must be positive"},
		{name: "sub-second ttl", edit: func(c *Claims) { c.TTL = 999 * time.Millisecond }, wantErr: "at least 1s"},
		{name: "ttl over max", edit: func(c *Claims) { c.TTL = time.Hour + time.Second }, wantErr: "exceeds the maximum"},
		{name: "empty role", edit: func(c *Claims) { c.Roles = []string{""} }, wantErr: `"roles" is required`},
		{name: "scope with space", edit: func(c *Claims) { c.Scopes = []string{"a b"} }, wantErr: "not a valid scope token"},
		{name: "scope with quote", edit: func(c *Claims) { c.Scopes = []string{`a"`} }, wantErr: "not a valid scope token"},
		{name: "scope non-ASCII", edit: func(c *Claims) { c.Scopes = []string{"é"} }, wantErr: "not a valid scope token"},
		{name: "empty scope", edit: func(c *Claims) { c.Scopes = []string{""} }, wantErr: "empty scope"},
		{name: "actor without sub", edit: func(c *Claims) { c.Actor = &Actor{ClientID: "x"} }, wantErr: `"act.sub" is required`},
		{name: "extra exp", edit: func(c *Claims) { c.Extra = map[string]any{"exp": 1} }, wantIs: ErrReservedClaim},
		{name: "extra EXP", edit: func(c *Claims) { c.Extra = map[string]any{"EXP": 1} }, wantIs: ErrReservedClaim},
		{name: "extra long s folds to s", edit: func(c *Claims) { c.Extra = map[string]any{"ſub": "x"} }, wantIs: ErrReservedClaim},
		{name: "extra roles", edit: func(c *Claims) { c.Extra = map[string]any{"Roles": []string{"admin"}} }, wantIs: ErrReservedClaim},
		{name: "extra scp", edit: func(c *Claims) { c.Extra = map[string]any{"scp": []string{"admin"}} }, wantIs: ErrReservedClaim},
		{name: "extra jti", edit: func(c *Claims) { c.Extra = map[string]any{"jti": "fixed"} }, wantIs: ErrReservedClaim},
		{name: "extra empty name", edit: func(c *Claims) { c.Extra = map[string]any{"": 1} }, wantErr: "empty name"},
		{name: "extra not JSON", edit: func(c *Claims) { c.Extra = map[string]any{"x": math.Inf(1)} }, wantErr: `extra claim "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := baseClaims()
			tc.edit(&c)
			tok, err := s.Mint(context.Background(), c)
			if err == nil {
				t.Fatalf("Mint succeeded (%s), want error", tok)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want containing %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error = %v, want errors.Is %v", err, tc.wantIs)
			}
		})
	}
}

func TestMintCanceledContext(t *testing.T) {
	s, err := NewSigner(SignerConfig{Key: generate(t, "EdDSA")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Mint(ctx, baseClaims()); !errors.Is(err, context.Canceled) {
		t.Errorf("Mint with canceled context: err = %v, want context.Canceled", err)
	}
}

func TestMintUniqueJTI(t *testing.T) {
	s, err := NewSigner(SignerConfig{Key: generate(t, "HS256"), Clock: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 1000 {
		tok, err := s.Mint(context.Background(), baseClaims())
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] {
			t.Fatalf("two identical tokens minted at the same instant: %s", tok)
		}
		seen[tok] = true
	}
}

// TestMintEveryAlg signs with every supported algorithm and checks the
// signature with golang-jwt's method for the header's alg.
func TestMintEveryAlg(t *testing.T) {
	for _, alg := range jwk.Algorithms() {
		t.Run(alg, func(t *testing.T) {
			key := generate(t, alg)
			s, err := NewSigner(SignerConfig{Key: key})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := s.Mint(context.Background(), baseClaims())
			if err != nil {
				t.Fatal(err)
			}
			header, _, input, sig := decodeParts(t, tok)
			if header["alg"] != alg {
				t.Fatalf("alg = %v, want %s", header["alg"], alg)
			}
			method, err := jwk.SigningMethod(alg)
			if err != nil {
				t.Fatal(err)
			}
			if err := method.Verify(input, sig, key.VerifyingKey()); err != nil {
				t.Errorf("verify: %v", err)
			}
			if err := method.Verify(input+"x", sig, key.VerifyingKey()); err == nil {
				t.Errorf("verify of altered input succeeded")
			}
		})
	}
}

func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{"ES256", "EdDSA", "HS256"} {
		b.Run(alg, func(b *testing.B) {
			s, err := NewSigner(SignerConfig{Key: generate(b, alg)})
			if err != nil {
				b.Fatal(err)
			}
			c := baseClaims()
			c.Roles = []string{"evaluator"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Mint(context.Background(), c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
