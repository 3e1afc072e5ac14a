package cli

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/audit"
)

// mcpBannerChecks is what each MCP command of the demo banner must answer,
// in banner order: the allowed call redacted, the denied one with its
// reason, oscar's filtered list, his reindex.
var mcpBannerChecks = []struct {
	name          string
	want, notWant []string
}{
	{"eve searches traces", []string{`"id\":\"t-1\"`, "[REDACTED:email]"}, []string{"jane.doe@example.com", `"error"`}},
	{"eve may not delete records", []string{`"code":-32001`, "evaluators call read-only tools only", `"decision_id"`}, []string{`"result"`}},
	{"oscar lists tools", []string{`"name":"rebuild_index"`, `"name":"search_traces"`}, []string{`"name":"delete_records"`, `"name":"replay_trace"`}},
	{"oscar rebuilds an index", []string{`\"documents\":2`, `\"index\":\"kb\"`}, []string{`"error"`}},
}

var mcpCurlLine = regexp.MustCompile(`(?m)^  (curl -s http://\S+/mcp/demo .*)$`)

// checkDemoMCP runs the banner's MCP curl commands as printed, with the
// persona tokens in the environment, and checks their answers.
func checkDemoMCP(t *testing.T, banner string, tokens map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("curl is needed to run the banner's MCP commands: %v", err)
		}
		t.Log("curl not installed: the banner's MCP commands are not run")
		return
	}
	cmds := mcpCurlLine.FindAllStringSubmatch(banner, -1)
	if len(cmds) != len(mcpBannerChecks) {
		t.Fatalf("banner has %d MCP curl commands, want %d:\n%s", len(cmds), len(mcpBannerChecks), banner)
	}
	env := os.Environ()
	for k, v := range tokens {
		env = append(env, k+"="+v)
	}
	for i, c := range mcpBannerChecks {
		cmd := exec.CommandContext(t.Context(), "bash", "-c", cmds[i][1])
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s: answer lacks %s:\n%s", c.name, w, out)
			}
		}
		for _, w := range c.notWant {
			if strings.Contains(string(out), w) {
				t.Errorf("%s: answer has %s:\n%s", c.name, w, out)
			}
		}
	}
}

// TestReadmeMCPDemo checks that the README and docs/mcp.md show the MCP
// commands the demo banner prints (for the default data address), which
// TestServeDemo runs.
func TestReadmeMCPDemo(t *testing.T) {
	banner := mcpBanner("http://127.0.0.1:8080" + demoMCPPath)
	cmds := mcpCurlLine.FindAllStringSubmatch(banner, -1)
	if len(cmds) != len(mcpBannerChecks) {
		t.Fatalf("mcpBanner has %d curl commands, want %d", len(cmds), len(mcpBannerChecks))
	}
	for _, doc := range []string{"../../README.md", "../../docs/mcp.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			if !strings.Contains(string(b), c[1]+"\n") {
				t.Errorf("%s lacks the banner's command\n%s", doc, c[1])
			}
		}
	}
}

// checkDemoMCPAudit checks that the banner's MCP calls have their records:
// who called which demo tool, and the decision.
func checkDemoMCPAudit(t *testing.T, entries []audit.Entry) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		return // checkDemoMCP made no calls
	}
	want := map[string]bool{
		"eve tools/call search_traces " + audit.Allow:   false,
		"eve tools/call delete_records " + audit.Deny:   false,
		"oscar tools/call rebuild_index " + audit.Allow: false,
	}
	for _, e := range entries {
		r := e.Record
		if r.MCP == nil || r.MCP.Server != "demo" {
			continue
		}
		k := fmt.Sprintf("%s %s %s %s", r.Subject, r.MCP.Method, r.MCP.Name, r.Decision)
		if _, ok := want[k]; ok {
			want[k] = true
		}
	}
	for k, found := range want {
		if !found {
			t.Errorf("no audit record %q", k)
		}
	}
}
