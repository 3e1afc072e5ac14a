// Package jwk parses, generates and encodes the keys Warden signs and
// verifies with: JSON Web Keys (RFC 7517), JWK Sets, and PEM files.
//
// Parsing is strict: sizes are bounded, duplicate JSON member names are
// refused, base64url must be canonical, EC points must lie on their curve,
// RSA moduli must have at least 2048 bits, and an HMAC secret can only come
// from an explicit "oct" JWK, never from the bytes of an asymmetric key (the
// RS256-to-HS256 confusion). CheckAlg binds an algorithm to the key types
// that may serve it.
package jwk

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// DefaultAlg is the algorithm used when none is asked for.
const DefaultAlg = "EdDSA"

// Size bounds for untrusted key material.
const (
	// MaxKeyBytes bounds one JWK or PEM document.
	MaxKeyBytes = 64 << 10
	// MaxSetBytes bounds one JWK Set document.
	MaxSetBytes = 256 << 10
	// MaxSetKeys bounds the number of keys in one JWK Set.
	MaxSetKeys = 100
	// MinRSABits is the smallest RSA modulus accepted anywhere.
	MinRSABits = 2048
	// MaxRSABits is the largest RSA modulus accepted (verification cost grows with it).
	MaxRSABits = 8192
	// MinHMACBytes is the smallest HMAC secret accepted (HS256; HS384 needs 48, HS512 64).
	MinHMACBytes = 32
)

// ErrSymmetric is returned when an operation would expose an HMAC secret,
// such as asking for the public half of an "oct" key.
var ErrSymmetric = errors.New("symmetric (oct) key has no public half")

// Key is one key: its identity (kid, alg, use) and the crypto key itself.
type Key struct {
	// KeyID is the JWK "kid".
	KeyID string
	// Alg is the JWK "alg": the one algorithm this key may be used with, or
	// "" when the key does not pin one.
	Alg string
	// Use is the JWK "use" ("sig"), or "".
	Use string
	// Key is one of *ecdsa.PublicKey, *ecdsa.PrivateKey, *rsa.PublicKey,
	// *rsa.PrivateKey, ed25519.PublicKey, ed25519.PrivateKey, or []byte for
	// an HMAC secret (kty "oct").
	Key any
}

// IsPrivate reports whether k holds private or secret material.
func (k *Key) IsPrivate() bool {
	switch k.Key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey, []byte:
		return true
	}
	return false
}

// Public returns the public half of k, keeping kid, alg and use. It returns
// ErrSymmetric for an HMAC key: a secret is never published.
func (k *Key) Public() (*Key, error) {
	pub, err := publicOf(k.Key)
	if err != nil {
		return nil, err
	}
	return &Key{KeyID: k.KeyID, Alg: k.Alg, Use: k.Use, Key: pub}, nil
}

