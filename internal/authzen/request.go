package authzen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits of a request. They are upper bounds: Config may lower them.
const (
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
	// MaxEvaluations bounds the items of one evaluations request.
	MaxEvaluations = 1000
	// MaxDepth bounds the nesting of objects and arrays in a body.
	MaxDepth = 16
	// maxStringBytes bounds a type, id or action name.
	maxStringBytes = 1024
)

// Evaluation semantics of an evaluations request (options.evaluations_semantic).
const (
	// ExecuteAll evaluates every item and answers all of them (the default).
	ExecuteAll = "execute_all"
	// DenyOnFirstDeny stops at the first item that is denied; the answer
	// holds the items up to and including it.
	DenyOnFirstDeny = "deny_on_first_deny"
	// PermitOnFirstPermit stops at the first item that is permitted.
	PermitOnFirstPermit = "permit_on_first_permit"
)

// Subject is who the question is about. With the caller's own token as the
// subject it may be omitted; see Handler for the rules.
type Subject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action is what the subject would do: Name is the Warden action
// ("trace:read").
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Resource is the object of the action: Type is the Cedar entity type
// ("Trace"), ID its id, Properties its attributes.
type Resource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Evaluation is one access evaluation request (AuthZEN §6). Subject may
// be nil: the caller's token is then the subject.
type Evaluation struct {
	Subject  *Subject       `json:"subject,omitempty"`
	Action   *Action        `json:"action"`
	Resource *Resource      `json:"resource"`
	Context  map[string]any `json:"context,omitempty"`
}

// Options of an evaluations request.
type Options struct {
	EvaluationsSemantic string `json:"evaluations_semantic,omitempty"`
}

// Evaluations is an access evaluations request (AuthZEN §7): top-level
// defaults and the items, each of which overrides the defaults member by
// member (subject, action, resource and context as wholes).
type Evaluations struct {
	Subject     *Subject       `json:"subject,omitempty"`
	Action      *Action        `json:"action,omitempty"`
	Resource    *Resource      `json:"resource,omitempty"`
	Context     map[string]any `json:"context,omitempty"`
	Evaluations []Evaluation   `json:"evaluations"`
	Options     *Options       `json:"options,omitempty"`
}

// RequestError is a malformed request: the message is safe to show the
// caller (it names fields and limits, never echoes values at length).
type RequestError struct {
	// TooLarge marks a body over the size limit (413). A batch with too
	// many items is a plain 400: its body was within bounds.
	TooLarge bool
	Message  string
}

func (e *RequestError) Error() string { return "authzen: " + e.Message }

func badf(format string, a ...any) *RequestError {
	return &RequestError{Message: fmt.Sprintf(format, a...)}
}

// ReadBody reads at most limit bytes of r; a longer body is a *RequestError
// with TooLarge set.
func ReadBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("authzen: read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, &RequestError{TooLarge: true, Message: fmt.Sprintf("request body over %d bytes", limit)}
	}
	return b, nil
}

// ParseEvaluation decodes and checks a single evaluation request body:
// one JSON object, nested at most MaxDepth levels, no duplicate member
// names, no unknown members, action and resource present with their
// required members. Errors are *RequestError.
func ParseEvaluation(b []byte) (*Evaluation, error) {
	var ev Evaluation
	if err := decodeStrict(b, &ev); err != nil {
		return nil, err
	}
	if err := ev.check(""); err != nil {
		return nil, err
	}
	return &ev, nil
}

// ParseEvaluations decodes and checks an evaluations request body with the
// rules of ParseEvaluation, plus: at most maxItems items (0 means
// MaxEvaluations), a known evaluations_semantic, and every item complete
// once the defaults are applied. It returns the request with the defaults
// applied to every item. A request without items is one evaluation of the
// top-level members (AuthZEN §7.1); single reports that case.
func ParseEvaluations(b []byte, maxItems int) (req *Evaluations, single bool, err error) {
	if maxItems <= 0 || maxItems > MaxEvaluations {
		maxItems = MaxEvaluations
	}
	var in Evaluations
	if err := decodeStrict(b, &in); err != nil {
		return nil, false, err
	}
	if n := len(in.Evaluations); n > maxItems {
		return nil, false, badf("%d evaluations in one request; at most %d", n, maxItems)
	}
	if in.Options != nil {
		switch in.Options.EvaluationsSemantic {
		case "", ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit:
		default:
			return nil, false, badf("unknown options.evaluations_semantic %q (want %s, %s or %s)",
				truncate(in.Options.EvaluationsSemantic, 64), ExecuteAll, DenyOnFirstDeny, PermitOnFirstPermit)
		}
	}
	if len(in.Evaluations) == 0 {
		ev := Evaluation{Subject: in.Subject, Action: in.Action, Resource: in.Resource, Context: in.Context}
		if err := ev.check(""); err != nil {
			return nil, false, err
		}
		in.Evaluations = []Evaluation{ev}
		return &in, true, nil
	}
	for i := range in.Evaluations {
		it := &in.Evaluations[i]
		if it.Subject == nil {
			it.Subject = in.Subject
		}
		if it.Action == nil {
			it.Action = in.Action
		}
		if it.Resource == nil {
			it.Resource = in.Resource
		}
		if it.Context == nil {
			it.Context = in.Context
		}
		if err := it.check(fmt.Sprintf("evaluations[%d].", i)); err != nil {
			return nil, false, err
		}
	}
	return &in, false, nil
}

