package echo_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/echo"
)

var fixed = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(echo.Handler(echo.Config{Clock: func() time.Time { return fixed }}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestEchoChatCompletion(t *testing.T) {
	srv := newServer(t)
	resp, b := post(t, srv.URL+"/v1/chat/completions",
		`{"model":"gpt-4o","messages":[{"role":"system","content":"be nice"},{"role":"user","content":[{"type":"text","text":"hello there"}]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var got struct {
		Object  string `json:"object"`
		Model   string `json:"model"`
		Created int64  `json:"created"`
		Choices []struct {
			Message struct{ Role, Content string } `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Object != "chat.completion" || got.Model != "gpt-4o" || got.Created != fixed.Unix() || len(got.Choices) != 1 {
		t.Fatalf("unexpected response %s", b)
	}
	if want := echo.Reply("hello there"); got.Choices[0].Message.Content != want {
		t.Errorf("content = %q, want %q", got.Choices[0].Message.Content, want)
	}
	for _, s := range []string{echo.SampleEmail, echo.SamplePhone, echo.SampleSecret} {
		if !strings.Contains(got.Choices[0].Message.Content, s) {
			t.Errorf("reply lacks %q", s)
		}
	}
}

// readSSE returns the data payloads of an SSE body.
func readSSE(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEchoChatCompletionStream(t *testing.T) {
	srv := newServer(t)
	resp, b := post(t, srv.URL+"/v1/chat/completions",
		`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"héllo wörld"}]}`)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}
	data := readSSE(t, strings.NewReader(string(b)))
	if len(data) < 4 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %q", data)
	}
	var text strings.Builder
	var pieces []string
	finish := ""
	for _, d := range data[:len(data)-1] {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta        struct{ Content string } `json:"delta"`
				FinishReason *string                  `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %q: %v", d, err)
		}
		if c.Object != "chat.completion.chunk" || len(c.Choices) != 1 {
			t.Fatalf("bad chunk %q", d)
		}
		text.WriteString(c.Choices[0].Delta.Content)
		if c.Choices[0].Delta.Content != "" {
			pieces = append(pieces, c.Choices[0].Delta.Content)
		}
		if c.Choices[0].FinishReason != nil {
			finish = *c.Choices[0].FinishReason
		}
	}
	if want := echo.Reply("héllo wörld"); text.String() != want {
		t.Errorf("streamed text = %q, want %q", text.String(), want)
	}
	if finish != "stop" {
		t.Errorf("finish_reason = %q, want stop", finish)
	}
	if slices.ContainsFunc(pieces, func(p string) bool { return strings.Contains(p, echo.SampleEmail) }) {
		t.Errorf("the email address is not split across chunks: %q", pieces)
	}
}

func TestEchoCompletions(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct{ name, body string }{
		{"string", `{"model":"gpt-4o","prompt":"say hi"}`},
		{"array", `{"model":"gpt-4o","prompt":["x","say hi"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b := post(t, srv.URL+"/v1/completions", tc.body)
			var got struct {
				Object  string                  `json:"object"`
				Choices []struct{ Text string } `json:"choices"`
			}
			if err := json.Unmarshal(b, &got); err != nil || len(got.Choices) != 1 {
				t.Fatalf("%s: %v", b, err)
			}
			if want := echo.Reply("say hi"); got.Object != "text_completion" || got.Choices[0].Text != want {
				t.Errorf("got %s, want text %q", b, want)
			}
		})
	}
	resp, b := post(t, srv.URL+"/v1/completions", `{"model":"gpt-4o","prompt":"say hi","stream":true}`)
	data := readSSE(t, strings.NewReader(string(b)))
	if resp.StatusCode != 200 || len(data) < 3 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("stream: %d %q", resp.StatusCode, data)
	}
}

func TestEchoEmbeddings(t *testing.T) {
	srv := newServer(t)
	type emb struct {
		Object string `json:"object"`
		Data   []struct {
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
	}
	_, b := post(t, srv.URL+"/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b","a"]}`)
	var got emb
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Object != "list" || len(got.Data) != 3 {
		t.Fatalf("got %s", b)
	}
	for i, d := range got.Data {
		if d.Index != i || len(d.Embedding) != echo.EmbeddingDimensions {
			t.Errorf("entry %d: index %d, %d dims", i, d.Index, len(d.Embedding))
		}
		var n float64
		for _, f := range d.Embedding {
			n += f * f
		}
		if math.Abs(n-1) > 1e-9 {
			t.Errorf("entry %d not a unit vector: |v|^2 = %v", i, n)
		}
	}
	if !slices.Equal(got.Data[0].Embedding, got.Data[2].Embedding) || slices.Equal(got.Data[0].Embedding, got.Data[1].Embedding) {
		t.Errorf("embeddings are not deterministic per input")
	}

	_, b = post(t, srv.URL+"/v1/embeddings", `{"model":"m","input":"a","encoding_format":"base64","dimensions":4}`)
	var b64 struct {
		Data []struct{ Embedding string } `json:"data"`
	}
	if err := json.Unmarshal(b, &b64); err != nil || len(b64.Data) != 1 {
		t.Fatalf("%s: %v", b, err)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 16 {
		t.Errorf("base64 embedding: %d bytes, %v", len(raw), err)
	}
}

func TestEchoResponses(t *testing.T) {
	srv := newServer(t)
	_, b := post(t, srv.URL+"/v1/responses", `{"model":"gpt-4o","input":"ping"}`)
	var got struct {
		Object string `json:"object"`
		Status string `json:"status"`
		Output []struct {
			Content []struct{ Type, Text string } `json:"content"`
		} `json:"output"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Object != "response" || got.Status != "completed" || len(got.Output) != 1 || len(got.Output[0].Content) != 1 ||
		got.Output[0].Content[0].Text != echo.Reply("ping") {
		t.Fatalf("got %s", b)
	}
	_, b = post(t, srv.URL+"/v1/responses", `{"model":"gpt-4o","input":[{"role":"user","content":"ping"}],"stream":true}`)
	var text strings.Builder
	for _, d := range readSSE(t, strings.NewReader(string(b))) {
		var ev struct{ Type, Delta string }
		if err := json.Unmarshal([]byte(d), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "response.output_text.delta" {
			text.WriteString(ev.Delta)
		}
	}
	if text.String() != echo.Reply("ping") {
		t.Errorf("streamed %q", text.String())
	}
}

func TestEchoModelsAndTools(t *testing.T) {
	srv := newServer(t)
	resp, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Object string
		Data   []struct{ ID string }
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range list.Data {
		ids = append(ids, d.ID)
	}
	if !slices.Equal(ids, echo.DefaultModels()) {
		t.Errorf("models = %q, want %q", ids, echo.DefaultModels())
	}

	resp, err = http.Get(srv.URL + "/api/traces/t-42")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"id":"t-42"`) || !strings.Contains(string(b), echo.SampleEmail) {
		t.Errorf("trace: %d %s", resp.StatusCode, b)
	}
	resp, b = post(t, srv.URL+"/api/indexes/docs/rebuild", "")
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(string(b), `"id":"docs"`) {
		t.Errorf("rebuild: %d %s", resp.StatusCode, b)
	}
}

func TestEchoErrors(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct {
		name, path, body string
		want             int
	}{
		{"malformed JSON", "/v1/chat/completions", `{"model":`, 400},
		{"no model", "/v1/chat/completions", `{"messages":[]}`, 400},
		{"bad input", "/v1/embeddings", `{"model":"m","input":{}}`, 400},
		{"bad dimensions", "/v1/embeddings", `{"model":"m","input":"a","dimensions":-1}`, 400},
		{"unknown path", "/v1/nope", `{}`, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := post(t, srv.URL+tc.path, tc.body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.want, b)
			}
			var e struct {
				Error struct{ Message, Type string }
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error.Message == "" {
				t.Errorf("not an OpenAI error: %s", b)
			}
		})
	}
}

func ExampleHandler() {
	srv := httptest.NewServer(echo.Handler(echo.Config{}))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	fmt.Println(strings.SplitN(out.Choices[0].Message.Content, "\n", 2)[0])
	// Output: Echo: hi
}
