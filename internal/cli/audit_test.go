package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store/storetest"
)

// runAuditCLI runs warden with args. Until root.go adds the audit group it
// runs under a root that has it, with Run's exit-code handling.
func runAuditCLI(t *testing.T, now time.Time, args ...string) cliResult {
	t.Helper()
	if rootHasAudit() {
		return runCLI(t, "", now, nil, args...)
	}
	var out, errb bytes.Buffer
	stdio := IO{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: func() time.Time { return now }}.withDefaults()
	root := newRootCmd(stdio)
	root.AddCommand(newAuditCmd(stdio))
	root.SetArgs(args)
	root.SetOut(stdio.Stdout)
	root.SetErr(stdio.Stderr)
	code := exitOK
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = exitUsage
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if !errors.Is(err, errSilent) {
			fmt.Fprintf(stdio.Stderr, "warden: %s\n", oneLine(err.Error()))
		}
	}
	return cliResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// seededStore is a SQLite store seeded at now, and its URL.
func seededStore(t *testing.T, now time.Time) (path, url string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "warden.db")
	url = "sqlite://" + path
	if err := seedAudit(url, now); err != nil {
		t.Fatal(err)
	}
	return path, url
}

func tamper(t *testing.T, path, how string) {
	t.Helper()
	exec, closeDB, err := sqliteTamperer(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if err := tamperAudit(exec, how); err != nil {
		t.Fatal(err)
	}
}

var anchorRE = regexp.MustCompile(`anchor (gw-1:6:[0-9a-f]{64})`)

func TestAuditVerifyCLI(t *testing.T) {
	now := time.Now()
	path, url := seededStore(t, now)
	r := runAuditCLI(t, now, "audit", "verify", "--store", url)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("verify: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{`(?m)^OK +gw-1: 6 records intact; anchor gw-1:6:[0-9a-f]{64}$`, `(?m)^OK +gw-2: 2 records intact; anchor gw-2:2:[0-9a-f]{64}$`} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("verify output lacks %s:\n%s", want, r.stdout)
		}
	}
	anchor := anchorRE.FindStringSubmatch(r.stdout)[1]
	if r := runAuditCLI(t, now, "audit", "verify", "--store", path, "--node", "gw-1", "--anchor", anchor); r.code != 0 {
		t.Fatalf("verify with its own anchor: %d %s %s", r.code, r.stdout, r.stderr)
	}

	tamper(t, path, "truncate")
	r = runAuditCLI(t, now, "audit", "verify", "--store", url)
	if r.code != 1 {
		t.Fatalf("verify of a truncated chain: exit %d, want 1\n%s", r.code, r.stdout)
	}
	if !strings.Contains(r.stdout, "TAMPERED  gw-1: seq 5: truncated: the head is at seq 6, the last record is seq 4 (4 records verified before it)") ||
		!strings.Contains(r.stdout, "OK        gw-2") {
		t.Errorf("verify output:\n%s", r.stdout)
	}
	if r.stderr != "warden: audit chain of node gw-1 is damaged at seq 5 (truncated)\n" {
		t.Errorf("stderr %q", r.stderr)
	}
	r = runAuditCLI(t, now, "audit", "verify", "--store", url, "--node", "gw-1", "--json")
	var reps []verifyJSON
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || r.code != 1 {
		t.Fatalf("--json: %d %v\n%s", r.code, err, r.stdout)
	}
	if len(reps) != 1 || reps[0].Intact || reps[0].Problem == nil || reps[0].Problem.Seq != 5 || reps[0].Problem.Fault != "truncated" || reps[0].HeadSeq != 6 {
		t.Errorf("--json report %+v", reps)
	}

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"audit", "verify", "--store", url, "--node", "gw-9"}, 1, "damaged at seq 1 (truncated)"},
		{[]string{"audit", "verify"}, 2, "--store is required"},
		{[]string{"audit", "verify", "--store", filepath.Join(t.TempDir(), "none.db")}, 2, "open store"},
		{[]string{"audit", "verify", "--store", "mysql://db/x"}, 2, "unsupported scheme"},
		{[]string{"audit", "verify", "--store", url, "--anchor", "gw-1:6:zz"}, 2, "--anchor"},
		{[]string{"audit", "verify", "--store", url, "--node", "gw-2", "--anchor", anchor}, 2, "not --node gw-2"},
		{[]string{"audit", "verify", "--store", url, "extra"}, 2, "unknown command"},
		{[]string{"audit", "bogus"}, 2, "unknown command"},
	} {
		r := runAuditCLI(t, now, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args[2:], r.code, r.stderr, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "none.db")); err == nil {
		t.Error("verify created a store")
	}
}

