// Package echo is the demo model upstream of `warden serve --demo`: an
// OpenAI-compatible server that answers every request by echoing the caller's
// last message, followed by a sample email address, a phone number and a fake
// API key, so that Warden's redaction is visible end to end.
//
// It serves POST /v1/chat/completions (JSON, or Server-Sent Events in the
// OpenAI chunk format with "stream": true, cut so that the email address is
// split across two chunks), POST /v1/completions (likewise), POST
// /v1/embeddings (small deterministic vectors), POST /v1/responses (minimal,
// JSON or SSE), GET /v1/models (the model catalogue of the example policy
// bundle), and two internal-tool endpoints of the reference domain:
// GET /api/traces/{id} and POST /api/indexes/{id}/rebuild.
//
// It is a test double for a real model provider, never a production service:
// it holds no state and validates only what it needs to answer.
package echo

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Sample values appended to every reply. Each is matched by one of Warden's
// guard detectors (email, phone, api_key).
const (
	SampleEmail  = "jane.doe@example.com"
	SamplePhone  = "+1 415 555 0100"
	SampleSecret = "sk-proj-4fT9xQ2LmN8vR1sK7pW3yZ6bC0dE5gH9jA2uV4"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// EmbeddingDimensions is the length of the vectors /v1/embeddings returns
// when the request asks for no "dimensions".
const EmbeddingDimensions = 8

// MaxEmbeddingDimensions bounds the "dimensions" a request may ask for.
const MaxEmbeddingDimensions = 4096

// DefaultModels returns the model ids of the example policy bundle's catalogue
// (examples/policy/entities.json), which /v1/models lists when Config.Models
// is nil.
func DefaultModels() []string {
	return []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-3-8b-dev"}
}

// Config configures the echo server. The zero value is usable.
type Config struct {
	// Clock stamps "created" fields; nil means time.Now.
	Clock func() time.Time
	// Models are the ids /v1/models lists; nil means DefaultModels.
	Models []string
	// ChunkBytes is the most bytes of text one streamed chunk carries;
	// 0 means 8. Small chunks make the sample email span two chunks.
	ChunkBytes int
}

type server struct {
	clock  func() time.Time
	models []string
	chunk  int
	seq    atomic.Uint64
}

// Handler returns the echo server's handler.
func Handler(cfg Config) http.Handler {
	s := &server{clock: cfg.Clock, models: cfg.Models, chunk: cfg.ChunkBytes}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.models == nil {
		s.models = DefaultModels()
	}
	if s.chunk <= 0 {
		s.chunk = 8
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.chatCompletions)
	mux.HandleFunc("POST /v1/completions", s.completions)
	mux.HandleFunc("POST /v1/embeddings", s.embeddings)
	mux.HandleFunc("POST /v1/responses", s.responses)
	mux.HandleFunc("GET /v1/models", s.listModels)
	mux.HandleFunc("GET /api/traces/{id}", s.trace)
	mux.HandleFunc("POST /api/indexes/{id}/rebuild", s.rebuildIndex)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found_error", "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// Reply is the text the echo server answers a prompt with.
func Reply(prompt string) string {
	return "Echo: " + prompt + "\nYou can reach our support at " + SampleEmail +
		" or " + SamplePhone + ". Debug key: " + SampleSecret
}

func (s *server) id(prefix string) string {
	return fmt.Sprintf("%s-echo-%d", prefix, s.seq.Add(1))
}

// decode reads a JSON object body into v.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "malformed JSON body: "+err.Error())
		return false
	}
	return true
}

// text returns the text of an OpenAI "content": a string, or an array of
// parts whose "text" members are joined.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

func lastUser(msgs []message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return text(msgs[i].Content)
		}
	}
	return ""
}

