package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ctxKeep is how many bytes of already released raw text a stream channel
// keeps as left context for the detectors (key names before "=", "Bearer ",
// word boundaries). Context is never emitted again.
const ctxKeep = 128

var (
	_ io.WriteCloser = (*StreamRedactor)(nil)
	_ io.ReadCloser  = (*StreamReader)(nil)
)

// StreamRedactor redacts a text/event-stream (SSE) on its way to dst, event
// by event. Write the upstream bytes to it in chunks of any size; each
// complete event is processed and written to dst at once, followed by a
// flush when dst has a Flush method (http.ResponseWriter has). Call Close at
// the end of the upstream stream to emit the text still held back.
//
// An event's data is handled as follows:
//   - "[DONE]": every held-back text is emitted first (see below), then the
//     event as it was;
//   - JSON (starts with '{' or '['): string values at the scanner's stream
//     content paths (OpenAI "choices.*.delta.content", ...) are one text per
//     path and per "index" carried across events, with hold-back; every other
//     string value is redacted on its own; member names, numbers and
//     literals pass untouched;
//   - anything else is plain text, carried across events with hold-back.
//
// Hold-back: text that cannot be part of a still-growing match is emitted in
// the event that brought it. The rest (the trailing word, digit groups,
// an open PEM block), at most the hold-back bound, is emitted in a later
// event's content field once it is known, redacted where it completed a
// match. When an event of the same choice arrives that does not carry the
// text (e.g. the chunk with "finish_reason", or a tool call after text),
// when "[DONE]" arrives and on Close, the held text is emitted first in a
// synthetic event: a copy of the last event that carried the text (its
// "id:" line dropped) with that text's field set to the remainder and the
// other content fields set to "". Events of other choices (n > 1) do not
// flush it. At most 64 texts are tracked per stream.
// An event whose data has a "finish_reason" string releases its texts
// without hold-back.
//
// Fail closed: a block match, an event over the size bound, malformed JSON
// or a write error makes Write and Close return an error, and the
// StreamRedactor writes nothing more. The gateway must then abort the
// response (the status line has been sent): it never forwards upstream
// bytes itself.
//
// A StreamRedactor is not safe for concurrent use.
type StreamRedactor struct {
	s     *Scanner
	dst   io.Writer
	flush func() error

	in      []byte   // unprocessed input from base on
	base    int      // start of the current event in in
	lines   [][2]int // complete lines of the current event
	lineAt  int      // start of the current incomplete line in in
	search  int      // where to resume searching for a line end
	err     error
	closed  bool
	hits    Hits
	chans   []*channel
	walker  jsonWalker
	ms      []match
	out     []byte // the event being written
	payload []byte // data of the current event
	jsonOut []byte
	emit    []byte
	text    []byte
	red     []byte
	spans   []strSpan
	pathBuf []pathElem
	indexes []indexVal
	scopes  []scopeRef
	keys    []byte
	finish  bool
}

type strSpan struct {
	start, end int
	simple     bool
	pathOff    int // channel spans: path in pathBuf; -1 otherwise
	pathLen    int
	keyOff     int // channel key in keys
	keyLen     int
	scopeLen   int // length of the key prefix through the first array element
}

// scopeRef is an element of the first array level of an event (a choice):
// a held text of the same scope that the event does not carry is flushed.
type scopeRef struct {
	elemID           int
	pathOff, pathLen int
	keyOff, keyLen   int
}

type indexVal struct {
	elemID     int
	start, end int
}

// channel is one streamed text: a content path (and index) of JSON events,
// or the data of plain-text events.
type channel struct {
	key   []byte
	plain bool
	buf   []byte // released context, then pending (held) text
	p0    int    // start of pending text in buf
	seen  bool   // carried by the current event
	scope int    // key[:scope] is the channel's scope (0: none)
	flush bool   // to be flushed before the current event

	supp    int    // suppression after a forced release (suppNone...)
	suppWin []byte // tail of suppressed text, to find a PEM END line

	tmpl       []byte // JSON data of the last event that carried this text
	tmplFields []byte // its non-data lines, serialized
}