func TestAuditVerifyCLIFaults(t *testing.T) {
	now := time.Now()
	for how, want := range map[string]string{
		"edit":   "TAMPERED  gw-1: seq 2: edited: the record does not hash to its stored hash",
		"delete": "TAMPERED  gw-1: seq 3: deleted: seq 2 is followed by seq 4",
	} {
		path, url := seededStore(t, now)
		tamper(t, path, how)
		r := runAuditCLI(t, now, "audit", "verify", "--store", url)
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("%s: exit %d\n%s\nwant %s", how, r.code, r.stdout, want)
		}
	}
}

func TestAuditQueryCLI(t *testing.T) {
	now := time.Now()
	path, url := seededStore(t, now)
	r := runAuditCLI(t, now, "audit", "query", "--store", url, "--since", "1h", "--sub", "alice", "--decision", "deny", "--action", "model:invoke")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("query: %d %s", r.code, r.stderr)
	}
	rows := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(rows) != 4 || !regexp.MustCompile(`^TIME +NODE +SEQ +PHASE +DECISION +SUBJECT +ACTION +RESOURCE +ROUTE +STATUS +WHY$`).MatchString(rows[0]) {
		t.Fatalf("query table:\n%s", r.stdout)
	}
	for i, want := range []string{
		`^\S+Z +gw-1 +2 +- +deny +alice +model:invoke +Model::"gpt-4o-prod" +openai-chat +- +production models need approval$`,
		`^\S+Z +gw-1 +4 +- +deny +alice +model:invoke +Model::"o1" +openai-chat +- +tier too high for evaluators$`,
		`^\S+Z +gw-2 +2 +- +deny +alice +model:invoke +Model::"gpt-4o-prod" +openai-chat +- +production models need approval$`,
	} {
		if !regexp.MustCompile(want).MatchString(rows[i+1]) {
			t.Errorf("row %d = %q, want %s", i+1, rows[i+1], want)
		}
	}

	r = runAuditCLI(t, now, "audit", "query", "--store", url, "--sub", "alice", "--json")
	if r.code != 0 || lines([]byte(r.stdout)) != 5 {
		t.Fatalf("--json: %d\n%s", r.code, r.stdout)
	}
	for l := range strings.Lines(r.stdout) {
		var line struct {
			Node   string
			Seq    int
			Record struct{ Subject string }
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil || line.Record.Subject != "alice" {
			t.Errorf("--json line %s: %v", l, err)
		}
	}

	r = runAuditCLI(t, now, "audit", "query", "--store", url, "--limit", "2")
	if r.code != 0 || lines([]byte(r.stdout)) != 3 || !strings.Contains(r.stderr, "showing the first 2 records") {
		t.Errorf("--limit 2: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runAuditCLI(t, now, "audit", "query", "--store", url, "--sub", "nobody")
	if r.code != 0 || r.stdout != "" || r.stderr != "no matching audit records\n" {
		t.Errorf("no match: %d %q %q", r.code, r.stdout, r.stderr)
	}
	from := now.Add(-35 * time.Minute).UTC().Format(time.RFC3339Nano)
	r = runAuditCLI(t, now, "audit", "query", "--store", url, "--node", "gw-1", "--since", from, "--until", "15m")
	if r.code != 0 || lines([]byte(r.stdout)) != 3 || !strings.Contains(r.stdout, "trace:replay") {
		t.Errorf("window: %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--since", "yesterday"}, "--since \"yesterday\""},
		{[]string{"--since", "-1h"}, "must be positive"},
		{[]string{"--decision", "maybe"}, "--decision"},
		{[]string{"--limit", "0"}, "--limit"},
		{[]string{"--since", "1h", "--until", "2h"}, "--until must be later"},
	} {
		r := runAuditCLI(t, now, append([]string{"audit", "query", "--store", url}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("%v: exit %d %q", tc.args, r.code, r.stderr)
		}
	}

	tamper(t, path, "edit")
	r = runAuditCLI(t, now, "audit", "query", "--store", url, "--sub", "alice")
	if r.code != 1 || !strings.Contains(r.stderr, "record gw-1/2 fails its integrity check (edited") || strings.Contains(r.stdout, "gpt-4o-prod") {
		t.Errorf("query over an edited record: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditQueryCLIEscapesRecordContent(t *testing.T) {
	if got := cleanCell("alice\x1b[31m\tred\u202e"); got != `alice\x1b[31m\tred\u202e` {
		t.Errorf("cleanCell = %q", got)
	}
	if got := cleanCell(""); got != "-" {
		t.Errorf("cleanCell(\"\") = %q", got)
	}
}

func TestAuditExportCLI(t *testing.T) {
	now := time.Now()
	_, url := seededStore(t, now)
	out := filepath.Join(t.TempDir(), "audit.jsonl")
	r := runAuditCLI(t, now, "audit", "export", "--store", url, "--format", "jsonl", "-o", out)
	if r.code != 0 || r.stderr != fmt.Sprintf("exported 8 records to %s\n", out) {
		t.Fatalf("export: %d %q", r.code, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(out)
	if lines(b) != 8 || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file: %d lines, mode %v", lines(b), fi.Mode().Perm())
	}
	stdout := runAuditCLI(t, now, "audit", "export", "--store", url)
	if stdout.code != 0 || stdout.stdout != string(b) {
		t.Errorf("export to stdout differs from the file")
	}
	if r := runAuditCLI(t, now, "audit", "export", "--store", url, "--node", "gw-2"); r.code != 0 || lines([]byte(r.stdout)) != 2 {
		t.Errorf("--node gw-2: %d\n%s", r.code, r.stdout)
	}
	if r := runAuditCLI(t, now, "audit", "export", "--store", url, "-o", out); r.code != 2 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("export over an existing file: %d %q", r.code, r.stderr)
	}
	if r := runAuditCLI(t, now, "audit", "export", "--store", url, "-o", out, "--force", "--node", "gw-2"); r.code != 0 {
		t.Errorf("--force: %d %q", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(out); lines(b) != 2 {
		t.Errorf("--force did not replace the file")
	}
	if r := runAuditCLI(t, now, "audit", "export", "--store", url, "--format", "csv"); r.code != 2 || !strings.Contains(r.stderr, "only jsonl") {
		t.Errorf("--format csv: %d %q", r.code, r.stderr)
	}
}

// TestAuditCLIPostgres runs verify and query against PostgreSQL when
// WARDEN_TEST_POSTGRES_URL is set.
func TestAuditCLIPostgres(t *testing.T) {
	b := storetest.NewPostgres(t)
	now := time.Now()
	if err := seedAudit(b.URL, now); err != nil {
		t.Fatal(err)
	}
	if r := runAuditCLI(t, now, "audit", "verify", "--store", b.URL); r.code != 0 || strings.Count(r.stdout, "OK ") != 2 {
		t.Fatalf("verify: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := runAuditCLI(t, now, "audit", "query", "--store", b.URL, "--since", "1h", "--sub", "alice", "--decision", "deny", "--action", "model:invoke")
	if r.code != 0 || lines([]byte(r.stdout)) != 4 {
		t.Fatalf("query: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	b.DropAppendOnly(t)
	b.Exec(t, "DELETE FROM audit_records WHERE node = 'gw-2' AND seq = 1")
	if r := runAuditCLI(t, now, "audit", "verify", "--store", b.URL); r.code != 1 || !strings.Contains(r.stdout, "TAMPERED  gw-2: seq 1: deleted") {
		t.Fatalf("verify after a delete: %d\n%s", r.code, r.stdout)
	}
}

// TestAuditDocsExamples runs every "warden audit" command of the sh blocks
// in docs/audit.md against a seeded store: the documented commands work as
// written.
func TestAuditDocsExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/audit.md")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, url := seededStore(t, now)
	dir := t.TempDir()
	n := 0
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		for line := range strings.Lines(strings.ReplaceAll(block[1], "\\\n", " ")) {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "warden audit ") {
				continue
			}
			line = strings.ReplaceAll(line, "sqlite:///var/lib/warden/warden.db", url)
			line = strings.ReplaceAll(line, "audit.jsonl", filepath.Join(dir, fmt.Sprintf("audit-%d.jsonl", n)))
			args := strings.Fields(line)[1:]
			if r := runAuditCLI(t, now, args...); r.code != 0 {
				t.Errorf("docs example %q: exit %d\n%s%s", line, r.code, r.stdout, r.stderr)
			}
			n++
		}
	}
	if n < 5 {
		t.Fatalf("only %d examples found in docs/audit.md", n)
	}
}
