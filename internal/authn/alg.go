package authn

import (
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wardenhq/warden/internal/jwk"
)

// algFamily groups algorithms by the key type they need.
type algFamily uint8

const (
	famNone algFamily = iota
	famEC
	famRSA
	famEdDSA
	famHMAC
)

// algInfo is an allowed algorithm, resolved once at New.
type algInfo struct {
	name   string
	bit    uint8 // index into an algSet
	fam    algFamily
	method jwt.SigningMethod
	// macSize is the signature length of an HMAC algorithm; for the other
	// families it follows from the key (see verifyKey.size).
	macSize int
}

// algSet is a set of algInfo.bit values.
type algSet uint32

func (s algSet) has(bit uint8) bool    { return s&(1<<bit) != 0 }
func (s algSet) with(bit uint8) algSet { return s | 1<<bit }
func algNames(algs []*algInfo) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = a.name
	}
	return out
}

// resolveAlgs checks an issuer's allow-list and resolves each entry. The
// comparison is exact and case-sensitive; "none" and unknown names are
// configuration errors.
func resolveAlgs(names []string) ([]*algInfo, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no algorithms allowed; list them explicitly (one of %v)", jwk.Algorithms())
	}
	var out []*algInfo
	for _, name := range names {
		for _, a := range out {
			if a.name == name {
				return nil, fmt.Errorf("algorithm %q listed twice", name)
			}
		}
		a, err := newAlgInfo(name, uint8(len(out)))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func newAlgInfo(name string, bit uint8) (*algInfo, error) {
	m, err := jwk.SigningMethod(name)
	if err != nil {
		return nil, err
	}
	a := &algInfo{name: name, bit: bit, method: m}
	switch name {
	case "ES256", "ES384", "ES512":
		a.fam = famEC
	case "RS256", "RS384", "RS512":
		a.fam = famRSA
	case "PS256", "PS384", "PS512":
		// RFC 7518 §3.5: the PSS salt is as long as the hash. golang-jwt
		// verifies with rsa.PSSSaltLengthAuto (any salt length); Warden
		// accepts exactly one encoding.
		a.fam = famRSA
		h := map[string]crypto.Hash{"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512}[name]
		a.method = &jwt.SigningMethodRSAPSS{
			SigningMethodRSA: &jwt.SigningMethodRSA{Name: name, Hash: h},
			Options:          &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h},
		}
	case "EdDSA":
		a.fam = famEdDSA
	case "HS256", "HS384", "HS512":
		a.fam = famHMAC
		a.macSize = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[name]
	default:
		return nil, fmt.Errorf("algorithm %q is not supported", name)
	}
	return a, nil
}

// findAlg returns the allowed algorithm named exactly name, or nil.
func findAlg(algs []*algInfo, name string) *algInfo {
	for _, a := range algs {
		if a.name == name {
			return a
		}
	}
	return nil
}