// Semantic returns the request's evaluation semantic, ExecuteAll by default.
func (e *Evaluations) Semantic() string {
	if e.Options == nil || e.Options.EvaluationsSemantic == "" {
		return ExecuteAll
	}
	return e.Options.EvaluationsSemantic
}

// check verifies the required members; prefix names the item in messages.
func (ev *Evaluation) check(prefix string) error {
	if ev.Subject != nil {
		if err := checkName(prefix+"subject.type", ev.Subject.Type); err != nil {
			return err
		}
		if err := checkName(prefix+"subject.id", ev.Subject.ID); err != nil {
			return err
		}
	}
	if ev.Action == nil {
		return badf("%saction is required", prefix)
	}
	if err := checkName(prefix+"action.name", ev.Action.Name); err != nil {
		return err
	}
	if ev.Resource == nil {
		return badf("%sresource is required", prefix)
	}
	if err := checkName(prefix+"resource.type", ev.Resource.Type); err != nil {
		return err
	}
	return checkName(prefix+"resource.id", ev.Resource.ID)
}

func checkName(field, s string) error {
	switch {
	case s == "":
		return badf("%s is required (a non-empty string)", field)
	case len(s) > maxStringBytes:
		return badf("%s is longer than %d bytes", field, maxStringBytes)
	}
	return nil
}

// decodeStrict decodes b, one JSON object, into v: checkJSON first (depth,
// duplicates, trailing data), then encoding/json with unknown fields
// refused and numbers kept as json.Number (so that integers survive
// exactly on their way to Cedar Longs).
func decodeStrict(b []byte, v any) error {
	if err := checkJSON(b, MaxDepth); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

// jsonError turns a decoding error into a *RequestError that names the
// field, not the value.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "request"
		}
		return badf("%s must be %s, not a JSON %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return badf("unknown member %s", truncate(f, 80))
	}
	return badf("malformed JSON: %s", truncate(strings.TrimPrefix(msg, "json: "), 120))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "map", "struct", "ptr":
		return "an object"
	case "slice":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}

// checkJSON verifies that b is exactly one JSON object with no duplicate
// member names (in any object; encoding/json would keep the last, another
// parser the first), nested at most maxDepth levels, with nothing after it.
//
// Member names of the request's own objects (everything but the free-form
// "properties" and "context" objects and what they hold) must be exactly
// the spec's: lower-case ASCII letters and "_". encoding/json matches
// struct fields ignoring case (Kelvin sign and long s included), so
// {"action":…,"ACTION":…} would be two members to the caller's parser and
// one, the last, to ours: the decision would answer a question the caller
// did not ask.
func checkJSON(b []byte, maxDepth int) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		expect bool   // object: the next token is a member name
		free   bool   // inside properties or context: any member names
		last   string // object: the last member name read
	}
	var stack []frame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if first {
				return badf("empty request body")
			}
			break
		}
		if err != nil {
			return badf("malformed JSON: %s", truncate(strings.TrimPrefix(err.Error(), "json: "), 120))
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return badf("the request body must be a JSON object")
			}
			first = false
		} else if len(stack) == 0 {
			return badf("data after the JSON object")
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expect {
			if k, ok := tok.(string); ok {
				top := &stack[n-1]
				if top.keys == nil {
					top.keys = make(map[string]struct{}, 4)
				}
				if _, dup := top.keys[k]; dup {
					return badf("duplicate member %q", truncate(k, 64))
				}
				if !top.free && !specName(k) {
					return badf("unknown member %q", truncate(k, 64))
				}
				top.keys[k] = struct{}{}
				top.expect = false
				top.last = k
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return badf("request nested deeper than %d levels", maxDepth)
			}
			free := false
			if n := len(stack); n > 0 {
				parent := &stack[n-1]
				free = parent.free || (parent.object && (parent.last == "properties" || parent.last == "context"))
				if parent.object {
					parent.expect = true
				}
			}
			stack = append(stack, frame{object: tok == json.Delim('{'), expect: true, free: free})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				// The object is complete; anything but EOF is trailing data.
				if _, err := dec.Token(); err != io.EOF {
					return badf("data after the JSON object")
				}
				return nil
			}
			if n := len(stack); stack[n-1].object {
				stack[n-1].expect = true
			}
			continue
		}
		// A scalar value.
		if n := len(stack); stack[n-1].object {
			stack[n-1].expect = true
		}
	}
	return nil
}

// specName reports whether k can be a member name of the spec's objects:
// 1 to 64 lower-case ASCII letters and underscores.
func specName(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
