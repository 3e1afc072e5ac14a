package policy

import (
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	c := mustCompile(t, testBundle(nil))
	tests := []struct {
		name string
		req  Request
		want []string // lines, in order
	}{
		{
			name: "permit",
			req:  Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d1", 1)},
			want: []string{
				"ALLOW",
				`  principal: User::"alice"`,
				`  action:    Action::"doc:read"`,
				`  resource:  Doc::"d1"`,
				"  bundle:    test (sha256:test)",
				"  permitted by read-readers (policies/main.cedar:2): readers read",
			},
		},
		{
			name: "forbid",
			req:  Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d3", 3)},
			want: []string{"DENY", "  forbidden by no-secret (policies/main.cedar:6): level 3 is secret"},
		},
		{
			name: "default deny",
			req:  Request{Principal: user("bob"), Action: "doc:read", Resource: doc("d1", 1)},
			want: []string{"DENY", `  no policy permits Action::"doc:read" for User::"bob" on Doc::"d1" (default deny)`},
		},
		{
			name: "error",
			req:  Request{Principal: user("bob"), Action: "doc:nope", Resource: doc("d1", 1)},
			want: []string{"DENY", `  principal: User::"bob"`, "  action:    doc:nope", `  error: unknown action "doc:nope": not in the schema (or not requestable)`},
		},
		{
			name: "delegated",
			req:  Request{Principal: delegated("wendy", "bot", "writer"), Action: "doc:write", Resource: doc("d1", 1)},
			want: []string{
				"DENY",
				`  principal: Agent::"bot"`,
				`  on behalf of: User::"wendy"`,
				"  delegated: allowed only if both the agent and the user are allowed",
				`  as Agent::"bot" acting for User::"wendy": DENY`,
				`    no policy permits Action::"doc:write" for Agent::"bot" on Doc::"d1" (default deny)`,
				`  as User::"wendy": ALLOW`,
				"    permitted by writers (policies/main.cedar:10)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := c.decide(tc.req, testClock())
			got := d.Explain()
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w+"\n")
				if i < 0 {
					t.Fatalf("Explain():\n%s\nlacks (in order) %q", got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
