package audit

import (
	"errors"
	"fmt"
	"time"
)

// Decision values.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Phase values. A request the gateway refuses has one record, its decision.
// A request it proxies has two with the same RequestID: the decision,
// appended before the upstream is called (a log that refuses it denies the
// request), and the result, appended once the response has ended (or
// failed): the upstream status, the total latency and the response guards.
// Records without a phase (version 1) are decisions.
const (
	PhaseDecision = "decision"
	PhaseResult   = "result"
)

// Record is one decision of the gateway, allowed or denied. Node and Seq are
// set by the Log that stores it; every other field is the caller's. Strings
// are stored as given except that invalid UTF-8 is replaced by U+FFFD.
// Never put a token, a secret or a key in a Record: JTI identifies a token.
type Record struct {
	Time       time.Time // when the request arrived; zero means the Log's clock at Append
	RequestID  string
	DecisionID string
	Node       string // set by Log
	Seq        uint64 // set by Log: position in Node's chain, from 1
	// Phase is PhaseDecision, PhaseResult or "" (a decision, as every
	// record of version 1). A record with a phase is encoded as version 2.
	Phase string

	// Who.
	Issuer   string
	Subject  string
	Actors   []string // delegation chain from the "act" claim, outermost first
	ClientID string
	JTI      string // the token's ID, never the token
	ClientIP string

	// What.
	Method       string
	Path         string
	Route        string
	Action       string
	ResourceType string
	ResourceID   string

	// The decision and why.
	Decision       string   // Allow or Deny
	Policies       []string // determining policy IDs
	Reasons        []string // their @reason annotations
	Errors         []string // evaluation and processing errors (detail never shown to the client)
	ErrorCode      string   // the stable code returned to the client, if any
	BundleRevision string
	BundleDigest   string

	// What happened next. A decision record holds the request-phase guards
	// and the latency up to the decision; a result record the
	// response-phase guards, the upstream status (or the gateway's own
	// status when the upstream failed: 502, 504, 403 for a guard block) and
	// the total latency.
	Guards         []Guard
	UpstreamStatus int // 0 when the request was not proxied
	Latency        time.Duration

	// MCP describes the JSON-RPC message of a record written by the MCP
	// proxy (one record per judged message); nil for every other record.
	// A record with MCP is encoded as version 3.
	MCP *MCP
}

// MCP is the MCP message a record is about.
type MCP struct {
	// Server is the configured MCP server's name.
	Server string
	// Method is the JSON-RPC method ("tools/call", "tools/list", ...), ""
	// for a response the client sent to a server's request.
	Method string
	// Name is the tool or prompt name, or the resource URI, if the method
	// has one.
	Name string
	// ArgumentsDigest is "sha256:<hex>" of the canonical JSON of the
	// tool's arguments (or the prompt's), "" without arguments.
	ArgumentsDigest string
	// Arguments is that canonical JSON itself, only when the server's
	// configuration says audit_arguments (it may hold personal data).
	Arguments string
	// ToolError is a tools/call result's isError (result records).
	ToolError bool
	// RPCError is the JSON-RPC error code the message was answered with,
	// by Warden or by the upstream; 0 for a result.
	RPCError int
}

// Guard is one guard applied to a request or response.
type Guard struct {
	Name   string
	Phase  string         // "request" or "response"
	Action string         // "redact" or "block"
	Hits   map[string]int // matches per detector, e.g. {"email": 2}
}

// Errors returned by Append and New.
var (
	// ErrQueueFull: the writer is behind; the caller must deny the request.
	ErrQueueFull = errors.New("audit: queue full")
	// ErrClosed: Append after Close.
	ErrClosed = errors.New("audit: log closed")
	// ErrFailed: the log stopped writing for good (another writer appended to
	// this node's chain, or the stored chain no longer matches the writer's);
	// every Append fails until the process restarts.
	ErrFailed = errors.New("audit: log failed")
	// ErrUnavailable: commits are failing (the database is unreachable); the
	// writer is retrying. In "batch" durability Append fails fast meanwhile.
	ErrUnavailable = errors.New("audit: store unavailable")
	// ErrInvalidRecord: the record cannot be stored as given.
	ErrInvalidRecord = errors.New("audit: invalid record")
	// ErrChainBroken: New found the stored end of the node's chain
	// inconsistent (its head, or its last record's hash). Run verify; a new
	// node name starts a new chain.
	ErrChainBroken = errors.New("audit: stored chain is inconsistent")
)

// maxUnix bounds Record.Time: times are stored as int64 Unix nanoseconds
// (until 2262), and records from before 1970 are refused.
const maxUnix = (1<<63 - 1) / int64(time.Second)

// validate checks what the canonical encoding and the store need. It runs on
// the request path and does not allocate on success.
func (r *Record) validate() error {
	switch {
	case r.Decision != Allow && r.Decision != Deny:
		return fmt.Errorf("%w: decision %q (want %q or %q)", ErrInvalidRecord, r.Decision, Allow, Deny)
	case r.Time.Unix() < 0 || r.Time.Unix() >= maxUnix:
		return fmt.Errorf("%w: time %s out of range", ErrInvalidRecord, r.Time)
	case r.Phase != "" && r.Phase != PhaseDecision && r.Phase != PhaseResult:
		return fmt.Errorf("%w: phase %q (want %q, %q or none)", ErrInvalidRecord, r.Phase, PhaseDecision, PhaseResult)
	case r.Latency < 0:
		return fmt.Errorf("%w: negative latency", ErrInvalidRecord)
	case r.UpstreamStatus < 0 || r.UpstreamStatus > 999:
		return fmt.Errorf("%w: upstream status %d", ErrInvalidRecord, r.UpstreamStatus)
	}
	for i := range r.Guards {
		for _, n := range r.Guards[i].Hits {
			if n < 0 {
				return fmt.Errorf("%w: negative guard hit count", ErrInvalidRecord)
			}
		}
	}
	return nil
}
