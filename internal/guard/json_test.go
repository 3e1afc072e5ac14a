package guard

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRedactJSON(t *testing.T) {
	s := allOn(t)
	tests := []struct {
		name string
		in   string
		want string
		hits int
	}{
		{
			"chat request",
			`{"model":"gpt-4o","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"I am ann@example.org, card 4111111111111111"}],"max_tokens":64}`,
			`{"model":"gpt-4o","messages":[{"role":"system","content":"be nice"},{"role":"user","content":"I am [REDACTED:email], card [REDACTED:card]"}],"max_tokens":64}`,
			2,
		},
		{
			"content parts",
			`{"messages":[{"role":"user","content":[{"type":"text","text":"ssn 123-45-6789"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
			`{"messages":[{"role":"user","content":[{"type":"text","text":"ssn [REDACTED:ssn]"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
			1,
		},
		{
			"response",
			`{"choices":[{"index":0,"message":{"role":"assistant","content":"mail bob@example.com"},"finish_reason":"stop"}]}`,
			`{"choices":[{"index":0,"message":{"role":"assistant","content":"mail [REDACTED:email]"},"finish_reason":"stop"}]}`,
			1,
		},
		{
			"keys and numbers untouched",
			`{"a@b.com": 4111111111111111, "x": ["c@d.com", 1e3, true, null]}`,
			`{"a@b.com": 4111111111111111, "x": ["[REDACTED:email]", 1e3, true, null]}`,
			1,
		},
		{
			"escapes decoded before scanning",
			`{"t":"john\u0040example.com\nnext \"q\" caf\u00e9"}`,
			`{"t":"[REDACTED:email]\nnext \"q\" café"}`,
			1,
		},
		{
			"whitespace preserved",
			"{\n  \"t\" : \"no pii here\" ,\n  \"n\" : [ 1 , 2 ]\n}\n",
			"{\n  \"t\" : \"no pii here\" ,\n  \"n\" : [ 1 , 2 ]\n}\n",
			0,
		},
		{"top-level string", `"ip 203.0.113.5"`, `"ip [REDACTED:ip]"`, 1},
		{"unicode kept", `{"t":"日本 a@b.jp 🙂"}`, `{"t":"日本 [REDACTED:email] 🙂"}`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, h, err := s.RedactJSON([]byte(tc.in), nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if h.Total() != tc.hits {
				t.Errorf("hits = %v, want %d", h, tc.hits)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON")
			}
		})
	}
}

func TestRedactJSONPaths(t *testing.T) {
	s := allOn(t)
	only, err := NewPaths("messages.*.content")
	if err != nil {
		t.Fatal(err)
	}
	in := `{"user":"ann@example.org","messages":[{"role":"user","name":"bob@example.org","content":"c@d.com"},{"content":[{"type":"text","text":"e@f.com"}]}]}`
	want := `{"user":"ann@example.org","messages":[{"role":"user","name":"bob@example.org","content":"[REDACTED:email]"},{"content":[{"type":"text","text":"[REDACTED:email]"}]}]}`
	got, _, err := s.RedactJSON([]byte(in), only)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	idx, _ := NewPaths("messages.1")
	got, _, _ = s.RedactJSON([]byte(in), idx)
	if !strings.Contains(string(got), `"c@d.com"`) || strings.Contains(string(got), `e@f.com`) {
		t.Errorf("index path: %s", got)
	}
	for _, bad := range []string{"", "a..b", ".a"} {
		if _, err := NewPaths(bad); err == nil {
			t.Errorf("NewPaths(%q): no error", bad)
		}
	}
}

func TestRedactJSONErrors(t *testing.T) {
	g := mustGuard(t, Config{MaxDepth: 4, MaxInputBytes: 1 << 10})
	s := g.Scanner(Apply{PII: true, Secret: true})
	tests := []struct {
		in   string
		want error
	}{
		{`{"a":1`, ErrMalformed},
		{`{"a":1}x`, ErrMalformed},
		{`{"a":01}`, ErrMalformed},
		{`{"a":"\x"}`, ErrMalformed},
		{"{\"a\":\"\x01\"}", ErrMalformed},
		{"{\"a\":\"\xff\"}", ErrMalformed},
		{`{a:1}`, ErrMalformed},
		{`[1,]`, ErrMalformed},
		{``, ErrMalformed},
		{`tru`, ErrMalformed},
		{`[[[[[1]]]]]`, ErrTooLarge},
		{`"` + strings.Repeat("a", 2000) + `"`, ErrTooLarge},
		{`{"k":"` + strings.ReplaceAll(testPEM, "\n", `\n`) + `"}`, ErrBlocked},
	}
	for _, tc := range tests {
		out, _, err := s.RedactJSON([]byte(tc.in), nil)
		if !errors.Is(err, tc.want) {
			t.Errorf("RedactJSON(%.40q) = %v, want %v", tc.in, err, tc.want)
		}
		if out != nil {
			t.Errorf("RedactJSON(%.40q) returned output with an error", tc.in)
		}
	}
	// An inactive scanner validates too.
	if _, _, err := g.Scanner(Apply{}).RedactJSON([]byte(`{"a":`), nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("inactive: %v", err)
	}
	// Lone surrogates are accepted and become U+FFFD when re-encoded.
	out, _, err := s.RedactJSON([]byte(`["\ud800 a@b.com"]`), nil)
	if err != nil || string(out) != "[\"\uFFFD [REDACTED:email]\"]" {
		t.Errorf("surrogate: %s %v", out, err)
	}
}

func TestConcurrentUse(t *testing.T) {
	g := mustGuard(t, Config{})
	s := g.Scanner(Apply{PII: true, Secret: true})
	doc := []byte(`{"messages":[{"role":"user","content":"a@b.com 4111111111111111"}]}`)
	want := `{"messages":[{"role":"user","content":"[REDACTED:email] [REDACTED:card]"}]}`
	done := make(chan error, 8)
	for range 8 {
		go func() {
			for range 200 {
				out, _, err := s.RedactJSON(doc, nil)
				if err == nil && string(out) != want {
					err = errors.New("wrong output " + string(out))
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