func (s *server) chatCompletions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model    string    `json:"model"`
		Messages []message `json:"messages"`
		Stream   bool      `json:"stream"`
	}
	if !decode(w, r, &req) || !requireModel(w, req.Model) {
		return
	}
	reply := Reply(lastUser(req.Messages))
	id, created := s.id("chatcmpl"), s.clock().Unix()
	if req.Stream {
		chunk := func(delta map[string]any, finish any) any {
			return map[string]any{
				"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
			}
		}
		events := []any{chunk(map[string]any{"role": "assistant", "content": ""}, nil)}
		for _, part := range split(reply, s.chunk) {
			events = append(events, chunk(map[string]any{"content": part}, nil))
		}
		events = append(events, chunk(map[string]any{}, "stop"))
		stream(w, events, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "object": "chat.completion", "created": created, "model": req.Model,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": reply},
			"finish_reason": "stop",
		}},
		"usage": usage(lastUser(req.Messages), reply),
	})
}

func (s *server) completions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string          `json:"model"`
		Prompt json.RawMessage `json:"prompt"`
		Stream bool            `json:"stream"`
	}
	if !decode(w, r, &req) || !requireModel(w, req.Model) {
		return
	}
	prompt := text(req.Prompt)
	if prompt == "" {
		var ps []string
		if json.Unmarshal(req.Prompt, &ps) == nil && len(ps) > 0 {
			prompt = ps[len(ps)-1]
		}
	}
	reply := Reply(prompt)
	id, created := s.id("cmpl"), s.clock().Unix()
	choice := func(t string, finish any) any {
		return map[string]any{
			"id": id, "object": "text_completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "text": t, "logprobs": nil, "finish_reason": finish}},
		}
	}
	if req.Stream {
		var events []any
		for _, part := range split(reply, s.chunk) {
			events = append(events, choice(part, nil))
		}
		events = append(events, choice("", "stop"))
		stream(w, events, true)
		return
	}
	resp := choice(reply, "stop").(map[string]any)
	resp["usage"] = usage(prompt, reply)
	writeJSON(w, http.StatusOK, resp)
}

func (s *server) embeddings(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if !decode(w, r, &req) || !requireModel(w, req.Model) {
		return
	}
	inputs, ok := embeddingInputs(req.Input)
	if !ok {
		writeError(w, http.StatusBadRequest, "invalid_request_error", `"input" must be a string, an array of strings, or token arrays`)
		return
	}
	dims := req.Dimensions
	switch {
	case dims == 0:
		dims = EmbeddingDimensions
	case dims < 0 || dims > MaxEmbeddingDimensions:
		writeError(w, http.StatusBadRequest, "invalid_request_error", fmt.Sprintf(`"dimensions" must be 1 to %d`, MaxEmbeddingDimensions))
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", `"encoding_format" must be "float" or "base64"`)
		return
	}
	data := make([]any, 0, len(inputs))
	tokens := 0
	for i, in := range inputs {
		vec := Embed(in, dims)
		tokens += len(strings.Fields(in))
		var emb any = vec
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 0, 4*len(vec))
			for _, f := range vec {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(float32(f)))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": emb})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// embeddingInputs accepts a string, an array of strings, an array of tokens
// or an array of token arrays (token arrays are embedded by their JSON text).
func embeddingInputs(raw json.RawMessage) ([]string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}, true
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		return ss, true
	}
	var toks []int64
	if json.Unmarshal(raw, &toks) == nil && len(toks) > 0 {
		return []string{string(raw)}, true
	}
	var tokss [][]int64
	if json.Unmarshal(raw, &tokss) == nil && len(tokss) > 0 {
		out := make([]string, len(tokss))
		for i, t := range tokss {
			b, _ := json.Marshal(t)
			out[i] = string(b)
		}
		return out, true
	}
	return nil, false
}

// Embed returns the deterministic unit vector of dims dimensions the echo
// server gives input: derived from SHA-256 of the input, so equal inputs get
// equal vectors.
func Embed(input string, dims int) []float64 {
	vec := make([]float64, dims)
	var norm float64
	var block [sha256.Size]byte
	for i := range vec {
		if i%8 == 0 {
			block = sha256.Sum256(fmt.Appendf(nil, "%d\x00%s", i/8, input))
		}
		u := binary.BigEndian.Uint32(block[(i%8)*4:])
		vec[i] = float64(u)/math.MaxUint32*2 - 1
		norm += vec[i] * vec[i]
	}
	if norm = math.Sqrt(norm); norm > 0 {
		for i := range vec {
			vec[i] /= norm
		}
	}
	return vec
}

