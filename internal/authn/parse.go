package authn

import (
	"strings"
)

// DefaultMaxTokenBytes is the token size cap when Config.MaxTokenBytes (or
// Parse's maxBytes) is zero.
const DefaultMaxTokenBytes = 8 << 10

// Parsed is a structurally valid compact JWS (RFC 7515 §7.1) whose
// signature and claims have NOT been checked. Parse returns it for tools
// that show a token (warden token decode); Verify is the only way to trust one.
type Parsed struct {
	// Header and Claims are the decoded JOSE header and payload: JSON
	// objects decoded as encoding/json would into map[string]any.
	Header map[string]any
	Claims map[string]any
	// RawHeader and RawClaims are the base64url-decoded header and payload.
	RawHeader []byte
	RawClaims []byte
	// Signature is the decoded signature; empty for an unsecured token.
	Signature []byte
	// SigningInput is the text the signature covers: the first two segments
	// and the dot between them.
	SigningInput string
}

// Parse is the strict structural parse Verify starts with, without
// signature, key or claim checks. maxBytes <= 0 means DefaultMaxTokenBytes.
//
// It rejects, before decoding anything, tokens longer than maxBytes
// (ReasonTooLarge) and anything but three dot-separated segments of
// unpadded base64url (ReasonMalformed): JWE (five segments), the JWS JSON
// serialization, padding, the '+' and '/' alphabet, line breaks, and
// non-canonical trailing bits. Header and payload must then each be exactly
// one JSON object in valid UTF-8, with no duplicate member names at any
// depth and bounded nesting. The header and payload segments must not be
// empty; the signature segment may be (an unsecured token parses, so that
// tools can show it, but never verifies).
//
// Parse does NOT reject dangerous headers (alg "none", crit, jku, jwk, ...),
// expired tokens or unknown issuers: those are Verify's job, so that a
// decoder can display and warn about them. Errors are *VerifyError.
func Parse(token string, maxBytes int) (*Parsed, error) {
	p, _, err := parse(token, maxBytes, false)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// parse is Parse returning a value and a typed error. For Verify
// (verifying set) the header is decoded into a joseHeader instead of
// Parsed.Header, with the same strictness and without building a map.
func parse(token string, maxBytes int, verifying bool) (Parsed, joseHeader, *VerifyError) {
	var jh joseHeader
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTokenBytes
	}
	if len(token) > maxBytes {
		return Parsed{}, jh, fail(ReasonTooLarge, "token of %d bytes exceeds the limit of %d", len(token), maxBytes)
	}
	dot1, dot2, err := splitCompact(token)
	if err != nil {
		return Parsed{}, jh, err
	}
	hs, ps, ss := token[:dot1], token[dot1+1:dot2], token[dot2+1:]
	hn, pn, sn := b64DecodedLen(len(hs)), b64DecodedLen(len(ps)), b64DecodedLen(len(ss))

	// One buffer for the three decoded segments.
	buf := make([]byte, hn+pn+sn)
	if _, err := b64Decode(buf[:hn], hs); err != nil {
		return Parsed{}, jh, fail(ReasonMalformed, "header: %w", err)
	}
	if _, err := b64Decode(buf[hn:hn+pn], ps); err != nil {
		return Parsed{}, jh, fail(ReasonMalformed, "payload: %w", err)
	}
	if _, err := b64Decode(buf[hn+pn:], ss); err != nil {
		return Parsed{}, jh, fail(ReasonMalformed, "signature: %w", err)
	}

	// The JSON parser hands out substrings of its input, so give it one
	// immutable copy of header and payload rather than copying every string.
	text := string(buf[:hn+pn])
	var header map[string]any
	var jerr error
	if verifying {
		jh, jerr = parseHeader(text[:hn])
	} else {
		header, jerr = parseJSONObject(text[:hn])
	}
	if jerr != nil {
		return Parsed{}, jh, fail(ReasonMalformed, "header: %w", jerr)
	}
	claims, jerr := parseJSONObject(text[hn:])
	if jerr != nil {
		return Parsed{}, jh, fail(ReasonMalformed, "payload: %w", jerr)
	}
	return Parsed{
		Header:       header,
		Claims:       claims,
		RawHeader:    buf[:hn:hn],
		RawClaims:    buf[hn : hn+pn : hn+pn],
		Signature:    buf[hn+pn:],
		SigningInput: token[:dot2],
	}, jh, nil
}

// splitCompact checks that token has three segments, the first two not
// empty, and returns the positions of the two dots. The characters of each
// segment are checked as they are decoded. It allocates nothing, so hostile
// input costs no memory.
func splitCompact(token string) (dot1, dot2 int, err *VerifyError) {
	if token == "" {
		return 0, 0, fail(ReasonMalformed, "empty token")
	}
	switch token[0] {
	case '{':
		return 0, 0, fail(ReasonMalformed, "JWS JSON serialization is not supported; want compact serialization")
	case '"':
		return 0, 0, fail(ReasonMalformed, "token is a quoted JSON string; want the bare compact serialization")
	}
	if strings.HasPrefix(token, "Bearer ") || strings.HasPrefix(token, "bearer ") {
		return 0, 0, fail(ReasonMalformed, `token starts with "Bearer "; pass the token alone`)
	}
	dot1 = strings.IndexByte(token, '.')
	if dot1 >= 0 {
		if d := strings.IndexByte(token[dot1+1:], '.'); d >= 0 {
			dot2 = dot1 + 1 + d
			if strings.IndexByte(token[dot2+1:], '.') < 0 {
				switch {
				case dot1 == 0:
					return 0, 0, fail(ReasonMalformed, "header segment is empty")
				case dot2 == dot1+1:
					return 0, 0, fail(ReasonMalformed, "payload segment is empty")
				}
				return dot1, dot2, nil
			}
		}
	}
	n := strings.Count(token, ".") + 1
	if n == 5 {
		return 0, 0, fail(ReasonMalformed, "token has 5 segments (an encrypted JWE); want a 3-segment signed JWS")
	}
	if n == 1 {
		return 0, 0, fail(ReasonMalformed, "token has 1 segment; want 3")
	}
	return 0, 0, fail(ReasonMalformed, "token has %d segments; want 3", n)
}
