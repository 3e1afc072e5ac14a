package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

const otherIssuer = "https://other.example.com"

// attackEnv holds the verifiers the attack cases run against.
type attackEnv struct {
	ks *testKeySet
	// all trusts testIssuer with every test key and algorithm (typ at+jwt,
	// leeway 30s) and otherIssuer with its own keys, among them a kid
	// ("shared") that testIssuer also has.
	all *Verifier
	// rsaOnly trusts testIssuer for RS256 with one RSA key: the classic
	// setup of the RS256-to-HS256 confusion.
	rsaOnly *Verifier
	// mixed allows RS256, ES256 and HS* but has only asymmetric keys.
	mixed *Verifier
	// big is all with a 64 KiB token cap.
	big *Verifier
	// pinned has an RSA key pinned to RS256 while PS256 is allowed too.
	pinned *Verifier
	// shared is testIssuer's "shared" key and otherShared otherIssuer's.
	shared, otherShared *jwk.Key
	// attacker is a key the attacker controls; keyURL serves its public
	// half (for jku and x5u) and counts requests in hits.
	attacker *jwk.Key
	keyURL   string
	hits     *atomic.Int64
}

func newAttackEnv(t testing.TB) *attackEnv {
	t.Helper()
	ks := testKeys(t)
	env := &attackEnv{ks: ks}
	var err error
	if env.shared, err = jwk.Generate("ES256", "shared"); err != nil {
		t.Fatal(err)
	}
	if env.otherShared, err = jwk.Generate("ES256", "shared"); err != nil {
		t.Fatal(err)
	}
	pub := func(k *jwk.Key) *jwk.Key {
		p, err := k.Public()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := ks.issuerConfig(t)
	a.Keys = append(a.Keys, pub(env.shared))
	b := IssuerConfig{
		Issuer:     otherIssuer,
		Audiences:  []string{testAudience},
		Algorithms: []string{"RS256", "ES256"},
		Keys:       append(ks.public(t, "rsa2"), pub(env.otherShared)),
	}
	env.all = newTestVerifier(t, Config{Issuers: []IssuerConfig{a, b}})
	env.big = newTestVerifier(t, Config{Issuers: []IssuerConfig{a, b}, MaxTokenBytes: 64 << 10})

	r := IssuerConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Algorithms: []string{"RS256"}, Keys: ks.public(t, "rsa")}
	env.rsaOnly = newTestVerifier(t, Config{Issuers: []IssuerConfig{r}})

	m := r
	m.Algorithms = []string{"RS256", "ES256", "HS256", "HS384", "HS512"}
	m.Keys = ks.public(t, "rsa", "ec256")
	env.mixed = newTestVerifier(t, Config{Issuers: []IssuerConfig{m}})

	pinnedKey := pub(ks.priv["rsa"])
	pinnedKey.Alg, pinnedKey.KeyID = "RS256", "pinned"
	p := r
	p.Algorithms = []string{"RS256", "PS256"}
	p.Keys = []*jwk.Key{pinnedKey}
	env.pinned = newTestVerifier(t, Config{Issuers: []IssuerConfig{p}})

	if env.attacker, err = jwk.Generate("ES256", "attacker"); err != nil {
		t.Fatal(err)
	}
	attackerPub := pub(env.attacker)
	env.hits = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&jwk.Set{Keys: []*jwk.Key{attackerPub}})
	}))
	t.Cleanup(srv.Close)
	env.keyURL = srv.URL
	return env
}

// header builds a header map for alg and kid ("" leaves kid out) with typ at+jwt.
func header(alg, kid string) map[string]any {
	h := map[string]any{"alg": alg, "typ": "at+jwt"}
	if kid != "" {
		h["kid"] = kid
	}
	return h
}

// withClaims returns validClaims changed by set (nil values delete).
func withClaims(set map[string]any) map[string]any {
	c := validClaims()
	for k, v := range set {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// nullClaim marks a claim whose JSON value must be null (withClaims
// deletes nil values).
type nullClaim struct{}

func (nullClaim) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

// rawPayload is the JSON of validClaims without omit, with extra members
// (raw JSON text, e.g. `"exp":"soon"`) appended.
func rawPayload(t testing.TB, extra string, omit ...string) []byte {
	c := validClaims()
	for _, o := range omit {
		delete(c, o)
	}
	b := testutil.MustJSON(t, c)
	if extra == "" {
		return b
	}
	return []byte(string(b[:len(b)-1]) + "," + extra + "}")
}

// sign signs header and claims with the named test key.
func (env *attackEnv) sign(t testing.TB, alg, keyName string, h, c map[string]any) string {
	t.Helper()
	return testutil.MintJWT(t, h, c, alg, env.ks.priv[keyName].SigningKey())
}

// signRaw signs raw header and payload JSON with the named test key.
func (env *attackEnv) signRaw(t testing.TB, alg, keyName string, h, c []byte) string {
	t.Helper()
	return testutil.RawJWT(t, h, c, alg, env.ks.priv[keyName].SigningKey())
}

// segments splits a compact token.
func segments(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

// ecSig encodes r and s as a JWS ECDSA signature for a curve of size bytes.
func ecSig(r, s *big.Int, size int) []byte {
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out
}

// publicKeyForms returns the forms an attacker may try as an HMAC secret:
// the public key as PEM (PKIX and, for RSA, PKCS#1) with and without the
// trailing newline, DER, and JWK JSON.
func publicKeyForms(t testing.TB, k *jwk.Key) map[string][]byte {
	pub, err := k.Public()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub.Key)
	if err != nil {
		t.Fatal(err)
	}
	pemText := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{
		"PEM":            pemText,
		"PEM-no-newline": []byte(strings.TrimSuffix(string(pemText), "\n")),
		"DER":            der,
		"JWK":            jwkJSON,
	}
	if rp, ok := pub.Key.(*rsa.PublicKey); ok {
		forms["PKCS1-PEM"] = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rp)})
	}
	return forms
}

