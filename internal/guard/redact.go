package guard

import (
	"fmt"
	"unsafe"
)

// Match is one detected span of a text, for callers that need positions
// (tests, audit samples). It never leaves the process in logs.
type Match struct {
	Detector   Detector
	Start, End int
}

// Find returns the matches of the scanner's detectors in text, sorted and
// non-overlapping, regardless of their actions. It reports nothing for
// text over the input bound.
func (s *Scanner) Find(text []byte) []Match {
	if len(text) > s.g.maxInput {
		return nil
	}
	ms := s.find(text, nil)
	out := make([]Match, len(ms))
	for i, m := range ms {
		out[i] = Match{detectorTable[m.id].name, m.start, m.end}
	}
	return out
}

// RedactString replaces every match in text with its placeholder and
// returns the result and the hit counts. If a detector whose action is Block
// matches, it returns a *BlockedError and no text. When nothing matches the
// input string itself is returned (no allocation).
func (s *Scanner) RedactString(text string) (string, Hits, error) {
	if len(text) > s.g.maxInput {
		return "", Hits{}, fmt.Errorf("guard: text of %d bytes: %w", len(text), ErrTooLarge)
	}
	// The scanner only reads its input, so viewing the string's bytes is safe.
	b := unsafe.Slice(unsafe.StringData(text), len(text))
	var buf [16]match
	ms := s.find(b, buf[:0])
	if len(ms) == 0 {
		return text, Hits{}, nil
	}
	var h Hits
	if err := s.checkBlock(ms); err != nil {
		return "", Hits{}, err
	}
	out := s.appendRedacted(make([]byte, 0, len(text)+16*len(ms)), b, ms, &h)
	return unsafe.String(unsafe.SliceData(out), len(out)), h, nil
}

// RedactBytes is RedactString for a byte slice. The result is a new slice
// when something was redacted and text itself otherwise; text is never
// modified.
func (s *Scanner) RedactBytes(text []byte) ([]byte, Hits, error) {
	if len(text) > s.g.maxInput {
		return nil, Hits{}, fmt.Errorf("guard: text of %d bytes: %w", len(text), ErrTooLarge)
	}
	var buf [16]match
	ms := s.find(text, buf[:0])
	if len(ms) == 0 {
		return text, Hits{}, nil
	}
	var h Hits
	if err := s.checkBlock(ms); err != nil {
		return nil, Hits{}, err
	}
	return s.appendRedacted(make([]byte, 0, len(text)+16*len(ms)), text, ms, &h), h, nil
}

// checkBlock returns a *BlockedError for the first match whose detector
// blocks.
func (s *Scanner) checkBlock(ms []match) error {
	for _, m := range ms {
		if s.g.actions[m.id] == Block {
			return blocked(m.id)
		}
	}
	return nil
}

func blocked(id detID) error {
	return &BlockedError{Detector: detectorTable[id].name, Class: detectorTable[id].class}
}

// appendRedacted appends text with every match replaced by its placeholder.
func (s *Scanner) appendRedacted(dst, text []byte, ms []match, h *Hits) []byte {
	last := 0
	for _, m := range ms {
		dst = append(dst, text[last:m.start]...)
		dst = append(dst, detectorTable[m.id].placeholder...)
		h.n[m.id]++
		last = m.end
	}
	return append(dst, text[last:]...)
}
