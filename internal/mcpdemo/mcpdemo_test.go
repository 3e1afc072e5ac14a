package mcpdemo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/wardenhq/warden/internal/mcpdemo"
)

const testToken = "upstream-credential"

var fixed = time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)

// versions are the protocol generations the demo serves: 2026-07-28
// without a session, the 2025 ones with initialize and Mcp-Session-Id.
var versions = []string{"2026-07-28", "2025-11-25", "2025-06-18"}

func start(t *testing.T) (*mcpdemo.Server, string) {
	t.Helper()
	s := mcpdemo.New(mcpdemo.Config{Clock: func() time.Time { return fixed }, Token: testToken})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts.URL + "/mcp"
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, url, version string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "mcpdemo-test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: bearer{testToken}, Timeout: 10 * time.Second},
	}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect (%s): %v", version, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (map[string]any, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	if res.IsError {
		return nil, true
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: structured content %s: %v", tool, b, err)
	}
	return out, false
}

func TestToolsAnnotatedHonestly(t *testing.T) {
	_, url := start(t)
	want := map[string]struct{ readOnly, destructive bool }{
		"search_traces":  {true, false},
		"get_trace":      {true, false},
		"replay_trace":   {false, false},
		"rebuild_index":  {false, false},
		"delete_records": {false, true},
	}
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			cs := connect(t, url, v)
			if got := cs.InitializeResult().ProtocolVersion; got != v {
				t.Errorf("negotiated %q, want %q", got, v)
			}
			if stateful := v < "2026-07-28"; (cs.ID() != "") != stateful {
				t.Errorf("session id %q; want one only for a 2025 session", cs.ID())
			}
			res, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
				w, ok := want[tool.Name]
				if !ok {
					t.Errorf("unexpected tool %q", tool.Name)
					continue
				}
				a := tool.Annotations
				if a == nil || a.DestructiveHint == nil {
					t.Errorf("%s: annotations %+v lack destructiveHint", tool.Name, a)
					continue
				}
				if a.ReadOnlyHint != w.readOnly || *a.DestructiveHint != w.destructive {
					t.Errorf("%s: readOnlyHint %v destructiveHint %v, want %v %v", tool.Name, a.ReadOnlyHint, *a.DestructiveHint, w.readOnly, w.destructive)
				}
			}
			if len(names) != len(want) {
				t.Errorf("tools %v, want %d", names, len(want))
			}
		})
	}
}

func TestTools(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			_, url := start(t)
			cs := connect(t, url, v)
			tests := []struct {
				tool    string
				args    map[string]any
				wantErr bool
				check   func(t *testing.T, out map[string]any)
			}{
				{tool: "search_traces", args: map[string]any{"tenant": "acme", "query": "REFUND"}, check: func(t *testing.T, out map[string]any) {
					traces := out["traces"].([]any)
					if len(traces) != 1 || traces[0].(map[string]any)["id"] != "t-1" {
						t.Errorf("traces %v, want t-1 only (globex's refund is another tenant's)", traces)
					}
					if _, ok := traces[0].(map[string]any)["prompt"]; ok {
						t.Error("search returned the prompt")
					}
				}},
				{tool: "search_traces", args: map[string]any{"tenant": "acme"}, check: func(t *testing.T, out map[string]any) {
					if n := len(out["traces"].([]any)); n != 2 {
						t.Errorf("%d traces, want 2", n)
					}
				}},
				{tool: "search_traces", args: map[string]any{"tenant": "acme", "query": strings.Repeat("x", mcpdemo.MaxQueryBytes+1)}, wantErr: true},
				{tool: "search_traces", args: map[string]any{"query": "refund"}, wantErr: true},
				{tool: "get_trace", args: map[string]any{"trace_id": "t-1"}, check: func(t *testing.T, out map[string]any) {
					p, _ := out["prompt"].(string)
					if !strings.Contains(p, mcpdemo.SampleEmail) || !strings.Contains(p, mcpdemo.SampleSecret) {
						t.Errorf("prompt %q lacks the sample email and key", p)
					}
				}},
				{tool: "get_trace", args: map[string]any{"trace_id": "t-404"}, wantErr: true},
				{tool: "replay_trace", args: map[string]any{"trace_id": "t-2"}, check: func(t *testing.T, out map[string]any) {
					if out["env"] != "staging" || out["model"] != "gpt-4o-mini" || out["replayed"] != fixed.Format(time.RFC3339) {
						t.Errorf("replay %v", out)
					}
				}},
				{tool: "replay_trace", args: map[string]any{"trace_id": "t-2", "env": "qa"}, wantErr: true},
				{tool: "rebuild_index", args: map[string]any{"index": "kb", "tenant": "acme"}, check: func(t *testing.T, out map[string]any) {
					if out["documents"] != 2.0 || out["rebuilds"] != 1.0 {
						t.Errorf("rebuild %v", out)
					}
				}},
				{tool: "rebuild_index", args: map[string]any{"index": "../kb"}, wantErr: true},
				{tool: "delete_records", args: map[string]any{"tenant": "acme"}, wantErr: true},
				{tool: "delete_records", args: map[string]any{"env": "staging", "tenant": "acme", "record_ids": []string{"rec-1"}, "dry_run": true}, check: func(t *testing.T, out map[string]any) {
					if d := out["deleted"].([]any); len(d) != 1 || d[0] != "rec-1" || out["dry_run"] != true {
						t.Errorf("dry run %v", out)
					}
				}},
			}
			for _, tt := range tests {
				out, isErr := call(t, cs, tt.tool, tt.args)
				if isErr != tt.wantErr {
					t.Errorf("%s %v: error %v, want %v", tt.tool, tt.args, isErr, tt.wantErr)
					continue
				}
				if tt.check != nil {
					tt.check(t, out)
				}
			}
		})
	}
}