const (
	suppNone = iota
	suppRun  // drop the rest of a token (non-delimiter bytes)
	suppPEM  // drop through the END line of a PEM block
)

// NewStreamRedactor returns a StreamRedactor writing to dst.
func (s *Scanner) NewStreamRedactor(dst io.Writer) *StreamRedactor {
	sr := &StreamRedactor{s: s, dst: dst}
	switch f := dst.(type) {
	case interface{ Flush() error }:
		sr.flush = f.Flush
	case interface{ Flush() }:
		sr.flush = func() error { f.Flush(); return nil }
	}
	sr.walker.maxDepth = s.g.maxDepth
	sr.walker.track = true
	sr.walker.onString = sr.onString
	sr.walker.onScalar = sr.onScalar
	return sr
}

// Hits returns the matches redacted so far.
func (sr *StreamRedactor) Hits() Hits { return sr.hits }

// Write consumes upstream stream bytes. It returns len(p) or an error; after
// an error the stream is dead.
func (sr *StreamRedactor) Write(p []byte) (int, error) {
	if sr.err != nil {
		return 0, sr.err
	}
	if sr.closed {
		return 0, ErrClosed
	}
	sr.in = append(sr.in, p...)
	if err := sr.drain(false); err != nil {
		sr.fail(err)
		return 0, err
	}
	return len(p), nil
}

// Close processes a final unterminated event, emits every held-back text
// and flushes. It does not close dst.
func (sr *StreamRedactor) Close() error {
	if sr.err != nil {
		return sr.err
	}
	if sr.closed {
		return nil
	}
	sr.closed = true
	err := sr.drain(true)
	if err == nil {
		sr.out = sr.out[:0]
		err = sr.flushChannels(nil, true)
		if err == nil {
			err = sr.writeOut()
		}
	}
	if err != nil {
		sr.fail(err)
	}
	return err
}

func (sr *StreamRedactor) fail(err error) {
	sr.err = err
	// Drop everything held: nothing raw may leave after an error.
	sr.in, sr.chans = nil, nil
}

// drain processes every complete event in sr.in.
func (sr *StreamRedactor) drain(atEOF bool) error {
	defer func() {
		// Drop the processed events from the buffer, once per drain.
		if sr.base > 0 {
			n := copy(sr.in, sr.in[sr.base:])
			sr.in = sr.in[:n]
			for i := range sr.lines {
				sr.lines[i][0] -= sr.base
				sr.lines[i][1] -= sr.base
			}
			sr.lineAt -= sr.base
			sr.search -= sr.base
			sr.base = 0
		}
	}()
	for {
		end, ok := sr.nextEvent(atEOF)
		if !ok {
			if len(sr.in)-sr.base > sr.s.g.maxEvent+2 {
				return fmt.Errorf("guard: sse event over %d bytes: %w", sr.s.g.maxEvent, ErrTooLarge)
			}
			return nil
		}
		if end-sr.base > sr.s.g.maxEvent+2 {
			return fmt.Errorf("guard: sse event over %d bytes: %w", sr.s.g.maxEvent, ErrTooLarge)
		}
		sr.out = sr.out[:0]
		if err := sr.event(); err != nil {
			return err
		}
		if err := sr.writeOut(); err != nil {
			return err
		}
		sr.base, sr.lineAt, sr.search = end, end, end
		sr.lines = sr.lines[:0]
		if end == len(sr.in) {
			return nil
		}
	}
}

func (sr *StreamRedactor) writeOut() error {
	if len(sr.out) == 0 {
		return nil
	}
	if _, err := sr.dst.Write(sr.out); err != nil {
		return fmt.Errorf("guard: write stream: %w", err)
	}
	if sr.flush != nil {
		if err := sr.flush(); err != nil {
			return fmt.Errorf("guard: flush stream: %w", err)
		}
	}
	return nil
}

