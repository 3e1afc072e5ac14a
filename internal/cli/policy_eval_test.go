package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// runPolicyCLI runs the warden command line in-process, like Run, with the
// "policy test" and "policy eval" commands present even before the policy
// group wires them.
func runPolicyCLI(t *testing.T, dir string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	stdio := IO{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(string) string { return "" },
		Now:    func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) },
	}.withDefaults()
	root := newRootCmd(stdio)
	ensurePolicyEvalCmds(root, stdio)
	if dir != "" {
		t.Chdir(dir)
	}
	root.SetArgs(args)
	root.SetIn(stdio.Stdin)
	root.SetOut(stdio.Stdout)
	root.SetErr(stdio.Stderr)
	err := root.ExecuteContext(context.Background())
	return exitCodeOf(err, stdio), out.String(), errb.String()
}

// ensurePolicyEvalCmds adds "policy test" and "policy eval" to root's policy
// group unless it has them.
func ensurePolicyEvalCmds(root *cobra.Command, stdio IO) {
	for _, c := range root.Commands() {
		if c.Name() != "policy" {
			continue
		}
		have := map[string]bool{}
		for _, sub := range c.Commands() {
			have[sub.Name()] = true
		}
		if !have["test"] {
			c.AddCommand(newPolicyTestCmd(stdio))
		}
		if !have["eval"] {
			c.AddCommand(newPolicyEvalCmd(stdio))
		}
	}
}

// exitCodeOf mirrors Run: the exit code of a command's error, printing it.
func exitCodeOf(err error, stdio IO) int {
	if err == nil {
		return exitOK
	}
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if errors.Is(ee.err, errSilent) {
			return code
		}
	}
	fmt.Fprintf(stdio.Stderr, "warden: %s\n", oneLine(err.Error()))
	return code
}

// writeFiles writes files (path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyTestExitCodes(t *testing.T) {
	ref, err := filepath.Abs("../../examples/policy")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"failing/schema.cedarschema": "entity User; entity Doc;\naction \"read\" appliesTo { principal: [User], resource: [Doc] };\n",
		"failing/policies/p.cedar":   "@id(\"nobody\") permit (principal, action, resource) when { false };\n",
		"failing/tests/t.yaml":       "cases:\n  - {name: reads, claims: {sub: a}, action: read, resource: {type: Doc, id: d}, expect: allow}\n",
		"invalid/schema.cedarschema": "entity User; entity Doc;\naction \"read\" appliesTo { principal: [User], resource: [Doc] };\n",
		"invalid/policies/p.cedar":   "\npermit (principal, action == Action::\"write\", resource);\n",
		"invalid/tests/t.yaml":       "cases: []\n",
		"notests/schema.cedarschema": "entity User; entity Doc;\naction \"read\" appliesTo { principal: [User], resource: [Doc] };\n",
		"notests/policies/p.cedar":   "permit (principal, action, resource);\n",
		"afile":                      "x",
	})
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderr     string // substring
		noStdout   bool
		stdoutLast string // exact last line
	}{
		{name: "reference bundle passes", args: []string{"policy", "test", ref}, code: exitOK, stdoutLast: "128 passed, 0 failed"},
		{name: "a failing case", args: []string{"policy", "test", "failing"}, code: exitInvalid,
			stdout: "FAIL failing/tests/t.yaml:2 reads: expected allow, got deny (no policy permits Action::\"read\" for User::\"a\" on Doc::\"d\")\n0 passed, 1 failed\n"},
		{name: "verbose", args: []string{"policy", "test", "-v", ref}, code: exitOK, stdout: "PASS " + filepath.Join(ref, "tests/agents.yaml") + ":14 a user calls a low-risk tool\n"},
		{name: "invalid policy", args: []string{"policy", "test", "invalid"}, code: exitInvalid, noStdout: true,
			stderr: "invalid/policies/p.cedar:2: policy \"policies/p.cedar:0\": unrecognized action `Action::\"write\"`"},
		{name: "no test cases", args: []string{"policy", "test", "notests"}, code: exitInvalid, stderr: "no test cases in tests/*.yaml"},
		{name: "missing directory", args: []string{"policy", "test", "nope"}, code: exitUsage, stderr: "nope"},
		{name: "not a directory", args: []string{"policy", "test", "afile"}, code: exitUsage, stderr: "afile is not a directory"},
		{name: "no argument", args: []string{"policy", "test"}, code: exitUsage},
		{name: "claim mapping flags", args: []string{"policy", "test", "--roles-claim", "groups", ref}, code: exitInvalid, stdout: " failed\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyCLI(t, dir, "", tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) ||
				(tc.noStdout && stdout != "") || (tc.stdoutLast != "" && !strings.HasSuffix(stdout, tc.stdoutLast+"\n")) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
		})
	}
}