func TestDeleteRecordsDeletes(t *testing.T) {
	s, url := start(t)
	cs := connect(t, url, "2026-07-28")
	out, isErr := call(t, cs, "delete_records", map[string]any{"env": "staging", "tenant": "acme"})
	if isErr {
		t.Fatal("delete failed")
	}
	if d := out["deleted"].([]any); len(d) != 2 {
		t.Errorf("deleted %v, want rec-1 and rec-2", d)
	}
	var left []string
	for _, r := range s.Records() {
		left = append(left, r.ID)
	}
	if !slices.Equal(left, []string{"rec-3", "rec-4"}) {
		t.Errorf("records left %v, want the production ones", left)
	}
	out, _ = call(t, cs, "delete_records", map[string]any{"env": "staging", "tenant": "acme"})
	if d := out["deleted"].([]any); len(d) != 0 {
		t.Errorf("second delete removed %v", d)
	}
}

func TestResourcesAndPrompt(t *testing.T) {
	_, url := start(t)
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			cs := connect(t, url, v)
			ctx := context.Background()
			list, err := cs.ListResources(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var uris []string
			for _, r := range list.Resources {
				uris = append(uris, r.URI)
			}
			slices.Sort(uris)
			if !slices.Equal(uris, []string{"warden://runbooks/reindex", "warden://traces/t-1"}) {
				t.Errorf("resources %v", uris)
			}
			res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "warden://traces/t-1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Contents) != 1 || !strings.Contains(res.Contents[0].Text, mcpdemo.SampleSecret) {
				t.Errorf("trace resource %+v", res.Contents)
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "warden://traces/t-9"}); err == nil {
				t.Error("an unknown resource was read")
			}
			p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize_trace", Arguments: map[string]string{"trace_id": "t-2"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Messages) != 1 || !strings.Contains(p.Messages[0].Content.(*mcp.TextContent).Text, "shipping delay") {
				t.Errorf("prompt %+v", p.Messages)
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "summarize_trace", Arguments: map[string]string{"trace_id": "nope"}}); err == nil {
				t.Error("a prompt for an unknown trace was rendered")
			}
		})
	}
}

func TestHandlerRequiresToken(t *testing.T) {
	_, url := start(t)
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, testToken} {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestHandlerBoundsBody(t *testing.T) {
	_, url := start(t)
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_traces","arguments":{"query":"` +
		strings.Repeat("a", mcpdemo.MaxRequestBytes) + `"}}}`
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}

// TestRawRequests sends what curl would: a 2026-07-28 request with its
// headers and _meta, and a sessionless request without any.
func TestRawRequests(t *testing.T) {
	_, url := start(t)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"curl","version":"8"},"io.modelcontextprotocol/clientCapabilities":{}}`
	tests := []struct {
		name   string
		header map[string]string
		body   string
		want   string
	}{
		{"2026-07-28", map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "get_trace"},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_trace","arguments":{"trace_id":"t-2"},` + meta + `}}`, `shipping delay`},
		{"sessionless without headers", nil,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_trace","arguments":{"trace_id":"t-2"}}}`, `shipping delay`},
		{"2025 initialize", nil,
			`{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"8"}}}`, `"protocolVersion":"2025-06-18"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+testToken)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), tt.want) {
				t.Errorf("status %d body %s, want 200 with %s", resp.StatusCode, b, tt.want)
			}
			if strings.Contains(tt.name, "initialize") != (resp.Header.Get("Mcp-Session-Id") != "") {
				t.Errorf("Mcp-Session-Id %q: want one only for initialize", resp.Header.Get("Mcp-Session-Id"))
			}
		})
	}
}
