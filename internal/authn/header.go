package authn

import (
	"errors"
	"fmt"
)

// forbiddenHeaders are JOSE header members Warden never accepts: they ask
// the verifier to fetch or trust key material named by the token (jku, x5u,
// jwk, x5c), change how the payload is read (b64, zip, cty: nested or
// compressed content), are meant for encryption (enc), or declare
// extensions that must be understood (crit, RFC 7515 §4.1.11: Warden
// understands none, so any crit fails).
var forbiddenHeaders = [...]string{"crit", "b64", "zip", "enc", "cty", "jku", "x5u", "jwk", "x5c"}

// joseHeader is what Verify reads from a JOSE header.
type joseHeader struct {
	alg, kid, typ          string
	hasAlg, hasKid, hasTyp bool
	// wrongType names the first of alg, kid and typ whose value is not a
	// string, and wrongValue is that value.
	wrongType  string
	wrongValue any
	// forbidden is the index in forbiddenHeaders of the first forbidden
	// member present (in list order), or -1.
	forbidden int
}

// maxLinearMembers is how many member names parseHeader checks for
// duplicates by scanning before it switches to a map.
const maxLinearMembers = 16

// parseHeader decodes a JOSE header with exactly the strictness of
// parseJSONObject (one object, valid UTF-8, no duplicate names at any depth,
// bounded depth, nothing after it), but keeps only what Verify needs and
// does not build a map: the header is parsed on every uncached verification.
func parseHeader(s string) (joseHeader, error) {
	h := joseHeader{forbidden: -1}
	p := jsonParser{s: s}
	p.skipSpace()
	if p.i >= len(s) {
		return h, errors.New("empty JSON text")
	}
	if s[p.i] != '{' {
		if _, err := p.value(0); err != nil {
			return h, err
		}
		return h, errNotObject
	}
	p.i++
	p.skipSpace()
	var (
		names [maxLinearMembers]string
		n     int
		seen  map[string]bool
	)
	if p.i < len(s) && s[p.i] == '}' {
		p.i++
	} else {
		for {
			if p.i >= len(s) || s[p.i] != '"' {
				return h, p.syntaxError()
			}
			name, err := p.str()
			if err != nil {
				return h, err
			}
			p.skipSpace()
			if p.i >= len(s) || s[p.i] != ':' {
				return h, p.syntaxError()
			}
			p.i++
			p.skipSpace()
			if err := h.member(&p, name); err != nil {
				return h, err
			}
			// Duplicate names: a scan for the usual handful, a map beyond.
			dup := false
			if n < maxLinearMembers {
				for _, x := range names[:n] {
					if x == name {
						dup = true
						break
					}
				}
				names[n] = name
			} else {
				if seen == nil {
					seen = make(map[string]bool, 2*maxLinearMembers)
					for _, x := range names {
						seen[x] = true
					}
				}
				dup = seen[name]
				seen[name] = true
			}
			n++
			if dup {
				return h, fmt.Errorf("duplicate JSON member name %s", quote(name))
			}
			p.skipSpace()
			if p.i >= len(s) {
				return h, p.syntaxError()
			}
			if s[p.i] == '}' {
				p.i++
				break
			}
			if s[p.i] != ',' {
				return h, p.syntaxError()
			}
			p.i++
			p.skipSpace()
		}
	}
	p.skipSpace()
	if p.i != len(s) {
		return h, fmt.Errorf("data after the JSON object at offset %d", p.i)
	}
	return h, nil
}

// member parses the value of header member name at p and records it.
func (h *joseHeader) member(p *jsonParser, name string) error {
	var dst *string
	var has *bool
	switch name {
	case "alg":
		dst, has = &h.alg, &h.hasAlg
	case "kid":
		dst, has = &h.kid, &h.hasKid
	case "typ":
		dst, has = &h.typ, &h.hasTyp
	default:
		for i, f := range forbiddenHeaders {
			if name == f && (h.forbidden < 0 || i < h.forbidden) {
				h.forbidden = i
			}
		}
		_, err := p.value(1)
		return err
	}
	*has = true
	if p.i < len(p.s) && p.s[p.i] == '"' {
		v, err := p.str()
		*dst = v
		return err
	}
	v, err := p.value(1)
	if err == nil && h.wrongType == "" {
		h.wrongType, h.wrongValue = name, v
	}
	return err
}
