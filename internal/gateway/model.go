package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/wardenhq/warden/internal/policy"
)

// Defaults of ModelLimits.
const (
	DefaultMaxBodyBytes = 8 << 20 // 8 MiB: room for images and long contexts
	DefaultMaxDepth     = 64
	DefaultMaxModelLen  = 256
)

// ModelResourceType is the Cedar entity type of a model.
const ModelResourceType = "Model"

// ModelLimits bounds the parsing of a model API request body. The zero value
// means the defaults.
type ModelLimits struct {
	MaxBodyBytes int64 // 0 -> DefaultMaxBodyBytes
	MaxDepth     int   // nesting of arrays and objects; 0 -> DefaultMaxDepth
	MaxModelLen  int   // bytes of "model"; 0 -> DefaultMaxModelLen
}

func (l ModelLimits) withDefaults() ModelLimits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxModelLen <= 0 {
		l.MaxModelLen = DefaultMaxModelLen
	}
	return l
}

// RequestError is a client error found while reading a request: 400
// invalid_request for malformed input, 413 request_too_large for a body over
// the limit. Message is safe to send to the client; WriteError renders it.
type RequestError struct {
	Status  int
	Code    string
	Message string
}

func (e *RequestError) Error() string { return e.Code + ": " + e.Message }

func badRequest(msg string) *RequestError {
	return &RequestError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: msg}
}

func tooLarge(limit int64) *RequestError {
	return &RequestError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
		Message: fmt.Sprintf("request body larger than %d bytes", limit)}
}

// ModelRequest is what the gateway needs from a model API request body.
type ModelRequest struct {
	Model string
	// MaxTokens is the largest of max_tokens, max_completion_tokens and
	// max_output_tokens (the upper bound the upstream may honour); nil when
	// none is set (or all are null).
	MaxTokens *int64
	Stream    bool
}

// Resource is the Cedar resource of the request: Model::"<model>".
func (m ModelRequest) Resource() policy.Resource {
	return policy.Resource{Type: ModelResourceType, ID: m.Model}
}

// ReadBody reads r up to limit bytes (0: DefaultMaxBodyBytes). A longer body
// is a 413 *RequestError; a read error is returned wrapped.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(limit)
	}
	return b, nil
}

// ParseModelRequest extracts the model, the token limit and the stream flag
// from an OpenAI-compatible request body (chat completions, completions,
// embeddings, responses).
//
// The body must be one valid JSON object within the size and depth limits,
// with no duplicate top-level member names and no member named like a judged
// one in another case ("MODEL", "Max_Tokens"), so Warden and the upstream
// cannot read different values of "model". "model" is a required non-empty string of
// valid UTF-8 without control characters, at most MaxModelLen bytes;
// "stream" a boolean or null; the token limits non-negative integers or null.
// Every error is a *RequestError (400, or 413 for size).
func ParseModelRequest(body []byte, limits ModelLimits) (ModelRequest, error) {
	l := limits.withDefaults()
	var req ModelRequest
	if int64(len(body)) > l.MaxBodyBytes {
		return req, tooLarge(l.MaxBodyBytes)
	}
	if !json.Valid(body) {
		return req, badRequest("request body is not valid JSON")
	}
	if err := checkDepth(body, l.MaxDepth); err != nil {
		return req, err
	}
	s := scanner{b: body}
	s.ws()
	if s.peek() != '{' {
		return req, badRequest("request body must be a JSON object")
	}
	var seen [16][]byte // member names seen, for duplicate detection
	var seenMore map[string]bool
	nseen := 0
	haveModel := false
	var maxTok *int64
	err := s.object(func(name []byte, value []byte) error {
		key, err := nameBytes(name)
		if err != nil {
			return err
		}
		dup := seenMore[string(key)]
		for _, k := range seen[:nseen] {
			if bytes.Equal(k, key) {
				dup = true
			}
		}
		if dup {
			return badRequest(fmt.Sprintf("duplicate member %q in request body", truncate(string(key), 64)))
		}
		if nseen < len(seen) {
			seen[nseen] = key
			nseen++
		} else {
			if seenMore == nil {
				seenMore = make(map[string]bool)
			}
			seenMore[string(key)] = true
		}
		if judgedVariant(key) {
			// encoding/json, and so every Go upstream, matches member
			// names ignoring case and keeps the last: {"model":"a",
			// "MODEL":"b"} is judged as a here and served as b there.
			return badRequest(fmt.Sprintf("member %q: only the exact lower-case name is accepted", truncate(string(key), 64)))
		}
		switch string(key) {
		case "model":
			m, err := modelName(value, l.MaxModelLen)
			if err != nil {
				return err
			}
			req.Model = m
			haveModel = true
		case "stream":
			switch string(value) {
			case "true":
				req.Stream = true
			case "false", "null":
			default:
				return badRequest(`"stream" must be a boolean`)
			}
		case "max_tokens", "max_completion_tokens", "max_output_tokens":
			if string(value) == "null" {
				return nil
			}
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return badRequest(fmt.Sprintf("%q must be a non-negative integer", string(key)))
			}
			if maxTok == nil || n > *maxTok {
				maxTok = &n
			}
		}
		return nil
	})
	if err != nil {
		return ModelRequest{}, err
	}
	if !haveModel {
		return ModelRequest{}, badRequest(`"model" is required`)
	}
	req.MaxTokens = maxTok
	return req, nil
}

// judgedNames are the members ParseModelRequest reads.
func judgedNames() [5]string {
	return [...]string{"model", "stream", "max_tokens", "max_completion_tokens", "max_output_tokens"}
}

