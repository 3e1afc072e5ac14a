package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
)

// RowTime is the time MakeRows gives the row with seq: seq minutes after
// 2026-11-24T10:00:00Z.
func RowTime(seq uint64) time.Time {
	return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Minute)
}

// MakeRows builds n rows for node continuing after seq `after` with hash
// prev (nil for a new chain). The hashes chain like the audit package's, but
// the record bytes are placeholders: the store does not look inside them.
// Row seq is at RowTime(seq), subject "alice" for odd seqs and "bob" for
// even ones, decision deny for multiples of 3.
func MakeRows(node string, after uint64, prev []byte, n int) []store.AuditRow {
	if prev == nil {
		prev = make([]byte, 32)
	}
	rows := make([]store.AuditRow, n)
	for i := range rows {
		seq := after + uint64(i) + 1
		rec := fmt.Appendf(nil, `{"node":%q,"seq":%d}`, node, seq)
		h := sha256.Sum256(append(append([]byte{}, prev...), rec...))
		r := store.AuditRow{
			Node: node, Seq: seq, PrevHash: prev, Hash: h[:], Record: rec,
			Time:      RowTime(seq),
			RequestID: fmt.Sprintf("req-%s-%d", node, seq),
			Subject:   "alice", Decision: "allow", Action: "model:invoke", Route: "chat",
		}
		if seq%2 == 0 {
			r.Subject, r.Action, r.Route = "bob", "trace:read", "traces"
		}
		if seq%3 == 0 {
			r.Decision = "deny"
		}
		rows[i] = r
		prev = r.Hash
	}
	return rows
}

