package authn

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

// testNow is the fixed instant the tests run at.
var testNow = time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://idp.example.com"
	testAudience = "warden"
)

// testKeySet holds one private key per key type, generated once per test
// binary (RSA keys are slow to make). The kid of each is its map name.
type testKeySet struct {
	priv map[string]*jwk.Key
}

// keyForAlg names the test key each algorithm signs with.
var keyForAlg = map[string]string{
	"ES256": "ec256", "ES384": "ec384", "ES512": "ec521",
	"EdDSA": "ed",
	"RS256": "rsa", "RS384": "rsa", "RS512": "rsa",
	"PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
	"HS256": "hs256", "HS384": "hs384", "HS512": "hs512",
}

var allAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "HS256", "HS384", "HS512"}

var sharedKeys = sync.OnceValues(func() (*testKeySet, error) {
	ks := &testKeySet{priv: map[string]*jwk.Key{}}
	for name, alg := range map[string]string{
		"ec256": "ES256", "ec384": "ES384", "ec521": "ES512", "ed": "EdDSA",
		"rsa": "RS256", "rsa2": "RS256", "hs256": "HS256", "hs384": "HS384", "hs512": "HS512",
	} {
		k, err := jwk.GenerateRSA(alg, name, 2048)
		if err != nil {
			return nil, err
		}
		if alg == "RS256" {
			k.Alg = "" // one RSA key serves RS* and PS*
		}
		ks.priv[name] = k
	}
	return ks, nil
})

func testKeys(tb testing.TB) *testKeySet {
	tb.Helper()
	ks, err := sharedKeys()
	if err != nil {
		tb.Fatalf("generate keys: %v", err)
	}
	return ks
}

// public returns the verification keys for names (public halves, HMAC
// secrets as they are).
func (ks *testKeySet) public(tb testing.TB, names ...string) []*jwk.Key {
	tb.Helper()
	var out []*jwk.Key
	for _, n := range names {
		k := ks.priv[n]
		if k == nil {
			tb.Fatalf("no test key %q", n)
		}
		if _, secret := k.Key.([]byte); secret {
			out = append(out, k)
			continue
		}
		pub, err := k.Public()
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, pub)
	}
	return out
}

// claims returns a valid payload for the test issuer at testNow.
func validClaims() map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "alice",
		"aud":       testAudience,
		"exp":       testNow.Add(10 * time.Minute).Unix(),
		"iat":       testNow.Add(-time.Minute).Unix(),
		"nbf":       testNow.Add(-time.Minute).Unix(),
		"jti":       "jti-1",
		"client_id": "cli",
		"scope":     "model:invoke trace:read",
		"roles":     []string{"evaluator"},
	}
}

// mint signs claims with the test key for alg, header typ at+jwt and kid.
func (ks *testKeySet) mint(tb testing.TB, alg string, claims map[string]any) string {
	tb.Helper()
	name := keyForAlg[alg]
	h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": name}
	return testutil.MintJWT(tb, h, claims, alg, ks.priv[name].SigningKey())
}

// issuerConfig trusts every test key for every algorithm.
func (ks *testKeySet) issuerConfig(tb testing.TB) IssuerConfig {
	return IssuerConfig{
		Issuer:     testIssuer,
		Audiences:  []string{testAudience},
		Algorithms: allAlgs,
		Leeway:     30 * time.Second,
		Type:       "at+jwt",
		Keys:       ks.public(tb, "ec256", "ec384", "ec521", "ed", "rsa", "hs256", "hs384", "hs512"),
	}
}

func newTestVerifier(tb testing.TB, cfg Config) *Verifier {
	tb.Helper()
	if cfg.Clock == nil {
		cfg.Clock = func() time.Time { return testNow }
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}
