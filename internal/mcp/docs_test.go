package mcp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/mcp"
)

// TestDocsErrorCodes: the error table of docs/mcp.md lists exactly the codes
// the proxy answers with.
func TestDocsErrorCodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/mcp.md")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range regexp.MustCompile("(?m)^\\| `(-32[0-9]{3})` \\|").FindAllStringSubmatch(string(doc), -1) {
		n, _ := strconv.Atoi(m[1])
		got = append(got, n)
	}
	want := []int{mcp.CodeParseError, mcp.CodeInvalidRequest, mcp.CodeMethodNotFound, mcp.CodeInvalidParams,
		mcp.CodeDenied, mcp.CodeBlocked, mcp.CodeUnavailable, mcp.CodeUpstream}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("documented codes %v, want %v", got, want)
	}
}

// TestDocsMetadataExample: the metadata document of docs/mcp.md is what a
// server configured like the example serves (with its public URL).
func TestDocsMetadataExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/mcp.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\\s*\\n\\s*(\\{\"resource\".*?)\\n\\s*```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no metadata example in docs/mcp.md")
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(m[1]))), &want); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, fixtureOpts{scopes: []string{"mcp"}})
	resp, err := http.Get(f.srv.URL + "/.well-known/oauth-protected-resource/mcp/demo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// The fixture's server is "demo" at https://warden.test with issuer
	// https://issuer.test; the example's is "search" at warden.example.com.
	r := strings.NewReplacer("https://warden.test/mcp/demo", "https://warden.example.com/mcp/search", testIssuer, "https://warden.example.com", "server demo", "server search")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.Replace(string(body))), &got); err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("served metadata %s\ndocumented     %s", gj, wj)
	}
}

// TestHandlesDoesNotAllocate: the gateway asks Handles for every request.
func TestHandlesDoesNotAllocate(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	for path, want := range map[string]bool{
		"/mcp/demo": true, "/.well-known/oauth-protected-resource/mcp/demo": true,
		"/mcp/other": false, "/mcp/": false, "/v1/chat/completions": false, "/mcp/demo/x": false,
	} {
		if got := f.proxy.Handles(path); got != want {
			t.Errorf("Handles(%q) = %t, want %t", path, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { f.proxy.Handles("/mcp/demo") }); n != 0 {
		t.Errorf("Handles allocates %.0f times", n)
	}
}