func (s *server) responses(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string          `json:"model"`
		Input  json.RawMessage `json:"input"`
		Stream bool            `json:"stream"`
	}
	if !decode(w, r, &req) || !requireModel(w, req.Model) {
		return
	}
	prompt := text(req.Input)
	if prompt == "" {
		var items []message
		if json.Unmarshal(req.Input, &items) == nil {
			prompt = lastUser(items)
		}
	}
	reply := Reply(prompt)
	id, msgID, created := s.id("resp"), s.id("msg"), s.clock().Unix()
	response := func(status, out string) map[string]any {
		output := []any{}
		if status == "completed" {
			output = append(output, map[string]any{
				"type": "message", "id": msgID, "status": "completed", "role": "assistant",
				"content": []any{map[string]any{"type": "output_text", "text": out, "annotations": []any{}}},
			})
		}
		return map[string]any{
			"id": id, "object": "response", "created_at": created, "status": status,
			"model": req.Model, "output": output, "usage": usage(prompt, out),
		}
	}
	if req.Stream {
		events := []any{map[string]any{"type": "response.created", "sequence_number": 0, "response": response("in_progress", "")}}
		for _, part := range split(reply, s.chunk) {
			events = append(events, map[string]any{
				"type": "response.output_text.delta", "sequence_number": len(events),
				"item_id": msgID, "output_index": 0, "content_index": 0, "delta": part,
			})
		}
		events = append(events, map[string]any{"type": "response.completed", "sequence_number": len(events), "response": response("completed", reply)})
		stream(w, events, false)
		return
	}
	writeJSON(w, http.StatusOK, response("completed", reply))
}

func (s *server) listModels(w http.ResponseWriter, _ *http.Request) {
	created := s.clock().Unix()
	data := make([]any, 0, len(s.models))
	for _, m := range s.models {
		data = append(data, map[string]any{"id": m, "object": "model", "created": created, "owned_by": "warden-echo"})
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *server) trace(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"id":     r.PathValue("id"),
		"object": "trace",
		"spans": []any{
			map[string]any{"name": "retrieve", "duration_ms": 12},
			map[string]any{"name": "generate", "duration_ms": 840},
		},
		"output": Reply("trace " + r.PathValue("id")),
	})
}

func (s *server) rebuildIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, map[string]any{
		"id": r.PathValue("id"), "object": "index.rebuild", "status": "queued",
		"queued_at": s.clock().UTC().Format(time.RFC3339),
	})
}

func requireModel(w http.ResponseWriter, model string) bool {
	if model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", `"model" is required`)
		return false
	}
	return true
}

func usage(prompt, reply string) map[string]any {
	p, c := len(strings.Fields(prompt)), len(strings.Fields(reply))
	return map[string]any{
		"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
		"input_tokens": p, "output_tokens": c,
	}
}

// split cuts s into pieces of at most n bytes, never inside a UTF-8 sequence
// (a piece may be longer than n only to hold one whole rune).
func split(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		end := min(n, len(s))
		for end < len(s) && !utf8.RuneStart(s[end]) {
			end++
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

// stream writes events as Server-Sent Events, flushing after each, and
// "data: [DONE]" at the end when done is set (the chat and completions APIs;
// the Responses API ends with its response.completed event). Responses API
// events also carry an "event:" line with their type.
func stream(w http.ResponseWriter, events []any, done bool) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			return
		}
		if !done {
			if m, ok := ev.(map[string]any); ok {
				fmt.Fprintf(w, "event: %s\n", m["type"])
			}
		}
		fmt.Fprintf(w, "data: %s\n\n", b)
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return
		}
	}
	if done {
		fmt.Fprint(w, "data: [DONE]\n\n")
		_ = rc.Flush()
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers in the OpenAI error format.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": nil,
	}})
}
