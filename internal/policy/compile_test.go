package policy

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompileProblems(t *testing.T) {
	const del = "\x00"
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the problems, in order
	}{
		{
			name:  "missing schema",
			files: map[string]string{"schema.cedarschema": del},
			want:  []string{"schema.cedarschema: missing: a bundle needs a schema"},
		},
		{
			name:  "schema syntax error",
			files: map[string]string{"schema.cedarschema": "\nentity User {"},
			want:  []string{"schema.cedarschema:2: column 14: expected '}' to close record type, got EOF"},
		},
		{
			name:  "no policies",
			files: map[string]string{"policies/main.cedar": del},
			want:  []string{"policies: no policy files (*.cedar)"},
		},
		{
			name:  "policy syntax error with its file and line",
			files: map[string]string{"policies/bad.cedar": "\n\npermit (principal, action, resource) when { 1 + };"},
			want:  []string{"policies/bad.cedar:3: parser error: parse error: column 50: \";\": invalid primary"},
		},
		{
			name:  "unknown action",
			files: map[string]string{"policies/x.cedar": "// c\n@id(\"x\")\npermit (principal, action == Action::\"doc:nope\", resource);"},
			want:  []string{"policies/x.cedar:2: policy \"x\": unrecognized action `Action::\"doc:nope\"`"},
		},
		{
			name:  "unknown entity type",
			files: map[string]string{"policies/x.cedar": `permit (principal, action, resource is Photo);`},
			want:  []string{"policies/x.cedar:1: policy \"policies/x.cedar:0\": unrecognized entity type `Photo`"},
		},
		{
			name:  "unknown attribute",
			files: map[string]string{"policies/x.cedar": "permit (principal, action, resource);\npermit (principal, action, resource is Doc) when { resource.colour == \"red\" };"},
			want:  []string{"policies/x.cedar:2: policy \"policies/x.cedar:1\": attribute `colour` on entity type `Doc` not found"},
		},
		{
			name:  "optional attribute without has",
			files: map[string]string{"policies/x.cedar": `permit (principal, action, resource is Doc) when { resource.owner == "x" };`},
			want:  []string{"unable to guarantee safety of access to optional attribute `owner`"},
		},
		{
			name:  "duplicate id across files",
			files: map[string]string{"policies/z.cedar": "@id(\"writers\")\npermit (principal, action, resource);"},
			want:  []string{`policies/z.cedar:1: duplicate policy id "writers" (first at policies/main.cedar:`},
		},
		{
			name:  "empty id",
			files: map[string]string{"policies/z.cedar": "@id(\"\")\npermit (principal, action, resource);"},
			want:  []string{"policies/z.cedar:1: empty @id"},
		},
		{
			name:  "empty policy file",
			files: map[string]string{"policies/z.cedar": "// nothing yet\n"},
			want:  []string{"policies/z.cedar: no policies in file"},
		},
		{
			name:  "entities syntax error with its line",
			files: map[string]string{"entities.json": "[\n  {\"uid\": {\"type\": \"Role\", \"id\": \"x\"},\n  oops\n]"},
			want:  []string{"entities.json:3: "},
		},
		{
			name:  "entity of an unknown type",
			files: map[string]string{"entities.json": `[{"uid": {"type": "Photo", "id": "p"}, "attrs": {}, "parents": []}]`},
			want:  []string{`entities.json: entity Photo::"p": entity type "Photo" not found in schema`},
		},
		{
			name:  "entity attribute of the wrong type",
			files: map[string]string{"entities.json": `[{"uid": {"type": "Doc", "id": "d"}, "attrs": {"level": "high"}, "parents": []}]`},
			want:  []string{`entities.json: entity Doc::"d": attribute "level": expected Long`},
		},
		{
			name:  "entity missing a required attribute",
			files: map[string]string{"entities.json": `[{"uid": {"type": "Doc", "id": "d"}, "attrs": {}, "parents": []}]`},
			want:  []string{`entities.json: entity Doc::"d": missing required attribute "level"`},
		},
		{
			name:  "entity with a parent type the schema does not allow",
			files: map[string]string{"entities.json": `[{"uid": {"type": "Doc", "id": "d"}, "attrs": {"level": 1}, "parents": [{"type": "Role", "id": "r"}]}]`},
			want:  []string{`entities.json: entity Doc::"d": invalid parent type "Role"`},
		},
		{
			name:  "action entities come from the schema",
			files: map[string]string{"entities.json": `[{"uid": {"type": "Action", "id": "doc:read"}, "attrs": {}, "parents": []}]`},
			want:  []string{`entities.json: entity Action::"doc:read": actions come from the schema`},
		},
		{
			name: "every problem is reported",
			files: map[string]string{
				"policies/a.cedar": `permit (principal, action == Action::"nope", resource);`,
				"policies/b.cedar": `permit (principal, action, resource is Nope);`,
			},
			want: []string{"policies/a.cedar:1:", "policies/b.cedar:1:"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(testBundle(tc.files), Meta{})
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile = %v, want a *CompileError", err)
			}
			msg := err.Error()
			last := -1
			for _, w := range tc.want {
				i := strings.Index(msg, w)
				if i < 0 || i < last {
					t.Fatalf("error\n%s\nlacks %q (in order)", msg, w)
				}
				last = i
			}
		})
	}
}

