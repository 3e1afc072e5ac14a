package guard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// chatStream renders an OpenAI chat completion stream whose content deltas
// are pieces.
func chatStream(pieces ...string) string {
	var b strings.Builder
	b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
	for _, p := range pieces {
		c, _ := json.Marshal(p)
		fmt.Fprintf(&b, `data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":%s},"finish_reason":null}]}`+"\n\n", c)
	}
	b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.String()
}

type chunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

// streamContent parses a redacted chat stream and concatenates the content
// per choice index. It fails on malformed output and checks that [DONE] is
// last and that no content follows a finish_reason.
func streamContent(t testing.TB, out string) map[int]string {
	t.Helper()
	got := map[int]*strings.Builder{}
	finished := map[int]bool{}
	done := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected line %q", line)
		}
		if done {
			t.Fatalf("event after [DONE]: %q", line)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("bad JSON %q: %v", data, err)
		}
		for _, ch := range c.Choices {
			if got[ch.Index] == nil {
				got[ch.Index] = &strings.Builder{}
			}
			if ch.Delta.Content != nil {
				if finished[ch.Index] && *ch.Delta.Content != "" {
					t.Fatalf("content after finish_reason: %q", *ch.Delta.Content)
				}
				got[ch.Index].WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finished[ch.Index] = true
			}
		}
	}
	if !done {
		t.Fatalf("no [DONE] in %q", out)
	}
	m := map[int]string{}
	for k, v := range got {
		m[k] = v.String()
	}
	return m
}

func redactStream(t testing.TB, s *Scanner, in string, writes []int) (string, error) {
	t.Helper()
	var out bytes.Buffer
	sr := s.NewStreamRedactor(&out)
	rest := in
	for _, n := range writes {
		n = min(n, len(rest))
		if _, err := sr.Write([]byte(rest[:n])); err != nil {
			return out.String(), err
		}
		rest = rest[n:]
	}
	if _, err := sr.Write([]byte(rest)); err != nil {
		return out.String(), err
	}
	err := sr.Close()
	return out.String(), err
}

// fragments returns the substrings of secret of length n.
func fragments(secret string, n int) []string {
	var out []string
	for i := 0; i+n <= len(secret); i++ {
		out = append(out, secret[i:i+n])
	}
	return out
}

func checkSplit(t *testing.T, s *Scanner, text string, secrets []string, cuts []int) {
	t.Helper()
	var pieces []string
	last := 0
	for _, c := range cuts {
		pieces = append(pieces, text[last:c])
		last = c
	}
	pieces = append(pieces, text[last:])
	out, err := redactStream(t, s, chatStream(pieces...), nil)
	if err != nil {
		t.Fatalf("cuts %v: %v", cuts, err)
	}
	got := streamContent(t, out)[0]
	want, _, _ := s.RedactString(text)
	if got != want {
		t.Fatalf("cuts %v:\n got %q\nwant %q", cuts, got, want)
	}
	for _, sec := range secrets {
		for _, f := range fragments(sec, 6) {
			if strings.Contains(out, f) {
				t.Fatalf("cuts %v: raw fragment %q of %q in output:\n%s", cuts, f, sec, out)
			}
		}
	}
}

var splitSamples = []struct {
	name    string
	text    string
	secrets []string
}{
	{"email", "Contact john.smith@example.com today.", []string{"john.smith@example.com"}},
	{"card", "Pay with 4111 1111 1111 1111 now", []string{"4111 1111 1111 1111"}},
	{"phone", "Call +1 (415) 555-0100 or (212) 555-0199!", []string{"(415) 555-0100", "(212) 555-0199"}},
	{"iban", "IBAN: GB82 WEST 1234 5698 7654 32 thanks", []string{"GB82 WEST 1234 5698 7654 32"}},
	{"api key", "use key=" + testGHP + " ok", []string{testGHP}},
	{"bearer", "Authorization: Bearer abcDEF1234567890xyzQ and", []string{"abcDEF1234567890xyzQ"}},
	{"assignment", `config: {"api_key": "Zx9Qw2Er5Ty8Ui1Op4As"} done`, []string{"Zx9Qw2Er5Ty8Ui1Op4As"}},
	{"ssn then ip", "ssn 123-45-6789 from 203.0.113.77", []string{"123-45-6789", "203.0.113.77"}},
	{"end of text", "mail me: ann@example.org", []string{"ann@example.org"}},
	{"unicode", "Grüße an jörg@example.com — danke", []string{"@example.com"}},
}