// nextEvent finds the end of the first event in sr.in (after its blank
// line), collecting its lines. Lines end with CRLF, LF or CR.
func (sr *StreamRedactor) nextEvent(atEOF bool) (int, bool) {
	b := sr.in
	for {
		q := sr.search
		for q < len(b) && b[q] != '\n' && b[q] != '\r' {
			q++
		}
		if q == len(b) {
			sr.search = q
			if atEOF && len(b) > sr.base {
				if q > sr.lineAt {
					sr.lines = append(sr.lines, [2]int{sr.lineAt, q})
				}
				return len(b), len(sr.lines) > 0
			}
			return 0, false
		}
		next := q + 1
		if b[q] == '\r' {
			if q+1 == len(b) && !atEOF {
				sr.search = q
				return 0, false
			}
			if q+1 < len(b) && b[q+1] == '\n' {
				next = q + 2
			}
		}
		if q == sr.lineAt {
			if len(sr.lines) == 0 { // a blank line with no event: skip it
				sr.lineAt, sr.search = next, next
				continue
			}
			return next, true
		}
		sr.lines = append(sr.lines, [2]int{sr.lineAt, q})
		sr.lineAt, sr.search = next, next
	}
}

// field splits an SSE line into name and value.
func field(line []byte) (name, value []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil
	}
	name, value = line[:i], line[i+1:]
	if len(value) > 0 && value[0] == ' ' {
		value = value[1:]
	}
	return name, value
}

// event processes the complete event whose lines are in sr.lines.
func (sr *StreamRedactor) event() error {
	sr.payload = sr.payload[:0]
	hasData := false
	for _, l := range sr.lines {
		name, value := field(sr.in[l[0]:l[1]])
		if string(name) == "data" {
			if hasData {
				sr.payload = append(sr.payload, '\n')
			}
			sr.payload = append(sr.payload, value...)
			hasData = true
		}
	}
	if !hasData {
		// Comments and fields only: no content, no effect on held text.
		return sr.writeFields(nil, true)
	}
	data := bytes.TrimSpace(sr.payload)
	switch {
	case string(data) == "[DONE]":
		if err := sr.flushChannels(nil, true); err != nil {
			return err
		}
		if err := sr.writeFields(nil, false); err != nil {
			return err
		}
		sr.writeData(sr.payload)
		sr.out = append(sr.out, '\n')
		return nil
	case len(data) > 0 && (data[0] == '{' || data[0] == '['):
		return sr.jsonEvent()
	default:
		return sr.plainEvent()
	}
}

// writeFields appends the event's non-data lines, redacted as plain text,
// and a terminating blank line when end is set. tmpl, when non-nil, receives
// a copy (for synthetic events: without "id").
func (sr *StreamRedactor) writeFields(tmpl *[]byte, end bool) error {
	if tmpl != nil {
		*tmpl = (*tmpl)[:0]
	}
	for _, l := range sr.lines {
		line := sr.in[l[0]:l[1]]
		name, value := field(line)
		if string(name) == "data" {
			continue
		}
		start := len(sr.out)
		if len(name) == 0 { // comment
			sr.out = append(sr.out, ':')
			value = line[1:]
		} else {
			sr.out = append(sr.out, name...)
			sr.out = append(sr.out, ':', ' ')
		}
		red, _, err := sr.s.RedactBytes(value)
		if err != nil {
			return err
		}
		sr.out = append(sr.out, red...)
		sr.out = append(sr.out, '\n')
		if tmpl != nil && string(name) != "id" && len(name) > 0 {
			*tmpl = append(*tmpl, sr.out[start:]...)
		}
	}
	if end {
		sr.out = append(sr.out, '\n')
	}
	return nil
}

// writeData appends payload as data lines.
func (sr *StreamRedactor) writeData(payload []byte) {
	for {
		i := bytes.IndexByte(payload, '\n')
		sr.out = append(sr.out, "data: "...)
		if i < 0 {
			sr.out = append(sr.out, payload...)
			sr.out = append(sr.out, '\n')
			return
		}
		sr.out = append(sr.out, payload[:i]...)
		sr.out = append(sr.out, '\n')
		payload = payload[i+1:]
	}
}

