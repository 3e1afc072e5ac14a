package guard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Paths is a compiled set of JSON path patterns. A pattern is a dot-separated
// list of object member names and array indexes; "*" matches any member or
// any element. Example: "messages.*.content". Member names containing dots
// or "*" cannot be expressed. A Paths is immutable and safe for concurrent use.
type Paths struct {
	pats [][]string
}

// NewPaths compiles path patterns.
func NewPaths(patterns ...string) (*Paths, error) {
	p := &Paths{}
	for _, s := range patterns {
		if s == "" {
			return nil, errors.New("guard: empty path pattern")
		}
		elems := strings.Split(s, ".")
		for _, e := range elems {
			if e == "" {
				return nil, fmt.Errorf("guard: path pattern %q: empty element", s)
			}
		}
		p.pats = append(p.pats, elems)
	}
	return p, nil
}

// pathElem is one step of the path of the current JSON value.
type pathElem struct {
	key    []byte // member name (decoded) when !isIndex
	index  int    // element position when isIndex
	elemID int    // unique per array element within one walk
	arr    bool
}

func elemMatches(pat string, e *pathElem) bool {
	if pat == "*" {
		return true
	}
	if e.arr {
		n, err := strconv.Atoi(pat)
		return err == nil && n == e.index
	}
	return string(e.key) == pat
}