func publicOf(key any) (any, error) {
	switch key := key.(type) {
	case *ecdsa.PrivateKey:
		return &key.PublicKey, nil
	case *rsa.PrivateKey:
		return &key.PublicKey, nil
	case ed25519.PrivateKey:
		return key.Public().(ed25519.PublicKey), nil
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return key, nil
	case []byte:
		return nil, ErrSymmetric
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// SigningKey returns what a jwt.SigningMethod's Sign expects for k: the
// private key, or the HMAC secret. It is nil for a public key.
func (k *Key) SigningKey() any {
	if !k.IsPrivate() {
		return nil
	}
	return k.Key
}

// VerifyingKey returns what a jwt.SigningMethod's Verify expects for k: the
// public key (derived from a private one), or the HMAC secret.
func (k *Key) VerifyingKey() any {
	if b, ok := k.Key.([]byte); ok {
		return b
	}
	pub, err := publicOf(k.Key)
	if err != nil {
		return nil
	}
	return pub
}

// Type returns the JWK "kty" of k: "EC", "RSA", "OKP" or "oct".
func (k *Key) Type() string {
	switch k.Key.(type) {
	case *ecdsa.PublicKey, *ecdsa.PrivateKey:
		return "EC"
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "OKP"
	case []byte:
		return "oct"
	}
	return ""
}

// Thumbprint returns the RFC 7638 JWK thumbprint of k (SHA-256, base64url).
// Public and private halves of a key have the same thumbprint.
func (k *Key) Thumbprint() (string, error) {
	// RFC 7638 §3.2: the required members only, in lexicographic order, no
	// white space. Every value is a base64url string or a fixed name, so
	// building the JSON by hand is exact.
	var doc string
	switch key := k.Key.(type) {
	case []byte:
		doc = `{"k":"` + b64(key) + `","kty":"oct"}`
	default:
		pub, err := publicOf(key)
		if err != nil {
			return "", err
		}
		switch pub := pub.(type) {
		case *ecdsa.PublicKey:
			crv, x, y, err := ecParams(pub)
			if err != nil {
				return "", err
			}
			doc = `{"crv":"` + crv + `","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
		case *rsa.PublicKey:
			doc = `{"e":"` + b64(big.NewInt(int64(pub.E)).Bytes()) + `","kty":"RSA","n":"` + b64(pub.N.Bytes()) + `"}`
		case ed25519.PublicKey:
			doc = `{"crv":"Ed25519","kty":"OKP","x":"` + b64(pub) + `"}`
		}
	}
	sum := sha256.Sum256([]byte(doc))
	return b64(sum[:]), nil
}

// jsonKey is the wire form of a JWK. Unknown members are ignored.
type jsonKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
	D   string `json:"d,omitempty"`
	P   string `json:"p,omitempty"`
	Q   string `json:"q,omitempty"`
	DP  string `json:"dp,omitempty"`
	DQ  string `json:"dq,omitempty"`
	QI  string `json:"qi,omitempty"`
	K   string `json:"k,omitempty"`
	// Oth (multi-prime RSA) is refused when present.
	Oth json.RawMessage `json:"oth,omitempty"`
}

// MarshalJSON encodes k as a JWK; private members are included when k is
// private, so only write the result where a secret belongs.
func (k *Key) MarshalJSON() ([]byte, error) {
	j := jsonKey{Kid: k.KeyID, Alg: k.Alg, Use: k.Use}
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		if err := fillEC(&j, &key.PublicKey); err != nil {
			return nil, err
		}
		d, err := key.Bytes()
		if err != nil {
			return nil, fmt.Errorf("encode EC private key: %w", err)
		}
		j.D = b64(d)
	case *ecdsa.PublicKey:
		if err := fillEC(&j, key); err != nil {
			return nil, err
		}
	case *rsa.PrivateKey:
		if len(key.Primes) != 2 {
			return nil, errors.New("multi-prime RSA keys are not supported")
		}
		fillRSA(&j, &key.PublicKey)
		key.Precompute()
		j.D = b64(key.D.Bytes())
		j.P = b64(key.Primes[0].Bytes())
		j.Q = b64(key.Primes[1].Bytes())
		j.DP = b64(key.Precomputed.Dp.Bytes())
		j.DQ = b64(key.Precomputed.Dq.Bytes())
		j.QI = b64(key.Precomputed.Qinv.Bytes())
	case *rsa.PublicKey:
		fillRSA(&j, key)
	case ed25519.PrivateKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64(key.Public().(ed25519.PublicKey))
		j.D = b64(key.Seed())
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64(key)
	case []byte:
		j.Kty = "oct"
		j.K = b64(key)
	default:
		return nil, fmt.Errorf("unsupported key type %T", k.Key)
	}
	return json.Marshal(j)
}

func fillEC(j *jsonKey, pub *ecdsa.PublicKey) error {
	crv, x, y, err := ecParams(pub)
	if err != nil {
		return err
	}
	j.Kty, j.Crv, j.X, j.Y = "EC", crv, b64(x), b64(y)
	return nil
}

func fillRSA(j *jsonKey, pub *rsa.PublicKey) {
	j.Kty = "RSA"
	j.N = b64(pub.N.Bytes())
	j.E = b64(big.NewInt(int64(pub.E)).Bytes())
}

// ecParams returns the JWK curve name and the fixed-size X and Y coordinates.
func ecParams(pub *ecdsa.PublicKey) (crv string, x, y []byte, err error) {
	c, ok := curveByParams(pub)
	if !ok {
		return "", nil, nil, fmt.Errorf("unsupported EC curve")
	}
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		return "", nil, nil, fmt.Errorf("encode EC public key: %w", err)
	}
	return c.name, raw[1 : 1+c.size], raw[1+c.size:], nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Set is a JWK Set (RFC 7517 §5).
type Set struct {
	Keys []*Key
}

// MarshalJSON encodes s as {"keys":[...]}.
func (s *Set) MarshalJSON() ([]byte, error) {
	keys := s.Keys
	if keys == nil {
		keys = []*Key{}
	}
	return json.Marshal(struct {
		Keys []*Key `json:"keys"`
	}{keys})
}

// Lookup returns the keys of s whose kid is kid.
func (s *Set) Lookup(kid string) []*Key {
	var out []*Key
	for _, k := range s.Keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// AdoptKeyID lets the one key of keys that has no "kid" (a PEM key) match a
// token whatever kid the token names: the user chose this key, and kid is
// only a lookup hint. It returns a copy of that key with KeyID set to kid;
// several keys, a key with a kid of its own, or an empty kid leave keys as
// they are. The signature, the algorithm allow-list and the key type are all
// still checked by the verifier.
func AdoptKeyID(keys []*Key, kid string) []*Key {
	if len(keys) != 1 || keys[0].KeyID != "" || kid == "" {
		return keys
	}
	k := *keys[0]
	k.KeyID = kid
	return []*Key{&k}
}