func TestCompileIndexesByAction(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	ids := func(action string) []string {
		var out []string
		for _, p := range c.actions[action].policies {
			out = append(out, string(p.id))
		}
		return out
	}
	// doc:read: its own policies, the group's, and the unscoped ones.
	if got, want := ids("doc:read"), []string{"read-readers", "no-secret", "writers", "agent-for-reader", "no-users-on-level-2"}; !slices.Equal(got, want) {
		t.Errorf("doc:read policies %v, want %v", got, want)
	}
	if got, want := ids("doc:admin"), []string{"no-secret", "no-users-on-level-2", "fresh-admin"}; !slices.Equal(got, want) {
		t.Errorf("doc:admin policies %v, want %v", got, want)
	}
	if got, want := c.Actions(), []string{`Action::"doc:admin"`, `Action::"doc:read"`, `Action::"doc:write"`}; !slices.Equal(got, want) {
		t.Errorf("Actions() = %v, want %v", got, want)
	}
}

func TestCompilePolicyInfo(t *testing.T) {
	c := mustCompile(t, testBundle(map[string]string{"policies/b.cedar": "permit (principal, action, resource);\n\nforbid (principal, action, resource) when { false };"}))
	got := c.Policies()
	all := []string{`Action::"doc:admin"`, `Action::"doc:read"`, `Action::"doc:write"`}
	want := []PolicyInfo{
		{ID: "policies/b.cedar:0", Effect: "permit", File: "policies/b.cedar", Line: 1, Actions: all},
		{ID: "policies/b.cedar:1", Effect: "forbid", File: "policies/b.cedar", Line: 3, Actions: all},
		{ID: "read-readers", Effect: "permit", Reason: "readers read", File: "policies/main.cedar", Line: 2, Actions: []string{`Action::"doc:read"`}},
		{ID: "no-secret", Effect: "forbid", Reason: "level 3 is secret", File: "policies/main.cedar", Line: 6, Actions: all},
		{ID: "writers", Effect: "permit", File: "policies/main.cedar", Line: 10, Actions: []string{`Action::"doc:read"`, `Action::"doc:write"`}},
	}
	if diff := cmp.Diff(want, got[:5]); diff != "" {
		t.Errorf("Policies() (-want +got):\n%s", diff)
	}
}

func TestCompileNamespacedActions(t *testing.T) {
	fsys := testBundle(map[string]string{
		"schema.cedarschema": testSchema + `
namespace Billing { action "doc:sync" appliesTo { principal: [User], resource: [Doc] }; }
namespace Audit {
  action "doc:sync" appliesTo { principal: [User], resource: [Doc] };
  action "doc:export" appliesTo { principal: [User], resource: [Doc] };
}
`,
		"policies/ns.cedar": `@id("billing-sync") permit (principal, action == Billing::Action::"doc:sync", resource);`,
	})
	c := mustCompile(t, fsys)
	// An id in two namespaces needs its full UID; a unique one does not.
	if _, ok := c.actions["doc:sync"]; ok {
		t.Error(`ambiguous "doc:sync" resolved`)
	}
	for _, name := range []string{"doc:read", `Billing::Action::"doc:sync"`, `Audit::Action::"doc:sync"`, "doc:export", `Audit::Action::"doc:export"`} {
		if _, ok := c.actions[name]; !ok {
			t.Errorf("action %s not found", name)
		}
	}
	for _, tc := range []struct {
		action string
		allow  bool
	}{{`Billing::Action::"doc:sync"`, true}, {`Audit::Action::"doc:sync"`, false}, {"doc:sync", false}} {
		d := c.decide(Request{Principal: user("alice"), Action: tc.action, Resource: doc("d1", 1)}, testClock())
		if d.Allowed != tc.allow {
			t.Errorf("%s: allowed %v, want %v (%s)", tc.action, d.Allowed, tc.allow, d.Summary())
		}
	}
}

func TestResourceTypes(t *testing.T) {
	c, err := Compile(os.DirFS("../../examples/policy"), Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action string
		want   []string
	}{
		{"trace:read", []string{"Trace"}},
		{`Action::"secret:read"`, []string{"Secret", "Tool"}},
		{"pii:view", []string{"Conversation", "Output", "Record", "Tool", "Trace"}},
		{"no:such", nil},
	} {
		if got := c.ResourceTypes(tc.action); !slices.Equal(got, tc.want) {
			t.Errorf("ResourceTypes(%q) = %v, want %v", tc.action, got, tc.want)
		}
	}
}
