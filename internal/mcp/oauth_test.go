package mcp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/mcp"
)

func TestProtectedResourceMetadata(t *testing.T) {
	f := newFixture(t, fixtureOpts{scopes: []string{"mcp:demo"}})
	resp, err := http.Get(f.srv.URL + "/.well-known/oauth-protected-resource/mcp/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Resource != resourceURI || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != testIssuer ||
		len(doc.ScopesSupported) != 1 || doc.ScopesSupported[0] != "mcp:demo" {
		t.Errorf("metadata = %+v", doc)
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp/nope", "/mcp/nope"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("%s = 200 for an unknown server", path)
		}
	}
}

func TestInsufficientScope(t *testing.T) {
	f := newFixture(t, fixtureOpts{scopes: []string{"mcp:demo"}})
	r := f.post(t, f.token(t, eve), call("1", "search", `{}`), nil)
	if r.status != http.StatusForbidden {
		t.Fatalf("status = %d, want 403", r.status)
	}
	want := `Bearer resource_metadata="https://warden.test/.well-known/oauth-protected-resource/mcp/demo", error="insufficient_scope", scope="mcp:demo"`
	if got := r.header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q\nwant %q", got, want)
	}
	scoped := map[string]any{"sub": "eve", "roles": []string{"evaluator"}, "tenant": "acme", "scope": "mcp:demo"}
	if r := f.post(t, f.token(t, scoped), call("1", "search", `{}`), nil); r.status != 200 || rpcErrors(t, r.body)["1"] != 0 {
		t.Errorf("with the scope: %d %s", r.status, r.body)
	}
}

// init2025 starts a 2025 session with raw HTTP and returns its id.
func (f *fixture) init2025(t *testing.T, tok string) string {
	t.Helper()
	r := f.post(t, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`,
		map[string]string{"Mcp-Protocol-Version": ""})
	sid := r.header.Get("Mcp-Session-Id")
	if r.status != 200 || sid == "" {
		t.Fatalf("initialize: %d %q %s", r.status, sid, r.body)
	}
	return sid
}

// TestSessionBinding: a 2025 session belongs to the principal that created
// it; another principal presenting its id is refused before the upstream.
func TestSessionBinding(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	eveTok, paulTok := f.token(t, eve), f.token(t, paul)
	sid := f.init2025(t, eveTok)
	hdr := map[string]string{"Mcp-Protocol-Version": "2025-11-25", "Mcp-Session-Id": sid}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if r := f.post(t, eveTok, list, hdr); r.status != 200 || rpcErrors(t, r.body)["2"] != 0 {
		t.Fatalf("owner: %d %s", r.status, r.body)
	}
	before := len(f.up.seen())
	if r := f.post(t, paulTok, list, hdr); r.status != http.StatusNotFound {
		t.Errorf("another principal: %d %s, want 404", r.status, r.body)
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequest(m, f.srv.URL+"/mcp/demo", nil)
		req.Header.Set("Authorization", "Bearer "+paulTok)
		req.Header.Set("Mcp-Session-Id", sid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s by another principal = %d, want 404", m, resp.StatusCode)
		}
	}
	if n := len(f.up.seen()); n != before {
		t.Errorf("the upstream received %d requests of another principal", n-before)
	}
	// The owner ends the session; its id is dead afterwards.
	req, _ := http.NewRequest(http.MethodDelete, f.srv.URL+"/mcp/demo", nil)
	req.Header.Set("Authorization", "Bearer "+eveTok)
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("DELETE by the owner = %d", resp.StatusCode)
	}
	if r := f.post(t, eveTok, list, hdr); r.status != http.StatusNotFound {
		t.Errorf("after DELETE: %d, want 404", r.status)
	}
}

// TestAuditRecords: one decision record per judged message, with the
// reason of a denial, the argument digest (and the arguments where the
// configuration asks), and a result record with the upstream's status.
func TestAuditRecords(t *testing.T) {
	f := newFixture(t, fixtureOpts{auditArguments: true})
	erinTok := f.token(t, erin)
	f.post(t, erinTok, call("1", "delete_records", `{"env":"prod","ids":["a"]}`), nil)
	f.post(t, erinTok, call("2", "delete_records", `{"ids":["a"],"env":"staging"}`), nil)
	var denied, allowed, result *audit.Record
	recs := f.records(t)
	for i := range recs {
		r := &recs[i]
		if r.MCP == nil || r.MCP.Method != "tools/call" {
			continue
		}
		switch {
		case r.Phase == audit.PhaseDecision && r.Decision == audit.Deny:
			denied = r
		case r.Phase == audit.PhaseDecision:
			allowed = r
		case r.Phase == audit.PhaseResult:
			result = r
		}
	}
	if denied == nil || allowed == nil || result == nil {
		t.Fatalf("records: denied %v allowed %v result %v", denied != nil, allowed != nil, result != nil)
	}
	if denied.Action != mcp.ActionToolCall || denied.ResourceType != "Tool" || denied.ResourceID != "demo/delete_records" ||
		denied.MCP.Server != "demo" || denied.MCP.Name != "delete_records" || denied.MCP.RPCError != mcp.CodeDenied ||
		len(denied.Reasons) == 0 || !strings.Contains(strings.Join(denied.Reasons, " "), "never deleted in production") {
		t.Errorf("denied record = %+v %+v", denied, denied.MCP)
	}
	if allowed.MCP.Arguments != `{"env":"staging","ids":["a"]}` || !strings.HasPrefix(allowed.MCP.ArgumentsDigest, "sha256:") {
		t.Errorf("allowed record arguments = %q digest %q, want the canonical JSON", allowed.MCP.Arguments, allowed.MCP.ArgumentsDigest)
	}
	if result.UpstreamStatus != 200 || result.MCP.ToolError || result.DecisionID != allowed.DecisionID {
		t.Errorf("result record = %+v %+v", result, result.MCP)
	}
}
