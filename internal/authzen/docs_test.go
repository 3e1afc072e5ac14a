package authzen_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// docBlock returns the fenced block that follows marker in docs/authzen.md
// and the rest of the document after it.
func docBlock(t *testing.T, doc, marker string) (block, rest string) {
	t.Helper()
	_, rest, ok := strings.Cut(doc, marker)
	if !ok {
		t.Fatalf("docs/authzen.md has no %q", marker)
	}
	_, rest, _ = strings.Cut(rest, "```")
	_, rest, _ = strings.Cut(rest, "\n")
	block, rest, ok = strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("unterminated block after %q", marker)
	}
	return block, rest
}

// TestDocsCurl runs the curl lines of docs/authzen.md against a real server
// on 127.0.0.1 and compares every answer with the documented one (decision
// and request ids aside).
func TestDocsCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("curl is needed for the docs test")
		}
		t.Skip("curl is not installed")
	}
	raw, err := os.ReadFile("../../docs/authzen.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds, rest := docBlock(t, string(raw), "Then (the test")
	want, _ := docBlock(t, rest, "")
	f := newFixture(t, fixtureOpts{noAudit: true})
	eveTok := f.token(t, map[string]any{"sub": "eve", "roles": []string{"evaluator"}, "team": "research", "scope": "models:premium", "tenant": "acme"})
	pepTok := f.token(t, pep)
	ids := regexp.MustCompile(`"(decision_id|request_id)":"[^"]*"`)
	lines := strings.Split(strings.TrimSpace(cmds), "\n")
	wants := strings.Split(strings.TrimSpace(want), "\n")
	if len(lines) != len(wants) {
		t.Fatalf("%d commands, %d documented answers", len(lines), len(wants))
	}
	for i, line := range lines {
		cmd := exec.CommandContext(t.Context(), "bash", "-c", line)
		cmd.Env = append(os.Environ(), "WARDEN="+f.srv.URL, "EVE="+eveTok, "PEP="+pepTok)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		got := ids.ReplaceAllString(strings.TrimSpace(string(out)), `"$1":"…"`)
		got = strings.ReplaceAll(got, f.srv.URL, "http://127.0.0.1:8080")
		if got != wants[i] {
			t.Errorf("%s\n got: %s\nwant: %s", line, got, wants[i])
		}
	}
}

// TestDocsNodeClient checks that the Node code shown in docs/authzen.md is
// the client that TestAuthZENNodeClient runs.
func TestDocsNodeClient(t *testing.T) {
	raw, err := os.ReadFile("../../docs/authzen.md")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := docBlock(t, string(raw), "Its core is one function:")
	src, err := os.ReadFile("../../examples/authzen/client.mjs")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), block) {
		t.Errorf("the Node block of docs/authzen.md is not in examples/authzen/client.mjs:\n%s", block)
	}
}