// under reports whether the path is at or below one of the patterns.
func (p *Paths) under(path []pathElem) bool {
	for _, pat := range p.pats {
		if len(pat) > len(path) {
			continue
		}
		ok := true
		for i, e := range pat {
			if !elemMatches(e, &path[i]) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// exact reports whether the path is exactly one of the patterns.
func (p *Paths) exact(path []pathElem) bool {
	for _, pat := range p.pats {
		if len(pat) != len(path) {
			continue
		}
		ok := true
		for i, e := range pat {
			if !elemMatches(e, &path[i]) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// jsonWalker validates one JSON document (RFC 8259: UTF-8 only, no trailing
// data) and reports every string value (never a member name) with its
// path to onString. Numbers and literals go to onScalar when set.
type jsonWalker struct {
	data     []byte
	pos      int
	depth    int
	maxDepth int
	track    bool // maintain path
	path     []pathElem
	elems    int
	onString func(start, end int, simple bool) error
	onScalar func(start, end int)
}

func (w *jsonWalker) errorf(msg string) error {
	return fmt.Errorf("guard: json at offset %d: %s: %w", w.pos, msg, ErrMalformed)
}

func (w *jsonWalker) run(data []byte) error {
	w.data, w.pos, w.depth, w.path, w.elems = data, 0, 0, w.path[:0], 0
	if err := w.value(); err != nil {
		return err
	}
	w.ws()
	if w.pos != len(w.data) {
		return w.errorf("trailing data")
	}
	return nil
}

func (w *jsonWalker) ws() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

func (w *jsonWalker) value() error {
	w.ws()
	if w.pos >= len(w.data) {
		return w.errorf("unexpected end")
	}
	switch c := w.data[w.pos]; c {
	case '{':
		return w.object()
	case '[':
		return w.array()
	case '"':
		start := w.pos
		simple, err := w.str()
		if err != nil {
			return err
		}
		if w.onString != nil {
			return w.onString(start, w.pos, simple)
		}
		return nil
	case 't':
		return w.literal("true")
	case 'f':
		return w.literal("false")
	case 'n':
		return w.literal("null")
	default:
		return w.number()
	}
}

func (w *jsonWalker) literal(lit string) error {
	if !hasPrefix(w.data[w.pos:], lit) {
		return w.errorf("invalid literal")
	}
	start := w.pos
	w.pos += len(lit)
	if w.onScalar != nil {
		w.onScalar(start, w.pos)
	}
	return nil
}

func (w *jsonWalker) number() error {
	d, p := w.data, w.pos
	start := p
	if p < len(d) && d[p] == '-' {
		p++
	}
	switch {
	case p < len(d) && d[p] == '0':
		p++
	case p < len(d) && d[p] >= '1' && d[p] <= '9':
		for p < len(d) && isDigit(d[p]) {
			p++
		}
	default:
		return w.errorf("invalid value")
	}
	if p < len(d) && d[p] == '.' {
		p++
		s := p
		for p < len(d) && isDigit(d[p]) {
			p++
		}
		if p == s {
			w.pos = p
			return w.errorf("invalid number")
		}
	}
	if p < len(d) && (d[p] == 'e' || d[p] == 'E') {
		p++
		if p < len(d) && (d[p] == '+' || d[p] == '-') {
			p++
		}
		s := p
		for p < len(d) && isDigit(d[p]) {
			p++
		}
		if p == s {
			w.pos = p
			return w.errorf("invalid number")
		}
	}
	w.pos = p
	if w.onScalar != nil {
		w.onScalar(start, p)
	}
	return nil
}

// str scans the string at w.pos and reports whether it has no escapes.
func (w *jsonWalker) str() (simple bool, err error) {
	d := w.data
	p := w.pos + 1
	simple = true
	for {
		if p >= len(d) {
			w.pos = p
			return false, w.errorf("unterminated string")
		}
		c := d[p]
		switch {
		case c == '"':
			w.pos = p + 1
			return simple, nil
		case c == '\\':
			simple = false
			if p+1 >= len(d) {
				w.pos = p
				return false, w.errorf("unterminated string")
			}
			switch d[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p += 2
			case 'u':
				if p+6 > len(d) || !isHex(d[p+2]) || !isHex(d[p+3]) || !isHex(d[p+4]) || !isHex(d[p+5]) {
					w.pos = p
					return false, w.errorf("invalid \\u escape")
				}
				p += 6
			default:
				w.pos = p
				return false, w.errorf("invalid escape")
			}
		case c < 0x20:
			w.pos = p
			return false, w.errorf("control character in string")
		case c < utf8.RuneSelf:
			p++
		default:
			r, size := utf8.DecodeRune(d[p:])
			if r == utf8.RuneError && size <= 1 {
				w.pos = p
				return false, w.errorf("invalid UTF-8")
			}
			p += size
		}
	}
}

func (w *jsonWalker) push(e pathElem) {
	if w.track {
		w.path = append(w.path, e)
	}
}

func (w *jsonWalker) pop() {
	if w.track {
		w.path = w.path[:len(w.path)-1]
	}
}

func (w *jsonWalker) enter() error {
	w.depth++
	if w.depth > w.maxDepth {
		return fmt.Errorf("guard: json nested deeper than %d: %w", w.maxDepth, ErrTooLarge)
	}
	return nil
}

func (w *jsonWalker) object() error {
	if err := w.enter(); err != nil {
		return err
	}
	w.pos++ // '{'
	w.ws()
	if w.pos < len(w.data) && w.data[w.pos] == '}' {
		w.pos++
		w.depth--
		return nil
	}
	for {
		w.ws()
		if w.pos >= len(w.data) || w.data[w.pos] != '"' {
			return w.errorf("expected member name")
		}
		ks := w.pos
		simple, err := w.str()
		if err != nil {
			return err
		}
		if w.track {
			var key []byte
			if simple {
				key = w.data[ks+1 : w.pos-1]
			} else {
				key = decodeJSONString(nil, w.data[ks:w.pos])
			}
			w.push(pathElem{key: key})
		}
		w.ws()
		if w.pos >= len(w.data) || w.data[w.pos] != ':' {
			return w.errorf("expected ':'")
		}
		w.pos++
		if err := w.value(); err != nil {
			return err
		}
		w.pop()
		w.ws()
		if w.pos >= len(w.data) {
			return w.errorf("unterminated object")
		}
		switch w.data[w.pos] {
		case ',':
			w.pos++
		case '}':
			w.pos++
			w.depth--
			return nil
		default:
			return w.errorf("expected ',' or '}'")
		}
	}
}

func (w *jsonWalker) array() error {
	if err := w.enter(); err != nil {
		return err
	}
	w.pos++ // '['
	w.ws()
	if w.pos < len(w.data) && w.data[w.pos] == ']' {
		w.pos++
		w.depth--
		return nil
	}
	for i := 0; ; i++ {
		w.push(pathElem{index: i, arr: true, elemID: w.elems})
		w.elems++
		if err := w.value(); err != nil {
			return err
		}
		w.pop()
		w.ws()
		if w.pos >= len(w.data) {
			return w.errorf("unterminated array")
		}
		switch w.data[w.pos] {
		case ',':
			w.pos++
		case ']':
			w.pos++
			w.depth--
			return nil
		default:
			return w.errorf("expected ',' or ']'")
		}
	}
}

// decodeJSONString appends the decoded content of the valid JSON string
// token tok (with quotes) to dst. Lone surrogates become U+FFFD.
func decodeJSONString(dst, tok []byte) []byte {
	b := tok[1 : len(tok)-1]
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			j := i + 1
			for j < len(b) && b[j] != '\\' {
				j++
			}
			dst = append(dst, b[i:j]...)
			i = j
			continue
		}
		switch b[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(b[i+2 : i+6]))
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
					r2 := rune(hex4(b[i+2 : i+6]))
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, b[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) int {
	v := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		default:
			v = v<<4 | int(c-'A'+10)
		}
	}
	return v
}

// appendJSONString appends s (valid UTF-8) as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[last:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		}
		last = i + 1
	}
	dst = append(dst, s[last:]...)
	return append(dst, '"')
}

// jsonRedactor is the reusable state of one RedactJSON call.
type jsonRedactor struct {
	w       jsonWalker
	s       *Scanner
	only    *Paths
	doc     []byte
	out     []byte
	last    int
	changed bool
	text    []byte
	red     []byte
	ms      []match
	h       Hits
}

func newJSONRedactor() *jsonRedactor {
	r := &jsonRedactor{}
	r.w.onString = r.onString
	return r
}

func (r *jsonRedactor) onString(start, end int, simple bool) error {
	if !r.s.any || (r.only != nil && !r.only.under(r.w.path)) {
		return nil
	}
	var text []byte
	if simple {
		text = r.doc[start+1 : end-1]
	} else {
		r.text = decodeJSONString(r.text[:0], r.doc[start:end])
		text = r.text
	}
	r.ms = r.s.find(text, r.ms)
	if len(r.ms) == 0 {
		return nil
	}
	if err := r.s.checkBlock(r.ms); err != nil {
		return err
	}
	if !r.changed {
		r.changed = true
		r.out = append(r.out[:0], r.doc[:start]...)
	} else {
		r.out = append(r.out, r.doc[r.last:start]...)
	}
	r.red = r.s.appendRedacted(r.red[:0], text, r.ms, &r.h)
	r.out = appendJSONString(r.out, r.red)
	r.last = end
	return nil
}

// RedactJSON redacts the string values of the JSON document doc, never
// member names, numbers or literals, and returns the document otherwise
// byte for byte as it was. With only == nil every string value is scanned
// (the safe default: PII hides in "name", tool arguments, system prompts);
// with a Paths, only string values at or below one of its patterns are
// (e.g. "messages.*.content" covers both a string content and the "text"
// of content parts).
//
// The document must be valid JSON (UTF-8, no trailing data) no larger than
// the input bound and no deeper than the depth bound; otherwise the error
// wraps ErrMalformed or ErrTooLarge. When nothing was redacted the returned
// slice is doc itself.
func (s *Scanner) RedactJSON(doc []byte, only *Paths) ([]byte, Hits, error) {
	if len(doc) > s.g.maxInput {
		return nil, Hits{}, fmt.Errorf("guard: json of %d bytes: %w", len(doc), ErrTooLarge)
	}
	r, _ := s.g.jsonPool.Get().(*jsonRedactor)
	if r == nil {
		r = newJSONRedactor()
	}
	r.s, r.only, r.doc, r.last, r.changed, r.h = s, only, doc, 0, false, Hits{}
	r.w.maxDepth, r.w.track = s.g.maxDepth, only != nil
	err := r.w.run(doc)
	var out []byte
	h := r.h
	switch {
	case err != nil:
		h = Hits{}
	case r.changed:
		out = append(make([]byte, 0, len(r.out)+len(doc)-r.last), r.out...)
		out = append(out, doc[r.last:]...)
	default:
		out = doc
	}
	r.s, r.only, r.doc = nil, nil, nil
	if cap(r.out) <= 1<<20 {
		s.g.jsonPool.Put(r)
	}
	return out, h, err
}