type attackCase struct {
	name  string
	v     *Verifier
	token string
	want  Reason
}

// TestAttacks runs hostile tokens from the public JWT attack catalogues
// (RFC 8725 §2, CVE-2022-21449 psychic signatures, the RS256-to-HS256
// confusion, header injection, kid injection, parser differentials) and
// requires each to fail with the right reason.
func TestAttacks(t *testing.T) {
	env := newAttackEnv(t)
	cases := attackCases(t, env)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted (sub %q)", p.Subject)
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v is not a *VerifyError", err, err)
			}
			if ve.Reason != tc.want {
				t.Fatalf("reason %q (%v), want %q", ve.Reason, err, tc.want)
			}
			if !errors.Is(err, tc.want.sentinel()) {
				t.Errorf("errors.Is(err, sentinel of %q) is false", tc.want)
			}
			checkErrorText(t, err.Error(), tc.token)
		})
	}
	if n := env.hits.Load(); n != 0 {
		t.Errorf("the verifier made %d requests to URLs named by tokens; want 0", n)
	}
	t.Logf("%d attack cases", len(cases))
}

// attackCases builds the hostile tokens of TestAttacks (also the seed
// corpus of the fuzzers).
func attackCases(t testing.TB, env *attackEnv) []attackCase {
	ks := env.ks
	var cases []attackCase
	add := func(name string, v *Verifier, tok string, want Reason) {
		cases = append(cases, attackCase{name, v, tok, want})
	}
	valid := ks.mint(t, "ES256", validClaims())
	validH, validP, validS := segments(valid)
	payloadJSON := testutil.MustJSON(t, validClaims())
	headerJSON := `{"alg":"ES256","typ":"at+jwt","kid":"ec256"}`

	// alg "none" in every casing, unsigned and with a signature.
	for _, alg := range []string{"none", "None", "NONE", "nOnE", "NoNe", "none "} {
		h := testutil.MustJSON(t, header(alg, ""))
		add("alg "+alg+"/unsigned", env.all, testutil.UnsignedJWT(h, payloadJSON, nil), ReasonAlgorithm)
		add("alg "+alg+"/with-kid", env.all, testutil.UnsignedJWT(testutil.MustJSON(t, header(alg, "ec256")), payloadJSON, nil), ReasonAlgorithm)
		add("alg "+alg+"/signed", env.all, testutil.UnsignedJWT(h, payloadJSON, []byte(validS)), ReasonAlgorithm)
	}
	for _, alg := range []string{"", "hs256", "es256", "ES256K", "RS1", "HS256 ", "EDDSA", "Ed25519"} {
		add(fmt.Sprintf("alg %q", alg), env.all, env.signRaw(t, "HS256", "hs256", testutil.MustJSON(t, header(alg, "hs256")), payloadJSON), ReasonAlgorithm)
	}
	add("alg missing", env.all, env.signRaw(t, "ES256", "ec256", []byte(`{"typ":"at+jwt","kid":"ec256"}`), payloadJSON), ReasonAlgorithm)
	add("alg missing, ALG case variant", env.all, env.signRaw(t, "ES256", "ec256", []byte(`{"ALG":"ES256","kid":"ec256"}`), payloadJSON), ReasonAlgorithm)
	for _, raw := range []string{`1`, `null`, `true`, `["ES256"]`, `{"name":"ES256"}`} {
		add("alg "+raw, env.all, env.signRaw(t, "ES256", "ec256", []byte(`{"alg":`+raw+`,"kid":"ec256"}`), payloadJSON), ReasonMalformed)
	}
	add("alg not in issuer allow-list", env.rsaOnly, ks.mint(t, "ES256", validClaims()), ReasonAlgorithm)

	// Algorithm confusion: HS256 keyed with the issuer's public key.
	for _, keyName := range []string{"rsa", "ec256"} {
		for form, secret := range publicKeyForms(t, ks.priv[keyName]) {
			for _, kid := range []string{keyName, ""} {
				for _, alg := range []string{"HS256", "HS384", "HS512"} {
					h := header(alg, kid)
					tok := testutil.MintJWT(t, h, validClaims(), alg, secret)
					name := fmt.Sprintf("%s keyed with %s public key %s kid=%q", alg, keyName, form, kid)
					if keyName == "rsa" {
						add(name+"/rsa-only issuer", env.rsaOnly, tok, ReasonAlgorithm)
					}
					want := ReasonAlgorithm // the kid names an asymmetric key
					if kid == "" {
						want = ReasonUnknownKey // the issuer has no HMAC key at all
					}
					add(name+"/HS allowed, no HMAC key", env.mixed, tok, want)
					if kid != "" {
						// With HMAC keys configured, the kid still names the
						// asymmetric key, which never serves HS*.
						add(name+"/issuer with HMAC keys", env.all, tok, ReasonAlgorithm)
					}
				}
			}
		}
	}
	add("HS256 with empty secret", env.all, testutil.MintJWT(t, header("HS256", "hs256"), validClaims(), "HS256", []byte{}), ReasonBadSignature)
	add("HS256 with another HS256 secret", env.all, testutil.MintJWT(t, header("HS256", "hs256"), validClaims(), "HS256", ks.priv["hs512"].SigningKey()), ReasonBadSignature)

	// Psychic signatures (CVE-2022-21449) and other forged ECDSA values.
	for _, c := range []struct {
		alg, kid string
		curve    elliptic.Curve
	}{{"ES256", "ec256", elliptic.P256()}, {"ES384", "ec384", elliptic.P384()}, {"ES512", "ec521", elliptic.P521()}} {
		n := c.curve.Params().N
		size := (c.curve.Params().BitSize + 7) / 8
		input := testutil.B64(testutil.MustJSON(t, header(c.alg, c.kid))) + "." + testutil.B64(payloadJSON)
		zero, one := big.NewInt(0), big.NewInt(1)
		nPlus1 := new(big.Int).Add(n, one)
		for name, sig := range map[string][]byte{
			"all zero":  make([]byte, 2*size),
			"r=0 s=n":   ecSig(zero, n, size),
			"r=n s=n":   ecSig(n, n, size),
			"r=n s=0":   ecSig(n, zero, size),
			"r=0 s=1":   ecSig(zero, one, size),
			"r=1 s=0":   ecSig(one, zero, size),
			"r=n+1 s=1": ecSig(nPlus1, one, size),
			"r=1 s=1":   ecSig(one, one, size),
			"all ones":  []byte(strings.Repeat("\xff", 2*size)),
		} {
			add(c.alg+" psychic "+name, env.all, input+"."+testutil.B64(sig), ReasonBadSignature)
		}
		add(c.alg+" empty signature", env.all, input+".", ReasonBadSignature)
		add(c.alg+" one-byte signature", env.all, input+"."+testutil.B64([]byte{0}), ReasonBadSignature)
	}
	// An ASN.1 DER ECDSA signature (as crypto/ecdsa.SignASN1 makes) is the
	// wrong encoding for JWS even when it is a valid signature.
	{
		input := validH + "." + validP
		h := sha256.Sum256([]byte(input))
		der, err := ecdsa.SignASN1(rand.Reader, ks.priv["ec256"].Key.(*ecdsa.PrivateKey), h[:])
		if err != nil {
			t.Fatal(err)
		}
		add("ES256 DER signature", env.all, input+"."+testutil.B64(der), ReasonBadSignature)
	}

	// Stripped, truncated, extended and transplanted signatures.
	for _, alg := range allAlgs {
		tok := ks.mint(t, alg, validClaims())
		h, p, s := segments(tok)
		sig, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		add(alg+" stripped signature", env.all, h+"."+p+".", ReasonBadSignature)
		add(alg+" no signature segment", env.all, h+"."+p, ReasonMalformed)
		add(alg+" truncated signature (1 byte)", env.all, h+"."+p+"."+testutil.B64(sig[:len(sig)-1]), ReasonBadSignature)
		add(alg+" truncated signature (half)", env.all, h+"."+p+"."+testutil.B64(sig[:len(sig)/2]), ReasonBadSignature)
		add(alg+" extended signature", env.all, h+"."+p+"."+testutil.B64(append(append([]byte{}, sig...), 0)), ReasonBadSignature)
		add(alg+" signature with leading zero", env.all, h+"."+p+"."+testutil.B64(append([]byte{0}, sig...)), ReasonBadSignature)
		flipped := append([]byte{}, sig...)
		flipped[len(flipped)/2] ^= 1
		add(alg+" bit-flipped signature", env.all, h+"."+p+"."+testutil.B64(flipped), ReasonBadSignature)
		tampered := testutil.B64(testutil.MustJSON(t, withClaims(map[string]any{"sub": "admin"})))
		add(alg+" tampered payload", env.all, h+"."+tampered+"."+s, ReasonBadSignature)
	}
	{
		other := ks.mint(t, "ES256", withClaims(map[string]any{"sub": "bob"}))
		_, _, s := segments(other)
		add("signature from another token", env.all, validH+"."+validP+"."+s, ReasonBadSignature)
		add("valid signature, truncated by one character", env.all, validH+"."+validP+"."+validS[:len(validS)-1], ReasonMalformed)
	}

	// Header injection: keys and key URLs named by the token.
	attacker := env.attacker
	attackerPub, _ := attacker.Public()
	srv := struct{ URL string }{env.keyURL}
	for _, kid := range []string{"attacker", "ec256", ""} {
		h := header("ES256", kid)
		h["jwk"] = attackerPub
		add("embedded jwk kid="+kid, env.all, testutil.MintJWT(t, h, validClaims(), "ES256", attacker.SigningKey()), ReasonForbiddenHeader)
		h = header("ES256", kid)
		h["jku"] = srv.URL + "/jwks.json"
		add("jku kid="+kid, env.all, testutil.MintJWT(t, h, validClaims(), "ES256", attacker.SigningKey()), ReasonForbiddenHeader)
		h = header("ES256", kid)
		h["x5u"] = srv.URL + "/cert.pem"
		add("x5u kid="+kid, env.all, testutil.MintJWT(t, h, validClaims(), "ES256", attacker.SigningKey()), ReasonForbiddenHeader)
	}
	{
		h := header("ES256", "")
		h["x5c"] = []string{"MIIBszCCAVmgAwIBAgIUb2Z0ZW4tbm90LWEtcmVhbC1jZXJ0"}
		add("x5c", env.all, testutil.MintJWT(t, h, validClaims(), "ES256", attacker.SigningKey()), ReasonForbiddenHeader)
	}

	// kid injection: the kid is only ever a map key.
	for name, kid := range map[string]string{
		"path traversal":      "../../../../../../dev/null",
		"absolute path":       "/dev/null",
		"windows path":        `..\..\..\windows\win.ini`,
		"SQL injection":       "x' UNION SELECT 'secret' -- ",
		"SQL injection 2":     `1" OR "1"="1`,
		"command injection":   "key|/usr/bin/id",
		"URL":                 srv.URL + "/jwks.json",
		"NUL byte":            "ec256\x00",
		"case variant":        "EC256",
		"trailing space":      "ec256 ",
		"unknown":             "no-such-key",
		"other issuer's only": "rsa2",
	} {
		for _, secret := range [][]byte{{}, []byte("secret"), ks.priv["hs256"].Key.([]byte)} {
			add(fmt.Sprintf("kid %s HS256 secret %d bytes", name, len(secret)), env.all, testutil.MintJWT(t, header("HS256", kid), validClaims(), "HS256", secret), ReasonUnknownKey)
		}
	}
	add("kid of another issuer (RS256)", env.all, env.sign(t, "RS256", "rsa2", header("RS256", "rsa2"), validClaims()), ReasonUnknownKey)
	add("kid colliding with another issuer's key", env.all, testutil.MintJWT(t, header("ES256", "shared"), validClaims(), "ES256", env.otherShared.SigningKey()), ReasonBadSignature)
	add("other issuer's token claiming this issuer, no kid", env.all, env.sign(t, "RS256", "rsa2", header("RS256", ""), validClaims()), ReasonBadSignature)
	{
		kid10k := strings.Repeat("k", 10<<10)
		tok := env.signRaw(t, "HS256", "hs256", testutil.MustJSON(t, header("HS256", kid10k)), payloadJSON)
		add("kid 10 KB (default cap)", env.all, tok, ReasonTooLarge)
		add("kid 10 KB (64 KiB cap)", env.big, tok, ReasonMalformed)
		add("kid 257 bytes", env.all, env.signRaw(t, "HS256", "hs256", testutil.MustJSON(t, header("HS256", strings.Repeat("k", 257))), payloadJSON), ReasonMalformed)
	}
	for _, raw := range []string{`1`, `1.5`, `{}`, `{"kid":"ec256"}`, `null`, `true`, `["ec256"]`, `""`} {
		add("kid "+raw, env.all, env.signRaw(t, "ES256", "ec256", []byte(`{"alg":"ES256","typ":"at+jwt","kid":`+raw+`}`), payloadJSON), ReasonMalformed)
	}

	// Key and algorithm mismatches.
	add("ES256 token naming an RSA key", env.all, env.sign(t, "ES256", "ec256", header("ES256", "rsa"), validClaims()), ReasonAlgorithm)
	add("RS256 token naming an Ed25519 key", env.all, env.sign(t, "RS256", "rsa", header("RS256", "ed"), validClaims()), ReasonAlgorithm)
	add("ES256 token naming a P-384 key", env.all, env.sign(t, "ES256", "ec256", header("ES256", "ec384"), validClaims()), ReasonAlgorithm)
	add("ES384 token naming a P-256 key", env.all, env.sign(t, "ES384", "ec384", header("ES384", "ec256"), validClaims()), ReasonAlgorithm)
	add("ES512 token naming a P-256 key", env.all, env.sign(t, "ES512", "ec521", header("ES512", "ec256"), validClaims()), ReasonAlgorithm)
	add("EdDSA token naming an EC key", env.all, env.sign(t, "EdDSA", "ed", header("EdDSA", "ec256"), validClaims()), ReasonAlgorithm)
	add("PS256 token naming an HMAC key", env.all, env.sign(t, "PS256", "rsa", header("PS256", "hs256"), validClaims()), ReasonAlgorithm)
	add("HS512 token naming a 32-byte HMAC key", env.all, testutil.MintJWT(t, header("HS512", "hs256"), validClaims(), "HS512", ks.priv["hs256"].SigningKey()), ReasonAlgorithm)
	add("ES256 token naming an Ed25519 key", env.all, env.sign(t, "ES256", "ec256", header("ES256", "ed"), validClaims()), ReasonAlgorithm)
	add("PS256 token with a key pinned to RS256", env.pinned, env.sign(t, "PS256", "rsa", header("PS256", "pinned"), validClaims()), ReasonAlgorithm)
	add("RS256 token signed with PS256", env.all, env.signRaw(t, "PS256", "rsa", testutil.MustJSON(t, header("RS256", "rsa")), payloadJSON), ReasonBadSignature)
	add("PS256 token signed with RS256", env.all, env.signRaw(t, "RS256", "rsa", testutil.MustJSON(t, header("PS256", "rsa")), payloadJSON), ReasonBadSignature)
	add("ES256 without kid, two P-256 keys", env.all, env.sign(t, "ES256", "ec256", header("ES256", ""), validClaims()), ReasonUnknownKey)
	add("unknown kid, RSA-only issuer", env.rsaOnly, env.sign(t, "RS256", "rsa", header("RS256", "nope"), validClaims()), ReasonUnknownKey)

	// Headers Warden never accepts.
	for name, val := range map[string]any{
		"crit":              []string{"exp"},
		"crit empty":        []string{},
		"crit b64":          []string{"b64"},
		"b64 false":         false,
		"b64 true":          true,
		"zip":               "DEF",
		"enc":               "A256GCM",
		"cty":               "JWT",
		"jku (empty)":       "",
		"x5u (not a URL)":   "no",
		"jwk (null)":        nullClaim{},
		"x5c (empty array)": []string{},
	} {
		member := strings.Fields(name)[0]
		h := header("ES256", "ec256")
		h[member] = val
		if member == "crit" && name == "crit b64" {
			h["b64"] = false
		}
		add("header "+name, env.all, env.sign(t, "ES256", "ec256", h, validClaims()), ReasonForbiddenHeader)
	}

	// Base64url strictness.
	{
		tok := valid
		for i := 0; !strings.ContainsAny(tok, "-_"); i++ {
			tok = ks.mint(t, "ES256", withClaims(map[string]any{"jti": fmt.Sprint("n", i)}))
		}
		std := strings.NewReplacer("-", "+", "_", "/").Replace(tok)
		add("standard base64 alphabet (+/)", env.all, std, ReasonMalformed)
		h, p, s := segments(tok)
		add("padding on header", env.all, h+"=."+p+"."+s, ReasonMalformed)
		add("padding on payload", env.all, h+"."+p+"==."+s, ReasonMalformed)
		add("padding on signature", env.all, h+"."+p+"."+s+"==", ReasonMalformed)
		add("padded base64 everywhere", env.all, padB64(h)+"."+padB64(p)+"."+padB64(s), ReasonMalformed)
		add("line break in payload", env.all, h+"."+p[:10]+"\n"+p[10:]+"."+s, ReasonMalformed)
		add("CRLF in signature", env.all, h+"."+p+"."+s[:10]+"\r\n"+s[10:], ReasonMalformed)
		add("space in header", env.all, h[:4]+" "+h[4:]+"."+p+"."+s, ReasonMalformed)
		add("trailing newline", env.all, tok+"\n", ReasonMalformed)
		add("leading space", env.all, " "+tok, ReasonMalformed)
		add("Bearer prefix", env.all, "Bearer "+tok, ReasonMalformed)
		add("quoted token", env.all, `"`+tok+`"`, ReasonMalformed)
		add("non-ASCII in payload", env.all, h+"."+p[:5]+"é"+p[5:]+"."+s, ReasonMalformed)
		add("NUL in signature", env.all, h+"."+p+"."+s+"\x00", ReasonMalformed)
	}
	// Non-canonical trailing bits: the same signature bytes spelled
	// differently (lenient decoders accept it: token malleability).
	for _, alg := range []string{"ES256", "HS256", "EdDSA"} {
		tok := ks.mint(t, alg, validClaims())
		h, p, s := segments(tok)
		if len(s)%4 == 0 {
			t.Fatalf("%s signature has no spare bits", alg)
		}
		add(alg+" non-canonical signature bits", env.all, h+"."+p+"."+s[:len(s)-1]+string(nonCanonical(s[len(s)-1])), ReasonMalformed)
		if len(p)%4 != 0 {
			add(alg+" non-canonical payload bits (re-signed)", env.all, h+"."+p[:len(p)-1]+string(nonCanonical(p[len(p)-1]))+"."+s, ReasonMalformed)
		}
	}
	add("base64 length 4n+1", env.all, validH+"."+validP+"A."+validS, ReasonMalformed)

	// Duplicate and case-variant names.
	dupPayload := func(extra string) []byte { return rawPayload(t, extra) }
	past := testNow.Add(-time.Hour).Unix()
	future := testNow.Add(time.Hour).Unix()
	add("duplicate exp (expired, then future)", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, fmt.Sprintf(`"exp":%d,"exp":%d`, past, future), "exp")), ReasonMalformed)
	add("duplicate exp (future, then expired)", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, fmt.Sprintf(`"exp":%d,"exp":%d`, future, past), "exp")), ReasonMalformed)
	add("duplicate exp, escaped spelling", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, fmt.Sprintf(`"exp":%d,"\u0065xp":%d`, past, future), "exp")), ReasonMalformed)
	add("duplicate sub", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(`"sub":"admin"`)), ReasonMalformed)
	add("duplicate iss", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(`"iss":"`+otherIssuer+`"`)), ReasonMalformed)
	add("duplicate aud", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(`"aud":"other"`)), ReasonMalformed)
	add("duplicate roles", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(`"roles":["admin"]`)), ReasonMalformed)
	add("duplicate name in nested act", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(`"act":{"sub":"agent","sub":"admin"}`)), ReasonMalformed)
	add("duplicate name deep in an array", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(`"x":[[{"a":1,"a":2}]]`)), ReasonMalformed)
	add("duplicate alg header", env.all, env.signRaw(t, "ES256", "ec256", []byte(`{"alg":"none","alg":"ES256","kid":"ec256","typ":"at+jwt"}`), payloadJSON), ReasonMalformed)
	add("duplicate kid header", env.all, env.signRaw(t, "ES256", "ec256", []byte(`{"alg":"ES256","kid":"x","kid":"ec256","typ":"at+jwt"}`), payloadJSON), ReasonMalformed)
	add("case-variant EXP after expired exp", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, fmt.Sprintf(`"exp":%d,"EXP":%d`, past, future), "exp")), ReasonExpired)
	add("case-variant Exp only", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, fmt.Sprintf(`"Exp":%d`, future), "exp")), ReasonMissingClaim)
	add("case-variant ISS", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, `"ISS":"`+testIssuer+`"`, "iss")), ReasonIssuer)
	add("case-variant AUD", env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), rawPayload(t, `"AUD":"`+testAudience+`"`, "aud")), ReasonAudience)

	// JSON strictness.
	for name, raw := range map[string]string{
		"invalid UTF-8":              "\"x\":\"\xff\xfe\"",
		"truncated UTF-8":            "\"x\":\"\xe2\x82\"",
		"overlong UTF-8":             "\"x\":\"\xc0\xaf\"",
		"UTF-16 surrogate in UTF-8":  "\"x\":\"\xed\xa0\x80\"",
		"invalid UTF-8 after escape": "\"x\":\"\\n\xff\"",
		"lone surrogate escape":      `"x":"\ud800"`,
		"lone low surrogate":         `"x":"\udc00x"`,
		"reversed surrogate pair":    `"x":"\udc00\ud800"`,
		"invalid UTF-8 in a name":    "\"\xff\":1",
		"trailing comma":             `"x":1,`,
		"single quotes":              `'x':1`,
		"comment":                    `"x":1 /* c */`,
		"NaN":                        `"x":NaN`,
		"Infinity":                   `"x":Infinity`,
		"leading zero":               `"x":0123`,
		"plus sign":                  `"x":+1`,
		"bare fraction":              `"x":.5`,
		"trailing dot":               `"x":1.`,
		"number overflow":            `"x":1e400`,
		"hex number":                 `"x":0x10`,
		"raw control char":           "\"x\":\"a\x01b\"",
		"raw newline in string":      "\"x\":\"a\nb\"",
		"bad escape":                 `"x":"\q"`,
		"short unicode escape":       `"x":"\u12"`,
		"unquoted name":              `x:1`,
		"missing value":              `"x":`,
		"deep nesting":               `"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40),
		"deep object nesting":        `"x":` + strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40),
		"unterminated string":        `"x":"abc`,
		"literal typo":               `"x":tru`,
		"capitalised literal":        `"x":True`,
		"undefined":                  `"x":undefined`,
		"object as name":             `{"a":1}:1`,
		"two values":                 `"x":1 2`,
		"missing colon":              `"x" 1`,
		"missing comma":              `"x":1 "y":2`,
		"empty name and missing val": `"":`,
	} {
		add("payload "+name, env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), dupPayload(raw)), ReasonMalformed)
	}
	for name, raw := range map[string]string{
		"invalid UTF-8 in header":    "{\"alg\":\"ES256\",\"kid\":\"ec256\",\"x\":\"\xff\"}",
		"invalid UTF-8 in alg":       "{\"alg\":\"ES256\xff\",\"kid\":\"ec256\"}",
		"header trailing data":       `{"alg":"ES256","kid":"ec256"}x`,
		"header two objects":         `{"alg":"ES256","kid":"ec256"}{"alg":"none"}`,
		"header BOM":                 "\xef\xbb\xbf" + headerJSON,
		"header array":               `["ES256"]`,
		"header string":              `"ES256"`,
		"header number":              `256`,
		"header null":                `null`,
		"header true":                `true`,
		"header empty":               ``,
		"header whitespace only":     `  `,
		"header unterminated object": `{"alg":"ES256"`,
	} {
		add(name, env.all, env.signRaw(t, "ES256", "ec256", []byte(raw), payloadJSON), ReasonMalformed)
	}
	for name, raw := range map[string]string{
		"payload array":          `[{"exp":1}]`,
		"payload string":         `"claims"`,
		"payload number":         `1`,
		"payload null":           `null`,
		"payload false":          `false`,
		"payload trailing data":  string(payloadJSON) + `,`,
		"payload two objects":    string(payloadJSON) + `{}`,
		"payload BOM":            "\xef\xbb\xbf" + string(payloadJSON),
		"payload not JSON":       `exp=9999999999`,
		"payload nested JWT":     valid,
		"payload empty object 2": `{}{}`,
	} {
		add(name, env.all, env.signRaw(t, "ES256", "ec256", []byte(headerJSON), []byte(raw)), ReasonMalformed)
	}

	// Serializations other than compact JWS.
	add("JWE (5 segments)", env.all, validH+"."+validP+"."+validS+"."+validS+"."+validS, ReasonMalformed)
	add("JWE-looking RSA-OAEP", env.all, testutil.B64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`))+".a.b.c.d", ReasonMalformed)
	add("4 segments", env.all, valid+"."+validS, ReasonMalformed)
	add("2 segments", env.all, validH+"."+validP, ReasonMalformed)
	add("1 segment", env.all, validH, ReasonMalformed)
	add("empty token", env.all, "", ReasonMalformed)
	add("only dots", env.all, "..", ReasonMalformed)
	add("empty header segment", env.all, "."+validP+"."+validS, ReasonMalformed)
	add("empty payload segment", env.all, validH+".."+validS, ReasonMalformed)
	add("JWS JSON flattened", env.all, fmt.Sprintf(`{"payload":%q,"protected":%q,"signature":%q}`, validP, validH, validS), ReasonMalformed)
	add("JWS JSON general", env.all, fmt.Sprintf(`{"payload":%q,"signatures":[{"protected":%q,"signature":%q}]}`, validP, validH, validS), ReasonMalformed)
	// CVE-2022-39227 (python-jwt): a JSON document whose text also holds a
	// compact token.
	add("polyglot JSON/compact", env.all, fmt.Sprintf(`{"  %s.%s.":"","protected":%q,"payload":%q,"signature":%q}`, validH, validP, validH, testutil.B64(testutil.MustJSON(t, withClaims(map[string]any{"sub": "admin"}))), validS), ReasonMalformed)

	// exp, nbf, iat types and boundaries (leeway 30s).
	leeway := 30 * time.Second
	mintAt := func(c map[string]any) string { return ks.mint(t, "ES256", c) }
	add("exp missing", env.all, mintAt(withClaims(map[string]any{"exp": nil})), ReasonMissingClaim)
	for name, val := range map[string]any{
		"string":         fmt.Sprint(testNow.Add(time.Hour).Unix()),
		"RFC 3339":       testNow.Add(time.Hour).Format(time.RFC3339),
		"null":           nullClaim{},
		"true":           true,
		"array":          []int64{testNow.Add(time.Hour).Unix()},
		"object":         map[string]any{"t": testNow.Add(time.Hour).Unix()},
		"negative":       -1,
		"huge":           1e300,
		"past year 9999": 253402300800,
	} {
		add("exp "+name, env.all, mintAt(withClaims(map[string]any{"exp": val})), ReasonInvalidClaim)
	}
	for name, val := range map[string]any{"string": "0", "null": nullClaim{}, "negative": -5, "bool": false} {
		add("nbf "+name, env.all, mintAt(withClaims(map[string]any{"nbf": val})), ReasonInvalidClaim)
		add("iat "+name, env.all, mintAt(withClaims(map[string]any{"iat": val})), ReasonInvalidClaim)
	}
	add("exp 0", env.all, mintAt(withClaims(map[string]any{"exp": 0})), ReasonExpired)
	add("exp 1s past the leeway", env.all, mintAt(withClaims(map[string]any{"exp": testNow.Add(-leeway - time.Second).Unix()})), ReasonExpired)
	add("exp exactly at the leeway", env.all, mintAt(withClaims(map[string]any{"exp": testNow.Add(-leeway).Unix()})), ReasonExpired)
	add("exp 1ms past the leeway", env.all, mintAt(withClaims(map[string]any{"exp": float64(testNow.Add(-leeway-time.Millisecond).UnixMilli()) / 1000})), ReasonExpired)
	add("nbf 1s beyond the leeway", env.all, mintAt(withClaims(map[string]any{"nbf": testNow.Add(leeway + time.Second).Unix()})), ReasonNotYetValid)
	add("nbf 1ms beyond the leeway", env.all, mintAt(withClaims(map[string]any{"nbf": float64(testNow.Add(leeway+time.Millisecond).UnixMilli()) / 1000})), ReasonNotYetValid)
	add("iat 1s beyond the leeway", env.all, mintAt(withClaims(map[string]any{"iat": testNow.Add(leeway + time.Second).Unix()})), ReasonNotYetValid)
	add("expired, no leeway configured", env.rsaOnly, env.sign(t, "RS256", "rsa", header("RS256", "rsa"), withClaims(map[string]any{"exp": testNow.Add(-time.Second).Unix()})), ReasonExpired)
	add("expired now, no leeway configured", env.rsaOnly, env.sign(t, "RS256", "rsa", header("RS256", "rsa"), withClaims(map[string]any{"exp": testNow.Unix()})), ReasonExpired)

	// Issuer.
	for name, val := range map[string]any{
		"wrong":          "https://evil.example.com",
		"trailing slash": testIssuer + "/",
		"case variant":   strings.ToUpper(testIssuer),
		"prefix":         testIssuer + ".evil.com",
		"empty":          "",
		"whitespace":     " " + testIssuer,
	} {
		add("iss "+name, env.all, mintAt(withClaims(map[string]any{"iss": val})), ReasonIssuer)
	}
	add("iss missing", env.all, mintAt(withClaims(map[string]any{"iss": nil})), ReasonIssuer)
	add("iss number", env.all, mintAt(withClaims(map[string]any{"iss": 1})), ReasonInvalidClaim)
	add("iss array", env.all, mintAt(withClaims(map[string]any{"iss": []string{testIssuer}})), ReasonInvalidClaim)
	add("iss null", env.all, mintAt(withClaims(map[string]any{"iss": nullClaim{}})), ReasonInvalidClaim)
	add("token of the other issuer with this issuer's key", env.all, env.sign(t, "ES256", "ec256", header("ES256", "ec256"), withClaims(map[string]any{"iss": otherIssuer})), ReasonUnknownKey)

	// Audience.
	for name, val := range map[string]any{
		"wrong":          "api",
		"case variant":   "Warden",
		"empty string":   "",
		"empty array":    []string{},
		"array of wrong": []string{"api", "other"},
		"substring":      "warde",
		"superstring":    "warden2",
		"whitespace":     "warden ",
	} {
		add("aud "+name, env.all, mintAt(withClaims(map[string]any{"aud": val})), ReasonAudience)
	}
	add("aud missing", env.all, mintAt(withClaims(map[string]any{"aud": nil})), ReasonAudience)
	for name, val := range map[string]any{
		"number":            42,
		"null":              nullClaim{},
		"object":            map[string]any{"aud": testAudience},
		"bool":              true,
		"array with number": []any{testAudience, 1},
		"array with null":   []any{nil, testAudience},
		"array with array":  []any{[]string{testAudience}},
	} {
		add("aud "+name, env.all, mintAt(withClaims(map[string]any{"aud": val})), ReasonInvalidClaim)
	}

	// Type.
	for _, typ := range []string{"JWT", "jwt", "at+jwt2", "application/jwt", "", "at jwt", "id_token+jwt"} {
		h := header("ES256", "ec256")
		h["typ"] = typ
		add("typ "+typ, env.all, env.sign(t, "ES256", "ec256", h, validClaims()), ReasonType)
	}
	{
		h := header("ES256", "ec256")
		delete(h, "typ")
		add("typ missing", env.all, env.sign(t, "ES256", "ec256", h, validClaims()), ReasonType)
		h["typ"] = 1
		add("typ number", env.all, env.sign(t, "ES256", "ec256", h, validClaims()), ReasonMalformed)
	}

	// Claim types the mapping needs.
	for name, c := range map[string]map[string]any{
		"roles number":       {"roles": 1},
		"roles object":       {"roles": map[string]any{"a": true}},
		"roles with number":  {"roles": []any{"a", 2}},
		"roles empty string": {"roles": []any{""}},
		"scope number":       {"scope": 7},
		"sub number":         {"sub": 1},
		"jti object":         {"jti": map[string]any{}},
		"client_id array":    {"client_id": []string{"a"}},
		"act string":         {"act": "agent"},
		"act sub number":     {"act": map[string]any{"sub": 1}},
		"act too deep":       {"act": deepAct(9)},
		"team number":        {"team": 3},
		"auth_time string":   {"auth_time": "yesterday"},
	} {
		add("claim "+name, env.all, mintAt(withClaims(c)), ReasonInvalidClaim)
	}

	// Size and hostile volume.
	add("oversized token", env.all, strings.Repeat("a", DefaultMaxTokenBytes+1), ReasonTooLarge)
	add("1 MiB of dots", env.all, strings.Repeat(".", 1<<20), ReasonTooLarge)
	add("oversized but well-formed", env.all, mintAt(withClaims(map[string]any{"pad": strings.Repeat("x", DefaultMaxTokenBytes)})), ReasonTooLarge)

	return cases
}

// checkErrorText requires a one-line message without token material.
func checkErrorText(t *testing.T, msg, token string) {
	t.Helper()
	if msg == "" || strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error text %q is empty or not one line", msg)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 24 && strings.Contains(msg, seg) {
			t.Errorf("error text %q contains a token segment", msg)
		}
	}
	if len(msg) > 400 {
		t.Errorf("error text is %d bytes long", len(msg))
	}
}

func deepAct(n int) map[string]any {
	var act map[string]any
	for i := n; i > 0; i-- {
		a := map[string]any{"sub": fmt.Sprint("agent", i)}
		if act != nil {
			a["act"] = act
		}
		act = a
	}
	return act
}

func padB64(s string) string {
	for len(s)%4 != 0 {
		s += "="
	}
	return s
}

// nonCanonical returns another base64url character with the same high bits
// as c: for a final character whose low bits are unused, the decoded bytes
// are the same.
func nonCanonical(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, c)
	return alphabet[i^1]
}

// TestAttackSuiteBoundedAllocs checks that oversized input and 1 MiB of
// dots are rejected without allocating memory proportional to them.
func TestAttackSuiteBoundedAllocs(t *testing.T) {
	ks := testKeys(t)
	small := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}})
	huge := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, MaxTokenBytes: 4 << 20})
	ctx := context.Background()
	dots := strings.Repeat(".", 1<<20)
	big := strings.Repeat("A", 1<<20) + "." + strings.Repeat("A", 1<<20) + "." + strings.Repeat("A", 1<<20)
	for _, tc := range []struct {
		name  string
		v     *Verifier
		token string
		want  Reason
	}{
		{"oversized/default cap", small, big, ReasonTooLarge},
		{"1MiB dots/default cap", small, dots, ReasonTooLarge},
		{"1MiB dots/4MiB cap", huge, dots, ReasonMalformed},
		{"1MiB dots and letters/4MiB cap", huge, strings.Repeat("a.", 1<<19), ReasonMalformed},
		{"1MiB of '='/4MiB cap", huge, strings.Repeat("=", 1<<20), ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(ctx, tc.token)
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason != tc.want {
				t.Fatalf("err %v, want reason %q", err, tc.want)
			}
			allocs := testing.AllocsPerRun(20, func() { _, _ = tc.v.Verify(ctx, tc.token) })
			if allocs > 8 {
				t.Errorf("%v allocations per rejection, want at most 8", allocs)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			const runs = 20
			for range runs {
				_, _ = tc.v.Verify(ctx, tc.token)
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4<<10 {
				t.Errorf("%d bytes allocated per rejection of a %d-byte token, want at most 4 KiB", per, len(tc.token))
			}
		})
	}
}
