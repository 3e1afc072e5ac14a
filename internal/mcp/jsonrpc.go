package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// JSON-RPC error codes Warden answers with. The first four are JSON-RPC
// 2.0's own; the rest are in the range JSON-RPC reserves for
// implementation-defined server errors and are stable.
const (
	CodeParseError     = -32700 // the body is not JSON
	CodeInvalidRequest = -32600 // not a valid JSON-RPC 2.0 message (or batch)
	CodeMethodNotFound = -32601 // a method Warden does not let through
	CodeInvalidParams  = -32602 // a tool or prompt name, or resource URI, Warden refuses
	CodeDenied         = -32001 // the policy denied the message
	CodeBlocked        = -32002 // a guard blocked the arguments or the result
	CodeUnavailable    = -32003 // the audit log could not take the record (fail closed)
	CodeUpstream       = -32004 // the upstream MCP server failed or answered malformed data
)

// Default bounds of Limits.
const (
	DefaultMaxMessageBytes  = 1 << 20
	DefaultMaxBatch         = 32
	DefaultMaxDepth         = 32
	DefaultMaxResponseBytes = 16 << 20
	// MaxNameBytes bounds a tool or prompt name.
	MaxNameBytes = 128
	// MaxURIBytes bounds a resource URI.
	MaxURIBytes = 2048
	// maxIDBytes bounds a request id.
	maxIDBytes = 256
)