func (sr *StreamRedactor) channel(key []byte, scope int, plain bool) *channel {
	for _, ch := range sr.chans {
		if ch.plain == plain && bytes.Equal(ch.key, key) {
			return ch
		}
	}
	ch := &channel{key: bytes.Clone(key), plain: plain, scope: scope}
	sr.chans = append(sr.chans, ch)
	return ch
}

// maxChannels bounds the texts tracked per stream (choices times content
// paths); each holds up to the hold-back, its context and a template event.
const maxChannels = 64

var errTooManyChannels = fmt.Errorf("guard: sse stream with more than %d content texts: %w", maxChannels, ErrTooLarge)

// flushChannels emits a synthetic event for every channel with held text
// that is marked with flush, or, when all is set, that the current event
// does not carry. walked, when not nil, is set when a template was walked.
func (sr *StreamRedactor) flushChannels(walked *bool, all bool) error {
	for _, ch := range sr.chans {
		if all {
			ch.flush = !ch.seen
		}
	}
	for _, ch := range sr.chans {
		if !ch.flush {
			continue
		}
		ch.flush = false
		ch.supp, ch.suppWin = suppNone, ch.suppWin[:0]
		if len(ch.buf) == ch.p0 {
			continue
		}
		text, err := sr.push(ch, nil, true)
		if err != nil {
			return err
		}
		if len(text) == 0 {
			continue
		}
		if ch.plain {
			sr.writeData(text)
			sr.out = append(sr.out, '\n')
			continue
		}
		sr.out = append(sr.out, ch.tmplFields...)
		if walked != nil {
			*walked = true
		}
		out, err := sr.rewriteJSON(ch.tmpl, ch, text)
		if err != nil {
			return err
		}
		sr.writeData(out)
		sr.out = append(sr.out, '\n')
	}
	return nil
}

func (sr *StreamRedactor) plainEvent() error {
	for _, ch := range sr.chans {
		ch.seen = ch.plain
	}
	ch := sr.channel(nil, 0, true)
	ch.seen = true
	if err := sr.flushChannels(nil, true); err != nil {
		return err
	}
	text, err := sr.push(ch, sr.payload, false)
	if err != nil {
		return err
	}
	if err := sr.writeFields(nil, false); err != nil {
		return err
	}
	sr.writeData(text)
	sr.out = append(sr.out, '\n')
	for _, ch := range sr.chans {
		ch.seen = false
	}
	return nil
}

// onString collects string values of the JSON event being walked.
func (sr *StreamRedactor) onString(start, end int, simple bool) error {
	path := sr.walker.path
	sp := strSpan{start: start, end: end, simple: simple, pathOff: -1}
	if n := len(path); n > 0 && !path[n-1].arr && string(path[n-1].key) == "finish_reason" {
		sr.finish = true
	}
	if sr.s.g.streamPaths.exact(path) {
		sp.pathOff, sp.pathLen = len(sr.pathBuf), len(path)
		sr.pathBuf = append(sr.pathBuf, path...)
	}
	sr.spans = append(sr.spans, sp)
	sr.noteScope(path)
	return nil
}

// noteScope records the first-level array element the value at path is in.
func (sr *StreamRedactor) noteScope(path []pathElem) {
	for f := range path {
		if !path[f].arr {
			continue
		}
		id := path[f].elemID
		for _, sc := range sr.scopes {
			if sc.elemID == id {
				return
			}
		}
		sr.scopes = append(sr.scopes, scopeRef{elemID: id, pathOff: len(sr.pathBuf), pathLen: f + 1})
		sr.pathBuf = append(sr.pathBuf, path[:f+1]...)
		return
	}
}

// onScalar records the "index" members of array elements.
func (sr *StreamRedactor) onScalar(start, end int) {
	path := sr.walker.path
	n := len(path)
	if n >= 2 && !path[n-1].arr && path[n-2].arr && string(path[n-1].key) == "index" {
		sr.indexes = append(sr.indexes, indexVal{path[n-2].elemID, start, end})
	}
	sr.noteScope(path)
}

