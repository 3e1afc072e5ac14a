package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"",
	"plain prose without anything",
	"mail john.doe@example.com or call +1 (415) 555-0100",
	"card 4111 1111 1111 1111, iban DE89 3704 0044 0532 0130 00, ssn 123-45-6789",
	"ip 203.0.113.9 and 2001:db8::1, version 1.2.3.4",
	"AKIAIOSFODNN7EXAMPLE aws_secret_access_key=" + testAWSSec,
	testPEM,
	"Authorization: Bearer " + testJWT,
	"keys " + testOpenAI + " " + testAnth + " " + testGHP,
	`{"api_key": "Zx9Qw2Er5Ty8Ui1Op4As"}`,
	"x=4111 1111 1111 1111 and a@b.cc-4111111111111111",
	"4111 1111 1111 111 1@x.com",
}

// countOutside counts occurrences of x in text outside the match spans.
func countOutside(text []byte, ms []Match, x []byte) int {
	var parts [][]byte
	last := 0
	for _, m := range ms {
		parts = append(parts, text[last:m.Start])
		last = m.End
	}
	parts = append(parts, text[last:])
	return bytes.Count(bytes.Join(parts, []byte{0}), x)
}

func FuzzRedact(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	g := mustGuard(f, Config{Actions: map[string]Action{"pii": Redact, "secret": Redact}})
	s := g.Scanner(Apply{PII: true, Secret: true})
	def := mustGuard(f, Config{}).Scanner(Apply{PII: true, Secret: true})
	f.Fuzz(func(t *testing.T, text string) {
		_, _, _ = def.RedactString(text) // must not panic
		out, h, err := s.RedactString(text)
		if err != nil {
			t.Fatalf("RedactString: %v", err)
		}
		ms := s.Find([]byte(text))
		if len(ms) != h.Total() {
			t.Fatalf("%d matches, %d hits", len(ms), h.Total())
		}
		for _, m := range ms {
			x := []byte(text[m.Start:m.End])
			if got, max := strings.Count(out, string(x)), countOutside([]byte(text), ms, x); got > max {
				t.Fatalf("match %s %q still in output %q", m.Detector, x, out)
			}
		}
		again, h2, err := s.RedactString(out)
		if err != nil || again != out || h2.Total() != 0 {
			t.Fatalf("not idempotent:\n in  %q\n out %q\n 2nd %q (%v)", text, out, again, err)
		}
		ob, _, _ := s.RedactBytes([]byte(text))
		if string(ob) != out {
			t.Fatalf("RedactBytes differs from RedactString")
		}
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("redaction broke UTF-8: %q", out)
		}
	})
}