// Suite runs the conformance tests of store.Store against fresh databases
// from newBackend.
func Suite(t *testing.T, newBackend func(testing.TB) *Backend) {
	ctx := context.Background()

	t.Run("migrations are idempotent", func(t *testing.T) {
		b := newBackend(t)
		for range 2 {
			st := b.Open(t)
			v, err := st.SchemaVersion(ctx)
			if err != nil || v != store.LatestSchemaVersion() {
				t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, store.LatestSchemaVersion())
			}
			st.Close()
		}
		if n := b.QueryInt(t, "SELECT count(*) FROM schema_migrations"); n != int64(store.LatestSchemaVersion()) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, store.LatestSchemaVersion())
		}
	})

	t.Run("newer schema is refused", func(t *testing.T) {
		b := newBackend(t)
		b.Open(t).Close()
		b.Exec(t, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)", store.LatestSchemaVersion()+1, "9999_future", 0)
		for _, ro := range []bool{false, true} {
			st, err := store.Open(ctx, b.URL, store.Options{ReadOnly: ro})
			if err == nil {
				st.Close()
			}
			if !errors.Is(err, store.ErrSchemaTooNew) {
				t.Fatalf("ReadOnly=%v: Open = %v, want ErrSchemaTooNew", ro, err)
			}
		}
	})

	t.Run("read-only", func(t *testing.T) {
		b := newBackend(t)
		if _, err := store.Open(ctx, b.URL, store.Options{ReadOnly: true}); err == nil {
			t.Fatal("read-only Open of an empty database succeeded")
		} else if b.Name == store.DriverPostgres && !errors.Is(err, store.ErrNotInitialized) {
			t.Fatalf("read-only Open of an empty schema = %v, want ErrNotInitialized", err)
		}
		w := b.Open(t)
		if err := w.Audit().Append(ctx, "n1", MakeRows("n1", 0, nil, 3)); err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(ctx, b.URL, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("read-only Open: %v", err)
		}
		defer st.Close()
		if err := st.Audit().Append(ctx, "n1", MakeRows("n1", 3, nil, 1)); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("Append on a read-only store = %v, want ErrReadOnly", err)
		}
		last, head, err := st.Audit().Tail(ctx, "n1")
		if err != nil || last == nil || head == nil || last.Seq != 3 || head.Seq != 3 {
			t.Fatalf("Tail = %v, %v, %v", last, head, err)
		}
	})

	t.Run("append and read back", func(t *testing.T) {
		st := newBackend(t).Open(t)
		a := st.Audit()
		last, head, err := a.Tail(ctx, "n1")
		if err != nil || last != nil || head != nil {
			t.Fatalf("Tail of an empty node = %v, %v, %v", last, head, err)
		}
		rows := MakeRows("n1", 0, nil, 600) // more than one INSERT statement
		if err := a.Append(ctx, "n1", rows[:1]); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, "n1", rows[1:]); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, "n2", MakeRows("n2", 0, nil, 2)); err != nil {
			t.Fatal(err)
		}
		last, head, err = a.Tail(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if last.Seq != 600 || head.Seq != 600 || string(head.Hash) != string(rows[599].Hash) {
			t.Fatalf("Tail: last seq %d, head seq %d", last.Seq, head.Seq)
		}
		EqualRows(t, []store.AuditRow{*last}, rows[599:])
		var got []store.AuditRow
		h, err := a.Chain(ctx, "n1", func(r store.AuditRow) error { got = append(got, r); return nil })
		if err != nil || h == nil || h.Seq != 600 {
			t.Fatalf("Chain head = %v, %v", h, err)
		}
		EqualRows(t, got, rows)
		nodes, err := a.Nodes(ctx)
		if err != nil || fmt.Sprint(nodes) != "[n1 n2]" {
			t.Fatalf("Nodes = %v, %v", nodes, err)
		}
		stop := errors.New("stop")
		n := 0
		if _, err := a.Chain(ctx, "n1", func(store.AuditRow) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Chain with a failing callback = %v after %d rows", err, n)
		}
	})

	t.Run("conflicts", func(t *testing.T) {
		b := newBackend(t)
		a := b.Open(t).Audit()
		rows := MakeRows("n1", 0, nil, 5)
		if err := a.Append(ctx, "n1", rows[1:]); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append not starting at seq 1 = %v, want ErrConflict", err)
		}
		if err := a.Append(ctx, "n1", rows[:2]); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, "n1", rows[:2]); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append of taken seqs = %v, want ErrConflict", err)
		}
		if err := a.Append(ctx, "n1", rows[3:]); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append leaving a gap = %v, want ErrConflict", err)
		}
		// A row added behind the writer's back (past the head) makes the
		// next append conflict; nothing of it is written.
		extra := rows[2]
		b.Exec(t, "INSERT INTO audit_records (node, seq, prev_hash, hash, record, time_ns, decision) VALUES (?, ?, ?, ?, ?, ?, ?)",
			extra.Node, int64(extra.Seq), extra.PrevHash, extra.Hash, extra.Record, extra.Time.UnixNano(), extra.Decision)
		if err := a.Append(ctx, "n1", rows[2:]); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("append over a foreign row = %v, want ErrConflict", err)
		}
		if n := b.QueryInt(t, "SELECT count(*) FROM audit_records WHERE node = ?", "n1"); n != 3 {
			t.Fatalf("%d rows after failed appends, want 3", n)
		}
		for _, bad := range [][]store.AuditRow{
			MakeRows("other", 2, nil, 1),                                    // wrong node
			append(MakeRows("n1", 2, nil, 1), MakeRows("n1", 4, nil, 1)...), // gap inside
		} {
			if err := a.Append(ctx, "n1", bad); err == nil || errors.Is(err, store.ErrConflict) {
				t.Fatalf("malformed append = %v, want a validation error", err)
			}
		}
	})

	t.Run("concurrent writers never fork", func(t *testing.T) {
		b := newBackend(t)
		st1, st2 := b.Open(t), b.Open(t)
		const rounds = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for _, st := range []store.Store{st1, st2} {
			wg.Go(func() {
				for range rounds {
					last, _, err := st.Audit().Tail(ctx, "n1")
					if err != nil {
						t.Error(err)
						return
					}
					var after uint64
					var prev []byte
					if last != nil {
						after, prev = last.Seq, last.Hash
					}
					err = st.Audit().Append(ctx, "n1", MakeRows("n1", after, prev, 3))
					switch {
					case err == nil:
						mu.Lock()
						wins++
						mu.Unlock()
					case !errors.Is(err, store.ErrConflict):
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		var seq uint64
		var prev = make([]byte, 32)
		head, err := st1.Audit().Chain(ctx, "n1", func(r store.AuditRow) error {
			seq++
			if r.Seq != seq || string(r.PrevHash) != string(prev) {
				return fmt.Errorf("seq %d (want %d) does not link", r.Seq, seq)
			}
			prev = r.Hash
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(3*wins) || head.Seq != seq {
			t.Fatalf("%d rows, head %d, after %d successful appends of 3", seq, head.Seq, wins)
		}
	})

	t.Run("append-only", func(t *testing.T) {
		b := newBackend(t)
		a := b.Open(t).Audit()
		if err := a.Append(ctx, "n1", MakeRows("n1", 0, nil, 2)); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			"UPDATE audit_records SET subject = 'mallory' WHERE seq = 1",
			"DELETE FROM audit_records WHERE seq = 2",
		} {
			if err := b.TryExec(t, q); err == nil {
				t.Errorf("%s: succeeded on an append-only table", q)
			}
		}
		b.DropAppendOnly(t)
		b.Exec(t, "DELETE FROM audit_records WHERE seq = 2")
	})

	t.Run("range", func(t *testing.T) {
		a := newBackend(t).Open(t).Audit()
		rows := MakeRows("svc.r", 0, nil, 7)
		if err := a.Append(ctx, "svc.r", rows); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, "other", MakeRows("other", 0, nil, 3)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			after      uint64
			limit      int
			wantFirst  uint64
			wantLength int
		}{
			{0, 0, 1, 7},
			{0, 3, 1, 3},
			{3, 3, 4, 3},
			{5, 10, 6, 2},
			{7, 10, 0, 0},
		} {
			got, err := a.Range(ctx, "svc.r", tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantLength {
				t.Fatalf("Range(after %d, limit %d) has %d rows, want %d", tc.after, tc.limit, len(got), tc.wantLength)
			}
			if len(got) > 0 {
				EqualRows(t, got, rows[tc.wantFirst-1:tc.wantFirst-1+uint64(tc.wantLength)])
			}
		}
	})

	t.Run("query", func(t *testing.T) {
		a := newBackend(t).Open(t).Audit()
		n1, n2 := MakeRows("n1", 0, nil, 12), MakeRows("n2", 0, nil, 12)
		if err := a.Append(ctx, "n1", n1); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, "n2", n2); err != nil {
			t.Fatal(err)
		}
		seqs := func(rows []store.AuditRow) string {
			s := ""
			for _, r := range rows {
				s += fmt.Sprintf("%s/%d ", r.Node, r.Seq)
			}
			return s
		}
		at := RowTime
		cases := []struct {
			name string
			f    store.AuditFilter
			want string
		}{
			{"limit orders by time, node, seq", store.AuditFilter{Limit: 3}, "n1/1 n2/1 n1/2 "},
			{"node and window", store.AuditFilter{Node: "n2", Since: at(3), Until: at(6)}, "n2/3 n2/4 n2/5 "},
			{"subject and decision", store.AuditFilter{Node: "n1", Subject: "alice", Decision: "deny"}, "n1/3 n1/9 "},
			{"action", store.AuditFilter{Node: "n1", Action: "trace:read", Until: at(7)}, "n1/2 n1/4 n1/6 "},
			{"route", store.AuditFilter{Node: "n2", Route: "chat", Since: at(10)}, "n2/11 "},
			{"request id", store.AuditFilter{RequestID: "req-n2-7"}, "n2/7 "},
			{"after a cursor", store.AuditFilter{After: &store.AuditCursor{Time: at(11), Node: "n1", Seq: 11}}, "n2/11 n1/12 n2/12 "},
			{"nothing", store.AuditFilter{Subject: "carol"}, ""},
		}
		for _, tc := range cases {
			got, err := a.Query(ctx, tc.f)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if seqs(got) != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, seqs(got), tc.want)
			}
		}
		got, err := a.Query(ctx, store.AuditFilter{RequestID: "req-n1-5"})
		if err != nil {
			t.Fatal(err)
		}
		EqualRows(t, got, n1[4:5])
	})

	t.Run("chain reads one snapshot", func(t *testing.T) {
		st := newBackend(t).Open(t)
		a := st.Audit()
		rows := MakeRows("n1", 0, nil, 10)
		if err := a.Append(ctx, "n1", rows[:5]); err != nil {
			t.Fatal(err)
		}
		n := 0
		head, err := a.Chain(ctx, "n1", func(store.AuditRow) error {
			n++
			if n == 1 { // a writer commits while the chain is being read
				return a.Append(ctx, "n1", rows[5:])
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 || head.Seq != 5 {
			t.Fatalf("read %d rows with head %d, want 5 and 5 from the snapshot", n, head.Seq)
		}
	})

	t.Run("issuer", func(t *testing.T) { issuerSuite(t, newBackend) })
}

// EqualRows fails t unless got and want hold the same rows.
func EqualRows(t testing.TB, got, want []store.AuditRow) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Node != w.Node || g.Seq != w.Seq || string(g.PrevHash) != string(w.PrevHash) || string(g.Hash) != string(w.Hash) ||
			string(g.Record) != string(w.Record) || !g.Time.Equal(w.Time) || g.RequestID != w.RequestID || g.Subject != w.Subject ||
			g.Decision != w.Decision || g.Action != w.Action || g.Route != w.Route {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}
