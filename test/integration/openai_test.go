package integration_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/wardenhq/warden/internal/echo"
)

// seenRequest is one request the upstream received from the gateway.
type seenRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

// recordingUpstream is the demo's echo model, recording every request.
type recordingUpstream struct {
	mu   sync.Mutex
	seen []seenRequest
	next http.Handler
}

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, echo.MaxBodyBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	u.mu.Lock()
	u.seen = append(u.seen, seenRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
	u.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	u.next.ServeHTTP(w, r)
}

func (u *recordingUpstream) requests() []seenRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

// TestOpenAISDK drives the gateway with the official OpenAI Go SDK: chat
// completions with and without streaming, embeddings, model listing and a
// denial, per reference role of the example bundle; redaction holds in
// streamed output where the echo upstream splits the email across SSE
// chunks; and no caller token reaches the upstream.
func TestOpenAISDK(t *testing.T) {
	needBinary(t)
	up := &recordingUpstream{next: echo.Handler(echo.Config{})}
	upstream := httptest.NewServer(up)
	defer upstream.Close()
	e := newEnv(t, upstream.URL, "", "")
	srv := startServer(t, e.config)

	client := func(persona string) openai.Client {
		return openai.NewClient(
			option.WithBaseURL(srv.data+"/v1/"),
			option.WithAPIKey(e.tokens[persona]),
			option.WithMaxRetries(0),
		)
	}
	const prompt = "Hello, Warden"
	chatParams := func(model string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)},
		}
	}
	// Fragments of the sample email and secret that must not survive
	// redaction (the echo upstream streams 8-byte chunks, so the email is
	// split across two of them).
	rawFragments := []string{echo.SampleEmail, "jane.doe", "example.com", echo.SampleSecret, "sk-proj-", echo.SampleSecret[len(echo.SampleSecret)-12:]}

	t.Run("chat/redacted without pii:read", func(t *testing.T) {
		c := client("eve")
		resp, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-4o"))
		if err != nil {
			t.Fatalf("eve gpt-4o: %v", err)
		}
		if len(resp.Choices) != 1 {
			t.Fatalf("choices = %d, want 1", len(resp.Choices))
		}
		got := resp.Choices[0].Message.Content
		if !strings.Contains(got, "Echo: "+prompt) || !strings.Contains(got, "[REDACTED:email]") || !strings.Contains(got, "[REDACTED:") {
			t.Errorf("content = %q, want the echo with the email redacted", got)
		}
		for _, f := range rawFragments {
			if strings.Contains(got, f) {
				t.Errorf("content %q holds raw %q", got, f)
			}
		}
	})

	t.Run("chat/pii shown with pii:read, secret still redacted", func(t *testing.T) {
		c := client("priya")
		resp, err := c.Chat.Completions.New(t.Context(), chatParams("gpt-4o-mini"))
		if err != nil {
			t.Fatalf("priya gpt-4o-mini: %v", err)
		}
		got := resp.Choices[0].Message.Content
		if !strings.Contains(got, echo.SampleEmail) || strings.Contains(got, echo.SampleSecret) || !strings.Contains(got, "[REDACTED:") {
			t.Errorf("content = %q, want the email shown and the secret redacted", got)
		}
	})

	t.Run("chat/streaming redacts across chunks", func(t *testing.T) {
		c := client("eve")
		stream := c.Chat.Completions.NewStreaming(t.Context(), chatParams("claude-sonnet"))
		defer stream.Close()
		var acc openai.ChatCompletionAccumulator
		var deltas []string
		for stream.Next() {
			chunk := stream.Current()
			acc.AddChunk(chunk)
			for _, ch := range chunk.Choices {
				if ch.Delta.Content != "" {
					deltas = append(deltas, ch.Delta.Content)
				}
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("stream: %v", err)
		}
		if len(deltas) < 2 {
			t.Fatalf("got %d content deltas, want a real stream", len(deltas))
		}
		got := strings.Join(deltas, "")
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != got {
			t.Errorf("accumulated %+v, want one choice with %q", acc.Choices, got)
		}
		if !strings.Contains(got, "Echo: "+prompt) || !strings.Contains(got, "[REDACTED:email]") {
			t.Errorf("streamed content = %q, want the echo with [REDACTED:email]", got)
		}
		for _, f := range rawFragments {
			if strings.Contains(got, f) {
				t.Errorf("streamed content %q holds raw %q", got, f)
			}
		}
		// The email is split across chunks upstream: it must not appear in
		// any single delta either, even partly.
		for _, d := range deltas {
			if strings.Contains(d, "@example") || strings.Contains(d, "jane.") {
				t.Errorf("delta %q holds part of the email", d)
			}
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		c := client("erin")
		const input = "the quick brown fox"
		resp, err := c.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
			Model: "gpt-4o-mini",
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String(input)},
		})
		if err != nil {
			t.Fatalf("erin embeddings: %v", err)
		}
		want := echo.Embed(input, echo.EmbeddingDimensions)
		if len(resp.Data) != 1 || !slices.Equal(resp.Data[0].Embedding, want) {
			t.Errorf("embeddings = %+v, want one vector %v", resp.Data, want)
		}
	})

	t.Run("models listed per role", func(t *testing.T) {
		want := invocableModels(t, e.policy)
		// Sanity check of the derivation against the demo's promises.
		if !slices.Equal(want["sam"], []string{"gpt-4o-mini"}) {
			t.Fatalf("derived models for sam = %q, want only gpt-4o-mini", want["sam"])
		}
		for _, p := range personas() {
			c := client(p.name)
			page, err := c.Models.List(t.Context())
			if err != nil {
				t.Errorf("%s: Models.List: %v", p.name, err)
				continue
			}
			var got []string
			for _, m := range page.Data {
				got = append(got, m.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, want[p.name]) {
				t.Errorf("%s sees models %q, want %q", p.name, got, want[p.name])
			}
		}
	})

	t.Run("denied", func(t *testing.T) {
		tests := []struct {
			persona, model, reason string
			stream                 bool
		}{
			{"oscar", "gpt-4o", "premium-tier models need the models:premium scope", false},
			{"oscar", "gpt-4o", "premium-tier models need the models:premium scope", true},
			{"priya", "claude-sonnet", "premium-tier models need the models:premium scope", false},
			{"sam", "gpt-4o", "premium-tier models need the models:premium scope", false},
			{"sam", "llama-3-8b-dev", "denied", false}, // no permit: the default deny
		}
		for _, tc := range tests {
			c := client(tc.persona)
			var err error
			if tc.stream {
				stream := c.Chat.Completions.NewStreaming(t.Context(), chatParams(tc.model))
				for stream.Next() {
					t.Errorf("%s %s stream: got a chunk, want a 403", tc.persona, tc.model)
				}
				err = stream.Err()
				stream.Close()
			} else {
				_, err = c.Chat.Completions.New(t.Context(), chatParams(tc.model))
			}
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Errorf("%s %s (stream %v): err = %v, want an *openai.Error", tc.persona, tc.model, tc.stream, err)
				continue
			}
			t.Logf("%s %s stream=%v: %d %q", tc.persona, tc.model, tc.stream, apiErr.StatusCode, apiErr.Message)
			if apiErr.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s: status %d, want 403 (%s)", tc.persona, tc.model, apiErr.StatusCode, apiErr.RawJSON())
			}
			if !strings.Contains(apiErr.Message, tc.reason) || apiErr.Message == "" {
				t.Errorf("%s %s: message %q, want the policy reason %q", tc.persona, tc.model, apiErr.Message, tc.reason)
			}
		}
	})

	t.Run("no token reaches the upstream", func(t *testing.T) {
		seen := up.requests()
		if len(seen) < 6 {
			t.Fatalf("upstream saw %d requests, want the allowed calls above", len(seen))
		}
		for _, r := range seen {
			if got := r.header.Get("Authorization"); got != upstreamKey {
				t.Errorf("%s %s: upstream Authorization %q, want the configured upstream credential", r.method, r.path, got)
			}
			for name, tok := range e.tokens {
				sig := tok[strings.LastIndexByte(tok, '.')+1:]
				for h, vs := range r.header {
					for _, v := range vs {
						if strings.Contains(v, sig) {
							t.Errorf("%s %s: header %s carries %s's token", r.method, r.path, h, name)
						}
					}
				}
				if bytes.Contains(r.body, []byte(sig)) {
					t.Errorf("%s %s: body carries %s's token", r.method, r.path, name)
				}
			}
		}
	})

	srv.stop(t)
	logs := srv.stderr.String()
	for name, tok := range e.tokens {
		if strings.Contains(logs, tok[strings.LastIndexByte(tok, '.')+1:]) {
			t.Errorf("%s's token is in the gateway's logs", name)
		}
	}
}