// FuzzSSE: the chunking of the byte stream never changes the output, and
// content split across events at arbitrary points is redacted like the
// whole text.
func FuzzSSE(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, []byte{byte(i), 3, 7, 1, 20})
	}
	f.Add("event: x\r\ndata: {\"a\":\"b@c.com\"}\r\n\r\n: ping\n\ndata: plain jo\ndata: hn@example.com\n\ndata: [DONE]\r\r", []byte{5, 9, 1})
	g := mustGuard(f, Config{Actions: map[string]Action{"pii": Redact, "secret": Redact}, HoldBack: 256})
	s := g.Scanner(Apply{PII: true, Secret: true})
	f.Fuzz(func(t *testing.T, text string, cuts []byte) {
		if len(text) > 4096 {
			return
		}
		// text as a raw SSE stream: chunking changes neither the output
		// nor the outcome.
		var rawWrites []int
		for _, c := range cuts {
			rawWrites = append(rawWrites, int(c)%16)
		}
		rawWhole, errWhole := redactStream(t, s, text, nil)
		rawChunked, errChunked := redactStream(t, s, text, rawWrites)
		if (errWhole == nil) != (errChunked == nil) || errWhole == nil && rawWhole != rawChunked {
			t.Fatalf("raw stream: chunking changed the result: %v / %v\n%q\n%q", errWhole, errChunked, rawWhole, rawChunked)
		}
		if !utf8.ValidString(text) {
			return
		}
		// Split the content at rune starts chosen by cuts.
		var pieces []string
		rest := text
		for _, c := range cuts {
			n := int(c) % (len(rest) + 1)
			for n < len(rest) && !utf8.RuneStart(rest[n]) {
				n++
			}
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		pieces = append(pieces, rest)
		stream := chatStream(pieces...)

		whole, err := redactStream(t, s, stream, nil)
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		var writes []int
		for _, c := range cuts {
			writes = append(writes, int(c)+1)
		}
		chunked, err := redactStream(t, s, stream, writes)
		if err != nil {
			t.Fatalf("chunked stream: %v", err)
		}
		if chunked != whole {
			t.Fatalf("chunking changed the output:\n%s\nvs\n%s", whole, chunked)
		}
		for line := range strings.SplitSeq(whole, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && d != "[DONE]" && !json.Valid([]byte(d)) {
				t.Fatalf("invalid JSON event %q", d)
			}
		}
		got := streamContent(t, whole)[0]
		ms := s.Find([]byte(text))
		for _, m := range ms {
			x := text[m.Start:m.End]
			if strings.Count(got, x) > countOutside([]byte(text), ms, []byte(x)) {
				t.Fatalf("match %s %q leaked: pieces %q -> %q", m.Detector, x, pieces, got)
			}
		}
		if longestRun(text) <= g.HoldBack()/2 {
			want, _, _ := s.RedactString(text)
			if got != want {
				t.Fatalf("pieces %q:\n got %q\nwant %q", pieces, got, want)
			}
		}
	})
}

// longestRun is the longest run of non-delimiter bytes (see holdStart).
func longestRun(s string) int {
	best, cur := 0, 0
	for i := 0; i < len(s); i++ {
		if tables.class[s[i]]&cRun != 0 || s[i] == ' ' {
			cur++
			best = max(best, cur)
		} else {
			cur = 0
		}
	}
	return best
}

// FuzzRedactJSON: RedactJSON accepts exactly the valid UTF-8 JSON that
// encoding/json accepts (within the depth bound), and its output decodes to
// the input's value with every string value redacted on its own.
func FuzzRedactJSON(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"mail a@b.com"}]}`,
		`[1, -2.5e3, true, null, "x", {"a@b.com": "c@d.org"}]`,
		`"\ud83d\ude00 \u0040 \ud800"`,
		`{"api_key": "Zx9Qw2Er5Ty8Ui1Op4As", "n": 0}`,
		` { } `, `[[[]]]`, `{"a":1,}`, `01`, `"\x"`,
	} {
		f.Add([]byte(s))
	}
	g := mustGuard(f, Config{Actions: map[string]Action{"pii": Redact, "secret": Redact}})
	s := g.Scanner(Apply{PII: true, Secret: true})
	f.Fuzz(func(t *testing.T, doc []byte) {
		out, _, err := s.RedactJSON(doc, nil)
		if !utf8.Valid(doc) {
			if err == nil {
				t.Fatalf("accepted invalid UTF-8")
			}
			return
		}
		valid := json.Valid(doc)
		if err != nil {
			if valid && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("rejected valid JSON %q: %v", doc, err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted invalid JSON %q", doc)
		}
		var in, got any
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			t.Fatal(err)
		}
		dec = json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("output %q does not decode: %v", out, err)
		}
		want := redactValues(t, s, in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %#v\nwant %#v", got, want)
		}
	})
}

func redactValues(t *testing.T, s *Scanner, v any) any {
	switch v := v.(type) {
	case string:
		r, _, err := s.RedactString(v)
		if err != nil {
			t.Fatal(err)
		}
		return r
	case []any:
		for i := range v {
			v[i] = redactValues(t, s, v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = redactValues(t, s, v[k])
		}
	}
	return v
}