func TestStreamSplitTwo(t *testing.T) {
	s := allOn(t)
	for _, tc := range splitSamples {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i <= len(tc.text); i++ {
				if !validCut(tc.text, i) {
					continue
				}
				checkSplit(t, s, tc.text, tc.secrets, []int{i})
			}
		})
	}
}

func TestStreamSplitThree(t *testing.T) {
	s := allOn(t)
	for _, tc := range splitSamples {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i <= len(tc.text); i++ {
				for j := i; j <= len(tc.text); j++ {
					if !validCut(tc.text, i) || !validCut(tc.text, j) {
						continue
					}
					checkSplit(t, s, tc.text, tc.secrets, []int{i, j})
				}
			}
		})
	}
}

func TestStreamSplitMany(t *testing.T) {
	s := allOn(t)
	for _, tc := range splitSamples {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= 7; size++ {
				var cuts []int
				for i := size; i < len(tc.text); i += size {
					for !validCut(tc.text, i) {
						i++
					}
					cuts = append(cuts, i)
				}
				checkSplit(t, s, tc.text, tc.secrets, cuts)
			}
		})
	}
}

// validCut: JSON strings carry whole runes, so pieces split at rune starts.
func validCut(s string, i int) bool { return i >= len(s) || s[i]&0xC0 != 0x80 }