// walk validates a JSON payload and collects its string spans, the channel
// keys of its content spans and its scopes.
func (sr *StreamRedactor) walk(doc []byte) error {
	sr.spans, sr.pathBuf, sr.indexes, sr.scopes, sr.keys, sr.finish = sr.spans[:0], sr.pathBuf[:0], sr.indexes[:0], sr.scopes[:0], sr.keys[:0], false
	if err := sr.walker.run(doc); err != nil {
		return err
	}
	for i := range sr.spans {
		sp := &sr.spans[i]
		if sp.pathOff < 0 {
			continue
		}
		sp.keyOff = len(sr.keys)
		sr.keys, sp.scopeLen = sr.appendKey(sr.keys, doc, sr.pathBuf[sp.pathOff:sp.pathOff+sp.pathLen])
		sp.keyLen = len(sr.keys) - sp.keyOff
	}
	for i := range sr.scopes {
		sc := &sr.scopes[i]
		sc.keyOff = len(sr.keys)
		sr.keys, _ = sr.appendKey(sr.keys, doc, sr.pathBuf[sc.pathOff:sc.pathOff+sc.pathLen])
		sc.keyLen = len(sr.keys) - sc.keyOff
	}
	return nil
}

// appendKey appends the channel key of a path: member names and, for array
// elements, "#<index member>" or the position, each followed by a NUL. It
// also returns the key length through the first array element.
func (sr *StreamRedactor) appendKey(dst, doc []byte, path []pathElem) ([]byte, int) {
	start, scope := len(dst), 0
	for _, e := range path {
		if e.arr {
			found := false
			for _, iv := range sr.indexes {
				if iv.elemID == e.elemID {
					dst = append(dst, '#')
					dst = append(dst, doc[iv.start:iv.end]...)
					found = true
					break
				}
			}
			if !found {
				dst = strconv.AppendInt(dst, int64(e.index), 10)
			}
		} else {
			dst = append(dst, e.key...)
		}
		dst = append(dst, 0)
		if e.arr && scope == 0 {
			scope = len(dst) - start
		}
	}
	return dst, scope
}

func (sr *StreamRedactor) spanText(doc []byte, sp *strSpan) []byte {
	if sp.simple {
		return doc[sp.start+1 : sp.end-1]
	}
	sr.text = decodeJSONString(sr.text[:0], doc[sp.start:sp.end])
	return sr.text
}

func (sr *StreamRedactor) jsonEvent() error {
	doc := sr.payload
	if err := sr.walk(doc); err != nil {
		return err
	}
	for _, ch := range sr.chans {
		ch.seen = false
	}
	for i := range sr.spans {
		sp := &sr.spans[i]
		if sp.pathOff >= 0 {
			sr.channel(sr.keys[sp.keyOff:sp.keyOff+sp.keyLen], sp.scopeLen, false).seen = true
		}
	}
	if len(sr.chans) > maxChannels {
		return errTooManyChannels
	}
	// A held text that this event does not carry is flushed when the event
	// is in its scope (the same choice) or when it has no scope.
	for _, ch := range sr.chans {
		ch.flush = false
		if ch.seen {
			continue
		}
		if ch.plain || ch.scope == 0 {
			ch.flush = true
			continue
		}
		for _, sc := range sr.scopes {
			if bytes.Equal(sr.keys[sc.keyOff:sc.keyOff+sc.keyLen], ch.key[:ch.scope]) {
				ch.flush = true
				break
			}
		}
	}
	walked := false
	if err := sr.flushChannels(&walked, false); err != nil {
		return err
	}
	if walked { // a template was walked: walk this event again
		if err := sr.walk(doc); err != nil {
			return err
		}
	}
	final := sr.finish
	var fieldsTmpl []byte
	if err := sr.writeFields(&fieldsTmpl, false); err != nil {
		return err
	}
	sr.jsonOut = sr.jsonOut[:0]
	last := 0
	for i := range sr.spans {
		sp := &sr.spans[i]
		var repl []byte
		if sp.pathOff >= 0 {
			ch := sr.channel(sr.keys[sp.keyOff:sp.keyOff+sp.keyLen], sp.scopeLen, false)
			ch.tmpl = append(ch.tmpl[:0], doc...)
			ch.tmplFields = append(ch.tmplFields[:0], fieldsTmpl...)
			text := sr.spanText(doc, sp)
			out, err := sr.push(ch, text, final)
			if err != nil {
				return err
			}
			if bytes.Equal(out, text) {
				continue // the original token encodes the same text
			}
			repl = out
		} else {
			var err error
			repl, err = sr.redactValue(doc, sp)
			if err != nil {
				return err
			}
			if repl == nil {
				continue
			}
		}
		sr.jsonOut = append(sr.jsonOut, doc[last:sp.start]...)
		sr.jsonOut = appendJSONString(sr.jsonOut, repl)
		last = sp.end
	}
	sr.jsonOut = append(sr.jsonOut, doc[last:]...)
	sr.writeData(sr.jsonOut)
	sr.out = append(sr.out, '\n')
	for _, ch := range sr.chans {
		ch.seen = false
	}
	return nil
}

