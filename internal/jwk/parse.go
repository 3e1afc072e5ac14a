package jwk

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"unicode/utf8"
)

// ErrUnsupported marks a well-formed key of a type or curve Warden does not
// use (for example X25519 or secp256k1). ParseSet skips such keys.
var ErrUnsupported = errors.New("unsupported key")

type curve struct {
	name  string
	size  int // coordinate and scalar size in bytes
	curve elliptic.Curve
}

func curveByName(name string) (curve, bool) {
	switch name {
	case "P-256":
		return curve{"P-256", 32, elliptic.P256()}, true
	case "P-384":
		return curve{"P-384", 48, elliptic.P384()}, true
	case "P-521":
		return curve{"P-521", 66, elliptic.P521()}, true
	}
	return curve{}, false
}

func curveByParams(pub *ecdsa.PublicKey) (curve, bool) {
	if pub == nil || pub.Curve == nil {
		return curve{}, false
	}
	return curveByName(pub.Curve.Params().Name)
}

// decodeB64 decodes strict, unpadded base64url: only the URL alphabet (no
// padding, '+', '/', white space or line breaks) and zero trailing bits, so
// that every byte string has exactly one accepted encoding.
func decodeB64(field, s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("member %q is not base64url (character %d)", field, i)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("member %q is not canonical base64url", field)
	}
	return b, nil
}

// ParseKey parses one JWK. Public and private EC, RSA and Ed25519 keys and
// "oct" HMAC secrets are supported; anything else is an error wrapping
// ErrUnsupported.
func ParseKey(data []byte) (*Key, error) {
	if len(data) > MaxKeyBytes {
		return nil, fmt.Errorf("jwk: document of %d bytes exceeds %d", len(data), MaxKeyBytes)
	}
	if err := checkJSON(data, 4); err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	var j jsonKey
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	k, err := fromJSON(&j)
	if err != nil {
		return nil, fmt.Errorf("jwk: %w", err)
	}
	return k, nil
}

// ParseSet parses a JWK Set. Keys of an unsupported type or curve are
// skipped (a set may carry encryption keys Warden never uses); a key of a
// supported type that is malformed fails the whole set, as does a set with no
// usable key.
func ParseSet(data []byte) (*Set, error) {
	if len(data) > MaxSetBytes {
		return nil, fmt.Errorf("jwks: document of %d bytes exceeds %d", len(data), MaxSetBytes)
	}
	if err := checkJSON(data, 5); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`jwks: no "keys" array`)
	}
	if len(doc.Keys) > MaxSetKeys {
		return nil, fmt.Errorf("jwks: %d keys exceed the limit of %d", len(doc.Keys), MaxSetKeys)
	}
	set := &Set{}
	for i, raw := range doc.Keys {
		var j jsonKey
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		k, err := fromJSON(&j)
		if errors.Is(err, ErrUnsupported) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		set.Keys = append(set.Keys, k)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("jwks: no usable key")
	}
	return set, nil
}