func TestStreamPreservesOtherFields(t *testing.T) {
	s := allOn(t)
	in := "event: message\nid: 7\n: keep-alive\n" +
		`data: {"id":"x","choices":[{"index":0,"delta":{"content":"hi a@b.com "},"logprobs":null}],"usage":{"prompt_tokens":12},"system_fingerprint":"fp_1"}` + "\n\n"
	out, err := redactStream(t, s, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "event: message\nid: 7\n: keep-alive\n" +
		`data: {"id":"x","choices":[{"index":0,"delta":{"content":"hi [REDACTED:email] "},"logprobs":null}],"usage":{"prompt_tokens":12},"system_fingerprint":"fp_1"}` + "\n\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestStreamChoicesByIndex(t *testing.T) {
	s := allOn(t)
	ev := func(idx int, c string) string {
		return fmt.Sprintf(`data: {"choices":[{"delta":{"content":%q},"index":%d}]}`+"\n\n", c, idx)
	}
	in := ev(0, "mail jo") + ev(1, "call 415-5") + ev(0, "hn@example.com ") + ev(1, "55-0100 now") +
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"},{"index":1,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"
	out, err := redactStream(t, s, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := streamContent(t, out)
	if got[0] != "mail [REDACTED:email] " || got[1] != "call [REDACTED:phone] now" {
		t.Errorf("got %v\n%s", got, out)
	}
}

func TestStreamToolCallArguments(t *testing.T) {
	s := allOn(t)
	ev := func(args string) string {
		return fmt.Sprintf(`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":%q}}]}}]}`+"\n\n", args)
	}
	in := ev(`{"to":"ann@exa`) + ev(`mple.org","n":1}`) + "data: [DONE]\n\n"
	out, err := redactStream(t, s, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "ann@") || !strings.Contains(out, `[REDACTED:email]`) {
		t.Errorf("got %s", out)
	}
}

func TestStreamPlainText(t *testing.T) {
	s := allOn(t)
	in := "data: write to bo\n\ndata: b@example.com please\n\n"
	out, err := redactStream(t, s, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			text.WriteString(v)
		}
	}
	if text.String() != "write to [REDACTED:email] please" {
		t.Errorf("got %q from\n%s", text.String(), out)
	}
}

func TestStreamBlock(t *testing.T) {
	g := mustGuard(t, Config{})
	s := g.Scanner(Apply{PII: true, Secret: true})
	lines := strings.SplitAfter(testPEM, "\n")
	out, err := redactStream(t, s, chatStream(append([]string{"here: "}, lines...)...), nil)
	var be *BlockedError
	if !errors.As(err, &be) || be.Detector != PrivateKey || !errors.Is(err, ErrBlocked) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(out, "MIIE") {
		t.Errorf("key material in output: %s", out)
	}
	// Dead after an error.
	sr := s.NewStreamRedactor(io.Discard)
	_, _ = sr.Write([]byte(chatStream(testPEM)))
	if _, err := sr.Write([]byte("data: {}\n\n")); !errors.Is(err, ErrBlocked) {
		t.Errorf("second write: %v", err)
	}
}

func TestStreamPEMRedactedOverHoldBack(t *testing.T) {
	s := allOn(t) // private_key redacted, not blocked
	body := strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n", 12)
	key := "-----BEGIN PRIVATE KEY-----\n" + body + "-----END PRIVATE KEY-----"
	text := "key: " + key + " end"
	var pieces []string
	for i := 0; i < len(text); i += 10 {
		pieces = append(pieces, text[i:min(i+10, len(text))])
	}
	out, err := redactStream(t, s, chatStream(pieces...), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := streamContent(t, out)[0]
	if got != "key: [REDACTED:private_key] end" {
		t.Errorf("got %q", got)
	}
}

func TestStreamLongTokenOverHoldBack(t *testing.T) {
	g := mustGuard(t, Config{HoldBack: 64})
	s := g.Scanner(Apply{PII: true, Secret: true})
	jwt := "eyJhbGciOiJSUzI1NiJ9." + strings.Repeat("eyJzdWIiOiIxMjM0NTY3ODkwIn0", 8) + ".c2lnbmF0dXJl"
	text := "token " + jwt + " done"
	var pieces []string
	for i := 0; i < len(text); i += 5 {
		pieces = append(pieces, text[i:min(i+5, len(text))])
	}
	out, err := redactStream(t, s, chatStream(pieces...), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := streamContent(t, out)[0]
	if got != "token [REDACTED:jwt] done" {
		t.Errorf("got %q", got)
	}
}

func TestStreamLimitsAndMalformed(t *testing.T) {
	g := mustGuard(t, Config{MaxEventBytes: 1024})
	s := g.Scanner(Apply{PII: true})
	_, err := redactStream(t, s, "data: "+strings.Repeat("a", 2000)+"\n\n", nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("big event: %v", err)
	}
	_, err = redactStream(t, s, "data: "+strings.Repeat("a", 2000), []int{100, 100, 100})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("big unterminated event: %v", err)
	}
	_, err = redactStream(t, s, "data: {\"choices\":[}\n\n", nil)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed: %v", err)
	}
	// Passing through an inactive scanner still validates.
	_, err = redactStream(t, g.Scanner(Apply{}), "data: {\"a\":\n\n", nil)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("inactive malformed: %v", err)
	}
}

func TestStreamLineEndings(t *testing.T) {
	s := allOn(t)
	in := "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x a@b.com \"}}]}\r\n\r\ndata: [DONE]\r\r"
	for _, w := range [][]int{nil, {1, 1, 1}, {len(in) - 3}, {70, 1, 1}} {
		out, err := redactStream(t, s, in, w)
		if err != nil {
			t.Fatal(err)
		}
		want := "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x [REDACTED:email] \"}}]}\n\ndata: [DONE]\n\n"
		if out != want {
			t.Errorf("writes %v: got %q", w, out)
		}
	}
}

