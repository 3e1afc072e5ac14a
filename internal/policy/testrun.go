package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/wardenhq/warden/internal/identity"
)

// TestOptions configures RunTests.
type TestOptions struct {
	// Principal maps a case's claims to a principal, with the same claim
	// mapping the gateway uses (authn.ClaimMapping.Principal in internal/authn). Required.
	Principal func(claims map[string]any) (*identity.Principal, error)
	// DecodeToken returns the claims of a case's token. Tests decode tokens
	// WITHOUT verifying them: a test case is not a credential. Nil makes
	// every case that gives a token fail.
	DecodeToken func(token string) (map[string]any, error)
	// Clock is the time of every decision (context.time, auth_age from
	// auth_time); nil means time.Now.
	Clock func() time.Time
	// Meta is stamped into the decisions.
	Meta Meta
}

// TestResult is the outcome of one test case.
type TestResult struct {
	File string // bundle path, e.g. tests/roles.yaml
	Line int
	Name string
	// Expect is "allow" or "deny"; Reasons the expected policy ids (nil when
	// the case does not check them).
	Expect  string
	Reasons []string
	Passed  bool
	// Failure says what went wrong when !Passed.
	Failure  string
	Decision Decision
}

// TestReport is the outcome of RunTests.
type TestReport struct {
	Results        []TestResult
	Passed, Failed int
	// Policies are the bundle's policies, for coverage.
	Policies []PolicyInfo
}

// Uncovered returns the ids of policies that no passing case names in its
// expected reasons, in file order.
func (r *TestReport) Uncovered() []string {
	named := make(map[string]bool)
	for _, res := range r.Results {
		if !res.Passed {
			continue
		}
		for _, id := range res.Reasons {
			named[id] = true
		}
	}
	var out []string
	for _, p := range r.Policies {
		if !named[p.ID] {
			out = append(out, p.ID)
		}
	}
	return out
}