// redactValue redacts a non-content string value on its own; nil means
// unchanged.
func (sr *StreamRedactor) redactValue(doc []byte, sp *strSpan) ([]byte, error) {
	if !sr.s.any {
		return nil, nil
	}
	text := sr.spanText(doc, sp)
	sr.ms = sr.s.find(text, sr.ms)
	if len(sr.ms) == 0 {
		return nil, nil
	}
	if err := sr.s.checkBlock(sr.ms); err != nil {
		return nil, err
	}
	sr.red = sr.s.appendRedacted(sr.red[:0], text, sr.ms, &sr.hits)
	return sr.red, nil
}

// rewriteJSON renders a synthetic event from a template: the content span of
// ch gets text, other content spans "", other strings are redacted.
func (sr *StreamRedactor) rewriteJSON(tmpl []byte, ch *channel, text []byte) ([]byte, error) {
	text = bytes.Clone(text)
	if err := sr.walk(tmpl); err != nil {
		return nil, err
	}
	var out []byte
	last := 0
	for i := range sr.spans {
		sp := &sr.spans[i]
		var repl []byte
		if sp.pathOff >= 0 {
			if bytes.Equal(sr.keys[sp.keyOff:sp.keyOff+sp.keyLen], ch.key) {
				repl = text
			} else {
				repl = []byte{}
			}
		} else {
			var err error
			repl, err = sr.redactValue(tmpl, sp)
			if err != nil {
				return nil, err
			}
			if repl == nil {
				continue
			}
		}
		out = append(out, tmpl[last:sp.start]...)
		out = appendJSONString(out, repl)
		last = sp.end
	}
	return append(out, tmpl[last:]...), nil
}

