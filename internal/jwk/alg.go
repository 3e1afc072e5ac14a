package jwk

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultRSABits is the modulus size Generate uses for RS* and PS* keys.
const DefaultRSABits = 3072

// algorithms lists every JWS algorithm Warden signs or verifies, in a stable
// order. "none" is never among them.
var algorithms = [...]string{
	"ES256", "ES384", "ES512",
	"EdDSA",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"HS256", "HS384", "HS512",
}

// Algorithms returns every algorithm Warden supports (never "none").
func Algorithms() []string {
	out := make([]string, len(algorithms))
	copy(out, algorithms[:])
	return out
}

func supported(alg string) bool {
	for _, a := range algorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// SigningMethod returns the golang-jwt method for a supported algorithm.
// The comparison is exact: "none", "None" and "hs256" are all refused.
func SigningMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case "ES256":
		return jwt.SigningMethodES256, nil
	case "ES384":
		return jwt.SigningMethodES384, nil
	case "ES512":
		return jwt.SigningMethodES512, nil
	case "EdDSA":
		return jwt.SigningMethodEdDSA, nil
	case "RS256":
		return jwt.SigningMethodRS256, nil
	case "RS384":
		return jwt.SigningMethodRS384, nil
	case "RS512":
		return jwt.SigningMethodRS512, nil
	case "PS256":
		return strictPSS(jwt.SigningMethodPS256, crypto.SHA256), nil
	case "PS384":
		return strictPSS(jwt.SigningMethodPS384, crypto.SHA384), nil
	case "PS512":
		return strictPSS(jwt.SigningMethodPS512, crypto.SHA512), nil
	case "HS256":
		return jwt.SigningMethodHS256, nil
	case "HS384":
		return jwt.SigningMethodHS384, nil
	case "HS512":
		return jwt.SigningMethodHS512, nil
	}
	return nil, fmt.Errorf("algorithm %q is not supported (want one of %v)", alg, algorithms)
}

// strictPSS returns a PSS method that signs and verifies with the salt as
// long as the hash (RFC 7518 §3.5). golang-jwt's own methods verify with
// rsa.PSSSaltLengthAuto, accepting any salt length.
func strictPSS(base *jwt.SigningMethodRSAPSS, h crypto.Hash) jwt.SigningMethod {
	opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	return &jwt.SigningMethodRSAPSS{SigningMethodRSA: base.SigningMethodRSA, Options: opts, VerifyOptions: opts}
}

// AlgMismatchError reports a key that cannot serve an algorithm.
type AlgMismatchError struct {
	Alg     string
	KeyType string // kty, with curve or size
}

func (e *AlgMismatchError) Error() string {
	return fmt.Sprintf("algorithm %s cannot be used with a %s key", e.Alg, e.KeyType)
}

// CheckAlg reports whether key (public, private or an HMAC secret) may serve
// alg: ES256 needs P-256, ES384 P-384, ES512 P-521; RS* and PS* need RSA of at
// least 2048 bits; EdDSA needs Ed25519; HS256, HS384 and HS512 need a secret
// of at least 32, 48 and 64 bytes. Errors are *AlgMismatchError or name an
// unsupported algorithm.
func CheckAlg(alg string, key any) error {
	if !supported(alg) {
		return fmt.Errorf("algorithm %q is not supported", alg)
	}
	desc := describe(key)
	mismatch := &AlgMismatchError{Alg: alg, KeyType: desc}
	switch alg {
	case "ES256", "ES384", "ES512":
		pub, ok := key.(*ecdsa.PublicKey)
		if priv, isPriv := key.(*ecdsa.PrivateKey); isPriv {
			pub, ok = &priv.PublicKey, true
		}
		if !ok {
			return mismatch
		}
		want := map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
		if c, ok := curveByParams(pub); !ok || c.name != want {
			return mismatch
		}
	case "EdDSA":
		switch key.(type) {
		case ed25519.PublicKey, ed25519.PrivateKey:
		default:
			return mismatch
		}
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		var pub *rsa.PublicKey
		switch k := key.(type) {
		case *rsa.PublicKey:
			pub = k
		case *rsa.PrivateKey:
			pub = &k.PublicKey
		default:
			return mismatch
		}
		if pub.N.BitLen() < MinRSABits {
			return mismatch
		}
	case "HS256", "HS384", "HS512":
		secret, ok := key.([]byte)
		if !ok {
			return mismatch
		}
		min := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[alg]
		if len(secret) < min {
			return mismatch
		}
	}
	return nil
}

func describe(key any) string {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if c, ok := curveByParams(k); ok {
			return "EC " + c.name
		}
		return "EC"
	case *ecdsa.PrivateKey:
		return describe(&k.PublicKey)
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *rsa.PrivateKey:
		return describe(&k.PublicKey)
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "OKP Ed25519"
	case []byte:
		return fmt.Sprintf("oct %d-byte", len(k))
	}
	return fmt.Sprintf("%T", key)
}

// DefaultAlgFor returns the algorithm a key without "alg" is used with:
// ES256/ES384/ES512 by curve, EdDSA, RS256 for RSA, HS256 for a secret.
func DefaultAlgFor(key any) (string, error) {
	switch k := key.(type) {
	case *ecdsa.PublicKey, *ecdsa.PrivateKey:
		pub, _ := publicOf(k)
		c, ok := curveByParams(pub.(*ecdsa.PublicKey))
		if !ok {
			return "", fmt.Errorf("%w: EC curve", ErrUnsupported)
		}
		return map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[c.name], nil
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "EdDSA", nil
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RS256", nil
	case []byte:
		return "HS256", nil
	}
	return "", fmt.Errorf("%w: key type %T", ErrUnsupported, key)
}

// Generate creates a new private key for alg, with use "sig" and kid. When
// kid is empty it is the RFC 7638 thumbprint for an asymmetric key, and 128
// random bits for an HMAC secret (whose thumbprint, a hash of the secret,
// must never appear in token headers). RSA keys have DefaultRSABits.
func Generate(alg, kid string) (*Key, error) {
	return GenerateRSA(alg, kid, DefaultRSABits)
}

// GenerateRSA is Generate with the RSA modulus size for RS* and PS* keys
// (at least MinRSABits); rsaBits is ignored for other algorithms.
func GenerateRSA(alg, kid string, rsaBits int) (*Key, error) {
	var (
		key any
		err error
	)
	switch alg {
	case "ES256", "ES384", "ES512":
		c, _ := curveByName(map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
		key, err = ecdsa.GenerateKey(c.curve, rand.Reader)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		if rsaBits < MinRSABits {
			return nil, fmt.Errorf("RSA keys must have at least %d bits, not %d", MinRSABits, rsaBits)
		}
		if rsaBits > MaxRSABits {
			return nil, fmt.Errorf("RSA keys may have at most %d bits, not %d", MaxRSABits, rsaBits)
		}
		key, err = rsa.GenerateKey(rand.Reader, rsaBits)
	case "HS256", "HS384", "HS512":
		secret := make([]byte, map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[alg])
		_, err = rand.Read(secret)
		key = secret
	case "":
		return nil, errors.New("no algorithm given")
	default:
		return nil, fmt.Errorf("algorithm %q is not supported (want one of %v)", alg, algorithms)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	k := &Key{KeyID: kid, Alg: alg, Use: "sig", Key: key}
	switch {
	case k.KeyID != "":
	case k.Type() == "oct":
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return nil, fmt.Errorf("generate key id: %w", err)
		}
		k.KeyID = b64(id)
	default:
		if k.KeyID, err = k.Thumbprint(); err != nil {
			return nil, err
		}
	}
	return k, nil
}
