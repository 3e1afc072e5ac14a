// Package mcpdemo is the demo MCP server of `warden serve --demo`: a small
// Model Context Protocol server of the reference domain (traces, indexes,
// records), built with the official Go SDK and served over Streamable HTTP
// in both protocol generations the SDK speaks (2026-07-28 without a session,
// and 2025-11-25 / 2025-06-18 with initialize and Mcp-Session-Id).
//
// Its tools match the Tool::"demo/<tool>" entities of examples/policy:
//
//   - search_traces (read-only): traces of a tenant whose summary matches a query
//   - get_trace (read-only): one trace, whose prompt holds an email address
//     and a fake API key, so that Warden's redaction of tool results is visible
//   - replay_trace: replays a trace against its model (not read-only, not destructive)
//   - rebuild_index: rebuilds a retrieval index (a reindex tool)
//   - delete_records (destructive): deletes records of an environment
//
// Each is annotated honestly with readOnlyHint and destructiveHint. It also
// serves two resources (warden://traces/t-1, warden://runbooks/reindex) and
// one prompt (summarize_trace).
//
// It is a demo upstream, never a production service: its data lives in
// memory, and it trusts whoever holds its bearer token (Config.Token), which
// only Warden should have.
package mcpdemo

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Name is the server's implementation name, and the name `warden serve
// --demo` configures it under (its tools are Tool::"demo/<tool>").
const Name = "demo"

// Version is the server's implementation version.
const Version = "1.0.0"

// Sample values in get_trace's result and the warden://traces/t-1 resource.
// Each is matched by one of Warden's guard detectors (email, api_key).
const (
	SampleEmail  = "jane.doe@example.com"
	SampleSecret = "sk-proj-4fT9xQ2LmN8vR1sK7pW3yZ6bC0dE5gH9jA2uV4"
)

// Limits on the input the tools accept.
const (
	// MaxRequestBytes bounds an HTTP request body.
	MaxRequestBytes = 1 << 20
	// MaxQueryBytes bounds search_traces' query.
	MaxQueryBytes = 256
	// MaxRecordIDs bounds the records one delete_records call names.
	MaxRecordIDs = 100
	// MaxResults bounds search_traces' results.
	MaxResults = 20
	// MaxIndexes bounds the distinct indexes rebuild_index keeps counts for.
	MaxIndexes = 64
	// SessionTimeout closes an idle 2025 session.
	SessionTimeout = 10 * time.Minute
)

// Config configures the demo server. The zero value is usable.
type Config struct {
	// Clock stamps replays, rebuilds and deletions; nil means time.Now.
	Clock func() time.Time
	// Logger receives the SDK's log; nil discards it.
	Logger *slog.Logger
	// Token, if not empty, is the bearer token every HTTP request must carry
	// (compared in constant time): the upstream credential Warden injects.
	Token string
}

// Trace is one recorded model call.
type Trace struct {
	ID      string `json:"id"`
	Tenant  string `json:"tenant"`
	Model   string `json:"model"`
	User    string `json:"user"`
	Summary string `json:"summary"`
	Prompt  string `json:"prompt,omitempty"`
}

// Record is one stored record delete_records acts on.
type Record struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Env    string `json:"env"`
}

// Server is the demo's state: fixed traces and a record store that
// delete_records changes. Its methods are safe for concurrent use.
type Server struct {
	clock  func() time.Time
	logger *slog.Logger
	token  string
	traces []Trace

	mu      sync.Mutex
	records map[string]Record // by id
	indexes map[string]int    // index name → rebuild count
}

// New returns a demo server with its sample data.
func New(cfg Config) *Server {
	s := &Server{clock: cfg.Clock, logger: cfg.Logger, token: cfg.Token}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.traces = []Trace{
		{ID: "t-1", Tenant: "acme", Model: "gpt-4o", User: SampleEmail,
			Summary: "refund request answered with the returns policy",
			Prompt:  "Customer " + SampleEmail + " asks for a refund. Billing key in the ticket: " + SampleSecret},
		{ID: "t-2", Tenant: "acme", Model: "gpt-4o-mini", User: "sam@acme.example",
			Summary: "shipping delay explained, ticket escalated",
			Prompt:  "Where is order 1042?"},
		{ID: "t-3", Tenant: "globex", Model: "claude-sonnet", User: "gus@globex.example",
			Summary: "refund denied: outside the return window",
			Prompt:  "I want my money back for order 77."},
	}
	s.records = map[string]Record{}
	for _, r := range []Record{
		{"rec-1", "acme", "staging"}, {"rec-2", "acme", "staging"},
		{"rec-3", "acme", "production"}, {"rec-4", "globex", "production"},
	} {
		s.records[r.ID] = r
	}
	s.indexes = map[string]int{}
	return s
}