func TestPolicyEval(t *testing.T) {
	ref, err := filepath.Abs("../../examples/policy")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"eve.json":         `{"iss": "https://idp.example.com", "sub": "eve", "roles": ["evaluator"], "tenant": "acme"}`,
		"ada.json":         `{"sub": "ada", "roles": ["admin"], "tenant": "acme", "auth_time": 1795521540}`,
		"bot-for-uma.json": `{"sub": "uma", "tenant": "acme", "act": {"sub": "coding-agent"}}`,
		"bad.json":         `{"sub": 3}`,
		"notjson.json":     `{"sub": "x"`,
	})
	for _, a := range [][]string{
		{"keys", "generate", "--kid", "k1", "--out", "keys"},
		{"keys", "generate", "--kid", "k2", "--out", "other"},
		{"policy", "build", ref, "--signing-key", "keys/private.jwk", "-o", "signed.tar.gz", "--revision", "ref-1"},
		{"policy", "build", ref, "--insecure-unsigned", "-o", "unsigned.tar.gz", "--revision", "ref-u"},
	} {
		if code, stdout, stderr := runPolicyCLI(t, dir, "", a...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", a, code, stdout, stderr)
		}
	}
	// {"alg":"none"}.{"sub":"eve","roles":["evaluator"],"tenant":"acme"}.
	const eveToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUiLCJyb2xlcyI6WyJldmFsdWF0b3IiXSwidGVuYW50IjoiYWNtZSJ9."
	trace := []string{"--action", "trace:read", "--resource", `Trace::"tr-1"`, "--attr", "tenant=acme"}
	with := func(base []string, more ...string) []string {
		return append(append([]string{"policy", "eval"}, base...), more...)
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout []string // substrings
		stderr string
	}{
		{name: "allow", args: with(trace, "--dir", ref, "--claims", "eve.json"), code: exitOK,
			stdout: []string{"ALLOW: permitted by evaluator-read-traces\n"}},
		{name: "forbid", args: with([]string{"--action", "trace:read", "--resource", `Trace::"tr-1"`, "--attr", "tenant=globex"}, "--dir", ref, "--claims", "eve.json"), code: exitInvalid,
			stdout: []string{"DENY: forbidden by tenant-isolation\n"}},
		{name: "default deny explained", args: with([]string{"--action", "evaluation:run", "--resource", `Evaluation::"nightly"`, "--attr", "tenant=acme", "--explain"}, "--dir", ref, "--claims", "ada.json"), code: exitInvalid,
			stdout: []string{"DENY\n", `  no policy permits Action::"evaluation:run" for User::"ada" on Evaluation::"nightly" (default deny)`}},
		{name: "allow explained", args: with(trace, "--dir", ref, "--claims", "eve.json", "--explain"), code: exitOK,
			stdout: []string{"ALLOW\n", `  principal: User::"eve"`, "  permitted by evaluator-read-traces (policies/evaluation.cedar:4): evaluators read and replay traces to judge model behaviour\n"}},
		{name: "auth_age from auth_time and the clock", args: with([]string{"--action", "secret:read", "--resource", `Secret::"openai-key"`, "--explain"}, "--dir", ref, "--claims", "ada.json"), code: exitOK,
			stdout: []string{"permitted by admin-read-secrets"}},
		{name: "context JSON", args: with([]string{"--action", "secret:read", "--resource", `Secret::"openai-key"`, "--context", `{"auth_age": 9999}`}, "--dir", ref, "--claims", "ada.json"), code: exitInvalid,
			stdout: []string{"DENY: no policy permits"}},
		{name: "attr JSON values", args: with([]string{"--action", "output:read", "--resource", `Output::"o"`, "--attr", "tenant=acme", "--attr", "customer_facing=true"}, "--dir", ref, "--claims", "eve.json"), code: exitInvalid,
			stdout: []string{"DENY"}},
		{name: "delegated explained", args: with([]string{"--action", "tool:call", "--resource", `Tool::"shell"`, "--attr", "risk=high", "--explain"}, "--dir", ref, "--claims", "bot-for-uma.json"), code: exitInvalid,
			stdout: []string{`  on behalf of: User::"uma"`, `  as Agent::"coding-agent" acting for User::"uma": ALLOW`, "    permitted by agent-tool-call-for-user", `  as User::"uma": DENY`}},
		{name: "json", args: with(trace, "--dir", ref, "--claims", "eve.json", "--json"), code: exitOK,
			stdout: []string{`"allowed": true`, `"policy": "evaluator-read-traces"`, `"revision": "dir:` + ref + `"`}},
		{name: "token is decoded, not verified", args: with(trace, "--dir", ref, "--token", eveToken), code: exitOK,
			stdout: []string{"ALLOW"}, stderr: "the token was decoded, NOT verified"},
		{name: "token from stdin", args: with(trace, "--dir", ref, "--token", "-"), stdin: eveToken + "\n", code: exitOK, stdout: []string{"ALLOW"}},
		{name: "signed bundle", args: with(trace, "--bundle", "signed.tar.gz", "--jwks", "keys/jwks.json", "--claims", "eve.json", "--explain"), code: exitOK,
			stdout: []string{"  bundle:    ref-1 (sha256:"}},
		{name: "signed bundle with --key", args: with(trace, "--bundle", "signed.tar.gz", "--key", "keys/jwks.json", "--claims", "eve.json"), code: exitOK},
		{name: "untrusted key", args: with(trace, "--bundle", "signed.tar.gz", "--jwks", "other/jwks.json", "--claims", "eve.json"), code: exitInvalid, stderr: "untrusted_key"},
		{name: "unsigned bundle refused", args: with(trace, "--bundle", "unsigned.tar.gz", "--jwks", "keys/jwks.json", "--claims", "eve.json"), code: exitInvalid, stderr: "unsigned"},
		{name: "unsigned bundle accepted when insecure", args: with(trace, "--bundle", "unsigned.tar.gz", "--insecure-unsigned", "--claims", "eve.json"), code: exitOK, stderr: "is NOT signed"},
		{name: "bundle without keys", args: with(trace, "--bundle", "signed.tar.gz", "--claims", "eve.json"), code: exitUsage, stderr: "--bundle needs --key or --jwks"},
		{name: "dir and bundle", args: with(trace, "--dir", ref, "--bundle", "signed.tar.gz", "--claims", "eve.json"), code: exitUsage},
		{name: "no principal", args: with(trace, "--dir", ref), code: exitUsage, stderr: "exactly one of --token and --claims"},
		{name: "no action", args: []string{"policy", "eval", "--dir", ref, "--claims", "eve.json", "--resource", `Trace::"t"`}, code: exitUsage, stderr: "--action is required"},
		{name: "bad resource", args: []string{"policy", "eval", "--dir", ref, "--claims", "eve.json", "--action", "trace:read", "--resource", "Trace:t"}, code: exitUsage, stderr: "want a Cedar entity"},
		{name: "bad attr", args: with(trace, "--dir", ref, "--claims", "eve.json", "--attr", "novalue"), code: exitUsage, stderr: "want key=value"},
		{name: "bad context", args: with(trace, "--dir", ref, "--claims", "eve.json", "--context", "[1]"), code: exitUsage, stderr: "--context"},
		{name: "claims of the wrong type", args: with(trace, "--dir", ref, "--claims", "bad.json"), code: exitInvalid, stderr: "claims"},
		{name: "unreadable claims", args: with(trace, "--dir", ref, "--claims", "notjson.json"), code: exitUsage},
		{name: "a malformed token", args: with(trace, "--dir", ref, "--token", "abc"), code: exitUsage, stderr: "--token"},
		{name: "unknown action denies", args: []string{"policy", "eval", "--dir", ref, "--claims", "eve.json", "--action", "trace:burn", "--resource", `Trace::"t"`}, code: exitInvalid,
			stdout: []string{`DENY: error: unknown action "trace:burn"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyCLI(t, dir, tc.stdin, tc.args...)
			ok := code == tc.code && strings.Contains(stderr, tc.stderr)
			for _, s := range tc.stdout {
				ok = ok && strings.Contains(stdout, s)
			}
			if !ok {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
		})
	}
}

// TestPolicyDocsSessions runs the command sessions (```console blocks) of
// docs/policy.md, in order, in a directory holding a copy of the reference
// bundle at examples/policy and the files of the ```json file=NAME blocks.
// A session line "$ warden ..." is a command; the lines after it are its
// whole stdout, where "..." stands for any lines, and a last line
// "[exit N]" is its exit code (0 otherwise).
func TestPolicyDocsSessions(t *testing.T) {
	data, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	if err := os.CopyFS(filepath.Join(work, "examples", "policy"), os.DirFS("../../examples/policy")); err != nil {
		t.Fatal(err)
	}
	type block struct {
		lang, file string
		line       int
		lines      []string
	}
	var blocks []block
	var cur *block
	for i, l := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			f := strings.Fields(strings.TrimPrefix(l, "```"))
			cur = &block{line: i + 1}
			if len(f) > 0 {
				cur.lang = f[0]
			}
			for _, a := range f[1:] {
				if v, ok := strings.CutPrefix(a, "file="); ok {
					cur.file = v
				}
			}
		case cur != nil && strings.TrimSpace(l) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		}
	}
	sessions := 0
	for _, b := range blocks {
		if b.lang == "json" && b.file != "" {
			writeFiles(t, work, map[string]string{b.file: strings.Join(b.lines, "\n") + "\n"})
		}
	}
	for _, b := range blocks {
		if b.lang != "console" {
			continue
		}
		for _, c := range parseSession(t, b.lines) {
			sessions++
			args, err := shellWords(c.command)
			if err != nil || len(args) == 0 || args[0] != "warden" {
				t.Fatalf("docs/policy.md:%d: %q: not a warden command (%v)", b.line, c.command, err)
			}
			code, stdout, stderr := runPolicyCLI(t, work, "", args[1:]...)
			want := c.output
			wantCode := 0
			if n := len(want); n > 0 && strings.HasPrefix(want[n-1], "[exit ") {
				if _, err := fmt.Sscanf(want[n-1], "[exit %d]", &wantCode); err != nil {
					t.Fatalf("docs/policy.md:%d: %q", b.line, want[n-1])
				}
				want = want[:n-1]
			}
			got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if code != wantCode || !matchLines(want, got) {
				t.Errorf("docs/policy.md:%d: $ %s\nexit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s",
					b.line, c.command, code, wantCode, stdout, stderr, strings.Join(want, "\n"))
			}
		}
	}
	if sessions == 0 {
		t.Error("no command sessions in docs/policy.md")
	}
}