// Write prints one line per failing case and then the summary line
// "N passed, M failed". Files are shown under root (the bundle directory as
// the user named it; "" for bundle paths).
func (r *TestReport) Write(w io.Writer, root string) error {
	for _, res := range r.Results {
		if res.Passed {
			continue
		}
		if _, err := fmt.Fprintf(w, "FAIL %s:%d %s: %s\n", path.Join(root, res.File), res.Line, res.Name, res.Failure); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d passed, %d failed\n", r.Passed, r.Failed)
	return err
}

// ErrNoTests is returned by RunTests for a bundle without test cases.
var ErrNoTests = errors.New("no test cases in " + TestsGlob)

// testFile is the format of tests/*.yaml.
type testFile struct {
	// Principals names claim sets that cases refer to with "principal".
	Principals map[string]map[string]any `yaml:"principals"`
	Cases      []testCase                `yaml:"cases"`
}

type testCase struct {
	Name string `yaml:"name"`
	// Exactly one of Principal (a name from principals), Claims and Token.
	Principal string         `yaml:"principal"`
	Claims    map[string]any `yaml:"claims"`
	Token     string         `yaml:"token"`
	Action    string         `yaml:"action"`
	Resource  struct {
		Type       string         `yaml:"type"`
		ID         string         `yaml:"id"`
		Attributes map[string]any `yaml:"attributes"`
	} `yaml:"resource"`
	Context map[string]any `yaml:"context"`
	Expect  string         `yaml:"expect"`
	Reasons []string       `yaml:"reasons"`
}

// RunTests compiles the bundle in fsys and runs every case of
// tests/*.yaml against it. Problems in the bundle or in the test files
// (invalid Cedar, unknown YAML keys, a case without an action, ...) are
// returned as a *CompileError; a bundle without cases yields ErrNoTests.
// Failing cases are not errors: they are in the report.
func RunTests(ctx context.Context, fsys fs.FS, opts TestOptions) (*TestReport, error) {
	if opts.Principal == nil {
		return nil, errors.New("run policy tests: no claim mapping (TestOptions.Principal)")
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	c, err := Compile(fsys, opts.Meta)
	if err != nil {
		return nil, err
	}
	cases, err := loadCases(fsys)
	if err != nil {
		return nil, err
	}
	rep := &TestReport{Policies: c.Policies()}
	for i := range cases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := runCase(c, &cases[i], opts, clock())
		if res.Passed {
			rep.Passed++
		} else {
			rep.Failed++
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// loadCases reads and checks every case of tests/*.yaml, in file order.
func loadCases(fsys fs.FS) ([]loadedCase, error) {
	files, err := fs.Glob(fsys, TestsGlob)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", TestsGlob, err)
	}
	slices.Sort(files)
	var (
		probs problems
		cases []loadedCase
	)
	for _, name := range files {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		cases = append(cases, parseTestFile(&probs, name, src)...)
	}
	if err := probs.err(); err != nil {
		return nil, err
	}
	if len(cases) == 0 {
		return nil, ErrNoTests
	}
	return cases, nil
}

// TestCase is one case of a bundle's tests/*.yaml as LoadTestCases reads
// it, for tools that put the same questions to other surfaces (the
// differential test of internal/differential).
type TestCase struct {
	File string // bundle path, e.g. tests/roles.yaml
	Line int
	Name string
	// Claims are the case's claims (its named principal's or its own), with
	// the types of claims decoded from a JSON token; nil when the case
	// gives a Token instead (decode it without verifying: a test case is not
	// a credential).
	Claims   map[string]any
	Token    string
	Action   string
	Resource Resource
	Context  map[string]any
	// Expect is "allow" or "deny"; Reasons the expected policy ids, nil
	// when the case does not check them.
	Expect  string
	Reasons []string
}

// LoadTestCases reads every case of tests/*.yaml in fsys, checked as
// RunTests checks them (problems are a *CompileError; no cases is
// ErrNoTests), without compiling or running the bundle.
func LoadTestCases(fsys fs.FS) ([]TestCase, error) {
	cases, err := loadCases(fsys)
	if err != nil {
		return nil, err
	}
	out := make([]TestCase, 0, len(cases))
	for _, lc := range cases {
		tc := TestCase{
			File: lc.file, Line: lc.line, Name: lc.Name, Token: lc.Token, Action: lc.Action,
			Resource: Resource{Type: lc.Resource.Type, ID: lc.Resource.ID, Attributes: lc.Resource.Attributes},
			Context:  lc.Context, Expect: lc.Expect, Reasons: lc.testCase.Reasons,
		}
		if lc.Token == "" {
			if tc.Claims, err = jsonClaims(lc.claims); err != nil {
				return nil, fmt.Errorf("%s:%d: case %q: claims: %w", lc.file, lc.line, lc.Name, err)
			}
		}
		out = append(out, tc)
	}
	return out, nil
}

type loadedCase struct {
	testCase
	file   string
	line   int
	claims map[string]any // resolved from principal or claims
}

// parseTestFile decodes one test file strictly (unknown keys and duplicate
// keys are errors) and checks every case.
func parseTestFile(probs *problems, name string, src []byte) []loadedCase {
	var tf testFile
	if err := decodeTestFile(src, &tf); err != nil {
		line := 0
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			line = ye.GetToken().Position.Line
		}
		probs.add(name, line, "%s", yamlMessage(err))
		return nil
	}
	lines := caseLines(src)
	seen := make(map[string]int)
	var out []loadedCase
	for i, tc := range tf.Cases {
		lc := loadedCase{testCase: tc, file: name}
		if i < len(lines) {
			lc.line = lines[i]
		}
		bad := func(format string, a ...any) {
			probs.add(name, lc.line, "case %q: %s", tc.Name, fmt.Sprintf(format, a...))
		}
		nprobs := len(*probs)
		if strings.TrimSpace(tc.Name) == "" {
			probs.add(name, lc.line, "case without a name")
		} else if prev, dup := seen[tc.Name]; dup {
			bad("duplicate name (first at line %d)", prev)
		} else {
			seen[tc.Name] = lc.line
		}
		n := 0
		for _, set := range []bool{tc.Principal != "", tc.Claims != nil, tc.Token != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			bad("give exactly one of principal, claims and token")
		}
		if tc.Principal != "" {
			claims, ok := tf.Principals[tc.Principal]
			if !ok {
				bad("unknown principal %q (not in principals)", tc.Principal)
			}
			lc.claims = claims
		} else if tc.Claims != nil {
			lc.claims = tc.Claims
		}
		if tc.Action == "" {
			bad("no action")
		}
		if tc.Resource.Type == "" || tc.Resource.ID == "" {
			bad("resource needs type and id")
		}
		if tc.Expect != "allow" && tc.Expect != "deny" {
			bad("expect must be allow or deny, not %q", tc.Expect)
		}
		if len(*probs) == nprobs {
			out = append(out, lc)
		}
	}
	return out
}

// yamlMessage formats a go-yaml error as "[line:col] message" without the
// source excerpt.
// decodeTestFile decodes src strictly into tf. The decoder is third-party
// code fed with file content; goccy/go-yaml v1.19.2 dereferences nil on an
// explicitly tagged empty node ("cases: !!seq"), so a panic in it becomes
// an error naming the file rather than a crash of `warden policy test`.
func decodeTestFile(src []byte, tf *testFile) (err error) {
	defer func() {
		if r := recover(); r != nil {
			*tf = testFile{}
			err = fmt.Errorf("YAML decoder failed on this input (%v); check the file's tags and structure", r)
		}
	}()
	return yaml.UnmarshalWithOptions(src, tf, yaml.Strict(), yaml.DisallowUnknownField())
}

func yamlMessage(err error) string {
	return strings.TrimSpace(yaml.FormatError(err, false, false))
}

// caseLines returns the line of every item of the top-level "cases"
// sequence.
func caseLines(src []byte) (lines []int) {
	defer func() {
		if recover() != nil {
			lines = nil // positions are a courtesy; a parser panic only loses them
		}
	}()
	f, err := parser.ParseBytes(src, 0)
	if err != nil || len(f.Docs) == 0 {
		return nil
	}
	var values []*ast.MappingValueNode
	switch body := f.Docs[0].Body.(type) {
	case *ast.MappingNode:
		values = body.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{body}
	}
	for _, mv := range values {
		if mv.Key.String() != "cases" {
			continue
		}
		seq, ok := mv.Value.(*ast.SequenceNode)
		if !ok {
			return nil
		}
		lines = make([]int, len(seq.Values))
		for i, v := range seq.Values {
			if tok := v.GetToken(); tok != nil && tok.Position != nil {
				lines[i] = tok.Position.Line
			}
		}
		return lines
	}
	return nil
}

// runCase decides one case and compares.
func runCase(c *Compiled, tc *loadedCase, opts TestOptions, now time.Time) TestResult {
	res := TestResult{File: tc.file, Line: tc.line, Name: tc.Name, Expect: tc.Expect, Reasons: tc.testCase.Reasons}
	fail := func(format string, a ...any) TestResult {
		res.Failure = fmt.Sprintf(format, a...)
		return res
	}
	claims := tc.claims
	if tc.Token != "" {
		if opts.DecodeToken == nil {
			return fail("token cases need a token decoder")
		}
		var err error
		if claims, err = opts.DecodeToken(tc.Token); err != nil {
			return fail("token: %v", err)
		}
	}
	claims, err := jsonClaims(claims)
	if err != nil {
		return fail("claims: %v", err)
	}
	p, err := opts.Principal(claims)
	if err != nil {
		return fail("claims: %v", err)
	}
	d := c.decide(Request{
		Principal: p,
		Action:    tc.Action,
		Resource:  Resource{Type: tc.Resource.Type, ID: tc.Resource.ID, Attributes: tc.Resource.Attributes},
		Context:   tc.Context,
	}, now)
	res.Decision = d
	got := "deny"
	if d.Allowed {
		got = "allow"
	}
	if got != tc.Expect {
		return fail("expected %s, got %s (%s)", tc.Expect, got, d.Summary())
	}
	if tc.testCase.Reasons != nil {
		want := slices.Clone(tc.testCase.Reasons)
		have := d.PolicyIDs()
		slices.Sort(want)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			return fail("expected reasons [%s], got [%s] (%s)", strings.Join(want, ", "), strings.Join(have, ", "), d.Summary())
		}
	}
	res.Passed = true
	return res
}

// jsonClaims gives claims decoded from YAML the types of claims decoded
// from a JSON token (float64 numbers, []any, map[string]any), so that the
// claim mapping sees what it sees in production.
func jsonClaims(claims map[string]any) (map[string]any, error) {
	if claims == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}
