package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

// maxSeedBytes keeps huge attack tokens out of the fuzz corpora.
const maxSeedBytes = 16 << 10

// FuzzParse checks the structural parser against independent decoders: it
// never panics, it only accepts canonical base64url (re-encoding gives the
// token back), and whatever JSON it accepts encoding/json decodes to the
// same values.
func FuzzParse(f *testing.F) {
	env := newAttackEnv(f)
	for _, tc := range attackCases(f, env) {
		if len(tc.token) <= maxSeedBytes {
			f.Add(tc.token)
		}
	}
	for _, alg := range allAlgs {
		f.Add(env.ks.mint(f, alg, validClaims()))
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := Parse(token, 0)
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) || (ve.Reason != ReasonMalformed && ve.Reason != ReasonTooLarge) {
				t.Fatalf("error %v (%T), want a malformed or too_large *VerifyError", err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted %d segments", len(parts))
		}
		enc := base64.RawURLEncoding
		if enc.EncodeToString(p.RawHeader) != parts[0] || enc.EncodeToString(p.RawClaims) != parts[1] || enc.EncodeToString(p.Signature) != parts[2] {
			t.Fatal("accepted non-canonical base64url")
		}
		if p.SigningInput != parts[0]+"."+parts[1] {
			t.Fatal("wrong signing input")
		}
		for _, part := range []struct {
			raw []byte
			got map[string]any
		}{{p.RawHeader, p.Header}, {p.RawClaims, p.Claims}} {
			var want map[string]any
			if err := json.Unmarshal(part.raw, &want); err != nil {
				t.Fatalf("accepted JSON that encoding/json rejects: %v", err)
			}
			if !cmp.Equal(want, part.got) {
				t.Fatalf("decoded differently from encoding/json:\n%s", cmp.Diff(want, part.got))
			}
		}
	})
}

// FuzzVerify feeds arbitrary tokens to a Verifier that trusts every test key
// and algorithm: nothing panics, every error is a *VerifyError with a known
// reason and a one-line message, and nothing verifies except the exact
// tokens the test minted (so no mutation of a token, such as another
// spelling of its base64, is accepted).
func FuzzVerify(f *testing.F) {
	env := newAttackEnv(f)
	valid := map[string]bool{}
	for _, alg := range allAlgs {
		tok := env.ks.mint(f, alg, validClaims())
		valid[tok] = true
		f.Add(tok)
	}
	ctx := context.Background()
	for _, tc := range attackCases(f, env) {
		if len(tc.token) > maxSeedBytes {
			continue
		}
		// A few attack tokens are validly signed and only fail against a
		// stricter verifier than env.all (no leeway, RS256 only).
		if _, err := env.all.Verify(ctx, tc.token); err == nil {
			valid[tc.token] = true
		}
		f.Add(tc.token)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := env.all.Verify(ctx, token)
		if err == nil {
			if !valid[token] {
				t.Fatalf("verified a token that was never signed (sub %q)", p.Subject)
			}
			return
		}
		var ve *VerifyError
		if !errors.As(err, &ve) || ve.Reason.sentinel() == nil {
			t.Fatalf("error %v (%T) has no known reason", err, err)
		}
		if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\n\r") || len(msg) > 400 {
			t.Fatalf("bad error text %q", msg)
		}
		if n := env.hits.Load(); n != 0 {
			t.Fatalf("%d requests to a URL named by a token", n)
		}
	})
}

