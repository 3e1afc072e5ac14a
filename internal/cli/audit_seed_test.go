package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/store"
)

// Test-only seeding of audit stores: there is deliberately no warden command
// that writes audit records; the gateway is their only writer.

// seedAudit writes a fixed scenario through the real audit.Log into the store
// at url: node gw-1 with 6 records and gw-2 with 2, timed relative to now.
// "--since 1h --sub alice --decision deny --action model:invoke" matches
// gw-1/2, gw-1/4 and gw-2/2.
func seedAudit(url string, now time.Time) error {
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	rec := func(ago time.Duration, sub, decision, action, rtype, rid, route, why string) audit.Record {
		r := audit.Record{
			Time: now.Add(-ago).UTC().Truncate(time.Millisecond), Issuer: "https://idp.example", Subject: sub,
			RequestID: fmt.Sprintf("req-%s-%d", sub, ago/time.Minute), DecisionID: fmt.Sprintf("dec-%d", ago/time.Minute),
			JTI: "jti-" + sub, ClientIP: "192.0.2.10", Method: "POST", Path: "/v1/chat/completions", Route: route,
			Action: action, ResourceType: rtype, ResourceID: rid, Decision: decision, Reasons: []string{why},
			BundleRevision: "r42", BundleDigest: "sha256:5e1f", Latency: 3 * time.Millisecond,
		}
		if decision == audit.Allow {
			r.UpstreamStatus = 200
			r.Policies = []string{"permit-" + action}
		} else {
			r.ErrorCode = "forbidden"
			r.Policies = []string{"forbid-" + action}
		}
		return r
	}
	nodes := map[string][]audit.Record{
		"gw-1": {
			rec(3*time.Hour, "alice", audit.Allow, "model:invoke", "Model", "gpt-4o", "openai-chat", "evaluators may invoke staging models"),
			rec(50*time.Minute, "alice", audit.Deny, "model:invoke", "Model", "gpt-4o-prod", "openai-chat", "production models need approval"),
			rec(40*time.Minute, "bob", audit.Allow, "trace:read", "Trace", "t-1", "traces", "engineers read traces"),
			rec(30*time.Minute, "alice", audit.Deny, "model:invoke", "Model", "o1", "openai-chat", "tier too high for evaluators"),
			rec(20*time.Minute, "alice", audit.Allow, "trace:replay", "Trace", "t-9", "replay", "agents replay on behalf of their user"),
			rec(10*time.Minute, "bob", audit.Deny, "model:invoke", "Model", "gpt-4o", "openai-chat", "contractors may not invoke models"),
		},
		"gw-2": {
			rec(45*time.Minute, "carol", audit.Allow, "model:list", "", "", "models", "everyone lists models"),
			rec(5*time.Minute, "alice", audit.Deny, "model:invoke", "Model", "gpt-4o-prod", "openai-chat", "production models need approval"),
		},
	}
	nodes["gw-1"][4].Actors, nodes["gw-1"][4].ClientID = []string{"support-bot"}, "support-bot"
	nodes["gw-1"][4].Guards = []audit.Guard{{Name: "pii", Phase: "response", Action: "redact", Hits: map[string]int{"email": 2}}}
	for _, node := range []string{"gw-1", "gw-2"} {
		l, err := audit.New(ctx, audit.Config{Store: st, Node: node})
		if err != nil {
			return err
		}
		for _, r := range nodes[node] {
			if err := l.Append(ctx, r); err != nil {
				l.Close(ctx)
				return err
			}
		}
		if err := l.Close(ctx); err != nil {
			return err
		}
	}
	return nil
}

// tamperAudit damages node gw-1 of a seeded store the way someone with
// write access to the database could: exec runs one SQL statement with "?"
// placeholders on a connection of its own.
func tamperAudit(exec func(query string, args ...any) error, how string) error {
	switch how {
	case "edit": // turn the deny of seq 2 into an allow, columns included (SQLite SQL)
		return exec("UPDATE audit_records SET record = CAST(replace(CAST(record AS TEXT), '\"decision\":\"deny\"', '\"decision\":\"allow\"') AS BLOB), decision = 'allow' WHERE node = 'gw-1' AND seq = 2")
	case "delete":
		return exec("DELETE FROM audit_records WHERE node = 'gw-1' AND seq = 3")
	case "truncate":
		return exec("DELETE FROM audit_records WHERE node = 'gw-1' AND seq > 4")
	}
	return errors.New("tamper: want edit, delete or truncate")
}

// sqliteTamperer opens the SQLite file at path on a connection of its own
// and drops the append-only triggers, as an attacker with write access to
// the file can.
func sqliteTamperer(path string) (exec func(string, ...any) error, closeDB func() error, err error) {
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, nil, err
	}
	exec = func(q string, args ...any) error {
		_, err := db.Exec(q, args...)
		return err
	}
	for _, q := range []string{"DROP TRIGGER IF EXISTS audit_records_no_update", "DROP TRIGGER IF EXISTS audit_records_no_delete"} {
		if err := exec(q); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	return exec, db.Close, nil
}

// lines counts the lines of b.
func lines(b []byte) int { return bytes.Count(b, []byte("\n")) }