type sessionCommand struct {
	command string
	output  []string
}

// parseSession splits a console block into commands ("$ " lines, with "\"
// continuations) and their expected output.
func parseSession(t *testing.T, lines []string) []sessionCommand {
	var out []sessionCommand
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		cmd, ok := strings.CutPrefix(l, "$ ")
		if !ok {
			if len(out) == 0 {
				t.Fatalf("console block does not start with a command: %q", l)
			}
			out[len(out)-1].output = append(out[len(out)-1].output, l)
			continue
		}
		for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + strings.TrimSpace(lines[i])
		}
		out = append(out, sessionCommand{command: cmd})
	}
	return out
}

// matchLines matches got against want, line by line; a want line "..."
// matches any number of lines.
func matchLines(want, got []string) bool {
	if len(want) == 0 {
		return len(got) == 0 || (len(got) == 1 && got[0] == "")
	}
	if want[0] == "..." {
		for i := 0; i <= len(got); i++ {
			if matchLines(want[1:], got[i:]) {
				return true
			}
		}
		return false
	}
	return len(got) > 0 && got[0] == want[0] && matchLines(want[1:], got[1:])
}

// shellWords splits a command line as a POSIX shell would for the quoting
// the documentation uses: '...', "..." (with \" and \\) and bare words.
func shellWords(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\') {
					i++
				}
				w.WriteByte(s[i])
			}
			if i == len(s) {
				return nil, errors.New(`unterminated "`)
			}
			inWord = true
		case c == '$' || c == '`' || c == '|' || c == '>' || c == '<' || c == ';' || c == '&':
			return nil, fmt.Errorf("shell syntax %q is not supported in documented commands", c)
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
