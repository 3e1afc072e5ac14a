package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/store"
)

// The gateway's use of the audit trail: append one record per decision
// (denying the request when Append fails), then verify and query.
func ExampleLog() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "warden.db"), store.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	log, err := audit.New(ctx, audit.Config{Store: st, Node: "gw-1"}) // Durability "batch"
	if err != nil {
		panic(err)
	}
	t := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	for i, sub := range []string{"alice", "bob", "alice"} {
		rec := audit.Record{
			Time: t.Add(time.Duration(i) * time.Second), RequestID: fmt.Sprintf("req-%d", i),
			Subject: sub, Action: "model:invoke", ResourceType: "Model", ResourceID: "gpt-4o", Decision: audit.Allow,
		}
		if sub == "bob" {
			rec.Decision, rec.Reasons = audit.Deny, []string{"contractors may not invoke models"}
		}
		if err := log.Append(ctx, rec); err != nil {
			fmt.Println("deny the request:", err) // fail closed
		}
	}
	if err := log.Close(ctx); err != nil {
		panic(err)
	}

	rep, err := audit.Verify(ctx, st, "gw-1")
	if err != nil {
		panic(err)
	}
	fmt.Println("intact:", rep.OK(), "records:", rep.Records)
	denied, err := audit.Query(ctx, st, audit.Filter{Decision: audit.Deny})
	if err != nil {
		panic(err)
	}
	for _, e := range denied {
		fmt.Println(e.Record.Node, e.Record.Seq, e.Record.Subject, e.Record.Decision, e.Record.Reasons[0])
	}
	// Output:
	// intact: true records: 3
	// gw-1 2 bob deny contractors may not invoke models
}