// push appends text to the channel and returns the redacted text that can be
// emitted now; with final, everything.
func (sr *StreamRedactor) push(ch *channel, text []byte, final bool) ([]byte, error) {
	s := sr.s
	if !s.any {
		final = true // nothing to detect: nothing to hold back
	}
	if ch.supp != suppNone {
		text = ch.suppress(text)
	}
	ch.buf = append(ch.buf, text...)
	t := ch.buf
	p0 := ch.p0
	sr.ms = s.find(t, sr.ms)
	for _, m := range sr.ms {
		if m.end > p0 && s.g.actions[m.id] == Block {
			return nil, blocked(m.id)
		}
	}
	h := len(t)
	if !final {
		h = holdStart(t, p0)
		for _, m := range sr.ms {
			if m.start >= p0 && m.start < h && m.end > h {
				h = m.start
			}
		}
		if len(t)-h > s.g.holdBack {
			// Forced release: the held text is over the bound.
			h = len(t) - s.g.holdBack
			for h > p0 && t[h]&0xC0 == 0x80 {
				h--
			}
			if id, rs, ok := s.secretPrefixAt(t, p0, h); ok {
				// The token from rs on is a secret still growing: it
				// replaces the matches that overlap it.
				if s.g.actions[id] == Block {
					return nil, blocked(id)
				}
				w := 0
				for _, m := range sr.ms {
					if m.end <= rs {
						sr.ms[w] = m
						w++
					}
				}
				sr.ms = append(sr.ms[:w], match{rs, len(t), id})
			}
		}
	}
	out := sr.emit[:0]
	last := p0
	for _, m := range sr.ms {
		if m.end <= p0 {
			continue
		}
		if m.start >= h {
			break
		}
		st := max(m.start, p0)
		out = append(out, t[last:st]...)
		out = append(out, detectorTable[m.id].placeholder...)
		sr.hits.n[m.id]++
		last = m.end
		if m.end > h {
			h = m.end
			if h == len(t) && !final {
				ch.supp = suppRun
				if m.id == dPrivateKey && !pemClosed(t, m.start) {
					ch.supp = suppPEM
					ch.suppWin = ch.suppWin[:0]
				}
			}
		}
	}
	out = append(out, t[last:h]...)
	sr.emit = out
	// Keep ctxKeep bytes of released text as context, then the held text.
	k := max(0, h-ctxKeep)
	n := copy(ch.buf, t[k:])
	ch.buf = ch.buf[:n]
	ch.p0 = h - k
	return out, nil
}

// secretPrefixAt reports whether the run of non-delimiters containing cut
// (starting at or after p0) starts like a secret whose detector is on.
func (s *Scanner) secretPrefixAt(t []byte, p0, cut int) (detID, int, bool) {
	rs := cut
	for rs > p0 && tables.class[t[rs-1]]&cRun != 0 {
		rs--
	}
	r := t[rs:]
	if len(r) < 16 {
		return 0, 0, false
	}
	switch {
	case hasPrefix(r, "eyJ"):
		return dJWT, rs, s.on[dJWT]
	case hasPrefix(r, "AKIA") || hasPrefix(r, "ASIA"):
		return dAWSKey, rs, s.on[dAWSKey]
	case hasPrefix(r, "sk-") || hasPrefix(r, "sk_live_") || hasPrefix(r, "sk_test_") || hasPrefix(r, "rk_live_") ||
		hasPrefix(r, "rk_test_") || hasPrefix(r, "github_pat_") || hasPrefix(r, "AIza") || hasPrefix(r, "xox") ||
		len(r) > 4 && r[0] == 'g' && r[1] == 'h' && r[3] == '_':
		return dAPIKey, rs, s.on[dAPIKey]
	}
	return 0, 0, false
}

// suppress drops the continuation of a secret that was released (as a
// placeholder) before it ended, and returns the rest of text.
func (ch *channel) suppress(text []byte) []byte {
	switch ch.supp {
	case suppRun:
		i := 0
		for i < len(text) && tables.class[text[i]]&cRun != 0 {
			i++
		}
		if i < len(text) {
			ch.supp = suppNone
		}
		return text[i:]
	case suppPEM:
		old := len(ch.suppWin)
		ch.suppWin = append(ch.suppWin, text...)
		w := ch.suppWin
		for off := 0; ; {
			e := bytes.Index(w[off:], []byte("-----END "))
			if e < 0 {
				break
			}
			if end, ok := pemLabel(w, off+e+len("-----END ")); ok {
				ch.supp, ch.suppWin = suppNone, ch.suppWin[:0]
				return text[end-old:]
			}
			off += e + 1
		}
		if len(w) > 96 {
			n := copy(ch.suppWin, w[len(w)-96:])
			ch.suppWin = ch.suppWin[:n]
		}
		return nil
	}
	return text
}

