package testutil

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// DocBlock returns the fenced code block that follows marker (an HTML
// comment such as "<!-- issuer-curl -->") in the Markdown file at path.
func DocBlock(tb testing.TB, path, marker string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), marker)
	if !ok {
		tb.Fatalf("%s has no %q", path, marker)
	}
	_, rest, _ = strings.Cut(rest, "```")
	_, rest, _ = strings.Cut(rest, "\n")
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		tb.Fatalf("%s: unterminated block after %q", path, marker)
	}
	return block
}

// RunDocScript runs a documented shell script with bash -euo pipefail, the
// environment env (plus PATH) and returns its standard output. The scripts
// call curl: without it the test is skipped, unless CI is set, when it fails.
func RunDocScript(tb testing.TB, script string, env ...string) string {
	tb.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("curl is needed for the docs test")
		}
		tb.Skip("no curl")
	}
	cmd := exec.CommandContext(tb.Context(), "bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("the documented commands failed: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
