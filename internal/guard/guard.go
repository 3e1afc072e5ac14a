package guard

import (
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
)

// Detector is the stable name of a detector. It appears in placeholders
// ("[REDACTED:email]"), in [BlockedError], in [Hits] and in metrics.
type Detector string

// The detectors, in the order in which [Detectors] lists them.
const (
	Email      Detector = "email"
	Phone      Detector = "phone"
	Card       Detector = "card"
	IBAN       Detector = "iban"
	SSN        Detector = "ssn"
	IP         Detector = "ip"
	AWSKey     Detector = "aws_key"
	PrivateKey Detector = "private_key"
	JWT        Detector = "jwt"
	Bearer     Detector = "bearer"
	APIKey     Detector = "api_key"
)

// Class groups detectors. The caller decides per request which classes apply
// (see [Apply]): the gateway asks the policy engine for "pii:view" and
// "secret:read".
type Class string

// The classes.
const (
	ClassPII    Class = "pii"    // email, phone, card, iban, ssn, ip
	ClassSecret Class = "secret" // aws_key, private_key, jwt, bearer, api_key
)

// detID indexes the detector tables. The order is also the tie-break order
// when two detectors match the same span: more specific first.
type detID uint8

const (
	dPrivateKey detID = iota
	dAWSKey
	dJWT
	dAPIKey
	dBearer
	dEmail
	dCard
	dIBAN
	dSSN
	dPhone
	dIP
	numDetectors
)

type detectorInfo struct {
	name        Detector
	class       Class
	def         Action
	placeholder string
}

var detectorTable = [numDetectors]detectorInfo{
	dPrivateKey: {PrivateKey, ClassSecret, Block, "[REDACTED:private_key]"},
	dAWSKey:     {AWSKey, ClassSecret, Redact, "[REDACTED:aws_key]"},
	dJWT:        {JWT, ClassSecret, Redact, "[REDACTED:jwt]"},
	dAPIKey:     {APIKey, ClassSecret, Redact, "[REDACTED:api_key]"},
	dBearer:     {Bearer, ClassSecret, Redact, "[REDACTED:bearer]"},
	dEmail:      {Email, ClassPII, Redact, "[REDACTED:email]"},
	dCard:       {Card, ClassPII, Redact, "[REDACTED:card]"},
	dIBAN:       {IBAN, ClassPII, Redact, "[REDACTED:iban]"},
	dSSN:        {SSN, ClassPII, Redact, "[REDACTED:ssn]"},
	dPhone:      {Phone, ClassPII, Redact, "[REDACTED:phone]"},
	dIP:         {IP, ClassPII, Redact, "[REDACTED:ip]"},
}

// listOrder is the documented order of [Detectors]: PII first, then secrets.
var listOrder = [numDetectors]detID{dEmail, dPhone, dCard, dIBAN, dSSN, dIP, dAWSKey, dPrivateKey, dJWT, dBearer, dAPIKey}

// Detectors returns every detector name, PII first, then secrets.
func Detectors() []Detector {
	out := make([]Detector, 0, numDetectors)
	for _, id := range listOrder {
		out = append(out, detectorTable[id].name)
	}
	return out
}

// ClassOf returns the class of a detector, or "" for an unknown name.
func ClassOf(d Detector) Class {
	if id, ok := lookupDetector(d); ok {
		return detectorTable[id].class
	}
	return ""
}

// Placeholder returns the text that replaces a match of d: "[REDACTED:<d>]".
func Placeholder(d Detector) string { return "[REDACTED:" + string(d) + "]" }

func lookupDetector(d Detector) (detID, bool) {
	for id := range numDetectors {
		if detectorTable[id].name == d {
			return id, true
		}
	}
	return 0, false
}

// Action is what a guard does with a match.
type Action uint8

const (
	// Default means "use the built-in default": block private keys, redact
	// everything else. It is the zero value.
	Default Action = iota
	// Redact replaces the match with a typed placeholder "[REDACTED:<detector>]".
	Redact
	// Block refuses the whole request or response with a [*BlockedError].
	Block
	// Off disables the detector.
	Off
)

// String returns "default", "redact", "block" or "off".
func (a Action) String() string {
	switch a {
	case Default:
		return "default"
	case Redact:
		return "redact"
	case Block:
		return "block"
	case Off:
		return "off"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// ParseAction parses "redact", "block", "off" or "default" (case-insensitive).
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "default", "":
		return Default, nil
	case "redact":
		return Redact, nil
	case "block":
		return Block, nil
	case "off":
		return Off, nil
	}
	return Default, fmt.Errorf("guard: unknown action %q (want redact, block or off)", s)
}

