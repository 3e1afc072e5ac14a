package authn

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of objects and arrays in a header or
// payload. Real tokens nest two or three levels (an "act" chain a few more).
const maxJSONDepth = 32

// errNotObject is returned when a header or payload is valid JSON but not an
// object.
var errNotObject = errors.New("not a JSON object")

// parseJSONObject parses s, which must be exactly one JSON object (RFC 8259)
// with optional surrounding white space, into the values encoding/json would
// produce for a map[string]any: map[string]any, []any, string, float64, bool
// and nil. It is stricter than encoding/json: invalid UTF-8, lone UTF-16
// surrogates, duplicate member names (after unescaping, in any object at any
// depth), nesting deeper than maxJSONDepth, numbers out of float64 range and
// any data after the object are errors. Strings without escapes share the
// memory of s, so the caller must not derive s from a buffer it mutates later.
func parseJSONObject(s string) (map[string]any, error) {
	p := jsonParser{s: s}
	p.skipSpace()
	if p.i >= len(s) {
		return nil, errors.New("empty JSON text")
	}
	if s[p.i] != '{' {
		// Report valid non-object JSON as such, anything else as a syntax error.
		if _, err := p.value(0); err != nil {
			return nil, err
		}
		return nil, errNotObject
	}
	m, err := p.object(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(s) {
		return nil, fmt.Errorf("data after the JSON object at offset %d", p.i)
	}
	return m, nil
}

// jsonPlain marks the bytes a JSON string may contain as they are: ASCII
// other than control characters, '"' and '\\'. Other bytes need a closer look.
// It is built once and only ever read.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type jsonParser struct {
	s string
	i int
}

func (p *jsonParser) skipSpace() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) syntaxError() error {
	if p.i >= len(p.s) {
		return errors.New("unexpected end of JSON text")
	}
	return fmt.Errorf("invalid character %s in JSON at offset %d", describeByte(p.s[p.i]), p.i)
}

// value parses any JSON value at p.i; depth counts the enclosing containers.
func (p *jsonParser) value(depth int) (any, error) {
	if p.i >= len(p.s) {
		return nil, p.syntaxError()
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, p.syntaxError()
}

func (p *jsonParser) literal(lit string) error {
	if !strings.HasPrefix(p.s[p.i:], lit) {
		return p.syntaxError()
	}
	p.i += len(lit)
	return nil
}

func (p *jsonParser) object(depth int) (map[string]any, error) {
	if depth >= maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	p.i++ // '{'
	// Size the top-level object up front (a claim takes about 20 bytes of
	// JSON): growing a map while parsing costs more than the parse.
	hint := 0
	if depth == 0 {
		hint = min(max((len(p.s)-p.i)/20, 8), 64)
	}
	m := make(map[string]any, hint)
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return m, nil
	}
	for {
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, p.syntaxError()
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, p.syntaxError()
		}
		p.i++
		p.skipSpace()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		// One map operation both inserts and detects a duplicate: the
		// length only stays the same when the name was already there.
		n := len(m)
		m[name] = v
		if len(m) == n {
			return nil, fmt.Errorf("duplicate JSON member name %s", quote(name))
		}
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.syntaxError()
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.skipSpace()
		case '}':
			p.i++
			return m, nil
		default:
			return nil, p.syntaxError()
		}
	}
}

func (p *jsonParser) array(depth int) ([]any, error) {
	if depth >= maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	p.i++ // '['
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return []any{}, nil
	}
	// Collect short arrays on the stack and allocate the result once, at
	// its final size.
	var buf [8]any
	a := buf[:0]
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.syntaxError()
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			p.skipSpace()
		case ']':
			p.i++
			return append([]any(nil), a...), nil
		default:
			return nil, p.syntaxError()
		}
	}
}

