package ingest_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/auditship"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// docBlock returns the fenced block after marker in docs/audit.md.
func docBlock(t *testing.T, marker string) string {
	t.Helper()
	data, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), marker)
	if !ok {
		t.Fatalf("docs/audit.md has no %q", marker)
	}
	_, rest, _ = strings.Cut(rest, "```")
	_, rest, _ = strings.Cut(rest, "\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("unterminated block after %q", marker)
	}
	return block
}

// TestDocsCurl runs the ingest walkthrough of docs/audit.md against a
// real server and compares its output with the documented one.
func TestDocsCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is needed for the docs test")
		}
		t.Skip("no curl")
	}
	w := newWarden(t, storetest.NewSQLite(t))
	secret := w.addClient("billing", auditship.Scope)
	cmd := exec.CommandContext(t.Context(), "bash", "-euo", "pipefail", "-c", docBlock(t, "<!-- ingest-curl -->"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "WARDEN=" + w.url, "CLIENT_SECRET=" + secret}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the documented commands failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if want := docBlock(t, "<!-- ingest-curl-output -->"); stdout.String() != want {
		t.Errorf("documented output:\n%s\nactual:\n%s", want, stdout.String())
	}
}