// Handler returns the Streamable HTTP handler serving the MCP server at any
// path, in both protocol generations. A 2025 session (a POST of initialize,
// any request with Mcp-Session-Id, GET and DELETE) goes to the SDK's
// stateful handler; every other POST (a request of 2026-07-28 or later, or
// a sessionless older one) to its stateless handler. With Config.Token set,
// a request without that bearer token gets 401.
func (s *Server) Handler() http.Handler {
	srv := s.MCPServer()
	get := func(*http.Request) *mcp.Server { return srv }
	stateless := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Stateless: true, Logger: s.logger, MaxRequestBodyBytes: MaxRequestBytes,
	})
	stateful := mcp.NewStreamableHTTPHandler(get, &mcp.StreamableHTTPOptions{
		Logger: s.logger, SessionTimeout: SessionTimeout, MaxRequestBodyBytes: MaxRequestBytes,
	})
	want := []byte("Bearer " + s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcpdemo"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		session, err := inSession(w, r)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				http.Error(w, fmt.Sprintf("request body exceeds %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "unreadable request body", http.StatusBadRequest)
			return
		}
		if session {
			stateful.ServeHTTP(w, r)
		} else {
			stateless.ServeHTTP(w, r)
		}
	})
}

// modernVersion is the first protocol version of the stateless generation.
const modernVersion = "2026-07-28"

// inSession reports whether r belongs to a 2025 session: it is not a POST,
// carries Mcp-Session-Id, or (without a 2026-07-28 Mcp-Protocol-Version) is
// an initialize. It reads the body for that (at most MaxRequestBytes) and
// puts it back.
func inSession(w http.ResponseWriter, r *http.Request) (bool, error) {
	if r.Method != http.MethodPost || r.Header.Get("Mcp-Session-Id") != "" {
		return true, nil
	}
	if r.Header.Get("Mcp-Protocol-Version") >= modernVersion {
		return false, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		return false, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return isInitialize(body), nil
}

// isInitialize reports whether body is an initialize request, alone or in
// a batch. Anything unparsable is not: the stateless handler answers it.
func isInitialize(body []byte) bool {
	type message struct {
		Method string `json:"method"`
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var batch []message
		return json.Unmarshal(body, &batch) == nil &&
			slices.ContainsFunc(batch, func(m message) bool { return m.Method == "initialize" })
	}
	var m message
	return json.Unmarshal(body, &m) == nil && m.Method == "initialize"
}

// MCPServer returns a new SDK server with the demo's tools, resources and
// prompt, over s's data.
func (s *Server) MCPServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: Name, Title: "Warden demo MCP server", Version: Version}, &mcp.ServerOptions{
		Instructions: "Traces, indexes and records of the Warden reference domain. Served behind Warden, which judges every call.",
		Logger:       s.logger,
	})
	no, yes := false, true
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "search_traces",
		Description: "Search a tenant's traces by a word of their summary.",
		Annotations: &mcp.ToolAnnotations{Title: "Search traces", ReadOnlyHint: true, DestructiveHint: &no, IdempotentHint: true, OpenWorldHint: &no},
	}, s.searchTraces)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "get_trace",
		Description: "Get one trace, with the prompt the model saw.",
		Annotations: &mcp.ToolAnnotations{Title: "Get a trace", ReadOnlyHint: true, DestructiveHint: &no, IdempotentHint: true, OpenWorldHint: &no},
	}, s.getTrace)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "replay_trace",
		Description: "Replay a trace against its model in an environment; the replay is recorded.",
		Annotations: &mcp.ToolAnnotations{Title: "Replay a trace", DestructiveHint: &no, OpenWorldHint: &yes},
	}, s.replayTrace)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "rebuild_index",
		Description: "Rebuild a retrieval index from its documents.",
		Annotations: &mcp.ToolAnnotations{Title: "Rebuild an index", DestructiveHint: &no, IdempotentHint: true, OpenWorldHint: &no},
	}, s.rebuildIndex)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "delete_records",
		Description: "Delete records of a tenant in an environment (dry_run reports what would go).",
		Annotations: &mcp.ToolAnnotations{Title: "Delete records", DestructiveHint: &yes, IdempotentHint: true, OpenWorldHint: &no},
	}, s.deleteRecords)

	srv.AddResource(&mcp.Resource{
		URI: "warden://traces/t-1", Name: "trace-t-1", Title: "Trace t-1", MIMEType: "application/json",
		Description: "Trace t-1 as JSON (its prompt holds an email address and a fake API key).",
	}, s.readTrace)
	srv.AddResource(&mcp.Resource{
		URI: "warden://runbooks/reindex", Name: "runbook-reindex", Title: "Reindex runbook", MIMEType: "text/markdown",
		Description: "When and how to rebuild a retrieval index.",
	}, readRunbook)
	srv.AddPrompt(&mcp.Prompt{
		Name: "summarize_trace", Title: "Summarize a trace",
		Description: "Ask a model to summarize one trace for a support lead.",
		Arguments:   []*mcp.PromptArgument{{Name: "trace_id", Description: "the trace, e.g. t-1", Required: true}},
	}, s.summarizePrompt)
	return srv
}