// MarshalText implements encoding.TextMarshaler.
func (a Action) MarshalText() ([]byte, error) {
	if a > Off {
		return nil, fmt.Errorf("guard: invalid action %d", uint8(a))
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler, so configuration files
// can spell actions as strings.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Defaults of [Config].
const (
	DefaultHoldBack      = 256
	DefaultMaxInputBytes = 16 << 20
	DefaultMaxEventBytes = 1 << 20
	DefaultMaxDepth      = 128
	maxHoldBack          = 64 << 10
	minHoldBack          = 64
)

// DefaultStreamContentPaths returns the JSON paths whose string values are
// treated as one text carried across successive SSE events (see
// [Config.StreamContentPaths]): OpenAI chat and completions deltas, tool-call
// arguments, the Responses API's "delta" and Anthropic-style "delta.text".
func DefaultStreamContentPaths() []string {
	return []string{
		"choices.*.delta.content",
		"choices.*.delta.reasoning_content",
		"choices.*.delta.refusal",
		"choices.*.delta.tool_calls.*.function.arguments",
		"choices.*.text",
		"delta",
		"delta.text",
		"delta.partial_json",
	}
}

// Config configures a [Guard]. The zero value is the secure default: every
// detector on, private keys blocked, everything else redacted.
type Config struct {
	// Actions overrides the default action per detector name ("email",
	// "private_key") or per class ("pii", "secret"). A detector's own entry
	// wins over its class's. Unknown names are an error.
	Actions map[string]Action

	// HoldBack bounds, per streamed text, how many bytes a StreamRedactor
	// may hold back while a possible match is still growing. 0 means
	// DefaultHoldBack (256); allowed range 64..65536. See the package doc
	// for the trade-off.
	HoldBack int

	// MaxInputBytes bounds the input of RedactString, RedactBytes and
	// RedactJSON. 0 means DefaultMaxInputBytes (16 MiB). Larger input is
	// an error wrapping ErrTooLarge.
	MaxInputBytes int

	// MaxEventBytes bounds one SSE event (all its lines). 0 means
	// DefaultMaxEventBytes (1 MiB). A larger event is an error wrapping
	// ErrTooLarge.
	MaxEventBytes int

	// MaxDepth bounds the nesting of JSON documents. 0 means
	// DefaultMaxDepth (128).
	MaxDepth int

	// StreamContentPaths are the JSON paths (see [NewPaths]) of SSE event
	// string values that carry streamed text: successive values of one path
	// (and one "index") are scanned as one text with hold-back. nil means
	// DefaultStreamContentPaths; an empty non-nil slice disables
	// hold-back for JSON events (each value is then redacted on its own).
	StreamContentPaths []string

	// Logger receives construction-time information only; the guard never
	// logs content. nil means no logging.
	Logger *slog.Logger
}

// Guard holds the compiled detectors and actions. It is immutable and safe
// for concurrent use. Build one with [New] at load time; per request, pick a
// [Scanner] with [Guard.Scanner].
type Guard struct {
	actions     [numDetectors]Action // resolved: Redact, Block or Off
	holdBack    int
	maxInput    int
	maxEvent    int
	maxDepth    int
	streamPaths *Paths
	scanners    [4]Scanner
	logger      *slog.Logger
	jsonPool    sync.Pool // *jsonRedactor, reused scratch of RedactJSON
}

// Apply says which classes of detectors apply to one request or response.
// The gateway sets PII unless the policy permits "pii:view" on the resource,
// and Secret unless it permits "secret:read".
type Apply struct {
	PII    bool
	Secret bool
}

func (a Apply) index() int {
	i := 0
	if a.PII {
		i |= 1
	}
	if a.Secret {
		i |= 2
	}
	return i
}

// New compiles a Guard from cfg.
func New(cfg Config) (*Guard, error) {
	g := &Guard{
		holdBack: cfg.HoldBack,
		maxInput: cfg.MaxInputBytes,
		maxEvent: cfg.MaxEventBytes,
		maxDepth: cfg.MaxDepth,
		logger:   cfg.Logger,
	}
	switch {
	case g.holdBack == 0:
		g.holdBack = DefaultHoldBack
	case g.holdBack < minHoldBack || g.holdBack > maxHoldBack:
		return nil, fmt.Errorf("guard: hold-back %d out of range %d..%d", g.holdBack, minHoldBack, maxHoldBack)
	}
	if g.maxInput == 0 {
		g.maxInput = DefaultMaxInputBytes
	}
	if g.maxEvent == 0 {
		g.maxEvent = DefaultMaxEventBytes
	}
	if g.maxDepth == 0 {
		g.maxDepth = DefaultMaxDepth
	}
	if g.maxInput < 0 || g.maxEvent < 0 || g.maxDepth < 0 {
		return nil, errors.New("guard: negative limit in config")
	}

	for id := range numDetectors {
		g.actions[id] = detectorTable[id].def
	}
	// Class entries first, then detector entries so that they win.
	for pass := range 2 {
		for name, act := range cfg.Actions {
			if act > Off {
				return nil, fmt.Errorf("guard: action for %q: invalid value %d", name, uint8(act))
			}
			isClass := name == string(ClassPII) || name == string(ClassSecret)
			id, isDet := lookupDetector(Detector(name))
			if !isClass && !isDet {
				return nil, fmt.Errorf("guard: action for unknown detector or class %q", name)
			}
			if pass == 0 && isClass {
				for d := range numDetectors {
					if string(detectorTable[d].class) == name {
						g.actions[d] = resolve(act, d)
					}
				}
			}
			if pass == 1 && isDet {
				g.actions[id] = resolve(act, id)
			}
		}
	}

	paths := cfg.StreamContentPaths
	if paths == nil {
		paths = DefaultStreamContentPaths()
	}
	sp, err := NewPaths(paths...)
	if err != nil {
		return nil, fmt.Errorf("guard: stream content paths: %w", err)
	}
	g.streamPaths = sp

	for mask := range 4 {
		s := &g.scanners[mask]
		s.g = g
		for id := range numDetectors {
			c := detectorTable[id].class
			on := (c == ClassPII && mask&1 != 0) || (c == ClassSecret && mask&2 != 0)
			if on && g.actions[id] != Off {
				s.on[id] = true
				s.any = true
			}
		}
	}
	if g.logger != nil {
		g.logger.Debug("guard compiled", "hold_back", g.holdBack, "actions", g.actionSummary())
	}
	return g, nil
}

func resolve(a Action, id detID) Action {
	if a == Default {
		return detectorTable[id].def
	}
	return a
}

func (g *Guard) actionSummary() string {
	var b strings.Builder
	for i, id := range listOrder {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(detectorTable[id].name))
		b.WriteByte('=')
		b.WriteString(g.actions[id].String())
	}
	return b.String()
}

// Action returns the resolved action (Redact, Block or Off) for d, or Off
// for an unknown detector.
func (g *Guard) Action(d Detector) Action {
	if id, ok := lookupDetector(d); ok {
		return g.actions[id]
	}
	return Off
}

// HoldBack returns the resolved stream hold-back bound in bytes.
func (g *Guard) HoldBack() int { return g.holdBack }

// Scanner returns the scanner for the classes in a. It does not allocate:
// the four possible scanners are built by [New].
func (g *Guard) Scanner(a Apply) *Scanner { return &g.scanners[a.index()] }

// Scanner finds and redacts matches of the detectors of the applied classes.
// It is immutable and safe for concurrent use. A Scanner for which no class
// applies still validates its input (JSON syntax, limits) and passes the
// content through unchanged.
type Scanner struct {
	g   *Guard
	on  [numDetectors]bool
	any bool
}

// Active reports whether any detector runs in this scanner.
func (s *Scanner) Active() bool { return s.any }

// Hits counts matches per detector. The zero value is empty; it is a small
// value type that does not allocate.
type Hits struct {
	n [numDetectors]uint32
}

// Count returns the number of matches of d.
func (h Hits) Count(d Detector) int {
	if id, ok := lookupDetector(d); ok {
		return int(h.n[id])
	}
	return 0
}

// Total returns the number of matches of all detectors.
func (h Hits) Total() int {
	t := 0
	for _, n := range h.n {
		t += int(n)
	}
	return t
}

// Add adds the counts of o to h.
func (h *Hits) Add(o Hits) {
	for i := range h.n {
		h.n[i] += o.n[i]
	}
}

// All yields the detectors with a non-zero count, in [Detectors] order.
func (h Hits) All() iter.Seq2[Detector, int] {
	return func(yield func(Detector, int) bool) {
		for _, id := range listOrder {
			if h.n[id] != 0 && !yield(detectorTable[id].name, int(h.n[id])) {
				return
			}
		}
	}
}

// Map returns the non-zero counts as a map (for audit records).
func (h Hits) Map() map[Detector]int {
	m := make(map[Detector]int)
	for d, n := range h.All() {
		m[d] = n
	}
	return m
}

// String formats the non-zero counts as "email=2,card=1".
func (h Hits) String() string {
	var b strings.Builder
	for d, n := range h.All() {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%d", d, n)
	}
	return b.String()
}

// Errors. Every error a Scanner or StreamRedactor returns means "do not
// forward this content": the gateway blocks.
var (
	// ErrBlocked is matched by every *BlockedError (errors.Is).
	ErrBlocked = errors.New("guard: content blocked")
	// ErrTooLarge: input, an SSE event or a JSON document over a bound.
	ErrTooLarge = errors.New("guard: content too large")
	// ErrMalformed: JSON or SSE that does not parse, or invalid UTF-8 in JSON.
	ErrMalformed = errors.New("guard: malformed content")
	// ErrClosed: a StreamRedactor used after Close or after an error.
	ErrClosed = errors.New("guard: stream redactor closed")
)

// BlockedError reports that a detector whose action is Block matched. It
// never carries the matched text.
type BlockedError struct {
	Detector Detector
	Class    Class
}

func (e *BlockedError) Error() string {
	return "guard: content blocked: " + string(e.Detector) + " detected"
}

// Is makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }
