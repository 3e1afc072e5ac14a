package policy_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wardenhq/warden/internal/policy"
)

// miniBundle is a small bundle for the runner's tests.
func miniBundle(tests map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"schema.cedarschema": {Data: []byte(`
entity Role in [Role];
entity User, Agent in [Role] { roles?: Set<String>, scopes?: Set<String>, groups?: Set<String>, tenant?: String, iss?: String, team?: String, env?: String };
entity Trace { tenant?: String };
action "trace:read" appliesTo { principal: [User, Agent], resource: [Trace], context: { auth_age?: Long } };
`)},
		"policies/p.cedar": {Data: []byte(`
@id("readers") @reason("readers read traces")
permit (principal in Role::"reader", action == Action::"trace:read", resource);

@id("tenants") @reason("tenants are isolated")
forbid (principal, action, resource)
when { resource has tenant && !(principal has tenant && principal.tenant == resource.tenant) };
`)},
	}
	for name, data := range tests {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestRunTestsReport(t *testing.T) {
	fsys := miniBundle(map[string]string{"tests/a.yaml": `principals:
  alice: {sub: alice, roles: [reader], tenant: acme}
cases:
  - name: passes
    principal: alice
    action: trace:read
    resource: {type: Trace, id: t1, attributes: {tenant: acme}}
    expect: allow
    reasons: [readers]
  - name: wrong decision
    claims: {sub: bob}
    action: trace:read
    resource: {type: Trace, id: t1}
    expect: allow
  - name: wrong reasons
    principal: alice
    action: trace:read
    resource: {type: Trace, id: t1, attributes: {tenant: globex}}
    expect: deny
    reasons: [readers]
  - name: forbidden when allow was expected
    principal: alice
    action: trace:read
    resource: {type: Trace, id: t1, attributes: {tenant: globex}}
    expect: allow
  - name: error
    principal: alice
    action: trace:read
    resource: {type: Trace, id: t1}
    context: {auth_age: 1.5}
    expect: allow
  - name: a bad token
    token: not-a-jwt
    action: trace:read
    resource: {type: Trace, id: t1}
    expect: deny
`})
	rep, err := policy.RunTests(context.Background(), fsys, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.Write(&buf, "bundle"); err != nil {
		t.Fatal(err)
	}
	want := `FAIL bundle/tests/a.yaml:10 wrong decision: expected allow, got deny (no policy permits Action::"trace:read" for User::"bob" on Trace::"t1")
FAIL bundle/tests/a.yaml:15 wrong reasons: expected reasons [readers], got [tenants] (forbidden by tenants)
FAIL bundle/tests/a.yaml:21 forbidden when allow was expected: expected allow, got deny (forbidden by tenants)
FAIL bundle/tests/a.yaml:26 error: expected allow, got deny (error: context: auth_age: no Cedar value: number 1.5 is not an integer (Cedar has no floating point))
FAIL bundle/tests/a.yaml:32 a bad token: token: `
	if got := buf.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "\n1 passed, 5 failed\n") {
		t.Errorf("report:\n%s\nwant prefix:\n%s\nand the summary 1 passed, 5 failed", got, want)
	}
	if rep.Passed != 1 || rep.Failed != 5 {
		t.Errorf("Passed %d Failed %d", rep.Passed, rep.Failed)
	}
	if un := rep.Uncovered(); len(un) != 1 || un[0] != "tenants" {
		t.Errorf("Uncovered() = %v, want [tenants]", un)
	}
}

func TestRunTestsProblems(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"unknown key", "cases:\n  - name: x\n    claims: {sub: a}\n    action: trace:read\n    resource: {type: Trace, id: t}\n    expect: allow\n    expected: deny\n", "tests/t.yaml:7: [7:5] unknown field \"expected\""},
		{"unknown key in resource", "cases:\n  - name: x\n    claims: {sub: a}\n    action: trace:read\n    resource: {type: Trace, id: t, attrs: {}}\n    expect: allow\n", `unknown field "attrs"`},
		{"unknown top-level key", "case:\n  - name: x\n", `tests/t.yaml:1: [1:1] unknown field "case"`},
		{"duplicate key", "cases:\n  - name: x\n    name: y\n", `tests/t.yaml:3: [3:5] mapping key "name" already defined`},
		{"syntax", "cases: [\n", "tests/t.yaml:"},
		{"tagged empty sequence", "cases: !!seq\n", "tests/t.yaml: YAML decoder failed on this input"},
		{"tagged empty nested sequence", "cases:\n  - reasons: !!seq\n", "YAML decoder failed on this input"},
		{"no name", "cases:\n  - claims: {sub: a}\n    action: trace:read\n    resource: {type: Trace, id: t}\n    expect: allow\n", "tests/t.yaml:2: case without a name"},
		{"duplicate name", "cases:\n  - {name: x, claims: {sub: a}, action: trace:read, resource: {type: Trace, id: t}, expect: allow}\n  - {name: x, claims: {sub: a}, action: trace:read, resource: {type: Trace, id: t}, expect: allow}\n", `tests/t.yaml:3: case "x": duplicate name (first at line 2)`},
		{"two principals", "cases:\n  - {name: x, claims: {sub: a}, token: abc, action: trace:read, resource: {type: Trace, id: t}, expect: allow}\n", "give exactly one of principal, claims and token"},
		{"no principal", "cases:\n  - {name: x, action: trace:read, resource: {type: Trace, id: t}, expect: allow}\n", "give exactly one of principal, claims and token"},
		{"unknown principal", "cases:\n  - {name: x, principal: zed, action: trace:read, resource: {type: Trace, id: t}, expect: allow}\n", `unknown principal "zed"`},
		{"no action", "cases:\n  - {name: x, claims: {}, resource: {type: Trace, id: t}, expect: allow}\n", "no action"},
		{"no resource id", "cases:\n  - {name: x, claims: {}, action: a, resource: {type: Trace}, expect: allow}\n", "resource needs type and id"},
		{"bad expect", "cases:\n  - {name: x, claims: {}, action: a, resource: {type: Trace, id: t}, expect: permit}\n", `expect must be allow or deny, not "permit"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.RunTests(context.Background(), miniBundle(map[string]string{"tests/t.yaml": tc.file}), testOptions())
			var ce *policy.CompileError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunTests = %v, want a *CompileError containing %q", err, tc.want)
			}
		})
	}
}

func TestRunTestsNoCases(t *testing.T) {
	_, err := policy.RunTests(context.Background(), miniBundle(nil), testOptions())
	if !errors.Is(err, policy.ErrNoTests) {
		t.Errorf("RunTests without tests = %v, want ErrNoTests", err)
	}
	_, err = policy.RunTests(context.Background(), miniBundle(map[string]string{"tests/t.yaml": "cases: []\n"}), testOptions())
	if !errors.Is(err, policy.ErrNoTests) {
		t.Errorf("RunTests with an empty file = %v, want ErrNoTests", err)
	}
}

func TestRunTestsNeedsMapping(t *testing.T) {
	if _, err := policy.RunTests(context.Background(), miniBundle(nil), policy.TestOptions{}); err == nil {
		t.Error("RunTests without a claim mapping succeeded")
	}
}

func TestRunTestsReasonsUnchecked(t *testing.T) {
	// Without "reasons" the policy ids are not compared; "reasons: []"
	// requires none.
	fsys := miniBundle(map[string]string{"tests/t.yaml": `cases:
  - {name: unchecked, claims: {sub: a, roles: [reader]}, action: trace:read, resource: {type: Trace, id: t}, expect: allow}
  - {name: none expected, claims: {sub: a, roles: [reader]}, action: trace:read, resource: {type: Trace, id: t}, expect: allow, reasons: []}
`})
	rep, err := policy.RunTests(context.Background(), fsys, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 1 || rep.Failed != 1 || rep.Results[1].Passed {
		var buf bytes.Buffer
		_ = rep.Write(&buf, "")
		t.Errorf("want the second case to fail:\n%s", buf.String())
	}
}

func TestLoadTestCases(t *testing.T) {
	cases, err := policy.LoadTestCases(os.DirFS("../../examples/policy"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := policy.RunTests(context.Background(), os.DirFS("../../examples/policy"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(rep.Results) {
		t.Fatalf("LoadTestCases: %d cases, RunTests ran %d", len(cases), len(rep.Results))
	}
	for i, c := range cases {
		r := rep.Results[i]
		if c.Name != r.Name || c.File != r.File || c.Line != r.Line || c.Expect != r.Expect {
			t.Errorf("case %d: loaded %s:%d %q (%s), ran %s:%d %q (%s)", i, c.File, c.Line, c.Name, c.Expect, r.File, r.Line, r.Name, r.Expect)
		}
		if (c.Claims == nil) == (c.Token == "") {
			t.Errorf("case %q: want exactly one of claims and token", c.Name)
		}
	}
}