// Limits bounds what one client request may hold. Zero fields take the
// defaults.
type Limits struct {
	// MaxMessageBytes bounds the request body (one message or a batch).
	MaxMessageBytes int
	// MaxBatch bounds the messages of a batch.
	MaxBatch int
	// MaxDepth bounds the nesting of objects and arrays.
	MaxDepth int
	// MaxResponseBytes bounds one upstream JSON response or SSE event.
	MaxResponseBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxResponseBytes <= 0 {
		l.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return l
}

// Message is one JSON-RPC 2.0 message, as the strict parser accepted it.
type Message struct {
	// ID is the request id exactly as sent (a JSON string or integer);
	// nil for a notification.
	ID json.RawMessage
	// Method is the method name; "" for a response.
	Method string
	// Params is the params object, nil when absent.
	Params json.RawMessage
	// Result and Error are set on responses (a client answering a
	// server's request, or the upstream answering the client's).
	Result json.RawMessage
	Error  json.RawMessage
	// Raw is the message's own bytes.
	Raw json.RawMessage
}

// IsRequest reports whether m is a request (a method and an id).
func (m *Message) IsRequest() bool { return m.Method != "" && m.ID != nil }

// IsNotification reports whether m is a notification (a method, no id).
func (m *Message) IsNotification() bool { return m.Method != "" && m.ID == nil }

// IsResponse reports whether m is a response (no method).
func (m *Message) IsResponse() bool { return m.Method == "" }

// RPCError is a JSON-RPC error Warden answers with. Message is public; Err
// is the private cause, kept for the audit record.
type RPCError struct {
	Code    int
	Message string
	Err     error
}

func (e *RPCError) Error() string {
	s := strconv.Itoa(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *RPCError) Unwrap() error { return e.Err }

func rpcErrorf(code int, format string, a ...any) *RPCError {
	return &RPCError{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Parse parses a request body of untrusted bytes: one JSON-RPC 2.0 message
// or a batch (a non-empty array of them). It is strict:
//
//   - at most MaxMessageBytes, valid UTF-8, one JSON value and nothing after
//     it, nested at most MaxDepth deep;
//   - no object anywhere with two members of the same name, ignoring case
//     (Go's JSON decoders, the upstream's among them, fold case: two names
//     that fold alike would let the upstream read another value than the
//     one judged);
//   - every message is an object with "jsonrpc" exactly "2.0" and no member
//     other than jsonrpc, id, method, params, result and error (names
//     compared byte for byte: "Method" is not "method");
//   - an id is a string or an integer (never null, a fraction or an
//     object), at most 256 bytes; a request has a string method and, if
//     any, object params; a response has an id and exactly one of result
//     and error;
//   - a batch holds at most MaxBatch messages and no two with the same id.
//
// Method names are not judged here (see the proxy's method table: a name
// in another case or with spaces is an unknown method). Errors are
// *RPCError with CodeParseError or CodeInvalidRequest.
func Parse(body []byte, lim Limits) (msgs []Message, batch bool, err error) {
	lim = lim.withDefaults()
	if len(body) > lim.MaxMessageBytes {
		return nil, false, rpcErrorf(CodeInvalidRequest, "the message is larger than %d bytes", lim.MaxMessageBytes)
	}
	if !utf8.Valid(body) {
		return nil, false, rpcErrorf(CodeParseError, "the body is not valid UTF-8")
	}
	if err := checkStructure(body, lim.MaxDepth); err != nil {
		return nil, false, err
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(trimmed, &elems); err != nil {
			return nil, false, &RPCError{Code: CodeParseError, Message: "malformed JSON", Err: err}
		}
		switch {
		case len(elems) == 0:
			return nil, true, rpcErrorf(CodeInvalidRequest, "empty batch")
		case len(elems) > lim.MaxBatch:
			return nil, true, rpcErrorf(CodeInvalidRequest, "a batch holds at most %d messages", lim.MaxBatch)
		}
		msgs = make([]Message, 0, len(elems))
		seen := make(map[string]bool, len(elems))
		for i, e := range elems {
			m, err := parseMessage(e)
			if err != nil {
				err.Message = fmt.Sprintf("batch message %d: %s", i, err.Message)
				return nil, true, err
			}
			if m.ID != nil {
				k := idKey(m.ID)
				if seen[k] {
					return nil, true, rpcErrorf(CodeInvalidRequest, "batch message %d: duplicate id %s", i, m.ID)
				}
				seen[k] = true
			}
			msgs = append(msgs, m)
		}
		return msgs, true, nil
	}
	m, perr := parseMessage(trimmed)
	if perr != nil {
		return nil, false, perr
	}
	return []Message{m}, false, nil
}

// ParseResponse parses what an upstream MCP server sent: one message or an
// array of them, with the same strictness as Parse but without the batch
// bound (the upstream answers what the client asked) and with the response
// size bound.
func ParseResponse(body []byte, lim Limits) ([]Message, error) {
	lim = lim.withDefaults()
	lim.MaxMessageBytes = lim.MaxResponseBytes
	lim.MaxBatch = 1 << 20
	msgs, _, err := Parse(body, lim)
	return msgs, err
}

// checkStructure checks body is one JSON value, nested at most maxDepth,
// without two members in any object whose names are equal ignoring case.
func checkStructure(body []byte, maxDepth int) error {
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return &RPCError{Code: CodeParseError, Message: "malformed JSON", Err: err}
	}
	sc := structScanner{b: body, max: maxDepth}
	return sc.value(0)
}

// structScanner walks JSON already known to be valid.
type structScanner struct {
	b   []byte
	i   int
	max int
}

func (s *structScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *structScanner) value(depth int) error {
	s.ws()
	switch s.b[s.i] {
	case '{', '[':
		if depth >= s.max {
			return rpcErrorf(CodeInvalidRequest, "nested deeper than %d", s.max)
		}
		if s.b[s.i] == '{' {
			return s.object(depth + 1)
		}
		return s.array(depth + 1)
	case '"':
		s.str()
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",]} \t\r\n", rune(s.b[s.i])) {
			s.i++
		}
	}
	return nil
}

// str skips a string and returns its raw content (without the quotes).
func (s *structScanner) str() []byte {
	start := s.i + 1
	s.i++
	for s.b[s.i] != '"' {
		if s.b[s.i] == '\\' {
			s.i++
		}
		s.i++
	}
	s.i++
	return s.b[start : s.i-1]
}

func (s *structScanner) array(depth int) error {
	s.i++ // [
	s.ws()
	if s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		c := s.b[s.i]
		s.i++
		if c == ']' {
			return nil
		}
	}
}

func (s *structScanner) object(depth int) error {
	s.i++ // {
	s.ws()
	if s.b[s.i] == '}' {
		s.i++
		return nil
	}
	var (
		keys []string
		set  map[string]struct{}
	)
	for {
		s.ws()
		raw := s.str()
		name := string(raw)
		if bytes.IndexByte(raw, '\\') >= 0 {
			_ = json.Unmarshal(s.b[s.i-len(raw)-2:s.i], &name)
		}
		// Member names are compared after case folding: Go's decoders
		// (the go-sdk's among them) match names case-insensitively and
		// keep the last, so {"env":"staging","ENV":"prod"} would be
		// judged as staging and run as prod.
		folded := strings.ToLower(strings.ToUpper(name))
		dup := false
		if set != nil {
			_, dup = set[folded]
			set[folded] = struct{}{}
		} else {
			dup = slices.Contains(keys, folded)
			keys = append(keys, folded)
			if len(keys) > 16 { // a linear scan no more: big objects get a set
				set = make(map[string]struct{}, 64)
				for _, k := range keys {
					set[k] = struct{}{}
				}
			}
		}
		if dup {
			return rpcErrorf(CodeParseError, "duplicate member %q (names are compared ignoring case)", truncate(name, 64))
		}
		s.ws()
		s.i++ // :
		if err := s.value(depth); err != nil {
			return err
		}
		s.ws()
		c := s.b[s.i]
		s.i++
		if c == '}' {
			return nil
		}
	}
}

var jsonrpcVersion = []byte(`"2.0"`)

// parseMessage parses one message (the structure has been checked).
func parseMessage(raw []byte) (Message, *RPCError) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return Message{}, rpcErrorf(CodeInvalidRequest, "a message must be a JSON object")
	}
	m := Message{Raw: raw}
	for k, v := range members {
		switch k {
		case "jsonrpc":
			if !bytes.Equal(v, jsonrpcVersion) {
				return Message{}, rpcErrorf(CodeInvalidRequest, `"jsonrpc" must be "2.0"`)
			}
		case "id":
			if err := checkID(v); err != nil {
				return Message{}, err
			}
			m.ID = v
		case "method":
			if len(v) == 0 || v[0] != '"' {
				return Message{}, rpcErrorf(CodeInvalidRequest, `"method" must be a string`)
			}
			if err := json.Unmarshal(v, &m.Method); err != nil || m.Method == "" {
				return Message{}, rpcErrorf(CodeInvalidRequest, `"method" must be a non-empty string`)
			}
		case "params":
			if len(v) == 0 || v[0] != '{' {
				return Message{}, rpcErrorf(CodeInvalidRequest, `"params" must be an object`)
			}
			m.Params = v
		case "result":
			m.Result = v
		case "error":
			if len(v) == 0 || v[0] != '{' {
				return Message{}, rpcErrorf(CodeInvalidRequest, `"error" must be an object`)
			}
			m.Error = v
		default:
			return Message{}, rpcErrorf(CodeInvalidRequest, "unknown member %q", truncate(k, 64))
		}
	}
	if _, ok := members["jsonrpc"]; !ok {
		return Message{}, rpcErrorf(CodeInvalidRequest, `"jsonrpc" must be "2.0"`)
	}
	switch {
	case m.Method != "":
		if m.Result != nil || m.Error != nil {
			return Message{}, rpcErrorf(CodeInvalidRequest, "a request has no result or error")
		}
	case m.ID == nil:
		return Message{}, rpcErrorf(CodeInvalidRequest, "a message needs a method or an id")
	case (m.Result == nil) == (m.Error == nil):
		return Message{}, rpcErrorf(CodeInvalidRequest, "a response has exactly one of result and error")
	}
	return m, nil
}

