package mcp_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/mcp"
)

// versions are the protocol generations the go-sdk client speaks through
// Warden: the stateless 2026 one and the two session-based 2025 ones.
var versions = []string{"2026-07-28", "2025-11-25", "2025-06-18"}

func toolNames(r *sdk.ListToolsResult) []string {
	var out []string
	for _, t := range r.Tools {
		out = append(out, t.Name)
	}
	slices.Sort(out)
	return out
}

func TestGoSDKThroughWarden(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Run("filtered lists", func(t *testing.T) {
				for _, tc := range []struct {
					name      string
					claims    map[string]any
					want      []string
					resources int // the readme first
				}{
					{"evaluator", eve, []string{"search"}, 2},
					{"user", paul, []string{"search"}, 1},
					{"engineer", erin, []string{"delete_records", "dump_key", "reindex", "search"}, 2},
				} {
					cs, _ := f.connect(t, tc.claims, v, nil)
					res, err := cs.ListTools(ctx, nil)
					if err != nil {
						t.Fatalf("%s: list tools: %v", tc.name, err)
					}
					if got := toolNames(res); !slices.Equal(got, tc.want) {
						t.Errorf("%s: tools = %v, want %v", tc.name, got, tc.want)
					}
					rl, err := cs.ListResources(ctx, nil)
					if err != nil {
						t.Fatalf("%s: list resources: %v", tc.name, err)
					}
					if len(rl.Resources) != tc.resources || rl.Resources[0].URI != "file:///docs/readme.md" {
						t.Errorf("%s: %d resources, want %d starting with the readme", tc.name, len(rl.Resources), tc.resources)
					}
				}
			})
			t.Run("allowed call, result redacted", func(t *testing.T) {
				cs, b := f.connect(t, eve, v, nil)
				res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "search", Arguments: map[string]any{"query": "reindex"}})
				if err != nil {
					t.Fatal(err)
				}
				text := res.Content[0].(*sdk.TextContent).Text
				if strings.Contains(text, "jane.doe@example.com") || !strings.Contains(text, "found reindex") {
					t.Errorf("text = %q, want the answer with the email redacted", text)
				}
				sc, _ := res.StructuredContent.(map[string]any)
				if owner, _ := sc["owner"].(string); owner == "" || strings.Contains(owner, "@example.com") {
					t.Errorf("structuredContent = %v, want the owner redacted", res.StructuredContent)
				}
				if !b.sawSSE() {
					t.Errorf("no response was an event stream (content types %v): the SSE path was not exercised", b.types)
				}
			})
			t.Run("pii:read sees the result", func(t *testing.T) {
				cs, _ := f.connect(t, priya, v, nil)
				res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "search", Arguments: map[string]any{"query": "x"}})
				if err != nil {
					t.Fatal(err)
				}
				if text := res.Content[0].(*sdk.TextContent).Text; !strings.Contains(text, "jane.doe@example.com") {
					t.Errorf("text = %q, want it unredacted for pii:read", text)
				}
			})
			t.Run("denied call", func(t *testing.T) {
				cs, _ := f.connect(t, erin, v, nil)
				_, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "delete_records", Arguments: map[string]any{"env": "prod"}})
				var we *jsonrpc.Error
				if !errors.As(err, &we) {
					t.Fatalf("err = %v, want a JSON-RPC error", err)
				}
				if we.Code != mcp.CodeDenied || !strings.Contains(we.Message, "never deleted in production") {
					t.Errorf("error = %d %q, want %d with the policy's reason", we.Code, we.Message, mcp.CodeDenied)
				}
				if !strings.Contains(string(we.Data), `"decision_id":"`) {
					t.Errorf("error data = %s, want a decision_id", we.Data)
				}
				res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "delete_records", Arguments: map[string]any{"env": "staging"}})
				if err != nil {
					t.Fatalf("staging delete: %v", err)
				}
				if text := res.Content[0].(*sdk.TextContent).Text; text != "deleted in staging" {
					t.Errorf("staging delete = %q", text)
				}
			})
			t.Run("prompts judged", func(t *testing.T) {
				// The reference bundle refuses a prompt without a tenant
				// (tenant-required), so the list is empty and a get denied.
				cs, _ := f.connect(t, erin, v, nil)
				pl, err := cs.ListPrompts(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if len(pl.Prompts) != 0 {
					t.Errorf("prompts = %d, want none", len(pl.Prompts))
				}
				_, err = cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "summarize"})
				var we *jsonrpc.Error
				if !errors.As(err, &we) || we.Code != mcp.CodeDenied || !strings.Contains(we.Message, "tenant") {
					t.Errorf("get prompt: %v, want the tenant-required denial", err)
				}
			})
			t.Run("progress notification streamed and redacted", func(t *testing.T) {
				got := make(chan string, 4)
				cs, _ := f.connect(t, eve, v, &sdk.ClientOptions{ProgressNotificationHandler: func(_ context.Context, r *sdk.ProgressNotificationClientRequest) {
					got <- r.Params.Message
				}})
				p := &sdk.CallToolParams{Name: "search", Arguments: map[string]any{"query": "q"}}
				p.SetProgressToken("tok-1")
				if _, err := cs.CallTool(ctx, p); err != nil {
					t.Fatal(err)
				}
				select {
				case msg := <-got:
					if strings.Contains(msg, "ops@example.com") || !strings.Contains(msg, "asking") {
						t.Errorf("progress message = %q, want it redacted", msg)
					}
				case <-time.After(5 * time.Second):
					t.Error("no progress notification reached the client")
				}
			})
		})
	}
	// The upstream never saw a caller's token, only Warden's credential.
	for _, r := range f.up.seen() {
		if a := r.Header.Get("Authorization"); a != upstreamKey {
			t.Fatalf("upstream got Authorization %q, want Warden's credential", a)
		}
	}
	// Every tools/call has a decision record with the argument digest.
	var calls int
	for _, rec := range f.records(t) {
		if rec.MCP != nil && rec.MCP.Method == "tools/call" && rec.Phase == audit.PhaseDecision {
			calls++
			if !strings.HasPrefix(rec.MCP.ArgumentsDigest, "sha256:") || rec.MCP.Arguments != "" {
				t.Errorf("record %+v: want a digest and no raw arguments", rec.MCP)
			}
		}
	}
	if calls == 0 {
		t.Error("no tools/call decision records")
	}
}