// SearchTracesInput is search_traces' arguments.
type SearchTracesInput struct {
	Tenant string `json:"tenant" jsonschema:"the tenant whose traces to search, e.g. acme"`
	Query  string `json:"query,omitempty" jsonschema:"a word of the summary; empty matches every trace"`
}

// SearchTracesOutput is search_traces' structured result.
type SearchTracesOutput struct {
	Traces []Trace `json:"traces"`
}

func (s *Server) searchTraces(_ context.Context, _ *mcp.CallToolRequest, in SearchTracesInput) (*mcp.CallToolResult, SearchTracesOutput, error) {
	if len(in.Query) > MaxQueryBytes {
		return nil, SearchTracesOutput{}, fmt.Errorf("query longer than %d bytes", MaxQueryBytes)
	}
	if in.Tenant == "" {
		return nil, SearchTracesOutput{}, errors.New("tenant is required")
	}
	out := SearchTracesOutput{Traces: []Trace{}}
	q := strings.ToLower(in.Query)
	for _, t := range s.traces {
		if t.Tenant == in.Tenant && strings.Contains(strings.ToLower(t.Summary), q) && len(out.Traces) < MaxResults {
			t.Prompt = "" // search returns summaries; get_trace the whole trace
			out.Traces = append(out.Traces, t)
		}
	}
	return nil, out, nil
}

// TraceInput names one trace.
type TraceInput struct {
	TraceID string `json:"trace_id" jsonschema:"the trace id, e.g. t-1"`
}

func (s *Server) trace(id string) (Trace, error) {
	for _, t := range s.traces {
		if t.ID == id {
			return t, nil
		}
	}
	return Trace{}, fmt.Errorf("no trace %q", id)
}

func (s *Server) getTrace(_ context.Context, _ *mcp.CallToolRequest, in TraceInput) (*mcp.CallToolResult, Trace, error) {
	t, err := s.trace(in.TraceID)
	return nil, t, err
}

// ReplayTraceInput is replay_trace's arguments.
type ReplayTraceInput struct {
	TraceID string `json:"trace_id" jsonschema:"the trace to replay"`
	Env     string `json:"env,omitempty" jsonschema:"the environment to replay in: staging (default) or production"`
}

// ReplayTraceOutput is replay_trace's structured result.
type ReplayTraceOutput struct {
	TraceID  string    `json:"trace_id"`
	Env      string    `json:"env"`
	Model    string    `json:"model"`
	Output   string    `json:"output"`
	Replayed time.Time `json:"replayed"`
}

func (s *Server) replayTrace(_ context.Context, _ *mcp.CallToolRequest, in ReplayTraceInput) (*mcp.CallToolResult, ReplayTraceOutput, error) {
	env, err := environment(in.Env, "staging")
	if err != nil {
		return nil, ReplayTraceOutput{}, err
	}
	t, err := s.trace(in.TraceID)
	if err != nil {
		return nil, ReplayTraceOutput{}, err
	}
	return nil, ReplayTraceOutput{
		TraceID: t.ID, Env: env, Model: t.Model, Replayed: s.clock().UTC(),
		Output: "replayed on " + t.Model + ": " + t.Summary,
	}, nil
}

// RebuildIndexInput is rebuild_index's arguments.
type RebuildIndexInput struct {
	Index  string `json:"index" jsonschema:"the index to rebuild, e.g. kb"`
	Tenant string `json:"tenant,omitempty" jsonschema:"the tenant the index belongs to"`
}

