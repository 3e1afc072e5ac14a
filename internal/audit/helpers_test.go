package audit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
)

// t0 is the time of the first test record.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// testRecord is a realistic record; i varies the subject, decision and ids.
func testRecord(i int) Record {
	r := Record{
		Time:           t0.Add(time.Duration(i) * time.Second),
		RequestID:      fmt.Sprintf("req-%04d", i),
		DecisionID:     fmt.Sprintf("dec-%04d", i),
		Issuer:         "https://idp.example",
		Subject:        "alice",
		ClientID:       "support-bot",
		JTI:            fmt.Sprintf("jti-%d", i),
		ClientIP:       "192.0.2.10",
		Method:         "POST",
		Path:           "/v1/chat/completions",
		Route:          "openai-chat",
		Action:         "model:invoke",
		ResourceType:   "Model",
		ResourceID:     "gpt-4o",
		Decision:       Allow,
		Policies:       []string{"evaluators-invoke"},
		Reasons:        []string{"evaluators may invoke staging models"},
		BundleRevision: "r42",
		BundleDigest:   "sha256:0f1e",
		Guards:         []Guard{{Name: "pii", Phase: "response", Action: "redact", Hits: map[string]int{"email": 2, "phone": 1}}},
		UpstreamStatus: 200,
		Latency:        1500 * time.Microsecond,
	}
	if i%2 == 1 {
		r.Subject, r.Actors = "bob", []string{"agent-7"}
	}
	if i%3 == 0 {
		r.Decision, r.Policies, r.Reasons, r.ErrorCode, r.UpstreamStatus, r.Guards = Deny, []string{"deny-prod"}, []string{"production needs approval"}, "forbidden", 0, nil
	}
	return r
}

// newLog opens a Log on st for node, closed when t ends.
func newLog(t testing.TB, st store.Store, node string, mod ...func(*Config)) *Log {
	t.Helper()
	cfg := Config{Store: st, Node: node}
	for _, m := range mod {
		m(&cfg)
	}
	l, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// appendN appends records 1..n (testRecord(i)) and closes the log.
func appendN(t testing.TB, st store.Store, node string, n int) {
	t.Helper()
	l := newLog(t, st, node)
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// chainRows reads node's stored rows.
func chainRows(t testing.TB, st store.Store, node string) []store.AuditRow {
	t.Helper()
	var rows []store.AuditRow
	if _, err := st.Audit().Chain(context.Background(), node, func(r store.AuditRow) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rows
}
