package guard

import (
	"bytes"
	"cmp"
	"math"
	"net/netip"
	"slices"
)

// match is one detected span [start, end) of the scanned text.
type match struct {
	start, end int
	id         detID
}

// Character classes, computed once.
const (
	cDigit  = 1 << iota // 0-9
	cUpper              // A-Z
	cLower              // a-z
	cHex                // 0-9 a-f A-F
	cB64URL             // A-Z a-z 0-9 - _
	cToken              // A-Z a-z 0-9 . _ ~ + / = -
	cLocal              // email local part: A-Z a-z 0-9 . _ % + -
	cRun                // not a hold-back delimiter (see holdStart)
)

const cAlnum = cDigit | cUpper | cLower

// Trigger bits: which bytes can start (or anchor) a detector.
const (
	tWord   = 1 << iota // checked at word starts only
	tAssign             // '=' and ':' anchor key=value secrets (and "::" IPv6)
)

type byteTables struct {
	class [256]uint8
	trig  [256]uint8
}

var tables = buildTables()

func buildTables() *byteTables {
	t := new(byteTables)
	for c := range 256 {
		b := byte(c)
		var k uint8
		switch {
		case b >= '0' && b <= '9':
			k |= cDigit | cHex
		case b >= 'A' && b <= 'Z':
			k |= cUpper
			if b <= 'F' {
				k |= cHex
			}
		case b >= 'a' && b <= 'z':
			k |= cLower
			if b <= 'f' {
				k |= cHex
			}
		}
		if k&cAlnum != 0 || b == '-' || b == '_' {
			k |= cB64URL
		}
		if k&cAlnum != 0 || bytes.IndexByte([]byte("._~+/=-"), b) >= 0 {
			k |= cToken
		}
		if k&cAlnum != 0 || bytes.IndexByte([]byte("._%+-"), b) >= 0 {
			k |= cLocal
		}
		if b > ' ' && b < 0x7f && bytes.IndexByte([]byte("\"'<>[]{},;!?`|"), b) < 0 {
			k |= cRun
		}
		t.class[c] = k
	}
	for _, b := range []byte("0123456789+(-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgrsx") {
		t.trig[b] |= tWord
	}
	t.trig['='] |= tAssign
	t.trig[':'] |= tAssign
	return t
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isUpper(c byte) bool  { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool  { return tables.class[c]&cAlnum != 0 }
func isB64URL(c byte) bool { return tables.class[c]&cB64URL != 0 }
func isHex(c byte) bool    { return tables.class[c]&cHex != 0 }
func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

func hasPrefix(t []byte, p string) bool {
	return len(t) >= len(p) && string(t[:len(p)]) == p
}

// hasPrefixFold compares ASCII case-insensitively; p must be lower case.
func hasPrefixFold(t []byte, p string) bool {
	if len(t) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lower(t[i]) != p[i] {
			return false
		}
	}
	return true
}

// scanMemo keeps find linear on adversarial input: a failed scan of a token
// detector over a run proves that later starts inside the run fail too, the
// last run end is cached, and the next PEM END marker is searched once.
type scanMemo struct {
	failed           [numDetectors + numAPIKinds]int
	runK             uint8
	runFrom, runEnd  int
	pemFrom, pemNext int
}

func (m *scanMemo) run(t []byte, i int, k uint8) int {
	if k == m.runK && i >= m.runFrom && i <= m.runEnd {
		return m.runEnd
	}
	e := runOf(t, i, k)
	m.runK, m.runFrom, m.runEnd = k, i, e
	return e
}

// pemEnd returns the index of the first "-----END " at or after p, or -1.
func (m *scanMemo) pemEnd(t []byte, p int) int {
	if m.pemFrom != 0 && p >= m.pemFrom && (m.pemNext < 0 || p <= m.pemNext) {
		return m.pemNext
	}
	m.pemFrom = p
	if e := bytes.Index(t[p:], []byte("-----END ")); e >= 0 {
		m.pemNext = p + e
	} else {
		m.pemNext = -1
	}
	return m.pemNext
}

// maxRescans bounds how often find rescans its own redacted output.
const maxRescans = 4

// find appends to ms the non-overlapping matches of the scanner's detectors
// in t, sorted by start, such that replacing them by their placeholders
// leaves nothing a detector would flag. Detectors read left context (a word
// boundary, the local part of an email), and a placeholder changes it: text
// right after "[REDACTED:email]" can match where it did not after the
// original. So find scans the redacted text again, maps what it finds back
// to t (merged with the matches it overlaps), and repeats until nothing new
// appears. Redaction is then idempotent, and no pass leaves behind what a
// second pass would catch.
func (s *Scanner) find(t []byte, ms []match) []match {
	ms = s.findOnce(t, ms)
	if len(ms) == 0 {
		return ms
	}
	var (
		scratch []byte
		pos     []int // start of match k's placeholder in scratch
		again   []match
	)
	for range maxRescans {
		scratch, pos = scratch[:0], pos[:0]
		last := 0
		for _, m := range ms {
			scratch = append(scratch, t[last:m.start]...)
			pos = append(pos, len(scratch))
			scratch = append(scratch, detectorTable[m.id].placeholder...)
			last = m.end
		}
		scratch = append(scratch, t[last:]...)
		again = s.findOnce(scratch, again[:0])
		changed := false
		for _, m2 := range again {
			a := origOffset(ms, pos, m2.start, false)
			b := origOffset(ms, pos, m2.end, true)
			if a >= b {
				continue
			}
			var grew bool
			ms, grew = s.merge(ms, match{a, b, m2.id})
			changed = changed || grew
		}
		if !changed {
			break
		}
	}
	return ms
}

// origOffset maps offset x of the redacted text back to t. An offset inside
// a placeholder maps to the start of its match, or to its end when the
// offset is the end of a span (end is true) and lies past the placeholder's
// first byte.
func origOffset(ms []match, pos []int, x int, end bool) int {
	k := -1
	for i, p := range pos {
		if p > x {
			break
		}
		k = i
	}
	if k < 0 {
		return x
	}
	plen := len(detectorTable[ms[k].id].placeholder)
	switch {
	case x == pos[k] && end:
		return ms[k].start
	case x < pos[k]+plen:
		if end {
			return ms[k].end
		}
		return ms[k].start
	}
	return ms[k].end + (x - (pos[k] + plen))
}

// merge inserts m into the sorted, non-overlapping ms, absorbing every match
// it overlaps. The merged match keeps a blocking detector if any part had
// one, so merging never turns a block into a redaction. It reports whether
// ms changed.
func (s *Scanner) merge(ms []match, m match) ([]match, bool) {
	out := ms[:0:0]
	placed, changed := false, true
	for _, x := range ms {
		switch {
		case x.end <= m.start || x.start >= m.end:
			if !placed && x.start >= m.end {
				out = append(out, m)
				placed = true
			}
			out = append(out, x)
		default:
			if x.start == m.start && x.end == m.end && x.id == m.id {
				changed = false
			}
			if x.start < m.start {
				m.start = x.start
			}
			if x.end > m.end {
				m.end = x.end
			}
			if s.g.actions[x.id] == Block && s.g.actions[m.id] != Block {
				m.id = x.id
			}
		}
	}
	if !placed {
		out = append(out, m)
	}
	return out, changed && !slices.Equal(out, ms)
}

// findOnce is one left-to-right scan of t.
func (s *Scanner) findOnce(t []byte, ms []match) []match {
	ms = ms[:0]
	if !s.any {
		return ms
	}
	n := len(t)
	if s.on[dEmail] {
		for off := 0; off < n; {
			k := bytes.IndexByte(t[off:], '@')
			if k < 0 {
				break
			}
			a := off + k
			if st, en, ok := scanEmail(t, a); ok {
				ms = append(ms, match{st, en, dEmail})
				off = en
			} else {
				off = a + 1
			}
		}
	}
	assignOn := s.on[dAPIKey] || s.on[dAWSKey]
	trig := &tables.trig
	var memo scanMemo
	class := &tables.class
	// The end of a match is a boundary, as it will be once the match is
	// replaced by a placeholder ending in ']': without this, redacting once
	// more could find what the first pass did not (not idempotent), e.g. a
	// phone number right after an email's top-level domain.
	emails := len(ms)
	ei, lastEnd := 0, -1
	boundary := func(i int) bool {
		if i == 0 || class[t[i-1]]&cAlnum == 0 || i == lastEnd {
			return true
		}
		for ei < emails && ms[ei].end < i {
			ei++
		}
		return ei < emails && ms[ei].end == i
	}
	for i := 0; i < n; {
		c := t[i]
		if class[c]&cAlnum != 0 {
			// i starts a word, or follows a match.
			if trig[c]&tWord != 0 && boundary(i) {
				if m, ok := s.scanAt(t, i, c, &memo); ok {
					ms = append(ms, m)
					i, lastEnd = m.end, m.end
					continue
				}
			}
			// No detector starts inside a word: skip it.
			for i++; i < n && class[t[i]]&cAlnum != 0; i++ {
			}
			continue
		}
		f := trig[c]
		if f == 0 {
			i++
			continue
		}
		if f&tAssign != 0 {
			if assignOn {
				if m, ok := s.scanAssign(t, i, &memo); ok {
					ms = append(ms, m)
					i, lastEnd = m.end, m.end
					continue
				}
			}
			if c == ':' && s.on[dIP] && i+1 < n && t[i+1] == ':' && (i == 0 || !ip6Left(t[i-1])) {
				if end, ok := scanIPv6(t, i); ok {
					ms = append(ms, match{i, end, dIP})
					i, lastEnd = end, end
					continue
				}
			}
			i++
			continue
		}
		if boundary(i) {
			if m, ok := s.scanAt(t, i, c, &memo); ok {
				ms = append(ms, m)
				i, lastEnd = m.end, m.end
				continue
			}
		}
		i++
	}
	if len(ms) > 1 {
		slices.SortFunc(ms, func(a, b match) int {
			if c := cmp.Compare(a.start, b.start); c != 0 {
				return c
			}
			if c := cmp.Compare(b.end, a.end); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		w, last := 0, 0
		for _, m := range ms {
			if m.start < last {
				continue
			}
			ms[w] = m
			w++
			last = m.end
		}
		ms = ms[:w]
	}
	return ms
}

// scanAt tries the detectors that can start at word start i.
func (s *Scanner) scanAt(t []byte, i int, c byte, memo *scanMemo) (match, bool) {
	switch {
	case isDigit(c):
		if !numericLeftOK(t, i) {
			return match{}, false
		}
		if s.on[dCard] {
			if end, ok := scanCard(t, i); ok {
				return match{i, end, dCard}, true
			}
		}
		if s.on[dSSN] {
			if end, ok := scanSSN(t, i); ok {
				return match{i, end, dSSN}, true
			}
		}
		if s.on[dPhone] {
			if end, ok := scanPhone(t, i); ok {
				return match{i, end, dPhone}, true
			}
		}
		if s.on[dIP] {
			if end, ok := scanIPv4(t, i); ok {
				return match{i, end, dIP}, true
			}
			if i == 0 || !ip6Left(t[i-1]) {
				if end, ok := scanIPv6(t, i); ok {
					return match{i, end, dIP}, true
				}
			}
		}
	case c == '+' || c == '(':
		if s.on[dPhone] && (i == 0 || !isDigit(t[i-1])) {
			if end, ok := scanPhone(t, i); ok {
				return match{i, end, dPhone}, true
			}
		}
	case c == '-':
		if s.on[dPrivateKey] && (i == 0 || t[i-1] != '-') {
			if end, ok := scanPrivateKey(t, i, memo); ok {
				return match{i, end, dPrivateKey}, true
			}
		}
	default:
		tokLeft := i == 0 || !isB64URL(t[i-1])
		switch c {
		case 'A':
			if s.on[dAWSKey] {
				if end, ok := scanAWSKeyID(t, i); ok {
					return match{i, end, dAWSKey}, true
				}
			}
			if s.on[dAPIKey] && tokLeft && hasPrefix(t[i:], "AIza") && i >= memo.failed[numDetectors+kindGoogle] {
				end := memo.run(t, i+4, cB64URL)
				if end-(i+4) == 35 { // Google API key
					return match{i, end, dAPIKey}, true
				}
				memo.failed[numDetectors+kindGoogle] = end
			}
		case 'B', 'b':
			if s.on[dBearer] {
				if st, end, ok := scanBearer(t, i); ok {
					if je, ok := scanJWT(t, st); ok && je == end && s.on[dJWT] {
						return match{st, end, dJWT}, true
					}
					return match{st, end, dBearer}, true
				}
			}
		case 'e':
			if s.on[dJWT] && tokLeft && i >= memo.failed[dJWT] {
				if end, ok := scanJWT(t, i); ok {
					return match{i, end, dJWT}, true
				}
				memo.failed[dJWT] = runOf(t, i, cB64URL)
			}
		case 's', 'r', 'g', 'x':
			if s.on[dAPIKey] && tokLeft {
				if end, ok := scanAPIKey(t, i, memo); ok {
					return match{i, end, dAPIKey}, true
				}
			}
		}
		if isUpper(c) && s.on[dIBAN] {
			if end, ok := scanIBAN(t, i); ok {
				return match{i, end, dIBAN}, true
			}
		}
		if isHex(c) && s.on[dIP] && (i == 0 || !ip6Left(t[i-1])) {
			if end, ok := scanIPv6(t, i); ok {
				return match{i, end, dIP}, true
			}
		}
	}
	return match{}, false
}

// runOf returns the end of the run of bytes of class k starting at i.
func runOf(t []byte, i int, k uint8) int {
	for i < len(t) && tables.class[t[i]]&k != 0 {
		i++
	}
	return i
}

// numericLeftOK reports whether a number may start at i: it must not
// continue a number ("12-345", "1.2.3", "10:30", "+1").
func numericLeftOK(t []byte, i int) bool {
	if i == 0 {
		return true
	}
	p := t[i-1]
	switch p {
	case '+', '_':
		return false
	case '.', '-', '/', ',', ':':
		return i < 2 || !isDigit(t[i-2])
	}
	return true
}

// numRightOK reports whether a number may end at e: it must not be followed
// by a letter or digit, or by "-5", ".5", "/5", ",5", ":5" (a longer number).
func numRightOK(t []byte, e int) bool {
	if e >= len(t) {
		return true
	}
	c := t[e]
	if isAlnum(c) || c == '_' {
		return false
	}
	switch c {
	case '-', '.', '/', ',', ':':
		return e+1 >= len(t) || !isDigit(t[e+1])
	}
	return true
}

// ---- email ----

// scanEmail examines the '@' at a. Local part: [A-Za-z0-9._%+-]{1,64};
// domain: two or more LDH labels, the last one alphabetic with two or more
// letters. "user@localhost" and IDN domains are not matched.
func scanEmail(t []byte, a int) (start, end int, ok bool) {
	s := a
	for s > 0 && tables.class[t[s-1]]&cLocal != 0 && a-s <= 64 {
		s--
	}
	for s < a && t[s] == '.' {
		s++
	}
	if s == a || a-s > 64 || t[a-1] == '.' {
		return 0, 0, false
	}
	// Domain labels.
	p := a + 1
	labels := 0
	lastStart, lastEnd := 0, 0
	validEnd := 0
	for p < len(t) && labels < 127 {
		ls := p
		for p < len(t) && (isAlnum(t[p]) || t[p] == '-') && p-ls < 63 {
			p++
		}
		if p == ls || t[ls] == '-' || t[p-1] == '-' {
			break
		}
		labels++
		lastStart, lastEnd = ls, p
		if labels >= 2 && allAlpha(t[lastStart:lastEnd]) && lastEnd-lastStart >= 2 {
			validEnd = lastEnd
		}
		if p+1 < len(t) && t[p] == '.' && isAlnum(t[p+1]) {
			p++
			continue
		}
		break
	}
	if validEnd == 0 || validEnd-s > 254 {
		return 0, 0, false
	}
	if validEnd < len(t) {
		c := t[validEnd]
		if isAlnum(c) || c == '_' || c == '@' {
			return 0, 0, false
		}
		if c == '-' && validEnd+1 < len(t) && isAlnum(t[validEnd+1]) {
			return 0, 0, false
		}
	}
	return s, validEnd, true
}

func allAlpha(b []byte) bool {
	for _, c := range b {
		if tables.class[c]&(cUpper|cLower) == 0 {
			return false
		}
	}
	return true
}

// ---- card ----

// scanCard matches 13-19 digits, optionally grouped by single spaces or
// dashes (first group of 4, the others of 3-6), with a major network's IIN
// prefix and a valid Luhn check digit.
func scanCard(t []byte, i int) (int, bool) {
	if t[i] < '2' || t[i] > '6' {
		return 0, false
	}
	var ends [8]int
	var lens [8]int
	n, total := 0, 0
	var sep byte
	p := i
	for n < len(ends) {
		gs := p
		for p < len(t) && isDigit(t[p]) && total+(p-gs) < 20 {
			p++
		}
		if p == gs {
			break
		}
		total += p - gs
		lens[n], ends[n] = p-gs, p
		n++
		if total > 19 || p+1 >= len(t) || !isDigit(t[p+1]) || (t[p] != ' ' && t[p] != '-') || (sep != 0 && t[p] != sep) {
			break
		}
		sep = t[p]
		p++
	}
	// Try the longest acceptable prefix of groups.
	digits := 0
	for k := range n {
		digits += lens[k]
	}
	for k := n; k >= 1; k-- {
		if k < n {
			digits -= lens[k]
		}
		if digits < 13 || digits > 19 {
			continue
		}
		end := ends[k-1]
		if k == 1 {
			if n > 1 && sep != ' ' || !numRightOK(t, end) {
				continue
			}
		} else {
			if lens[0] != 4 || lens[k-1] < 3 || lens[k-1] > 6 {
				continue
			}
			okGroups := true
			for g := 1; g < k-1; g++ {
				if lens[g] < 4 || lens[g] > 6 {
					okGroups = false
				}
			}
			if !okGroups || !numRightOK(t, end) || (k < n && sep != ' ') {
				continue
			}
		}
		if cardValid(t[i:end], digits) {
			return end, true
		}
	}
	return 0, false
}

func cardValid(b []byte, digits int) bool {
	// IIN prefix (first six digits as a number).
	iin, got := 0, 0
	for _, c := range b {
		if isDigit(c) && got < 6 {
			iin = iin*10 + int(c-'0')
			got++
		}
	}
	p1, p2, p3, p4 := iin/100000, iin/10000, iin/1000, iin/100
	in := func(v, lo, hi int) bool { return v >= lo && v <= hi }
	okIIN := false
	switch {
	case p1 == 4: // Visa
		okIIN = digits == 13 || digits == 16 || digits == 19
	case in(p2, 51, 55) || in(p4, 2221, 2720): // Mastercard
		okIIN = digits == 16
	case p2 == 34 || p2 == 37: // American Express
		okIIN = digits == 15
	case p4 == 6011 || in(p3, 644, 649) || p2 == 65 || p2 == 62: // Discover, UnionPay
		okIIN = digits >= 16
	case in(p3, 300, 305) || p2 == 36 || p2 == 38 || p2 == 39: // Diners Club
		okIIN = digits >= 14
	case in(p4, 3528, 3589): // JCB
		okIIN = digits >= 16
	case p2 == 50 || in(p2, 56, 58) || p2 == 63 || p2 == 67: // Maestro
		okIIN = true
	}
	if !okIIN {
		return false
	}
	sum, dbl := 0, false
	for j := len(b) - 1; j >= 0; j-- {
		c := b[j]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if dbl {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		dbl = !dbl
	}
	return sum%10 == 0
}

// ---- SSN ----

// scanSSN matches AAA-GG-SSSS (or with single spaces) outside the ranges the
// SSA never assigns: area 000, 666, 900-999; group 00; serial 0000.
func scanSSN(t []byte, i int) (int, bool) {
	if len(t)-i < 11 {
		return 0, false
	}
	b := t[i : i+11]
	sep := b[3]
	if (sep != '-' && sep != ' ') || b[6] != sep {
		return 0, false
	}
	for _, k := range [...]int{0, 1, 2, 4, 5, 7, 8, 9, 10} {
		if !isDigit(b[k]) {
			return 0, false
		}
	}
	area := int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0')
	if area == 0 || area == 666 || area >= 900 {
		return 0, false
	}
	if b[4] == '0' && b[5] == '0' {
		return 0, false
	}
	if string(b[7:11]) == "0000" {
		return 0, false
	}
	if !numRightOK(t, i+11) {
		return 0, false
	}
	return i + 11, true
}

// ---- phone ----

// scanPhone matches, starting at i ('+', '(' or a digit):
//   - E.164 style: '+', a country code, 8-15 digits in total, any of the
//     separators space, '-', '.', and parentheses ("+1 (415) 555-0100",
//     "+44 20 7946 0958", "+14155550100");
//   - North American national numbers with separators: "(415) 555-0100",
//     "415-555-0100", "415.555.0100", "1 415 555 0100" (area and exchange
//     codes start with 2-9);
//   - national numbers with a trunk prefix 0, 10-11 digits in groups of two
//     or more separated by one consistent separator: "020 7946 0958",
//     "06 12 34 56 78", "030-1234567".
//
// A run of digits without '+' and without separators is never a phone
// number: order ids, timestamps and amounts stay untouched.
func scanPhone(t []byte, i int) (int, bool) {
	const maxGroups = 8
	var ends, lens, firsts [maxGroups]int
	var parens [maxGroups]bool
	var seps [maxGroups]byte // separator before group k (0 for none)
	n := 0
	p := i
	plus := false
	if t[p] == '+' {
		plus = true
		p++
		if p >= len(t) || t[p] < '1' || t[p] > '9' {
			return 0, false
		}
	}
	var pendingSep byte
	for n < maxGroups && p < len(t) {
		paren := false
		q := p
		if t[q] == '(' {
			paren = true
			q++
		}
		gs := q
		for q < len(t) && isDigit(t[q]) && q-gs < 12 {
			q++
		}
		if q == gs {
			break
		}
		if paren {
			if q >= len(t) || t[q] != ')' {
				break
			}
			q++
		}
		lens[n], firsts[n], ends[n], parens[n], seps[n] = q-gs, int(t[gs]-'0'), q, paren, pendingSep
		if paren {
			lens[n] = q - gs - 1
		}
		n++
		p = q
		pendingSep = 0
		if p < len(t) && (t[p] == ' ' || t[p] == '-' || t[p] == '.') && p+1 < len(t) && (isDigit(t[p+1]) || t[p+1] == '(') {
			pendingSep = t[p]
			p++
			continue
		}
		if p < len(t) && (t[p] == '(' || (paren && isDigit(t[p]))) {
			continue
		}
		break
	}
	if n == 0 {
		return 0, false
	}
	for k := n; k >= 1; k-- {
		end := ends[k-1]
		if !numRightOK(t, end) {
			continue
		}
		if k < n && seps[k] != ' ' {
			continue // the number goes on with "-5" or ".5"
		}
		total := 0
		for g := range k {
			total += lens[g]
		}
		if plus {
			if total >= 8 && total <= 15 {
				return end, true
			}
			continue
		}
		if phoneNANP(lens[:k], firsts[:k], parens[:k], seps[:k]) || phoneTrunk0(lens[:k], firsts[:k], parens[:k], seps[:k], total) {
			return end, true
		}
	}
	return 0, false
}

func phoneNANP(lens, firsts []int, parens []bool, seps []byte) bool {
	g := 0
	if len(lens) == 4 {
		if lens[0] != 1 || firsts[0] != 1 || parens[0] {
			return false
		}
		g = 1
	}
	if len(lens)-g != 3 {
		return false
	}
	if lens[g] != 3 || lens[g+1] != 3 || lens[g+2] != 4 || parens[g+1] || parens[g+2] {
		return false
	}
	if firsts[g] < 2 || firsts[g+1] < 2 {
		return false
	}
	// Needs at least one separator or a parenthesised area code.
	return parens[g] || seps[g+1] != 0 || seps[g+2] != 0
}

func phoneTrunk0(lens, firsts []int, parens []bool, seps []byte, total int) bool {
	if len(lens) < 2 || firsts[0] != 0 || total < 10 || total > 11 {
		return false
	}
	sep := seps[1]
	if sep == 0 && !parens[0] {
		return false
	}
	for g := range lens {
		if lens[g] < 2 || (g > 0 && parens[g]) || (g > 1 && seps[g] != sep) {
			return false
		}
	}
	return true
}

// ---- IP ----

func ip6Left(c byte) bool { return isHex(c) || c == ':' || c == '.' }

// scanIPv4 matches a dotted quad without leading zeros. It is not an address
// when it is part of a longer dotted number ("1.2.3.4.5"), prefixed like a
// version ("v1.2.3.4", "version 1.2.3.4"), loopback or unspecified.
func scanIPv4(t []byte, i int) (int, bool) {
	var a [4]byte
	p := i
	for k := range 4 {
		if k > 0 {
			if p >= len(t) || t[p] != '.' {
				return 0, false
			}
			p++
		}
		s := p
		v := 0
		for p < len(t) && isDigit(t[p]) && p-s < 3 {
			v = v*10 + int(t[p]-'0')
			p++
		}
		if p == s || v > 255 || (p-s > 1 && t[s] == '0') {
			return 0, false
		}
		a[k] = byte(v)
	}
	if p < len(t) && (isAlnum(t[p]) || t[p] == '_' || (t[p] == '.' && p+1 < len(t) && isDigit(t[p+1]))) {
		return 0, false // "1.2.3.4.5", "1.2.3.4a"
	}
	addr := netip.AddrFrom4(a)
	if addr.IsLoopback() || addr.IsUnspecified() {
		return 0, false
	}
	if versionBefore(t, i) {
		return 0, false
	}
	return p, true
}

// versionBefore reports whether t[:i] ends with "version ", "ver ", "v "
// (also with ':' or '='), case-insensitively.
func versionBefore(t []byte, i int) bool {
	j := i
	for j > 0 && j > i-2 && (t[j-1] == ' ' || t[j-1] == ':' || t[j-1] == '=') {
		j--
	}
	if j == i {
		return false
	}
	k := j
	for k > 0 && j-k < 8 && tables.class[t[k-1]]&(cUpper|cLower) != 0 {
		k--
	}
	if k > 0 && isAlnum(t[k-1]) {
		return false
	}
	w := t[k:j]
	return len(w) > 0 && (hasPrefixFold(w, "version") && len(w) == 7 || hasPrefixFold(w, "ver") && len(w) == 3 || len(w) == 1 && lower(w[0]) == 'v')
}

// scanIPv6 matches an IPv6 address (validated with net/netip), not loopback
// or unspecified. The candidate must contain "::" or seven colons, which
// keeps times ("10:30:00") and MAC addresses out.
func scanIPv6(t []byte, i int) (int, bool) {
	// Fast reject: the first group has at most four hex digits and a ':'.
	j := i
	for j < len(t) && j-i < 4 && isHex(t[j]) {
		j++
	}
	if j >= len(t) || t[j] != ':' {
		return 0, false
	}
	p := i
	colons, double := 0, false
	for p < len(t) && p-i < 46 && (isHex(t[p]) || t[p] == ':' || t[p] == '.') {
		if t[p] == ':' {
			colons++
			if p > i && t[p-1] == ':' {
				double = true
			}
		}
		p++
	}
	// Trim trailing punctuation that cannot end an address.
	for p > i && (t[p-1] == '.' || (t[p-1] == ':' && !(p-2 >= i && t[p-2] == ':'))) {
		if t[p-1] == ':' {
			colons--
		}
		p--
	}
	if colons < 2 || (!double && colons != 7) {
		return 0, false
	}
	if p < len(t) && (isAlnum(t[p]) || t[p] == '_') {
		return 0, false
	}
	addr, err := netip.ParseAddr(string(t[i:p]))
	if err != nil || !addr.Is6() || addr.IsLoopback() || addr.IsUnspecified() || addr.Zone() != "" {
		return 0, false
	}
	return p, true
}

// ---- IBAN ----

// ibanLengths maps a two-letter country code to its IBAN length.
var ibanLengths = buildIBANLengths()

func buildIBANLengths() *[26 * 26]uint8 {
	var m [26 * 26]uint8
	for _, e := range []struct {
		cc string
		n  uint8
	}{
		{"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
		{"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
		{"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
		{"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
		{"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
		{"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
		{"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
		{"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
		{"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
		{"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
		{"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
		{"YE", 30},
	} {
		m[int(e.cc[0]-'A')*26+int(e.cc[1]-'A')] = e.n
	}
	return &m
}

// scanIBAN matches an upper-case IBAN of its country's length, printed
// compact or in groups of four, with a valid ISO 7064 mod-97 check.
func scanIBAN(t []byte, i int) (int, bool) {
	if len(t)-i < 15 || !isUpper(t[i+1]) || !isDigit(t[i+2]) || !isDigit(t[i+3]) {
		return 0, false
	}
	want := int(ibanLengths[int(t[i]-'A')*26+int(t[i+1]-'A')])
	if want == 0 {
		return 0, false
	}
	var buf [34]byte
	copy(buf[:4], t[i:i+4])
	got := 4
	p := i + 4
	for got < want && p < len(t) {
		c := t[p]
		switch {
		case isUpper(c) || isDigit(c):
			buf[got] = c
			got++
			p++
		case c == ' ' && got%4 == 0 && p+1 < len(t) && (isUpper(t[p+1]) || isDigit(t[p+1])):
			p++
		default:
			return 0, false
		}
	}
	if got != want || (p < len(t) && isAlnum(t[p])) {
		return 0, false
	}
	r := 0
	for k := range want {
		c := buf[(k+4)%want]
		if isDigit(c) {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	return p, r == 1
}

// ---- secrets ----

// scanAWSKeyID matches AWS access key ids: AKIA/ASIA/ABIA/ACCA and 16 more
// upper-case letters or digits.
func scanAWSKeyID(t []byte, i int) (int, bool) {
	if len(t)-i < 20 || !(hasPrefix(t[i:], "AKIA") || hasPrefix(t[i:], "ASIA") || hasPrefix(t[i:], "ABIA") || hasPrefix(t[i:], "ACCA")) {
		return 0, false
	}
	for _, c := range t[i+4 : i+20] {
		if !isUpper(c) && !isDigit(c) {
			return 0, false
		}
	}
	if i+20 < len(t) && isAlnum(t[i+20]) {
		return 0, false
	}
	return i + 20, true
}

// scanBearer matches the token after "Bearer " (case-insensitive): 16 or
// more token68 characters with both a letter and a digit, or a JWT. The
// span is the token only; "Bearer " stays visible.
func scanBearer(t []byte, i int) (int, int, bool) {
	if !hasPrefixFold(t[i:], "bearer") {
		return 0, 0, false
	}
	p := i + 6
	s := p
	for p < len(t) && (t[p] == ' ' || t[p] == '\t') && p-s < 4 {
		p++
	}
	if p == s {
		return 0, 0, false
	}
	st := p
	for p < len(t) && tables.class[t[p]]&cToken != 0 {
		p++
	}
	tok := t[st:p]
	if len(tok) < 16 {
		return 0, 0, false
	}
	if !hasPrefix(tok, "eyJ") && !(hasClass(tok, cDigit) && hasClass(tok, cUpper|cLower)) {
		return 0, 0, false
	}
	return st, p, true
}

func hasClass(b []byte, k uint8) bool {
	for _, c := range b {
		if tables.class[c]&k != 0 {
			return true
		}
	}
	return false
}

// scanJWT matches a compact JWS/JWE: a header segment starting "eyJ" (a
// base64url JSON object), then two (or four) more dot-separated base64url
// segments.
func scanJWT(t []byte, i int) (int, bool) {
	if !hasPrefix(t[i:], "eyJ") {
		return 0, false
	}
	p := runOf(t, i, cB64URL)
	if p-i < 10 {
		return 0, false
	}
	segs := 1
	for segs < 5 && p+1 < len(t) && t[p] == '.' {
		q := runOf(t, p+1, cB64URL)
		if segs == 1 && q-(p+1) < 4 {
			return 0, false
		}
		p = q
		segs++
	}
	if segs != 3 && segs != 5 {
		// The last segment may be empty ("eyJ..eyJ..." with alg none).
		if segs == 2 && p < len(t) && t[p] == '.' {
			p++
			segs++
		} else {
			return 0, false
		}
	}
	if p < len(t) && t[p] == '.' {
		return 0, false
	}
	return p, true
}

// API key kinds, for scanMemo.failed (after the detector entries).
const (
	kindSK = iota
	kindStripe
	kindGitHub
	kindGitHubPAT
	kindSlack
	kindGoogle
	numAPIKinds
)

// scanAPIKey matches vendor API key formats at i.
func scanAPIKey(t []byte, i int, memo *scanMemo) (int, bool) {
	r := t[i:]
	kind, off, k, minLen := -1, 0, uint8(0), 0
	switch t[i] {
	case 's':
		if hasPrefix(r, "sk-") { // OpenAI sk-, sk-proj-, sk-svcacct-; Anthropic sk-ant-
			kind, off, k, minLen = kindSK, 3, cB64URL, 20
		} else if hasPrefix(r, "sk_live_") || hasPrefix(r, "sk_test_") { // Stripe
			kind, off, k, minLen = kindStripe, 8, cAlnum, 16
		}
	case 'r':
		if hasPrefix(r, "rk_live_") || hasPrefix(r, "rk_test_") { // Stripe restricted
			kind, off, k, minLen = kindStripe, 8, cAlnum, 16
		}
	case 'g':
		if len(r) > 4 && r[0] == 'g' && r[1] == 'h' && r[3] == '_' && bytes.IndexByte([]byte("pousr"), r[2]) >= 0 { // GitHub
			kind, off, k, minLen = kindGitHub, 4, cAlnum, 30
		} else if hasPrefix(r, "github_pat_") {
			kind, off, k, minLen = kindGitHubPAT, 11, cAlnum|cB64URL, 30
		}
	case 'x':
		if len(r) > 5 && hasPrefix(r, "xox") && bytes.IndexByte([]byte("abprs"), r[3]) >= 0 && r[4] == '-' { // Slack
			kind, off, k, minLen = kindSlack, 5, cAlnum|cB64URL, 10
		}
	}
	if kind < 0 || i < memo.failed[int(numDetectors)+kind] {
		return 0, false
	}
	end := runOf(t, i+off, k)
	body := t[i+off : end]
	ok := len(body) >= minLen
	switch kind {
	case kindSK:
		ok = ok && hasClass(body, cDigit) && hasClass(body, cUpper|cLower)
	case kindGitHub:
		ok = ok && (end == len(t) || !isB64URL(t[end]))
	case kindSlack:
		ok = ok && hasClass(body, cDigit)
	}
	if !ok {
		memo.failed[int(numDetectors)+kind] = end
	}
	return end, ok
}

// scanPrivateKey matches a PEM private key block from "-----BEGIN ...
// PRIVATE KEY-----" through its "-----END ... PRIVATE KEY-----" line. A block
// without an END line matches through its base64 body when that body has 32
// or more base64 characters (a truncated key is still a key); a lone header
// in prose does not match.
func scanPrivateKey(t []byte, i int, memo *scanMemo) (int, bool) {
	const begin = "-----BEGIN "
	if !hasPrefix(t[i:], begin) {
		return 0, false
	}
	hdrEnd, ok := pemLabel(t, i+len(begin))
	if !ok {
		return 0, false
	}
	if e := memo.pemEnd(t, hdrEnd); e >= 0 && e-hdrEnd <= maxPEMBytes {
		if end, ok := pemLabel(t, e+len("-----END ")); ok {
			return end, true
		}
	}
	p, count := hdrEnd, 0
	for p < len(t) {
		c := t[p]
		if isAlnum(c) || c == '+' || c == '/' || c == '=' {
			count++
		} else if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '\\' {
			break
		}
		p++
	}
	for p > hdrEnd && (t[p-1] == ' ' || t[p-1] == '\t' || t[p-1] == '\r' || t[p-1] == '\n' || t[p-1] == '\\') {
		p--
	}
	return p, count >= 32
}

const maxPEMBytes = 16 << 10

// pemLabel parses "<LABEL>-----" at p where LABEL contains "PRIVATE KEY".
func pemLabel(t []byte, p int) (int, bool) {
	q := p
	for q < len(t) && q-p < 64 && (isUpper(t[q]) || isDigit(t[q]) || t[q] == ' ') {
		q++
	}
	if !hasPrefix(t[q:], "-----") || !bytes.Contains(t[p:q], []byte("PRIVATE KEY")) {
		return 0, false
	}
	return q + 5, true
}

// ---- key = value secrets ----

const (
	keyGeneric = 1 << iota
	keyAWSSecret
)

// scanAssign examines the '=' or ':' at i: "<key> = <value>", "<key>: <value>",
// `"<key>": "<value>"`, "<key> := <value>". For a key that names a secret
// (api_key, apikey, secret, token, password, client_secret, access_key, ...,
// in snake, kebab or camel case) the value is a secret when it has 16 or more
// characters, letters and digits, and at least 3 bits of entropy per
// character. An AWS secret access key (40 base64 characters after a key
// naming an AWS secret) is reported as aws_key. The span is the value only.
func (s *Scanner) scanAssign(t []byte, i int, memo *scanMemo) (match, bool) {
	k := i
	for k > 0 && i-k < 4 && (t[k-1] == ' ' || t[k-1] == '\t') {
		k--
	}
	if k > 0 && (t[k-1] == '"' || t[k-1] == '\'') {
		k--
	}
	ke := k
	for k > 0 && ke-k < 64 && (isAlnum(t[k-1]) || t[k-1] == '_' || t[k-1] == '-' || t[k-1] == '.') {
		k--
	}
	if ke-k < 3 {
		return match{}, false
	}
	kind := classifyKey(t[k:ke])
	if kind == 0 {
		return match{}, false
	}
	v := i + 1
	if v < len(t) && (t[v] == '=' || t[v] == '>') {
		v++
	}
	for v < len(t) && v-i < 6 && (t[v] == ' ' || t[v] == '\t') {
		v++
	}
	if v < len(t) && (t[v] == '"' || t[v] == '\'') {
		v++
	}
	ve := memo.run(t, v, cToken)
	val := t[v:ve]
	if kind&keyAWSSecret != 0 && s.on[dAWSKey] && len(val) == 40 && !bytes.ContainsAny(val, "._~-") {
		return match{v, ve, dAWSKey}, true
	}
	if s.on[dAPIKey] && highEntropy(val) {
		return match{v, ve, dAPIKey}, true
	}
	return match{}, false
}

var secretKeySuffixes = [...]string{
	"api_key", "apikey", "api_token", "api_secret", "access_key", "secret_key",
	"secret", "token", "password", "passwd", "credential", "credentials", "private_key",
}

// classifyKey reports whether key names a secret.
func classifyKey(key []byte) int {
	var buf [64]byte
	n := copy(buf[:], key)
	norm := buf[:n]
	for j, c := range norm {
		switch {
		case c == '-' || c == '.':
			norm[j] = '_'
		default:
			norm[j] = lower(c)
		}
	}
	kind := 0
	for _, suf := range secretKeySuffixes {
		if len(norm) < len(suf) || string(norm[len(norm)-len(suf):]) != suf {
			continue
		}
		p := len(norm) - len(suf)
		if p == 0 || norm[p-1] == '_' || isUpper(key[p]) {
			kind |= keyGeneric
			break
		}
	}
	if bytes.Contains(norm, []byte("aws")) && bytes.Contains(norm, []byte("secret")) ||
		bytes.HasSuffix(norm, []byte("secretaccesskey")) || bytes.HasSuffix(norm, []byte("secret_access_key")) {
		kind |= keyAWSSecret
	}
	return kind
}

// highEntropy: 16+ characters, letters and digits, >= 3 bits per character,
// judged on the first 256 characters (which keeps scanning linear).
func highEntropy(v []byte) bool {
	if len(v) < 16 {
		return false
	}
	v = v[:min(len(v), 256)]
	if !hasClass(v, cDigit) || !hasClass(v, cUpper|cLower) {
		return false
	}
	var counts [256]int
	for _, c := range v {
		counts[c]++
	}
	h := 0.0
	n := float64(len(v))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h >= 3.0
}
