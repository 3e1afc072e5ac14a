package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchAlgs are the algorithms the benchmarks compare.
var benchAlgs = []string{"ES256", "EdDSA", "RS256", "PS256", "HS256"}

// benchClaims is a realistic access token payload (RFC 9068 plus Warden's
// mapped claims), about 400 bytes.
func benchClaims() map[string]any {
	c := validClaims()
	c["groups"] = []string{"ml-platform", "eu-staff"}
	c["team"] = "ml-platform"
	c["tenant"] = "acme"
	c["env"] = "prod"
	c["auth_time"] = testNow.Add(-2 * time.Hour).Unix()
	return c
}

// BenchmarkVerify measures Verify without the cache (per algorithm) and a
// cache hit. Compare uncached with BenchmarkRawSignature: the difference is
// the strict pre-check, key lookup, claims checks and Principal mapping.
func BenchmarkVerify(b *testing.B) {
	ks := testKeys(b)
	ctx := context.Background()
	for _, alg := range benchAlgs {
		b.Run(alg+"/uncached", func(b *testing.B) {
			v := newTestVerifier(b, Config{Issuers: []IssuerConfig{ks.issuerConfig(b)}, CacheSize: -1})
			tok := ks.mint(b, alg, benchClaims())
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("cached", func(b *testing.B) {
		v := newTestVerifier(b, Config{Issuers: []IssuerConfig{ks.issuerConfig(b)}, Denylist: denySet{}})
		tok := ks.mint(b, "ES256", benchClaims())
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached/parallel", func(b *testing.B) {
		v := newTestVerifier(b, Config{Issuers: []IssuerConfig{ks.issuerConfig(b)}, Denylist: denySet{}})
		tok := ks.mint(b, "ES256", benchClaims())
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkRawSignature is the bare cryptographic check over the same
// signing input and signature as BenchmarkVerify/<alg>/uncached: hash plus
// ecdsa.Verify, ed25519.Verify, rsa.VerifyPKCS1v15, rsa.VerifyPSS or HMAC.
func BenchmarkRawSignature(b *testing.B) {
	ks := testKeys(b)
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			check := rawCheck(b, ks, ks.mint(b, alg, benchClaims()), alg)
			b.ReportAllocs()
			for b.Loop() {
				if !check() {
					b.Fatal("raw check failed")
				}
			}
		})
	}
}

// BenchmarkVerifyVsRaw alternates an uncached Verify and the raw signature
// check on the same token and reports their ratio ("x-raw"), which stays
// meaningful on a machine whose load changes between two benchmark runs.
func BenchmarkVerifyVsRaw(b *testing.B) {
	ks := testKeys(b)
	ctx := context.Background()
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			v := newTestVerifier(b, Config{Issuers: []IssuerConfig{ks.issuerConfig(b)}, CacheSize: -1})
			tok := ks.mint(b, alg, benchClaims())
			check := rawCheck(b, ks, tok, alg)
			var tv, tr time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if !check() {
					b.Fatal("raw check failed")
				}
				tv, tr = tv+t1.Sub(t0), tr+time.Since(t1)
			}
			b.ReportMetric(float64(tv.Nanoseconds())/float64(b.N), "verify-ns/op")
			b.ReportMetric(float64(tr.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(tv)/float64(tr), "x-raw")
		})
	}
}

// rawCheck returns the bare signature check of tok for alg.
func rawCheck(b *testing.B, ks *testKeySet, tok, alg string) func() bool {
	p, err := Parse(tok, 0)
	if err != nil {
		b.Fatal(err)
	}
	input, sig := p.SigningInput, p.Signature
	key := ks.priv[keyForAlg[alg]]
	var check func() bool
	switch alg {
	case "ES256":
		pub := key.VerifyingKey().(*ecdsa.PublicKey)
		check = func() bool {
			h := sha256.Sum256([]byte(input))
			r := new(big.Int).SetBytes(sig[:32])
			s := new(big.Int).SetBytes(sig[32:])
			return ecdsa.Verify(pub, h[:], r, s)
		}
	case "EdDSA":
		pub := key.VerifyingKey().(ed25519.PublicKey)
		check = func() bool { return ed25519.Verify(pub, []byte(input), sig) }
	case "RS256":
		pub := key.VerifyingKey().(*rsa.PublicKey)
		check = func() bool {
			h := sha256.Sum256([]byte(input))
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
		}
	case "PS256":
		pub := key.VerifyingKey().(*rsa.PublicKey)
		opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
		check = func() bool {
			h := sha256.Sum256([]byte(input))
			return rsa.VerifyPSS(pub, crypto.SHA256, h[:], sig, opts) == nil
		}
	case "HS256":
		secret := key.VerifyingKey().([]byte)
		check = func() bool {
			m := hmac.New(sha256.New, secret)
			m.Write([]byte(input))
			return hmac.Equal(m.Sum(nil), sig)
		}
	default:
		b.Fatalf("no raw check for %s", alg)
	}
	if !check() {
		b.Fatal("raw check failed")
	}
	return check
}

// BenchmarkParse measures the strict structural parse alone.
func BenchmarkParse(b *testing.B) {
	ks := testKeys(b)
	tok := ks.mint(b, "ES256", benchClaims())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(tok, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReject measures how cheaply hostile input is turned away.
func BenchmarkReject(b *testing.B) {
	v := newTestVerifier(b, Config{Issuers: []IssuerConfig{testKeys(b).issuerConfig(b)}, MaxTokenBytes: 2 << 20})
	ctx := context.Background()
	for _, tc := range []struct{ name, tok string }{
		{"1MiB-dots", strings.Repeat(".", 1<<20)},
		{"oversized", strings.Repeat("a", 3<<20)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tc.tok); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// denySet is a Denylist backed by a set.
type denySet map[string]bool

func (d denySet) Revoked(jti string) bool { return d[jti] }

// BenchmarkGolangJWTParse is the reference point for the fixed, per-token
// cost of Verify: golang-jwt's own jwt.Parse into MapClaims on the same
// tokens, with its (more lenient) default validation. For HMAC, where the raw
// signature check takes about a microsecond, parsing and checking the claims
// dominates any verifier's cost.
func BenchmarkGolangJWTParse(b *testing.B) {
	ks := testKeys(b)
	for _, alg := range benchAlgs {
		b.Run(alg, func(b *testing.B) {
			tok := ks.mint(b, alg, benchClaims())
			key := ks.priv[keyForAlg[alg]].VerifyingKey()
			parser := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return testNow }))
			keyFunc := func(*jwt.Token) (any, error) { return key, nil }
			if _, err := parser.Parse(tok, keyFunc); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := parser.Parse(tok, keyFunc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
