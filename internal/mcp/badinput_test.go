package mcp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/mcp"
)

// meta2026 is the per-request _meta of the stateless generation.
const meta2026 = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}`

func call(id, tool, args string) string {
	name, _ := json.Marshal(tool)
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":%s,"arguments":%s,%s}}`, id, name, args, meta2026)
}

type rawResp struct {
	status int
	header http.Header
	body   string
}

// post sends a raw body to /mcp/demo as the 2026 generation.
func (f *fixture) post(t *testing.T, tok, body string, hdr map[string]string) rawResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/mcp/demo", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{resp.StatusCode, resp.Header, string(b)}
}

// rpcErrors returns the JSON-RPC error codes of a JSON (or SSE) answer by id.
func rpcErrors(t *testing.T, body string) map[string]int {
	t.Helper()
	var msgs []json.RawMessage
	body = strings.TrimSpace(body)
	switch {
	case strings.HasPrefix(body, "["):
		if err := json.Unmarshal([]byte(body), &msgs); err != nil {
			t.Fatalf("answer %s: %v", body, err)
		}
	case strings.HasPrefix(body, "{"):
		msgs = []json.RawMessage{json.RawMessage(body)}
	default:
		for _, line := range strings.Split(body, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				msgs = append(msgs, json.RawMessage(d))
			}
		}
	}
	out := map[string]int{}
	for _, m := range msgs {
		var v struct {
			ID    json.RawMessage `json:"id"`
			Error *struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(m, &v); err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		code := 0
		if v.Error != nil {
			code = v.Error.Code
		}
		out[string(v.ID)] = code
	}
	return out
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, fixtureOpts{limits: mcp.Limits{MaxMessageBytes: 4096}})
	eveTok := f.token(t, eve)
	otherAud := f.token(t, map[string]any{"sub": "eve2", "roles": []string{"evaluator"}, "tenant": "acme", "aud": "https://other.test/mcp/other"})
	tests := []struct {
		name   string
		tok    string
		body   string
		hdr    map[string]string
		status int
		code   int // the JSON-RPC error code of the answer
	}{
		{"malformed JSON", eveTok, `{"jsonrpc":"2.0","id":1,"method":"tools/call",`, nil, 400, mcp.CodeParseError},
		{"trailing data", eveTok, call("1", "search", `{}`) + `{}`, nil, 400, mcp.CodeParseError},
		{"oversized message", eveTok, call("1", "search", `{"query":"`+strings.Repeat("a", 5000)+`"}`), nil, 413, mcp.CodeInvalidRequest},
		{"duplicate member", eveTok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"tools/list","params":{}}`, nil, 400, mcp.CodeParseError},
		{"case-variant tool name", eveTok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","Name":"delete_records"}}`, nil, 400, mcp.CodeParseError},
		{"case-variant argument", f.token(t, erin), call("1", "delete_records", `{"env":"staging","ENV":"prod"}`), nil, 400, mcp.CodeParseError},
		{"duplicate argument", eveTok, call("1", "search", `{"query":"a","query":"b"}`), nil, 400, mcp.CodeParseError},
		{"wrong jsonrpc", eveTok, `{"jsonrpc":"1.0","id":1,"method":"ping"}`, nil, 400, mcp.CodeInvalidRequest},
		{"case-variant member", eveTok, `{"jsonrpc":"2.0","id":1,"Method":"tools/call"}`, nil, 400, mcp.CodeInvalidRequest},
		{"null id", eveTok, `{"jsonrpc":"2.0","id":null,"method":"ping"}`, nil, 400, mcp.CodeInvalidRequest},
		{"too deep", eveTok, call("1", "search", strings.Repeat(`{"a":`, 40)+"1"+strings.Repeat("}", 40)), nil, 400, mcp.CodeInvalidRequest},
		{"method in another case", eveTok, strings.Replace(call("1", "search", `{}`), "tools/call", "Tools/Call", 1), nil, 200, mcp.CodeMethodNotFound},
		{"method with trailing space", eveTok, strings.Replace(call("1", "search", `{}`), "tools/call", "tools/call ", 1), nil, 200, mcp.CodeMethodNotFound},
		{"unknown method", eveTok, `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{}}`, nil, 200, mcp.CodeMethodNotFound},
		{"header/body method mismatch", eveTok, call("1", "delete_records", `{}`), map[string]string{"Mcp-Method": "tools/list"}, 400, mcp.CodeInvalidRequest},
		{"header/body name mismatch", eveTok, call("1", "delete_records", `{}`), map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "search"}, 400, mcp.CodeInvalidRequest},
		{"tool name with slash", eveTok, call("1", "other/search", `{}`), nil, 200, mcp.CodeInvalidParams},
		{"tool name with dots", eveTok, call("1", "..search", `{}`), nil, 200, mcp.CodeInvalidParams},
		{"tool name with control char", eveTok, call("1", "sea\u0007rch", `{}`), nil, 200, mcp.CodeInvalidParams},
		{"tool name with zero-width space", eveTok, call("1", "sea\u200brch", `{}`), nil, 200, mcp.CodeInvalidParams},
		{"resource URI without scheme", eveTok, `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"docs/readme.md"}}`, nil, 200, mcp.CodeInvalidParams},
		{"fraction Cedar cannot hold", f.token(t, erin), call("1", "delete_records", `{"env":"staging","ratio":0.00001}`), nil, 200, mcp.CodeDenied},
		{"duplicate ids in a batch", eveTok, "[" + call("1", "search", `{}`) + "," + call("1", "search", `{}`) + "]", nil, 400, mcp.CodeInvalidRequest},
		{"empty batch", eveTok, `[]`, nil, 400, mcp.CodeInvalidRequest},
		{"no token", "", call("1", "search", `{}`), nil, 401, mcp.CodeDenied},
		{"token for another audience", otherAud, call("1", "search", `{}`), nil, 401, mcp.CodeDenied},
		{"wrong content type", eveTok, call("1", "search", `{}`), map[string]string{"Content-Type": "text/plain"}, 415, mcp.CodeInvalidRequest},
		{"unknown session", eveTok, call("1", "search", `{}`), map[string]string{"Mcp-Session-Id": "nope"}, 404, mcp.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.up.seen())
			r := f.post(t, tc.tok, tc.body, tc.hdr)
			if r.status != tc.status {
				t.Errorf("status = %d, want %d (%s)", r.status, tc.status, r.body)
			}
			codes := rpcErrors(t, r.body)
			found := false
			for _, c := range codes {
				found = found || c == tc.code
			}
			if !found {
				t.Errorf("answer %s, want JSON-RPC error %d", r.body, tc.code)
			}
			if !strings.Contains(r.body, `"request_id":"`) {
				t.Errorf("answer %s has no request_id", r.body)
			}
			if n := len(f.up.seen()); n != before {
				t.Errorf("the upstream received %d requests for a refused message", n-before)
			}
		})
	}
	t.Run("audience challenge", func(t *testing.T) {
		r := f.post(t, otherAud, call("1", "search", `{}`), nil)
		want := `Bearer resource_metadata="https://warden.test/.well-known/oauth-protected-resource/mcp/demo", error="invalid_token"`
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, want) {
			t.Errorf("WWW-Authenticate = %q, want prefix %q", got, want)
		}
	})
}

