package bundle

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wardenhq/warden/internal/jwk"
)

// SignatureType is the "typ" of a bundle signature's protected header.
const SignatureType = "warden-bundle+jws"

// maxSignatureLen bounds .signature.jws (an RSA-8192 signature is 1366
// base64url characters; the header is small).
const maxSignatureLen = 8 << 10

var b64 = base64.RawURLEncoding.Strict()

// decodeB64 decodes unpadded base64url strictly: only the 64 alphabet
// characters (the encoding/base64 decoder skips CR and LF), and no
// non-zero trailing bits.
func decodeB64(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, fmt.Errorf("invalid base64url character at offset %d", i)
		}
	}
	return b64.DecodeString(s)
}

// signHeader is the protected header of a bundle signature, in the order it is
// written.
type signHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

var headerKeys = map[string]bool{"alg": true, "kid": true, "typ": true}

// signingAlg returns the algorithm and key id key signs bundles with.
func signingAlg(key *jwk.Key) (alg, kid string, err error) {
	if key == nil || !key.IsPrivate() {
		return "", "", errors.New("signing key is not a private key")
	}
	alg = key.Alg
	if alg == "" {
		if alg, err = jwk.DefaultAlgFor(key.Key); err != nil {
			return "", "", err
		}
	}
	if err := jwk.CheckAlg(alg, key.Key); err != nil {
		return "", "", err
	}
	kid = key.KeyID
	if kid == "" {
		if key.Type() == "oct" {
			return "", "", errors.New("HMAC signing key has no kid")
		}
		if kid, err = key.Thumbprint(); err != nil {
			return "", "", err
		}
	}
	return alg, kid, nil
}

// sign returns the detached compact JWS of manifest.
func sign(manifest []byte, key *jwk.Key) (sig []byte, alg, kid string, err error) {
	alg, kid, err = signingAlg(key)
	if err != nil {
		return nil, "", "", fmt.Errorf("sign bundle: %w", err)
	}
	method, err := jwk.SigningMethod(alg)
	if err != nil {
		return nil, "", "", fmt.Errorf("sign bundle: %w", err)
	}
	hdr, err := json.Marshal(signHeader{Alg: alg, Kid: kid, Typ: SignatureType})
	if err != nil {
		return nil, "", "", err
	}
	h := b64.EncodeToString(hdr)
	raw, err := method.Sign(h+"."+b64.EncodeToString(manifest), key.SigningKey())
	if err != nil {
		return nil, "", "", fmt.Errorf("sign bundle: %w", err)
	}
	return []byte(h + ".." + b64.EncodeToString(raw)), alg, kid, nil
}

// verify checks a detached compact JWS over manifest against keys. It returns
// the alg and kid that verified.
func verify(jws, manifest []byte, keys []*jwk.Key, algs []string) (alg, kid string, err error) {
	bad := func(format string, a ...any) (string, string, error) {
		return "", "", newError(ReasonSignature, SignaturePath, fmt.Errorf(format, a...))
	}
	if len(jws) > maxSignatureLen {
		return bad("signature is %d bytes, more than %d", len(jws), maxSignatureLen)
	}
	parts := strings.Split(string(jws), ".")
	if len(parts) != 3 {
		return bad("not a compact JWS (want header..signature)")
	}
	if parts[1] != "" {
		return bad("not a detached JWS: the payload part must be empty")
	}
	hdrJSON, err := decodeB64(parts[0])
	if err != nil {
		return bad("header is not base64url: %v", err)
	}
	rawSig, err := decodeB64(parts[2])
	if err != nil || len(rawSig) == 0 {
		return bad("signature is not base64url")
	}
	if err := checkJSONStrict(hdrJSON, headerKeys); err != nil {
		return bad("header: %v", err)
	}
	var h signHeader
	if err := json.Unmarshal(hdrJSON, &h); err != nil {
		return bad("header is not a JSON object")
	}
	switch {
	case h.Typ != SignatureType:
		return bad("header typ is %q, want %q", h.Typ, SignatureType)
	case h.Alg == "" || strings.EqualFold(h.Alg, "none"):
		return bad("header alg %q refused", h.Alg)
	case h.Kid == "":
		return bad("header has no kid")
	}
	if algs == nil {
		algs = jwk.Algorithms()
	}
	if !slices.Contains(algs, h.Alg) {
		return bad("algorithm %q not allowed", h.Alg)
	}
	method, err := jwk.SigningMethod(h.Alg)
	if err != nil {
		return bad("algorithm %q: %v", h.Alg, err)
	}
	input := parts[0] + "." + b64.EncodeToString(manifest)
	var candidates int
	for _, k := range keys {
		if k == nil || !keyMatches(k, h.Kid) {
			continue
		}
		if k.Alg != "" && k.Alg != h.Alg {
			continue
		}
		if jwk.CheckAlg(h.Alg, k.Key) != nil {
			continue
		}
		candidates++
		if method.Verify(input, rawSig, k.VerifyingKey()) == nil {
			return h.Alg, h.Kid, nil
		}
	}
	if candidates == 0 {
		return "", "", newError(ReasonUntrustedKey, SignaturePath, fmt.Errorf("signed by key %q with %s: no trusted key has that id and algorithm", h.Kid, h.Alg))
	}
	return bad("signature by key %q does not verify", h.Kid)
}

// keyMatches reports whether k is the key named kid: by its kid, or by its
// RFC 7638 thumbprint when it has none (a key read from PEM).
func keyMatches(k *jwk.Key, kid string) bool {
	if k.KeyID != "" {
		return k.KeyID == kid
	}
	tp, err := k.Thumbprint()
	return err == nil && tp == kid
}