// holdStart returns where the text that may still grow into a match begins:
// the trailing word, extended back over single spaces between digit groups
// or IBAN groups, or an open PEM block. The result is at least p0.
func holdStart(t []byte, p0 int) int {
	h := len(t)
	for h > p0 && tables.class[t[h-1]]&cRun != 0 {
		h--
	}
	word := t[h:]
	for range 10 {
		if h-1 <= p0 || t[h-1] != ' ' || !groupable(word) {
			break
		}
		ws := h - 1
		for ws > p0 && tables.class[t[ws-1]]&cRun != 0 {
			ws--
		}
		if ws == h-1 {
			break
		}
		if groupable(t[ws : h-1]) {
			word, h = t[ws:h-1], ws
			continue
		}
		// "x=4111 1111": hold the group-like tail of the word.
		k := h - 1
		for k > ws && groupChar(t[k-1]) {
			k--
		}
		if k < h-1 {
			h = k
		}
		break
	}
	if i := bytes.LastIndex(t[p0:], []byte("-----BEGIN")); i >= 0 && p0+i < h && !pemClosed(t, p0+i) {
		h = p0 + i
	}
	return h
}

// pemClosed reports whether a complete private key END line follows b.
func pemClosed(t []byte, b int) bool {
	for off := b; ; {
		e := bytes.Index(t[off:], []byte("-----END "))
		if e < 0 {
			return false
		}
		if _, ok := pemLabel(t, off+e+len("-----END ")); ok {
			return true
		}
		off += e + 1
	}
}

func groupChar(c byte) bool {
	return isDigit(c) || isUpper(c) || c == '(' || c == ')' || c == '+' || c == '-' || c == '.'
}

// groupable reports whether w may be one group of a card, phone, SSN or
// IBAN printed with spaces: digits and "()+-.", or up to four upper-case
// letters and digits.
func groupable(w []byte) bool {
	num := true
	for _, c := range w {
		if !isDigit(c) && c != '(' && c != ')' && c != '+' && c != '-' && c != '.' {
			num = false
			break
		}
	}
	if num {
		return true
	}
	if len(w) > 4 {
		return false
	}
	for _, c := range w {
		if !isUpper(c) && !isDigit(c) {
			return false
		}
	}
	return true
}

// NewStreamReader returns a reader of the redacted stream read from src, for
// use as a replacement response body (httputil.ReverseProxy ModifyResponse:
// resp.Body = s.NewStreamReader(resp.Body)). Each Read returns as soon as
// one event is ready. A redaction error, or an error reading src, is
// returned by Read; held-back text of a broken stream is dropped.
func (s *Scanner) NewStreamReader(src io.Reader) *StreamReader {
	r := &StreamReader{src: src, buf: make([]byte, 32<<10)}
	r.sr = s.NewStreamRedactor(&r.out)
	return r
}

// StreamReader is the reading side of a [StreamRedactor]; see
// [Scanner.NewStreamReader]. It is not safe for concurrent use.
type StreamReader struct {
	src  io.Reader
	sr   *StreamRedactor
	out  bytes.Buffer
	buf  []byte
	done bool
	err  error
}

// Hits returns the matches redacted so far.
func (r *StreamReader) Hits() Hits { return r.sr.Hits() }

// Read implements io.Reader.
func (r *StreamReader) Read(p []byte) (int, error) {
	for r.out.Len() == 0 {
		if r.done {
			if r.err != nil {
				return 0, r.err
			}
			return 0, io.EOF
		}
		n, err := r.src.Read(r.buf)
		if n > 0 {
			if _, werr := r.sr.Write(r.buf[:n]); werr != nil {
				r.done, r.err = true, werr
				r.out.Reset()
				return 0, werr
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			r.done = true
			if cerr := r.sr.Close(); cerr != nil {
				r.err = cerr
				r.out.Reset()
				return 0, cerr
			}
		case err != nil:
			// Held text of a broken stream is dropped, never sent raw.
			r.done, r.err = true, fmt.Errorf("guard: read upstream stream: %w", err)
			r.out.Reset()
		}
	}
	return r.out.Read(p)
}

// Close closes src when it is an io.Closer.
func (r *StreamReader) Close() error {
	if c, ok := r.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
