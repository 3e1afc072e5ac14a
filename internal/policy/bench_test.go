package policy_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
)

// fillers says where referenceWithFillers puts its generated policies.
type fillers int

const (
	// spread: round-robin on every action, each scoped to its own role (a
	// large RBAC bundle: the indexes leave a few per request).
	spread fillers = iota
	// sameAction: all on the benchmarked actions, each scoped to its own
	// role (the action index does not help, the principal index does).
	sameAction
	// unscoped: all on the benchmarked actions with "principal" unscoped and
	// the role test in the condition (no index helps: Cedar evaluates all).
	unscoped
)

// referenceWithFillers returns the reference bundle plus n generated permit
// policies placed as kind says.
func referenceWithFillers(b *testing.B, n int, kind fillers) fs.FS {
	b.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS(referenceDir), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(os.DirFS(referenceDir), path)
		fsys[path] = &fstest.MapFile{Data: data}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if n == 0 {
		return fsys
	}
	c, err := policy.Compile(fsys, policy.Meta{})
	if err != nil {
		b.Fatal(err)
	}
	actions := c.Actions()
	if kind != spread {
		actions = []string{`Action::"model:invoke"`, `Action::"trace:read"`}
	}
	var src strings.Builder
	for i := range n {
		principal, cond := fmt.Sprintf(`principal in Role::"filler-%d"`, i), ""
		if kind == unscoped {
			principal, cond = "principal", fmt.Sprintf(`principal in Role::"filler-%d" && `, i)
		}
		fmt.Fprintf(&src, "@id(\"filler-%d\")\n@reason(\"generated\")\npermit (%s, action == %s, resource)\nwhen { %scontext has env && context.env == \"env-%d\" && principal has team && principal.team == \"team-%d\" };\n\n",
			i, principal, actions[i%len(actions)], cond, i, i)
	}
	fsys["policies/filler.cedar"] = &fstest.MapFile{Data: []byte(src.String())}
	return fsys
}

// BenchmarkDecide measures Engine.Decide (ID generation included) on the
// reference bundle and on it plus 100 filler policies, for an allow, a
// default deny, a forbid, a delegated request (two passes) and MCP tool
// calls (one allowed, one delegated and forbidden).
func BenchmarkDecide(b *testing.B) {
	rita := &authn.Principal{Issuer: "https://idp.example.com", Subject: "rita", Team: "research", Tenant: "acme",
		Scopes: []string{"models:premium", "openid"}, Roles: []string{"engineer"}, Groups: []string{"ml"}}
	eve := &authn.Principal{Issuer: "https://idp.example.com", Subject: "eve", Roles: []string{"evaluator"}, Tenant: "acme", Scopes: []string{}, Groups: []string{}}
	agentForErin := &authn.Principal{Issuer: "https://idp.example.com", Subject: "erin", Roles: []string{"engineer"}, Tenant: "acme",
		Scopes: []string{}, Groups: []string{}, Actor: []authn.Actor{{Subject: "coding-agent"}}}
	modelCtx := map[string]any{"env": "production", "max_tokens": 4096, "stream": true}
	requests := []struct {
		name  string
		req   policy.Request
		allow bool
	}{
		{"allow", policy.Request{Principal: rita, Action: "model:invoke", Resource: policy.Resource{Type: "Model", ID: "claude-sonnet"}, Context: modelCtx}, true},
		{"deny", policy.Request{Principal: rita, Action: "trace:read", Resource: policy.Resource{Type: "Trace", ID: "t1", Attributes: map[string]any{"tenant": "acme"}}}, false},
		{"forbid", policy.Request{Principal: eve, Action: "trace:read", Resource: policy.Resource{Type: "Trace", ID: "t1", Attributes: map[string]any{"tenant": "globex"}}}, false},
		{"delegated", policy.Request{Principal: agentForErin, Action: "tool:call", Resource: policy.Resource{Type: "Tool", ID: "shell", Attributes: map[string]any{"risk": "high"}}}, true},
		// An MCP tools/call as the proxy asks it: the demo tool's entity,
		// the server's hints and the call's arguments.
		{"mcp-tool-call", policy.Request{Principal: eve, Action: "tool:call",
			Resource: policy.Resource{Type: "Tool", ID: "demo/search_traces", Attributes: map[string]any{"server": "demo", "read_only_hint": true, "destructive_hint": false}},
			Context:  map[string]any{"arguments": map[string]any{"tenant": "acme", "query": "refund"}}}, true},
		{"mcp-delegated-destructive", policy.Request{Principal: agentForErin, Action: "tool:call",
			Resource: policy.Resource{Type: "Tool", ID: "demo/delete_records", Attributes: map[string]any{"server": "demo", "read_only_hint": false, "destructive_hint": true}},
			Context:  map[string]any{"arguments": map[string]any{"env": "production", "tenant": "acme"}}}, false},
	}
	bundles := []struct {
		name string
		n    int
		kind fillers
	}{
		{"reference", 0, spread},
		{"reference+100", 100, spread},
		{"reference+100-same-action", 100, sameAction},
		{"reference+100-unscoped", 100, unscoped},
	}
	for _, bu := range bundles {
		fsys := referenceWithFillers(b, bu.n, bu.kind)
		e, err := policy.New(policy.Config{Clock: func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Load(context.Background(), fsys, policy.Meta{Revision: bu.name}); err != nil {
			b.Fatal(err)
		}
		for _, rq := range requests {
			b.Run(bu.name+"/"+rq.name, func(b *testing.B) {
				ctx := context.Background()
				if d := e.Decide(ctx, rq.req); d.Allowed != rq.allow || len(d.Errors) > 0 {
					b.Fatalf("decision %+v, want allowed=%v", d, rq.allow)
				}
				b.ReportAllocs()
				for b.Loop() {
					e.Decide(ctx, rq.req)
				}
			})
		}
	}
}
