package policy

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentDecideDuringLoad runs decisions while bundles are swapped
// (run it with -race). Revision "allow-N" permits the request and "deny-N"
// does not: every decision must match the revision stamped into it, which
// shows that each decision saw exactly one snapshot.
func TestConcurrentDecideDuringLoad(t *testing.T) {
	allowing := testBundle(nil)
	denying := testBundle(map[string]string{"policies/deny.cedar": `forbid (principal, action, resource);`})
	e, _ := New(Config{Clock: testClock})
	if err := e.Load(context.Background(), allowing, Meta{Revision: "allow-0"}); err != nil {
		t.Fatal(err)
	}
	req := Request{Principal: user("alice", "reader"), Action: "doc:read", Resource: doc("d1", 1), Context: map[string]any{"n": 1}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				d := e.Decide(context.Background(), req)
				want := d.Revision[:5] == "allow"
				if d.Allowed != want || len(d.Errors) > 0 {
					errs <- fmt.Errorf("revision %s: allowed %v, errors %q", d.Revision, d.Allowed, d.Errors)
					return
				}
				_ = e.Status()
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		fsys, rev := allowing, fmt.Sprintf("allow-%d", i)
		if i%2 == 1 {
			fsys, rev = denying, fmt.Sprintf("deny-%d", i)
		}
		if err := e.Load(context.Background(), fsys, Meta{Revision: rev}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			// A bad bundle in between never replaces the good one.
			_ = e.Load(context.Background(), testBundle(map[string]string{"schema.cedarschema": "nope"}), Meta{Revision: "bad"})
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := e.Status(); st.Revision != "allow-50" || st.Failures != 5 {
		t.Errorf("final status %+v", st)
	}
}