// str parses a JSON string at p.i (which is '"'). Strings without escapes
// are returned as substrings of p.s without copying.
func (p *jsonParser) str() (string, error) {
	p.i++ // opening quote
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if jsonPlain[c] {
			p.i++
			continue
		}
		switch {
		case c == '"':
			out := p.s[start:p.i]
			p.i++
			return out, nil
		case c == '\\':
			return p.strEscaped(start)
		case c < 0x20:
			return "", fmt.Errorf("control character 0x%02x in JSON string at offset %d", c, p.i)
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", fmt.Errorf("invalid UTF-8 in JSON string at offset %d", p.i)
			}
			p.i += size
		}
	}
	return "", errors.New("unterminated JSON string")
}

// strEscaped continues str from the first backslash, building the
// unescaped string.
func (p *jsonParser) strEscaped(start int) (string, error) {
	b := make([]byte, 0, p.i-start+16)
	b = append(b, p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b), nil
		case c == '\\':
			if p.i+1 >= len(p.s) {
				return "", errors.New("unterminated JSON string")
			}
			e := p.s[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, err := p.hex4()
				if err != nil {
					return "", err
				}
				if utf16.IsSurrogate(r) {
					// A high surrogate must be followed by an escaped low one.
					if r >= 0xDC00 || !strings.HasPrefix(p.s[p.i:], `\u`) {
						return "", fmt.Errorf("lone UTF-16 surrogate in JSON string at offset %d", p.i)
					}
					p.i += 2
					r2, err := p.hex4()
					if err != nil {
						return "", err
					}
					if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
						return "", fmt.Errorf("lone UTF-16 surrogate in JSON string at offset %d", p.i)
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				p.i--
				return "", fmt.Errorf("invalid escape %s in JSON string at offset %d", describeByte(e), p.i)
			}
		case c < 0x20:
			return "", fmt.Errorf("control character 0x%02x in JSON string at offset %d", c, p.i)
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.i++
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", fmt.Errorf("invalid UTF-8 in JSON string at offset %d", p.i)
			}
			b = append(b, p.s[p.i:p.i+size]...)
			p.i += size
		}
	}
	return "", errors.New("unterminated JSON string")
}

// hex4 parses the four hex digits of a \u escape at p.i.
func (p *jsonParser) hex4() (rune, error) {
	if p.i+4 > len(p.s) {
		return 0, errors.New("unterminated JSON string")
	}
	var r rune
	for _, c := range []byte(p.s[p.i : p.i+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, fmt.Errorf(`invalid \u escape in JSON string at offset %d`, p.i)
		}
	}
	p.i += 4
	return r, nil
}

// number parses a JSON number (RFC 8259 §6 grammar) as a float64.
func (p *jsonParser) number() (float64, error) {
	start := p.i
	s := p.s
	if s[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(s) && s[p.i] == '0':
		p.i++
	case p.i < len(s) && s[p.i] >= '1' && s[p.i] <= '9':
		for p.i < len(s) && s[p.i] >= '0' && s[p.i] <= '9' {
			p.i++
		}
	default:
		return 0, p.syntaxError()
	}
	if p.i < len(s) && s[p.i] == '.' {
		p.i++
		if p.i >= len(s) || s[p.i] < '0' || s[p.i] > '9' {
			return 0, p.syntaxError()
		}
		for p.i < len(s) && s[p.i] >= '0' && s[p.i] <= '9' {
			p.i++
		}
	}
	if p.i < len(s) && (s[p.i] == 'e' || s[p.i] == 'E') {
		p.i++
		if p.i < len(s) && (s[p.i] == '+' || s[p.i] == '-') {
			p.i++
		}
		if p.i >= len(s) || s[p.i] < '0' || s[p.i] > '9' {
			return 0, p.syntaxError()
		}
		for p.i < len(s) && s[p.i] >= '0' && s[p.i] <= '9' {
			p.i++
		}
	}
	text := s[start:p.i]
	// Integers of up to 15 digits (every NumericDate in practice) are exact
	// in a float64; convert them without strconv.
	if len(text) <= 15 && text[0] != '-' {
		v, ok := 0, true
		for i := 0; i < len(text); i++ {
			c := text[i]
			if c < '0' || c > '9' {
				ok = false
				break
			}
			v = v*10 + int(c-'0')
		}
		if ok {
			return float64(v), nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("JSON number at offset %d is out of range", start)
	}
	return f, nil
}