func fromJSON(j *jsonKey) (*Key, error) {
	k := &Key{KeyID: j.Kid, Alg: j.Alg, Use: j.Use}
	if len(j.Kid) > 256 || !utf8.ValidString(j.Kid) {
		return nil, errors.New(`"kid" longer than 256 bytes or not UTF-8`)
	}
	if j.Alg != "" && !supported(j.Alg) {
		if j.Alg == "none" || j.Alg == "None" || j.Alg == "NONE" {
			return nil, fmt.Errorf(`"alg" %q is never allowed`, j.Alg)
		}
		return nil, fmt.Errorf("%w: alg %q", ErrUnsupported, j.Alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return nil, fmt.Errorf("%w: use %q", ErrUnsupported, j.Use)
	}
	var err error
	switch j.Kty {
	case "EC":
		k.Key, err = ecFromJSON(j)
	case "RSA":
		k.Key, err = rsaFromJSON(j)
	case "OKP":
		k.Key, err = okpFromJSON(j)
	case "oct":
		k.Key, err = octFromJSON(j)
	case "":
		return nil, errors.New(`missing "kty"`)
	default:
		return nil, fmt.Errorf("%w: kty %q", ErrUnsupported, j.Kty)
	}
	if err != nil {
		return nil, err
	}
	if k.Alg != "" {
		if err := CheckAlg(k.Alg, k.Key); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func ecFromJSON(j *jsonKey) (any, error) {
	c, ok := curveByName(j.Crv)
	if !ok {
		return nil, fmt.Errorf("%w: EC curve %q", ErrUnsupported, j.Crv)
	}
	x, err := decodeB64("x", j.X)
	if err != nil {
		return nil, err
	}
	y, err := decodeB64("y", j.Y)
	if err != nil {
		return nil, err
	}
	if len(x) != c.size || len(y) != c.size {
		return nil, fmt.Errorf("EC %s coordinates must be %d bytes", c.name, c.size)
	}
	raw := make([]byte, 0, 1+2*c.size)
	raw = append(append(append(raw, 4), x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(c.curve, raw)
	if err != nil {
		return nil, fmt.Errorf("EC %s point is invalid: %w", c.name, err)
	}
	if j.D == "" {
		return pub, nil
	}
	d, err := decodeB64("d", j.D)
	if err != nil {
		return nil, err
	}
	if len(d) != c.size {
		return nil, fmt.Errorf("EC %s private scalar must be %d bytes", c.name, c.size)
	}
	priv, err := ecdsa.ParseRawPrivateKey(c.curve, d)
	if err != nil {
		return nil, fmt.Errorf("EC %s private key is invalid: %w", c.name, err)
	}
	if !priv.PublicKey.Equal(pub) {
		return nil, errors.New("EC private key does not match its public coordinates")
	}
	return priv, nil
}

func rsaFromJSON(j *jsonKey) (any, error) {
	if len(j.Oth) > 0 {
		return nil, errors.New("multi-prime RSA keys are not supported")
	}
	nb, err := decodeB64("n", j.N)
	if err != nil {
		return nil, err
	}
	eb, err := decodeB64("e", j.E)
	if err != nil {
		return nil, err
	}
	if len(nb) == 0 || nb[0] == 0 || len(eb) == 0 || eb[0] == 0 {
		return nil, errors.New("RSA n and e must be minimal big-endian integers")
	}
	n := new(big.Int).SetBytes(nb)
	if bits := n.BitLen(); bits < MinRSABits || bits > MaxRSABits {
		return nil, fmt.Errorf("RSA modulus of %d bits is outside [%d, %d]", bits, MinRSABits, MaxRSABits)
	}
	if len(eb) > 4 {
		return nil, errors.New("RSA exponent is too large")
	}
	e := int(new(big.Int).SetBytes(eb).Int64())
	if e < 3 || e%2 == 0 {
		return nil, fmt.Errorf("RSA exponent %d is invalid", e)
	}
	pub := &rsa.PublicKey{N: n, E: e}
	if j.D == "" {
		if j.P != "" || j.Q != "" {
			return nil, errors.New(`RSA private members without "d"`)
		}
		return pub, nil
	}
	var ints [6]*big.Int
	for i, f := range []struct{ name, v string }{{"d", j.D}, {"p", j.P}, {"q", j.Q}, {"dp", j.DP}, {"dq", j.DQ}, {"qi", j.QI}} {
		if f.v == "" {
			if i >= 3 {
				continue // CRT values are recomputed
			}
			return nil, fmt.Errorf("RSA private key lacks %q", f.name)
		}
		b, err := decodeB64(f.name, f.v)
		if err != nil {
			return nil, err
		}
		// Every private member is smaller than the modulus. Checking the
		// length first keeps a hostile key from making Validate do
		// arithmetic on numbers far larger than the modulus (seconds of CPU
		// for a JWK Set within its size cap).
		if len(b) > len(nb) {
			return nil, fmt.Errorf("RSA private member %q is longer than the modulus", f.name)
		}
		ints[i] = new(big.Int).SetBytes(b)
	}
	priv := &rsa.PrivateKey{PublicKey: *pub, D: ints[0], Primes: []*big.Int{ints[1], ints[2]}}
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("RSA private key is invalid: %w", err)
	}
	priv.Precompute()
	return priv, nil
}

func okpFromJSON(j *jsonKey) (any, error) {
	if j.Crv != "Ed25519" {
		return nil, fmt.Errorf("%w: OKP curve %q", ErrUnsupported, j.Crv)
	}
	x, err := decodeB64("x", j.X)
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("Ed25519 public key must be %d bytes", ed25519.PublicKeySize)
	}
	pub := ed25519.PublicKey(x)
	if j.D == "" {
		return pub, nil
	}
	d, err := decodeB64("d", j.D)
	if err != nil {
		return nil, err
	}
	if len(d) != ed25519.SeedSize {
		return nil, fmt.Errorf("Ed25519 private key must be %d bytes", ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(d)
	if subtle.ConstantTimeCompare(priv.Public().(ed25519.PublicKey), pub) != 1 {
		return nil, errors.New("Ed25519 private key does not match its public key")
	}
	return priv, nil
}

func octFromJSON(j *jsonKey) (any, error) {
	k, err := decodeB64("k", j.K)
	if err != nil {
		return nil, err
	}
	if len(k) < MinHMACBytes {
		return nil, fmt.Errorf("HMAC secret of %d bytes is shorter than %d", len(k), MinHMACBytes)
	}
	return k, nil
}

// ParsePEM parses the first key in a PEM document: a PKCS#8, SEC 1 (EC) or
// PKCS#1 (RSA) private key, a PKIX or PKCS#1 public key, or a certificate's
// public key. Encrypted PEM is refused. PEM never yields an HMAC secret.
func ParsePEM(data []byte) (*Key, error) {
	if len(data) > MaxKeyBytes {
		return nil, fmt.Errorf("pem: document of %d bytes exceeds %d", len(data), MaxKeyBytes)
	}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("pem: no key block found")
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return nil, errors.New("pem: encrypted keys are not supported; decrypt it first")
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PUBLIC KEY":
			key, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			key, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			cert, err = x509.ParseCertificate(block.Bytes)
			if err == nil {
				key = cert.PublicKey
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("pem: encrypted keys are not supported; decrypt it first")
		default:
			continue // e.g. EC PARAMETERS before EC PRIVATE KEY
		}
		if err != nil {
			return nil, fmt.Errorf("pem: %s: %w", block.Type, err)
		}
		if err := checkAsymmetric(key); err != nil {
			return nil, fmt.Errorf("pem: %w", err)
		}
		return &Key{Key: key}, nil
	}
}

// checkAsymmetric applies the same bounds to PEM keys as to JWKs.
func checkAsymmetric(key any) error {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if _, ok := curveByParams(k); !ok {
			return fmt.Errorf("%w: EC curve", ErrUnsupported)
		}
	case *ecdsa.PrivateKey:
		return checkAsymmetric(&k.PublicKey)
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return fmt.Errorf("RSA modulus of %d bits is outside [%d, %d]", bits, MinRSABits, MaxRSABits)
		}
	case *rsa.PrivateKey:
		if len(k.Primes) != 2 {
			return errors.New("multi-prime RSA keys are not supported")
		}
		return checkAsymmetric(&k.PublicKey)
	case ed25519.PublicKey, ed25519.PrivateKey:
	default:
		return fmt.Errorf("%w: key type %T", ErrUnsupported, key)
	}
	return nil
}

// Load parses key material in any supported format: a JWK Set, a single JWK
// or PEM. It returns at least one key or an error.
func Load(data []byte) ([]*Key, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("empty key material")
	case trimmed[0] == '{':
		var probe struct {
			Keys json.RawMessage `json:"keys"`
		}
		if len(trimmed) <= MaxSetBytes {
			_ = json.Unmarshal(trimmed, &probe) // errors are reported by the real parse
		}
		if probe.Keys != nil {
			set, err := ParseSet(trimmed)
			if err != nil {
				return nil, err
			}
			return set.Keys, nil
		}
		k, err := ParseKey(trimmed)
		if err != nil {
			return nil, err
		}
		return []*Key{k}, nil
	case bytes.Contains(trimmed, []byte("-----BEGIN ")):
		k, err := ParsePEM(trimmed)
		if err != nil {
			return nil, err
		}
		return []*Key{k}, nil
	}
	return nil, errors.New("unrecognised key material: want a JWK, a JWK Set or PEM")
}

// LoadFile reads path (at most MaxSetBytes) and parses it with Load.
func LoadFile(path string) ([]*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSetBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if len(data) > MaxSetBytes {
		return nil, fmt.Errorf("key file %s exceeds %d bytes", path, MaxSetBytes)
	}
	keys, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return keys, nil
}

// checkJSON verifies that data is exactly one JSON object, valid UTF-8, with
// no duplicate member names in any object and nesting at most maxDepth.
func checkJSON(data []byte, maxDepth int) error {
	if !utf8.Valid(data) {
		return errors.New("not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	if err := checkObject(dec, 1, maxDepth); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

func checkObject(dec *json.Decoder, depth, maxDepth int) error {
	seen := map[string]struct{}{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		name, _ := tok.(string)
		if _, dup := seen[name]; dup {
			return fmt.Errorf("duplicate member %q", name)
		}
		seen[name] = struct{}{}
		if err := checkValue(dec, depth, maxDepth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	return nil
}

func checkValue(dec *json.Decoder, depth, maxDepth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth+1 > maxDepth {
		return fmt.Errorf("JSON nested deeper than %d", maxDepth)
	}
	switch d {
	case '{':
		return checkObject(dec, depth+1, maxDepth)
	case '[':
		for dec.More() {
			if err := checkValue(dec, depth+1, maxDepth); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
	}
	return nil
}