// TestStreamTTFB: the first event is written downstream before the next
// upstream event exists.
func TestStreamTTFB(t *testing.T) {
	s := allOn(t)
	pr, pw := io.Pipe()
	sr := s.NewStreamRedactor(pw)
	lines := make(chan string, 10)
	go func() {
		br := bufio.NewReader(pr)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- l
		}
	}()
	first := `data: {"choices":[{"index":0,"delta":{"content":"Hello, world! "}}]}` + "\n\n"
	done := make(chan error, 1)
	go func() {
		_, err := sr.Write([]byte(first))
		done <- err
	}()
	select {
	case l := <-lines:
		if !strings.Contains(l, `"Hello, world! "`) {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("first event not emitted before the next was written")
	}
	<-lines // blank line
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := sr.Write([]byte("data: [DONE]\n\n"))
		done <- err
		_ = sr.Close()
		_ = pw.Close()
	}()
	if l := <-lines; l != "data: [DONE]\n" {
		t.Errorf("got %q", l)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStreamReader(t *testing.T) {
	s := allOn(t)
	in := chatStream("mail jo", "hn@exa", "mple.com", " now")
	rc := s.NewStreamReader(io.NopCloser(iotestOneByte(strings.NewReader(in))))
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if got := streamContent(t, string(out))[0]; got != "mail [REDACTED:email] now" {
		t.Errorf("got %q", got)
	}
	if h := rc.Hits(); h.Count(Email) != 1 || h.Total() != 1 {
		t.Errorf("hits = %v", h)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}

	g := mustGuard(t, Config{})
	rc = g.Scanner(Apply{Secret: true}).NewStreamReader(strings.NewReader(chatStream(testPEM)))
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrBlocked) {
		t.Errorf("blocked reader: %v", err)
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func iotestOneByte(r io.Reader) io.Reader { return oneByteReader{r} }

func TestStreamFlushOrdering(t *testing.T) {
	s := allOn(t)
	// Held content is emitted before a tool call of the same choice and
	// before another event of the same choice without content.
	in := `data: {"choices":[{"index":0,"delta":{"content":"see bob@example.co"}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"send","arguments":"{}"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"content":" done"},"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	out, err := redactStream(t, s, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `data: {"choices":[{"index":0,"delta":{"content":"see "}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"content":"[REDACTED:email]"}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"send","arguments":"{}"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"content":" done"},"finish_reason":"stop"}]}` + "\n\n" +
		"data: [DONE]\n\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestStreamSyntheticOnClose(t *testing.T) {
	s := allOn(t)
	// No [DONE]: Close emits the held text, keeping the event name and
	// dropping the id.
	in := "event: delta\nid: 1\ndata: {\"delta\":\"mail ann@exa\",\"n\":1}\n\nevent: delta\nid: 2\ndata: {\"delta\":\"mple.org\",\"n\":2}\n\n"
	out, err := redactStream(t, s, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "event: delta\nid: 1\ndata: {\"delta\":\"mail \",\"n\":1}\n\n" +
		"event: delta\nid: 2\ndata: {\"delta\":\"\",\"n\":2}\n\n" +
		"event: delta\ndata: {\"delta\":\"[REDACTED:email]\",\"n\":2}\n\n"
	if out != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
}

func TestStreamTooManyChannels(t *testing.T) {
	s := allOn(t)
	var b strings.Builder
	for i := range maxChannels + 1 {
		fmt.Fprintf(&b, `data: {"choices":[{"index":%d,"delta":{"content":"x"}}]}`+"\n\n", i)
	}
	if _, err := redactStream(t, s, b.String(), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err = %v", err)
	}
}

func TestStreamInactivePassThrough(t *testing.T) {
	g := mustGuard(t, Config{})
	in := chatStream("mail jo", "hn@example.com now")
	out, err := redactStream(t, g.Scanner(Apply{}), in, []int{7, 100})
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("inactive scanner changed the stream:\n%s", out)
	}
}

func TestStreamForcedReleaseKeepsEarlierMatches(t *testing.T) {
	g := mustGuard(t, Config{HoldBack: 64})
	s := g.Scanner(Apply{PII: true, Secret: true})
	long := "sk-proj-" + strings.Repeat("a1B2c3D4", 20)
	// One event brings an email and the start of a key longer than the
	// hold-back; the rest of the key follows.
	out, err := redactStream(t, s, chatStream("mail a@b.com key "+long[:100], long[100:]+" end"), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := streamContent(t, out)[0]
	if got != "mail [REDACTED:email] key [REDACTED:api_key] end" {
		t.Errorf("got %q", got)
	}
}
