package policy_test

import (
	"context"
	"os"
	"testing"

	"github.com/wardenhq/warden/internal/identity"
	"github.com/wardenhq/warden/internal/policy"
)

// TestDecideAllOneBundle: a batch is answered by the bundle that was
// current when it started, even if another is swapped in meanwhile, and
// stop ends it.
func TestDecideAllOneBundle(t *testing.T) {
	ctx := context.Background()
	e, _ := policy.New(policy.Config{})
	if err := e.Load(ctx, os.DirFS("../../examples/policy"), policy.Meta{Revision: "first"}); err != nil {
		t.Fatal(err)
	}
	second, err := policy.Compile(os.DirFS("../../examples/policy"), policy.Meta{Revision: "second"})
	if err != nil {
		t.Fatal(err)
	}
	p := &identity.Principal{Subject: "eve", Roles: []string{"evaluator"}, Tenant: "acme"}
	req := policy.Request{Principal: p, Action: "trace:read", Resource: policy.Resource{Type: "Trace", ID: "t", Attributes: map[string]any{"tenant": "acme"}}}
	reqs := []policy.Request{req, req, req}
	n := 0
	ds := e.DecideAll(ctx, reqs, func(d *policy.Decision) bool {
		n++
		if n == 1 {
			e.Swap(second) // mid-batch
		}
		return n == 2
	})
	if len(ds) != 2 {
		t.Fatalf("%d decisions, want 2 (stop after the second)", len(ds))
	}
	for i, d := range ds {
		if d.Revision != "first" || !d.Allowed || d.ID == "" || (i > 0 && d.ID == ds[0].ID) {
			t.Errorf("decision %d: revision %q allowed %v id %q", i, d.Revision, d.Allowed, d.ID)
		}
	}
	if d := e.Decide(ctx, req); d.Revision != "second" {
		t.Errorf("after the batch: revision %q, want second", d.Revision)
	}
}
