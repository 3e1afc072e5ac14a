package policy_test

import (
	"context"
	"fmt"
	"testing/fstest"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/policy"
)

// Example loads a small bundle and asks the engine three questions: a
// permit, a forbid that overrides it, and an agent acting for a user who
// may not do what the agent may.
func Example() {
	bundle := fstest.MapFS{
		"schema.cedarschema": {Data: []byte(`
entity Role in [Role];
entity User, Agent in [Role] { roles?: Set<String>, scopes?: Set<String>, groups?: Set<String>, tenant?: String };
entity Trace { tenant?: String };
action "trace:read" appliesTo { principal: [User, Agent], resource: [Trace], context: { on_behalf_of?: User } };
`)},
		"policies/traces.cedar": {Data: []byte(`
@id("evaluators-read-traces")
@reason("evaluators read traces")
permit (principal in Role::"evaluator", action == Action::"trace:read", resource);

@id("tenant-isolation")
@reason("tenants are isolated")
forbid (principal, action, resource)
when { resource has tenant && !(principal has tenant && principal.tenant == resource.tenant) };

@id("agents-for-users")
@reason("agents read traces for users")
permit (principal is Agent, action == Action::"trace:read", resource)
when { context has on_behalf_of };
`)},
	}
	engine, err := policy.New(policy.Config{Clock: func() time.Time { return time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		panic(err)
	}
	if err := engine.Load(context.Background(), bundle, policy.Meta{Revision: "r1"}); err != nil {
		panic(err)
	}

	eve := &authn.Principal{Subject: "eve", Roles: []string{"evaluator"}, Tenant: "acme"}
	for _, req := range []policy.Request{
		{Principal: eve, Action: "trace:read", Resource: policy.Resource{Type: "Trace", ID: "t1", Attributes: map[string]any{"tenant": "acme"}}},
		{Principal: eve, Action: "trace:read", Resource: policy.Resource{Type: "Trace", ID: "t2", Attributes: map[string]any{"tenant": "globex"}}},
		{
			// A token with "act": bot acts for bob, who is not an evaluator.
			Principal: &authn.Principal{Subject: "bob", Tenant: "acme", Actor: []authn.Actor{{Subject: "bot"}}},
			Action:    "trace:read",
			Resource:  policy.Resource{Type: "Trace", ID: "t1", Attributes: map[string]any{"tenant": "acme"}},
		},
	} {
		d := engine.Decide(context.Background(), req)
		fmt.Printf("%s %s: allowed=%v %s\n", d.Principal, d.Resource, d.Allowed, d.Summary())
	}
	// Output:
	// User::"eve" Trace::"t1": allowed=true permitted by evaluators-read-traces
	// User::"eve" Trace::"t2": allowed=false forbidden by tenant-isolation
	// Agent::"bot" Trace::"t1": allowed=false no policy permits Action::"trace:read" for User::"bob" on Trace::"t1"
}