// RebuildIndexOutput is rebuild_index's structured result.
type RebuildIndexOutput struct {
	Index     string    `json:"index"`
	Documents int       `json:"documents"`
	Rebuilds  int       `json:"rebuilds"`
	Finished  time.Time `json:"finished"`
}

func (s *Server) rebuildIndex(_ context.Context, _ *mcp.CallToolRequest, in RebuildIndexInput) (*mcp.CallToolResult, RebuildIndexOutput, error) {
	if !validName(in.Index) {
		return nil, RebuildIndexOutput{}, errors.New("index must be 1 to 64 letters, digits, '-' or '_'")
	}
	docs := 0
	for _, t := range s.traces {
		if in.Tenant == "" || t.Tenant == in.Tenant {
			docs++
		}
	}
	s.mu.Lock()
	_, known := s.indexes[in.Index]
	if !known && len(s.indexes) >= MaxIndexes {
		s.mu.Unlock()
		return nil, RebuildIndexOutput{}, fmt.Errorf("at most %d indexes", MaxIndexes)
	}
	s.indexes[in.Index]++
	n := s.indexes[in.Index]
	s.mu.Unlock()
	return nil, RebuildIndexOutput{Index: in.Index, Documents: docs, Rebuilds: n, Finished: s.clock().UTC()}, nil
}

// DeleteRecordsInput is delete_records' arguments.
type DeleteRecordsInput struct {
	Env       string   `json:"env" jsonschema:"the environment: staging or production"`
	Tenant    string   `json:"tenant" jsonschema:"the tenant whose records to delete"`
	RecordIDs []string `json:"record_ids,omitempty" jsonschema:"the records to delete; empty means every record of the tenant in env"`
	DryRun    bool     `json:"dry_run,omitempty" jsonschema:"report what would be deleted, delete nothing"`
}

// DeleteRecordsOutput is delete_records' structured result.
type DeleteRecordsOutput struct {
	Env     string   `json:"env"`
	Tenant  string   `json:"tenant"`
	Deleted []string `json:"deleted"`
	DryRun  bool     `json:"dry_run"`
}

func (s *Server) deleteRecords(_ context.Context, _ *mcp.CallToolRequest, in DeleteRecordsInput) (*mcp.CallToolResult, DeleteRecordsOutput, error) {
	env, err := environment(in.Env, "")
	if err != nil {
		return nil, DeleteRecordsOutput{}, err
	}
	if in.Tenant == "" {
		return nil, DeleteRecordsOutput{}, errors.New("tenant is required")
	}
	if len(in.RecordIDs) > MaxRecordIDs {
		return nil, DeleteRecordsOutput{}, fmt.Errorf("at most %d record ids", MaxRecordIDs)
	}
	out := DeleteRecordsOutput{Env: env, Tenant: in.Tenant, Deleted: []string{}, DryRun: in.DryRun}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.records {
		if r.Env != env || r.Tenant != in.Tenant || (len(in.RecordIDs) > 0 && !slices.Contains(in.RecordIDs, id)) {
			continue
		}
		out.Deleted = append(out.Deleted, id)
		if !in.DryRun {
			delete(s.records, id)
		}
	}
	slices.Sort(out.Deleted)
	return nil, out, nil
}

// Records returns the records not yet deleted, sorted by id.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, 0, len(s.records))
	for _, r := range s.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *Server) readTrace(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	t, err := s.trace("t-1")
	if err != nil {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("marshal trace: %w", err)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: string(b)}}}, nil
}

func readRunbook(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	const text = "# Reindex\n\nRebuild an index (the rebuild_index tool) after its documents changed in bulk.\n" +
		"Operators may; evaluators may not. A rebuild is idempotent and destroys nothing.\n"
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/markdown", Text: text}}}, nil
}

func (s *Server) summarizePrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	id := req.Params.Arguments["trace_id"]
	t, err := s.trace(id)
	if err != nil {
		return nil, err
	}
	return &mcp.GetPromptResult{
		Description: "Summarize trace " + t.ID,
		Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{
			Text: fmt.Sprintf("Summarize for a support lead, in two sentences, what happened in trace %s (model %s): %s", t.ID, t.Model, t.Summary),
		}}},
	}, nil
}

// environment validates an env argument; empty means def (and is an error
// without one).
func environment(env, def string) (string, error) {
	if env == "" {
		env = def
	}
	switch env {
	case "staging", "production":
		return env, nil
	case "":
		return "", errors.New("env is required: staging or production")
	default:
		return "", fmt.Errorf("env %q is not staging or production", env)
	}
}

// validName reports whether s is 1 to 64 of [A-Za-z0-9_-].
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