// checkID accepts a JSON string or integer of at most maxIDBytes.
func checkID(v json.RawMessage) *RPCError {
	if len(v) == 0 || len(v) > maxIDBytes {
		return rpcErrorf(CodeInvalidRequest, `"id" must be a string or an integer of at most %d bytes`, maxIDBytes)
	}
	if v[0] == '"' {
		return nil
	}
	if _, err := strconv.ParseInt(string(v), 10, 64); err != nil {
		return rpcErrorf(CodeInvalidRequest, `"id" must be a string or an integer`)
	}
	return nil
}

// idKey is an id's identity: strings by value (after unescaping), integers
// by value, never equal to each other.
func idKey(id json.RawMessage) string {
	if len(id) > 0 && id[0] == '"' {
		var s string
		_ = json.Unmarshal(id, &s)
		return "s" + s
	}
	n, _ := strconv.ParseInt(string(id), 10, 64)
	return "n" + strconv.FormatInt(n, 10)
}

// Errors of the name checks.
var (
	errNameEmpty   = errors.New("empty")
	errNameLong    = errors.New("too long")
	errNameSlash   = errors.New("holds a slash or backslash")
	errNameDots    = errors.New(`holds ".."`)
	errNameControl = errors.New("holds a control, format or space character")
)

// checkName validates a tool or prompt name: 1 to MaxNameBytes bytes of
// UTF-8 without '/', '\', "..", white space, control or format characters
// (zero-width and bidirectional marks). The name becomes part of a Cedar
// entity id ("<server>/<name>"), so a slash could make one tool look like
// another server's.
func checkName(s string) error {
	switch {
	case s == "":
		return errNameEmpty
	case len(s) > MaxNameBytes:
		return errNameLong
	case !utf8.ValidString(s):
		return errNameControl
	case strings.ContainsAny(s, `/\`):
		return errNameSlash
	case strings.Contains(s, ".."):
		return errNameDots
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return errNameControl
		}
	}
	return nil
}

// checkURI validates a resource URI: an absolute URI (a scheme) of at most
// MaxURIBytes, without white space, control or format characters.
func checkURI(s string) error {
	switch {
	case s == "":
		return errNameEmpty
	case len(s) > MaxURIBytes:
		return errNameLong
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return errNameControl
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URI: %w", err)
	}
	if u.Scheme == "" {
		return errors.New("not an absolute URI (no scheme)")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
