package mcp_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/mcp"
)

// TestGuardBlocksResult: a private key in a tool result is blocked (the
// guard's default for private keys): the client gets CodeBlocked, never the
// key.
func TestGuardBlocksResult(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for _, v := range []string{"2026-07-28", "2025-11-25"} {
		cs, _ := f.connect(t, erin, v, nil)
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "dump_key"})
		var we *jsonrpc.Error
		if !errors.As(err, &we) || we.Code != mcp.CodeBlocked {
			t.Errorf("%s: result %v, err %v; want JSON-RPC error %d", v, res, err, mcp.CodeBlocked)
		}
		if err != nil && strings.Contains(err.Error(), "MIIEvQ") {
			t.Errorf("%s: the error shows the key: %v", v, err)
		}
	}
}

// TestArgumentsRedacted: PII in a tool call's arguments is redacted before
// the call goes upstream, and the decision record counts the hit.
func TestArgumentsRedacted(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	r := f.post(t, f.token(t, eve), call("1", "search", `{"query":"mail jane.doe@example.com"}`), nil)
	if r.status != 200 || strings.Contains(r.body, "jane.doe@example.com") || !strings.Contains(r.body, "found mail ") {
		t.Fatalf("answer %d %s", r.status, r.body)
	}
	var hit bool
	for _, rec := range f.records(t) {
		if rec.MCP != nil && rec.MCP.Method == "tools/call" && rec.Phase == audit.PhaseDecision {
			for _, g := range rec.Guards {
				hit = hit || g.Phase == "request" && g.Hits["email"] == 1
			}
		}
	}
	if !hit {
		t.Error("no request-phase email hit in the decision record")
	}
}

// TestAuditFailClosed: when the audit log refuses the decision record, the
// message is answered CodeUnavailable and never forwarded.
func TestAuditFailClosed(t *testing.T) {
	f := newFixture(t, fixtureOpts{closedAudit: true})
	r := f.post(t, f.token(t, eve), call("1", "search", `{}`), nil)
	if r.status != 200 || rpcErrors(t, r.body)["1"] != mcp.CodeUnavailable {
		t.Errorf("answer %d %s, want %d", r.status, r.body, mcp.CodeUnavailable)
	}
	if n := len(f.up.seen()); n != 0 {
		t.Errorf("the upstream received %d requests", n)
	}
}

// TestUpstreamDown: an unreachable upstream is 502 with CodeUpstream.
func TestUpstreamDown(t *testing.T) {
	f := newFixture(t, fixtureOpts{upstreamURL: "http://127.0.0.1:1/mcp"})
	r := f.post(t, f.token(t, eve), call("1", "search", `{}`), nil)
	if r.status != 502 || rpcErrors(t, r.body)["1"] != mcp.CodeUpstream {
		t.Errorf("answer %d %s, want 502 with %d", r.status, r.body, mcp.CodeUpstream)
	}
}
