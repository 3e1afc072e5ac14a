package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

// hookStore wraps a real store to inject failures around Append.
type hookStore struct {
	store.Store
	audit *hookAudit
}

func (h *hookStore) Audit() store.AuditStore { return h.audit }

type hookAudit struct {
	store.AuditStore
	before func(ctx context.Context) error // non-nil error: returned without appending
	after  func() error                    // non-nil error: returned after a successful append
}

func (h *hookAudit) Append(ctx context.Context, node string, rows []store.AuditRow) error {
	if h.before != nil {
		if err := h.before(ctx); err != nil {
			return err
		}
	}
	if err := h.AuditStore.Append(ctx, node, rows); err != nil {
		return err
	}
	if h.after != nil {
		return h.after()
	}
	return nil
}

func wrap(st store.Store) *hookStore {
	return &hookStore{Store: st, audit: &hookAudit{AuditStore: st.Audit()}}
}

func mustVerify(t *testing.T, st store.Store, node string, records uint64) {
	t.Helper()
	rep, err := Verify(context.Background(), st, node)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Records != records {
		t.Fatalf("Verify: %d records, problem %v; want %d intact", rep.Records, rep.Problem, records)
	}
}

// TestLogConcurrent appends from many goroutines in both durability modes
// (run it with -race), then resumes the chain from the store.
func TestLogConcurrent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		for _, d := range []Durability{DurabilityBatch, DurabilityAsync} {
			l := newLog(t, st, "n1", func(c *Config) { c.Durability = d; c.BatchSize = 16 })
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 25 {
						if err := l.Append(ctx, testRecord(g*100+i)); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			s := l.Stats()
			if s.Committed != 200 || s.Lost != 0 || s.Rejected != 0 || s.Batches == 0 {
				t.Fatalf("%s: stats %+v", d, s)
			}
		}
		mustVerify(t, st, "n1", 400)
		if err := newLog(t, st, "n1").Append(ctx, testRecord(1)); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, st, "n1", 401)
	})
}

func TestLogBatchDurability(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		l := newLog(t, st, "n1")
		for i := range 5 {
			rec := testRecord(i)
			if err := l.Append(ctx, rec); err != nil {
				t.Fatal(err)
			}
			// Committed by the time Append returns: visible to a reader.
			got, err := Query(ctx, st, Filter{RequestID: rec.RequestID})
			if err != nil || len(got) != 1 || got[0].Record.Seq != uint64(i+1) {
				t.Fatalf("after Append %d: %v, %v", i, got, err)
			}
		}
	})
}