// judgedVariant reports whether key is another spelling of a judged member
// under Unicode case folding ("Model", "MODEL", "\u212Aax_tokens" with the
// Kelvin sign), which a case-insensitive decoder would take for it.
func judgedVariant(key []byte) bool {
	for _, n := range judgedNames() {
		if len(key) >= len(n) && len(key) <= 3*len(n) && string(key) != n && bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// modelName decodes and checks the "model" value (raw JSON).
func modelName(value []byte, maxLen int) (string, error) {
	if len(value) == 0 || value[0] != '"' {
		return "", badRequest(`"model" must be a string`)
	}
	if !utf8.Valid(value) {
		return "", badRequest(`"model" is not valid UTF-8`)
	}
	var m string
	if bytes.IndexByte(value, '\\') < 0 {
		m = string(value[1 : len(value)-1])
	} else if err := json.Unmarshal(value, &m); err != nil {
		return "", badRequest(`"model" must be a string`)
	}
	switch {
	case m == "":
		return "", badRequest(`"model" must not be empty`)
	case len(m) > maxLen:
		return "", badRequest(fmt.Sprintf(`"model" is longer than %d bytes`, maxLen))
	case !utf8.ValidString(m): // lone surrogate escapes decode to U+FFFD, so this is defence in depth
		return "", badRequest(`"model" is not valid UTF-8`)
	}
	for _, c := range m {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == utf8.RuneError {
			return "", badRequest(`"model" contains control or invalid characters`)
		}
	}
	return m, nil
}

// nameBytes returns the decoded member name; without escapes it is a
// subslice of raw.
func nameBytes(raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, badRequest("malformed member name")
	}
	return []byte(s), nil
}

func decodeName(raw []byte) (string, error) {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", badRequest("malformed member name")
	}
	return s, nil
}

// checkDepth refuses JSON nested deeper than max. b must be valid JSON.
func checkDepth(b []byte, max int) error {
	depth := 0
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > max {
				return badRequest(fmt.Sprintf("request body nested deeper than %d levels", max))
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// scanner walks JSON that json.Valid has accepted; it does not re-validate.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// object calls f with the raw name (quotes included) and raw value of each
// member of the object at s.i.
func (s *scanner) object(f func(name, value []byte) error) error {
	s.i++ // {
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		start := s.i
		s.skipString()
		name := s.b[start:s.i]
		s.ws()
		s.i++ // :
		s.ws()
		vstart := s.i
		s.skipValue()
		if err := f(name, s.b[vstart:s.i]); err != nil {
			return err
		}
		s.ws()
		if s.peek() == ',' {
			s.i++
			continue
		}
		s.i++ // }
		return nil
	}
}

func (s *scanner) skipString() {
	s.i++ // opening quote
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return
		default:
			s.i++
		}
	}
}

func (s *scanner) skipValue() {
	switch s.peek() {
	case '"':
		s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				s.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return
				}
			}
			s.i++
		}
	default: // number, true, false, null
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return
			}
			s.i++
		}
	}
}

// MaxModelListBytes bounds the upstream /v1/models response FilterModels
// accepts.
const MaxModelListBytes = 16 << 20

// FilterModels rewrites an upstream model list ({"object":"list","data":[
// {"id":…,…},…]}) to the entries whose id allowed accepts, preserving every
// other member of the list and of the kept entries. Member order is not
// preserved (members are written sorted by name). It fails closed: input that
// is not such a list (not valid JSON, over MaxModelListBytes, no "data" array,
// an entry that is not an object with a string "id", duplicate member names in
// the list object or an entry) is an error, to be answered with 502.
func FilterModels(list []byte, allowed func(modelID string) bool) ([]byte, error) {
	if len(list) > MaxModelListBytes {
		return nil, fmt.Errorf("model list larger than %d bytes", MaxModelListBytes)
	}
	if !json.Valid(list) {
		return nil, errors.New("model list is not valid JSON")
	}
	if err := checkDepth(list, DefaultMaxDepth); err != nil {
		return nil, errors.New("model list nested too deeply")
	}
	top, err := members(list)
	if err != nil {
		return nil, fmt.Errorf("model list: %w", err)
	}
	data, ok := top["data"]
	if !ok {
		return nil, errors.New(`model list has no "data" member`)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil || entries == nil {
		return nil, errors.New(`model list "data" is not an array`)
	}
	kept := make([]json.RawMessage, 0, len(entries))
	for i, e := range entries {
		m, err := members(e)
		if err != nil {
			return nil, fmt.Errorf("model list entry %d: %w", i, err)
		}
		idRaw, ok := m["id"]
		if !ok || len(idRaw) == 0 || idRaw[0] != '"' {
			return nil, fmt.Errorf("model list entry %d: no string \"id\"", i)
		}
		var id string
		if err := json.Unmarshal(idRaw, &id); err != nil {
			return nil, fmt.Errorf("model list entry %d: id: %w", i, err)
		}
		if allowed(id) {
			kept = append(kept, e)
		}
	}
	kd, err := json.Marshal(kept)
	if err != nil {
		return nil, fmt.Errorf("encode model list: %w", err)
	}
	top["data"] = kd
	out, err := json.Marshal(top)
	if err != nil {
		return nil, fmt.Errorf("encode model list: %w", err)
	}
	return out, nil
}

// members splits a JSON object (valid JSON) into raw members, refusing
// duplicate names.
func members(b []byte) (map[string]json.RawMessage, error) {
	s := scanner{b: b}
	s.ws()
	if s.peek() != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := make(map[string]json.RawMessage)
	err := s.object(func(name, value []byte) error {
		key, err := decodeName(name)
		if err != nil {
			return errors.New("malformed member name")
		}
		if _, dup := out[key]; dup {
			return fmt.Errorf("duplicate member %q", truncate(key, 64))
		}
		out[key] = value
		return nil
	})
	return out, err
}