// TestBatch: a batch mixing allowed and denied calls gets one answer per
// request, the denied ones as errors, and only the allowed ones reach the
// upstream.
func TestBatch(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	before := len(f.up.seen())
	body := "[" + call("1", "search", `{"query":"a"}`) + "," + call(`"two"`, "delete_records", `{"env":"staging"}`) + "," +
		call("3", "reindex", `{}`) + `,{"jsonrpc":"2.0","method":"notifications/initialized"}]`
	r := f.post(t, f.token(t, eve), body, nil)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	codes := rpcErrors(t, r.body)
	want := map[string]int{"1": 0, `"two"`: mcp.CodeDenied, "3": mcp.CodeDenied}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("answers %v, want %v (%s)", codes, want, r.body)
	}
	if strings.Contains(r.body, "jane.doe@example.com") {
		t.Errorf("the allowed call's result is not redacted: %s", r.body)
	}
	if n := len(f.up.seen()) - before; n != 2 { // the allowed call and the notification
		t.Errorf("the upstream received %d requests, want 2", n)
	}
	for _, req := range f.up.seen()[before:] {
		if m := req.Header.Get("Mcp-Method"); m != "tools/call" && m != "notifications/initialized" {
			t.Errorf("upstream Mcp-Method = %q", m)
		}
	}
}