// TestLogEnqueueAndSync: with batch durability, Enqueue returns without
// waiting for the commit (a store held in Append proves it), and Sync waits
// until every record queued before it is committed.
func TestLogEnqueueAndSync(t *testing.T) {
	ctx := context.Background()
	st := storetest.NewSQLite(t).Open(t)
	release := make(chan struct{})
	var held atomic.Bool
	hs := wrap(st)
	hs.audit.before = func(context.Context) error {
		if held.CompareAndSwap(false, true) {
			<-release
		}
		return nil
	}
	l := newLog(t, hs, "n1")
	const n = 20
	for i := range n {
		if err := l.Enqueue(testRecord(i)); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	if got := l.Stats().Committed; got != 0 {
		t.Fatalf("Committed = %d while the store is held, want 0", got)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.Sync(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sync while the store is held = %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := l.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	got, err := Query(ctx, st, Filter{Limit: 100})
	if err != nil || len(got) != n {
		t.Fatalf("after Sync: %d records, %v; want %d", len(got), err, n)
	}
	if err := l.Enqueue(Record{}); err == nil {
		t.Error("Enqueue of an invalid record succeeded")
	}
}

func TestLogQueueFullAndClose(t *testing.T) {
	st := wrap(storetest.NewSQLite(t).Open(t))
	gate := make(chan struct{})
	entered := make(chan struct{}, 10)
	st.audit.before = func(ctx context.Context) error {
		entered <- struct{}{}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx := context.Background()
	l, err := New(ctx, Config{Store: st, Node: "n1", QueueSize: 2, Durability: DurabilityAsync})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, testRecord(1)); err != nil {
		t.Fatal(err)
	}
	<-entered // the writer holds record 1 in a commit
	for i := 2; i <= 3; i++ {
		if err := l.Append(ctx, testRecord(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	start := time.Now()
	if err := l.Append(ctx, testRecord(4)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Append on a full queue = %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("a full queue blocked Append for %v", d)
	}
	if s := l.Stats(); s.QueueDepth != 2 || s.QueueCapacity != 2 || s.Rejected != 1 {
		t.Errorf("stats %+v", s)
	}
	close(gate)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Append(ctx, testRecord(5)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	mustVerify(t, st, "n1", 3)
}

func TestLogCloseGivesUp(t *testing.T) {
	st := wrap(storetest.NewSQLite(t).Open(t))
	st.audit.before = func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	ctx := context.Background()
	l, err := New(ctx, Config{Store: st, Node: "n1", Durability: DurabilityAsync})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Append(ctx, testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = l.Close(cctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want a deadline error", err)
	}
	if s := l.Stats(); s.Lost != 3 || s.Committed != 0 {
		t.Fatalf("stats %+v, want 3 lost", s)
	}
}

func TestLogWaitHonoursContext(t *testing.T) {
	st := wrap(storetest.NewSQLite(t).Open(t))
	release := make(chan struct{})
	st.audit.before = func(context.Context) error { <-release; return nil }
	l := newLog(t, st, "n1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := l.Append(ctx, testRecord(1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append = %v, want the context's error", err)
	}
	close(release)
}

// TestLogRetriesAndFailsClosed: while commits fail, waiting Appends are
// answered with ErrUnavailable (and new ones refused) at once; the records
// are committed when the store recovers.
func TestLogRetriesAndFailsClosed(t *testing.T) {
	st := wrap(storetest.NewSQLite(t).Open(t))
	var failures atomic.Int32
	failures.Store(3)
	st.audit.before = func(context.Context) error {
		if failures.Add(-1) >= 0 {
			return errors.New("injected: database unreachable")
		}
		return nil
	}
	var hooks atomic.Int32
	l := newLog(t, st, "n1", func(c *Config) {
		c.OnCommit = func(n int, took time.Duration, err error) { hooks.Add(1) }
	})
	ctx := context.Background()
	if err := l.Append(ctx, testRecord(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append while the store fails = %v, want ErrUnavailable", err)
	}
	if err := l.Append(ctx, testRecord(2)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Append while degraded = %v, want ErrUnavailable", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.Stats().Degraded || l.Stats().Committed == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("never recovered: %+v", l.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Append(ctx, testRecord(3)); err != nil {
		t.Fatalf("Append after recovery: %v", err)
	}
	s := l.Stats()
	if s.CommitFailures != 3 || s.Committed != 2 || s.Rejected != 1 || hooks.Load() != 5 {
		t.Fatalf("stats %+v, hooks %d", s, hooks.Load())
	}
	mustVerify(t, st, "n1", 2) // record 1 (retried) and record 3
}

// TestLogAmbiguousCommit: the commit succeeded but its reply was lost; the
// writer finds its rows in the store and carries on without a duplicate.
func TestLogAmbiguousCommit(t *testing.T) {
	st := wrap(storetest.NewSQLite(t).Open(t))
	var once sync.Once
	st.audit.after = func() (err error) {
		once.Do(func() { err = errors.New("injected: connection reset during COMMIT") })
		return err
	}
	l := newLog(t, st, "n1")
	ctx := context.Background()
	for i := range 3 {
		if err := l.Append(ctx, testRecord(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
	mustVerify(t, st, "n1", 3)
}

// TestLogSecondWriterFails: two Logs for one node; the chain never forks and
// the loser fails closed.
func TestLogSecondWriterFails(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, b *storetest.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		l1, l2 := newLog(t, st, "n1"), newLog(t, st, "n1")
		if err := l1.Append(ctx, testRecord(1)); err != nil {
			t.Fatal(err)
		}
		if err := l2.Append(ctx, testRecord(2)); !errors.Is(err, ErrFailed) {
			t.Fatalf("second writer's Append = %v, want ErrFailed", err)
		}
		if err := l2.Append(ctx, testRecord(3)); !errors.Is(err, ErrFailed) {
			t.Fatalf("Append after failure = %v, want ErrFailed", err)
		}
		if !l2.Stats().Failed || l2.Err() == nil {
			t.Fatalf("stats %+v, Err %v", l2.Stats(), l2.Err())
		}
		if err := l1.Append(ctx, testRecord(4)); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, st, "n1", 2)
	})
}

func TestLogFlushIntervalBatches(t *testing.T) {
	st := storetest.NewSQLite(t).Open(t)
	l := newLog(t, st, "n1", func(c *Config) { c.Durability = DurabilityAsync; c.FlushInterval = 200 * time.Millisecond })
	ctx := context.Background()
	for i := range 5 {
		if err := l.Append(ctx, testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Batches != 1 || s.Committed != 5 {
		t.Fatalf("stats %+v, want one batch of 5", s)
	}
}

func TestLogClockAndValidation(t *testing.T) {
	st := storetest.NewSQLite(t).Open(t)
	now := time.Date(2027, 1, 2, 3, 4, 5, 6, time.UTC)
	l := newLog(t, st, "n1", func(c *Config) { c.Clock = func() time.Time { return now } })
	ctx := context.Background()
	rec := testRecord(1)
	rec.Time = time.Time{}
	if err := l.Append(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := Query(ctx, st, Filter{})
	if err != nil || len(got) != 1 || !got[0].Record.Time.Equal(now) {
		t.Fatalf("Query = %v, %v; want the clock's time", got, err)
	}
	for name, edit := range map[string]func(*Record){
		"no decision":        func(r *Record) { r.Decision = "" },
		"before 1970":        func(r *Record) { r.Time = time.Unix(-1, 0) },
		"after 2262":         func(r *Record) { r.Time = time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC) },
		"negative latency":   func(r *Record) { r.Latency = -1 },
		"bad status":         func(r *Record) { r.UpstreamStatus = 1000 },
		"negative guard hit": func(r *Record) { r.Guards = []Guard{{Hits: map[string]int{"email": -1}}} },
	} {
		r := testRecord(2)
		edit(&r)
		if err := l.Append(ctx, r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: Append = %v, want ErrInvalidRecord", name, err)
		}
	}
}

func TestNewValidation(t *testing.T) {
	st := storetest.NewSQLite(t).Open(t)
	for name, cfg := range map[string]Config{
		"no store":         {Node: "n1"},
		"no node":          {Store: st},
		"bad node":         {Store: st, Node: "n 1"},
		"long node":        {Store: st, Node: fmt.Sprintf("%0129d", 0)},
		"bad durability":   {Store: st, Node: "n1", Durability: "sometimes"},
		"huge batch":       {Store: st, Node: "n1", BatchSize: 5000},
		"negative queue":   {Store: st, Node: "n1", QueueSize: -1},
		"negative timeout": {Store: st, Node: "n1", CommitTimeout: -1},
	} {
		if l, err := New(context.Background(), cfg); err == nil {
			l.Close(context.Background())
			t.Errorf("%s: New succeeded", name)
		}
	}
}

// TestAppendDoesNotAllocate guards the request-path budget.
func TestAppendDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	// AllocsPerRun counts every allocation in the process, the writer's
	// too, so the writer is parked inside the store's Append for the whole
	// measurement: only Append's own allocations are counted.
	entered, release := make(chan struct{}, 1), make(chan struct{})
	st := parkedStore{storetest.NewSQLite(t).Open(t), entered, release}
	l := newLog(t, st, "n1", func(c *Config) { c.Durability = DurabilityAsync; c.QueueSize = 4096 })
	t.Cleanup(func() { close(release) })
	rec := testRecord(1)
	ctx := context.Background()
	if err := l.Append(ctx, rec); err != nil {
		t.Fatal(err)
	}
	<-entered
	n := testing.AllocsPerRun(1000, func() {
		if err := l.Append(ctx, rec); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Append allocates %v times per call", n)
	}
}

// parkedStore's audit Append signals entered once, then blocks until release
// is closed and discards the rows.
type parkedStore struct {
	store.Store
	entered, release chan struct{}
}

func (p parkedStore) Audit() store.AuditStore { return parkedAudit{p.Store.Audit(), p} }

type parkedAudit struct {
	store.AuditStore
	p parkedStore
}

func (a parkedAudit) Append(ctx context.Context, _ string, _ []store.AuditRow) error {
	select {
	case a.p.entered <- struct{}{}:
	default:
	}
	select {
	case <-a.p.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestNewRequestID(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 7, 30, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 2000 {
		id := NewRequestID(t0.Add(time.Duration(i/10) * time.Millisecond))
		if len(id) != 26 || strings.Trim(id, "0123456789ABCDEFGHIJKLMNOPQRSTUV") != "" {
			t.Fatalf("id %q: want 26 characters of base32hex", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if i%10 == 0 && id < prev {
			t.Fatalf("id %q of a later millisecond sorts before %q", id, prev)
		}
		if i%10 == 9 {
			prev = id
		}
	}
	// Same millisecond: the prefix is the time, the rest differs.
	a, b := NewRequestID(t0), NewRequestID(t0)
	if a[:8] != b[:8] || a == b {
		t.Errorf("ids of one millisecond %q, %q: want a shared time prefix and different random parts", a, b)
	}
}
