package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cedar-policy/cedar-go"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
)

// docsFile is the policy documentation whose examples this test runs.
const docsFile = "../../docs/policy.md"

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	lang  string
	attrs map[string]string // from the info string: ```json file=eve.json
	line  int               // of the opening fence
	body  string
}

// docBlocks returns the fenced code blocks of a Markdown document.
func docBlocks(t testing.TB, path string) []docBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docBlock
	var cur *docBlock
	var body strings.Builder
	for i, line := range strings.Split(string(data), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			fields := strings.Fields(strings.TrimPrefix(line, "```"))
			b := docBlock{attrs: map[string]string{}, line: i + 1}
			if len(fields) > 0 {
				b.lang = fields[0]
				for _, f := range fields[1:] {
					k, v, _ := strings.Cut(f, "=")
					b.attrs[k] = v
				}
			}
			cur = &b
			body.Reset()
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.body = body.String()
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unclosed code block", path, cur.line)
	}
	return out
}

// referenceFS returns the reference bundle's files, with tests/ and
// policies/ replaced when given.
func referenceFS(t testing.TB, policies, tests map[string]string) fstest.MapFS {
	t.Helper()
	src := os.DirFS(referenceDir)
	fsys := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if (policies != nil && strings.HasPrefix(p, "policies/")) || (tests != nil && strings.HasPrefix(p, "tests/")) {
			return nil
		}
		data, err := fs.ReadFile(src, p)
		fsys[p] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range policies {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	for name, data := range tests {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

// TestDocsExamples runs every example of docs/policy.md except the command
// sessions (internal/cli runs those): Cedar blocks compile and validate
// against the reference schema, and a policy whose @id is in the reference
// bundle is that policy; schema blocks are excerpts of the reference schema;
// YAML blocks are test files that pass against the reference bundle; JSON
// blocks are claims the claim mapping accepts.
func TestDocsExamples(t *testing.T) {
	blocks := docBlocks(t, docsFile)
	refPolicies := referencePolicies(t)
	schema, err := os.ReadFile(referenceDir + "/schema.cedarschema")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, b := range blocks {
		counts[b.lang]++
		t.Run(fmt.Sprintf("%s:%d", b.lang, b.line), func(t *testing.T) {
			switch b.lang {
			case "cedar":
				fsys := referenceFS(t, map[string]string{"policies/doc.cedar": b.body}, map[string]string{})
				if _, err := policy.Compile(fsys, policy.Meta{}); err != nil {
					t.Fatalf("docs/policy.md:%d: %v", b.line, err)
				}
				list, err := cedar.NewPolicyListFromBytes("doc.cedar", []byte(b.body))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range list {
					id := string(p.Annotations()["id"])
					want, ok := refPolicies[id]
					if !ok {
						continue
					}
					if got := string(p.MarshalCedar()); got != want {
						t.Errorf("docs/policy.md:%d: policy %s differs from the reference bundle's:\n%s\nwant:\n%s", b.line, id, got, want)
					}
				}
			case "cedarschema":
				if err := excerptOf(b.body, string(schema)); err != nil {
					t.Errorf("docs/policy.md:%d: not an excerpt of the reference schema: %v", b.line, err)
				}
			case "yaml":
				rep, err := policy.RunTests(context.Background(), referenceFS(t, nil, map[string]string{"tests/doc.yaml": b.body}), testOptions())
				if err != nil {
					t.Fatalf("docs/policy.md:%d: %v", b.line, err)
				}
				if rep.Failed > 0 || rep.Passed == 0 {
					var buf bytes.Buffer
					_ = rep.Write(&buf, "")
					t.Errorf("docs/policy.md:%d:\n%s", b.line, buf.String())
				}
			case "json":
				var claims map[string]any
				if err := json.Unmarshal([]byte(b.body), &claims); err != nil {
					t.Fatalf("docs/policy.md:%d: %v", b.line, err)
				}
				if _, err := (authn.ClaimMapping{}).Principal(claims); err != nil {
					t.Errorf("docs/policy.md:%d: claims: %v", b.line, err)
				}
				if b.attrs["file"] == "" {
					t.Errorf("docs/policy.md:%d: a JSON example needs file=NAME (the command sessions use it)", b.line)
				}
			case "console":
				// Run by internal/cli (TestPolicyDocsSessions).
			case "text":
				// Output shown for illustration, not an example to run.
			default:
				t.Errorf("docs/policy.md:%d: code block of unknown kind %q: tag it cedar, cedarschema, yaml, json, console or text", b.line, b.lang)
			}
		})
	}
	if counts["cedar"] == 0 || counts["yaml"] == 0 || counts["console"] == 0 {
		t.Errorf("blocks found: %v", counts)
	}
}

// referencePolicies returns the canonical Cedar text of every reference
// policy by id.
func referencePolicies(t *testing.T) map[string]string {
	t.Helper()
	files, err := fs.Glob(os.DirFS(referenceDir), "policies/*.cedar")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(referenceDir + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		list, err := cedar.NewPolicyListFromBytes(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			out[string(p.Annotations()["id"])] = string(p.MarshalCedar())
		}
	}
	return out
}

// excerptOf reports whether every non-blank line of part appears, trimmed
// and in order, among the lines of whole.
func excerptOf(part, whole string) error {
	lines := strings.Split(whole, "\n")
	i := 0
	for _, l := range strings.Split(part, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		for i < len(lines) && strings.TrimSpace(lines[i]) != l {
			i++
		}
		if i == len(lines) {
			return fmt.Errorf("line %q", l)
		}
		i++
	}
	return nil
}
