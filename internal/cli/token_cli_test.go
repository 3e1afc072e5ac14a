package cli

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cliResult is the outcome of one in-process warden run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs warden with args in-process, with stdin, the clock now (the
// real clock when zero) and client for outbound requests (nil: a client with
// a timeout).
func runCLI(t testing.TB, stdin string, now time.Time, client *http.Client, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := IO{
		Stdin:      strings.NewReader(stdin),
		Stdout:     &out,
		Stderr:     &errb,
		Getenv:     func(string) string { return "" },
		HTTPClient: client,
	}
	if client == nil {
		stdio.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if !now.IsZero() {
		stdio.Now = func() time.Time { return now }
	}
	code := Run(context.Background(), args, stdio)
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}
