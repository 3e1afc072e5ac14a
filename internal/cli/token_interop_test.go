package cli

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// interopAlgs are the algorithms the interop acceptance covers.
var interopAlgs = []string{"ES256", "EdDSA", "RS256", "PS256", "HS256"}

// TestInteropGoJoseSignsWardenVerifies: tokens signed by go-jose v4, with
// go-jose's own JWK Set (or oct JWK) written to disk, verify with
// `warden token verify`; altered or expired ones do not.
func TestInteropGoJoseSignsWardenVerifies(t *testing.T) {
	for _, alg := range interopAlgs {
		t.Run(alg, func(t *testing.T) {
			priv, pub := goJoseKeyPair(t, alg)
			dir := t.TempDir()
			keyFlag := "--jwks"
			keyFile := filepath.Join(dir, "jwks.json")
			var keyJSON []byte
			var err error
			if alg == "HS256" {
				keyFlag = "--key"
				keyFile = filepath.Join(dir, "secret.jwk")
				keyJSON, err = json.Marshal(priv)
			} else {
				keyJSON, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyFile, keyJSON, 0o600); err != nil {
				t.Fatal(err)
			}

			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: priv},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := josejwt.Signed(signer).Claims(josejwt.Claims{
				Issuer:    "https://idp.example",
				Subject:   "alice",
				Audience:  josejwt.Audience{"warden"},
				IssuedAt:  josejwt.NewNumericDate(t0),
				NotBefore: josejwt.NewNumericDate(t0),
				Expiry:    josejwt.NewNumericDate(t0.Add(10 * time.Minute)),
				ID:        "jti-1",
			}).Claims(map[string]any{"roles": []string{"evaluator"}, "scope": "model:invoke"}).Serialize()
			if err != nil {
				t.Fatal(err)
			}

			args := []string{"token", "verify", keyFlag, keyFile, "--iss", "https://idp.example", "--aud", "warden", "--typ", "at+jwt", "--json", tok}
			r := runCLI(t, "", t0.Add(time.Minute), nil, args...)
			if r.code != 0 {
				t.Fatalf("warden rejected a go-jose %s token: exit %d\n%s%s", alg, r.code, r.stdout, r.stderr)
			}
			var res verifyResult
			if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
				t.Fatal(err)
			}
			if !res.Valid || res.Claims["sub"] != "alice" || res.Claims["jti"] != "jti-1" || res.Claims["scope"] != "model:invoke" {
				t.Errorf("verified claims = %+v", res)
			}

			r = runCLI(t, "", t0.Add(11*time.Minute), nil, args...)
			if r.code != 1 || !strings.Contains(r.stdout, `"reason": "expired"`) {
				t.Errorf("expired go-jose token: exit %d %s", r.code, r.stdout)
			}
			parts := strings.Split(tok, ".")
			other, err := josejwt.Signed(signer).Claims(josejwt.Claims{
				Issuer: "https://idp.example", Subject: "mallory", Audience: josejwt.Audience{"warden"},
				Expiry: josejwt.NewNumericDate(t0.Add(10 * time.Minute)),
			}).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			spliced := parts[0] + "." + strings.Split(other, ".")[1] + "." + parts[2]
			args[len(args)-1] = spliced
			r = runCLI(t, "", t0.Add(time.Minute), nil, args...)
			if r.code != 1 || !strings.Contains(r.stdout, `"reason": "bad_signature"`) {
				t.Errorf("spliced go-jose token: exit %d %s", r.code, r.stdout)
			}
		})
	}
}

// TestInteropWardenMintsGoJoseVerifies: tokens from `warden token mint`
// verify with go-jose v4, using the key go-jose reads from the files
// `warden keys generate` wrote.
func TestInteropWardenMintsGoJoseVerifies(t *testing.T) {
	for _, alg := range interopAlgs {
		t.Run(alg, func(t *testing.T) {
			env := newTokenEnv(t, alg, "--aud", "billing", "--scope", "model:invoke", "--act", "bot")
			var key any
			if alg == "HS256" {
				var jk jose.JSONWebKey
				data, err := os.ReadFile(env.priv)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(data, &jk); err != nil {
					t.Fatalf("go-jose reads private.jwk: %v", err)
				}
				key = jk.Key
			} else {
				var set jose.JSONWebKeySet
				data, err := os.ReadFile(env.jwks)
				if err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(data, &set); err != nil {
					t.Fatalf("go-jose reads jwks.json: %v", err)
				}
				ks := set.Key("k1")
				if len(ks) != 1 || !ks[0].IsPublic() {
					t.Fatalf("go-jose finds %d public keys with kid k1", len(ks))
				}
				key = ks[0].Key
			}
			parsed, err := josejwt.ParseSigned(env.token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			if typ := parsed.Headers[0].ExtraHeaders["typ"]; typ != "at+jwt" {
				t.Errorf("typ = %v", typ)
			}
			var std josejwt.Claims
			var extra struct {
				Roles []string `json:"roles"`
				Scope string   `json:"scope"`
				Act   struct {
					Sub string `json:"sub"`
				} `json:"act"`
			}
			if err := parsed.Claims(key, &std, &extra); err != nil {
				t.Fatalf("go-jose rejects a warden %s token: %v", alg, err)
			}
			if err := std.ValidateWithLeeway(josejwt.Expected{
				Issuer: "https://issuer.example", Subject: "alice", AnyAudience: josejwt.Audience{"billing"}, Time: t0.Add(time.Minute),
			}, 0); err != nil {
				t.Errorf("go-jose validate: %v", err)
			}
			if len(extra.Roles) != 1 || extra.Roles[0] != "evaluator" || extra.Scope != "model:invoke" || extra.Act.Sub != "bot" || std.ID == "" {
				t.Errorf("claims seen by go-jose: %+v %+v", std, extra)
			}
		})
	}
}

// goJoseKeyPair makes a key for alg as go-jose JWKs: the signing key and
// the public JWK (for HS256 the same secret).
func goJoseKeyPair(t *testing.T, alg string) (jose.JSONWebKey, jose.JSONWebKey) {
	t.Helper()
	var priv, pub any
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	case "EdDSA":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, p
	case "RS256", "PS256":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	case "HS256":
		secret := make([]byte, 32)
		rand.Read(secret)
		priv, pub = secret, secret
	default:
		t.Fatalf("no key for %s", alg)
	}
	mk := func(k any) jose.JSONWebKey {
		return jose.JSONWebKey{Key: k, KeyID: "jose-" + strings.ToLower(alg), Algorithm: alg, Use: "sig"}
	}
	return mk(priv), mk(pub)
}