// FuzzJWKS feeds arbitrary JWK Set documents through the path a fetched
// JWKS takes (jwk.ParseSet, then preparing the issuer's key set): no panic,
// no HMAC secret from the network, and every key marked usable for an
// algorithm really fits it.
func FuzzJWKS(f *testing.F) {
	ks := testKeys(f)
	for _, names := range [][]string{{"ec256"}, {"ed", "rsa"}, {"ec384", "ec521", "hs256"}} {
		f.Add(testutil.MustJSON(f, &jwk.Set{Keys: ks.public(f, names...)}))
	}
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","alg":"none"}]}`))
	algs, err := resolveAlgs(allAlgs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		set, err := jwk.ParseSet(body)
		if err != nil {
			return
		}
		kset, err := newKeySet(set.Keys, algs, false)
		if err != nil {
			return
		}
		for _, k := range kset.all {
			if _, secret := k.key.([]byte); secret {
				t.Fatal("an HMAC secret was taken from a fetched JWKS")
			}
			for _, a := range algs {
				if k.algs.has(a.bit) {
					if err := jwk.CheckAlg(a.name, k.key); err != nil {
						t.Fatalf("key marked usable for %s: %v", a.name, err)
					}
					if k.pin != "" && k.pin != a.name {
						t.Fatalf("key pinned to %s marked usable for %s", k.pin, a.name)
					}
				}
			}
		}
	})
}

// FuzzBase64 compares the strict base64url decoder with encoding/base64 in
// strict mode (minus its tolerance of line breaks).
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "QQ", "QR", "QUI", "QUJ", "QUJD", "Q", "QQ==", "+/", "-_", "QU\nJD"} {
		f.Add(s)
	}
	strict := base64.RawURLEncoding.Strict()
	f.Fuzz(func(t *testing.T, s string) {
		buf := make([]byte, b64DecodedLen(len(s)))
		n, err := b64Decode(buf, s)
		want, werr := strict.DecodeString(s)
		if strings.ContainsAny(s, "\r\n") {
			if err == nil {
				t.Fatal("accepted a line break")
			}
			return
		}
		if (err == nil) != (werr == nil) {
			t.Fatalf("b64Decode err %v, encoding/base64 err %v", err, werr)
		}
		if err == nil && string(buf[:n]) != string(want) {
			t.Fatalf("decoded %x, encoding/base64 %x", buf[:n], want)
		}
	})
}

// FuzzHeader checks that the map-free header decoder Verify uses accepts
// exactly what parseJSONObject (and so Parse) accepts, and reads the same
// alg, kid, typ and forbidden members.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		`{"alg":"ES256","kid":"k","typ":"at+jwt"}`, `{"alg":"none","crit":["b64"],"b64":false}`,
		`{"alg":1}`, `{"kid":{"a":[1,2,{"b":null}]}}`, `{"alg":"a","alg":"b"}`, `{"x":{"y":1,"y":2}}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":18}`,
		`[]`, `{}`, `{} `, `{}x`, "{\"alg\":\"\xff\"}", `{"\u0061lg":"x","alg":"y"}`, `{"jku":"u","x5u":"v","jwk":{}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, herr := parseHeader(s)
		m, merr := parseJSONObject(s)
		if (herr == nil) != (merr == nil) {
			t.Fatalf("parseHeader err %v, parseJSONObject err %v", herr, merr)
		}
		if herr != nil {
			return
		}
		for _, f := range []struct {
			name string
			got  string
			has  bool
		}{{"alg", h.alg, h.hasAlg}, {"kid", h.kid, h.hasKid}, {"typ", h.typ, h.hasTyp}} {
			v, ok := m[f.name]
			if ok != f.has {
				t.Fatalf("%s present %v, map says %v", f.name, f.has, ok)
			}
			if str, isStr := v.(string); isStr && str != f.got {
				t.Fatalf("%s = %q, map says %q", f.name, f.got, str)
			}
			if _, isStr := v.(string); ok && !isStr && h.wrongType == "" {
				t.Fatalf("%s is %T but not reported", f.name, v)
			}
		}
		want := -1
		for i, name := range forbiddenHeaders {
			if _, ok := m[name]; ok {
				want = i
				break
			}
		}
		if h.forbidden != want {
			t.Fatalf("forbidden %d, want %d", h.forbidden, want)
		}
	})
}
