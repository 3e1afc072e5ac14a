package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/store"
)

// Durability says when Append returns.
type Durability string

const (
	// DurabilityBatch (the default): Append returns after the batch holding
	// the record has committed. A request that got an answer has its record,
	// even if the process is killed right after. Costs the request one group
	// commit of latency (typically well under a millisecond on SQLite in WAL
	// mode on a local disk; a round trip and a commit on PostgreSQL).
	DurabilityBatch Durability = "batch"
	// DurabilityAsync: Append returns once the record is queued. The request
	// path pays only the enqueue, but records still queued when the process
	// dies (kill -9, power loss, OOM) are lost: at most QueueSize records.
	DurabilityAsync Durability = "async"
)

// Defaults for Config.
const (
	DefaultBatchSize     = 256
	DefaultQueueSize     = 8192
	DefaultCommitTimeout = 10 * time.Second
	maxBatchSize         = 4096
)

// Config configures a Log. The zero value of every field but Store and Node
// is a usable default.
type Config struct {
	// Store receives the records. Required.
	Store store.Store
	// Node names this writer's chain: one chain per node, and at most one
	// live Log per node. 1 to 128 characters from [A-Za-z0-9._-]. Required.
	Node string
	// BatchSize caps the records committed in one transaction. 0 means
	// DefaultBatchSize; at most 4096.
	BatchSize int
	// FlushInterval is how long the writer waits for more records to fill a
	// batch after the first one arrives. 0 means no wait: the writer commits
	// whatever is queued as soon as the previous commit ends (records that
	// arrive during a commit form the next batch, so batches grow with load).
	FlushInterval time.Duration
	// QueueSize bounds the records waiting for the writer. When it is full
	// Append fails at once with ErrQueueFull. 0 means DefaultQueueSize.
	QueueSize int
	// Durability is DurabilityBatch (the default, also for "") or
	// DurabilityAsync.
	Durability Durability
	// CommitTimeout bounds one commit. 0 means DefaultCommitTimeout.
	CommitTimeout time.Duration
	// Clock stamps records appended with a zero Time. nil means time.Now.
	Clock func() time.Time
	// Logger receives commit failures and recoveries. nil discards.
	Logger *slog.Logger
	// OnCommit, if set, is called by the writer after every commit attempt
	// with the number of records, how long it took, and its error: a hook
	// for a commit-latency histogram. It must not block.
	OnCommit func(records int, took time.Duration, err error)
}

// Stats are the Log's counters, for metrics.
type Stats struct {
	QueueDepth     int    // records waiting for the writer
	QueueCapacity  int    // QueueSize
	Committed      uint64 // records committed since New
	Batches        uint64 // successful commits since New
	Rejected       uint64 // Appends refused (queue full, failed, closed, unavailable, invalid)
	CommitFailures uint64 // failed commit attempts
	Lost           uint64 // records accepted but never committed (Close gave up, or the log failed)
	CommitTime     time.Duration
	LastSeq        uint64 // last committed seq of this node
	Degraded       bool   // commits are failing and being retried
	Failed         bool   // the log stopped for good (see ErrFailed)
}

// Log appends records to one node's hash chain. Append is safe for
// concurrent use and cheap; one background writer goroutine owns the chain
// (seq and prev_hash), encodes and hashes records, and group-commits them in
// batches.
type Log struct {
	cfg   Config
	audit store.AuditStore
	queue chan item
	sync  bool
	dones sync.Pool // of chan error, for DurabilityBatch

	mu     sync.RWMutex // guards closed and sending on queue versus closing it
	closed bool

	failure  atomic.Pointer[error]
	degraded atomic.Bool

	// Writer-owned chain state.
	seq    uint64
	prev   [HashSize]byte
	buf    []byte
	hashes []byte
	rows   []store.AuditRow

	committed, batches, rejected, failures, lost, commitNS, lastSeq atomic.Uint64
	accepted                                                        atomic.Uint64 // records queued since New

	writerCtx    context.Context // canceled when Close gives up
	cancelWriter context.CancelFunc
	done         chan struct{} // closed when the writer exits
}

type item struct {
	rec  Record
	done chan error // nil unless DurabilityBatch
}

// New resumes node's chain from the store (its last record and head must
// agree, else ErrChainBroken) and starts the writer.
func New(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Store == nil {
		return nil, errors.New("audit: no store")
	}
	if err := checkNode(cfg.Node); err != nil {
		return nil, err
	}
	switch cfg.Durability {
	case "":
		cfg.Durability = DurabilityBatch
	case DurabilityBatch, DurabilityAsync:
	default:
		return nil, fmt.Errorf("audit: durability %q (want %q or %q)", cfg.Durability, DurabilityBatch, DurabilityAsync)
	}
	switch {
	case cfg.BatchSize < 0 || cfg.QueueSize < 0 || cfg.FlushInterval < 0 || cfg.CommitTimeout < 0:
		return nil, errors.New("audit: negative batch size, queue size, flush interval or commit timeout")
	case cfg.BatchSize > maxBatchSize:
		return nil, fmt.Errorf("audit: batch size %d, more than %d", cfg.BatchSize, maxBatchSize)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("node", cfg.Node)
	l := &Log{
		cfg:   cfg,
		audit: cfg.Store.Audit(),
		queue: make(chan item, cfg.QueueSize),
		sync:  cfg.Durability == DurabilityBatch,
		done:  make(chan struct{}),
	}
	l.dones.New = func() any { return make(chan error, 1) }
	if err := l.resume(ctx); err != nil {
		return nil, err
	}
	l.writerCtx, l.cancelWriter = context.WithCancel(context.WithoutCancel(ctx))
	go l.run()
	return l, nil
}

func checkNode(node string) error {
	if node == "" || len(node) > 128 {
		return fmt.Errorf("audit: node name must be 1 to 128 characters, got %d", len(node))
	}
	for _, c := range []byte(node) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("audit: node name %q: only letters, digits, '.', '_' and '-'", node)
		}
	}
	return nil
}

// resume loads the end of the chain and checks that it is consistent.
func (l *Log) resume(ctx context.Context) error {
	node := l.cfg.Node
	last, head, err := l.audit.Tail(ctx, node)
	if err != nil {
		return fmt.Errorf("audit: resume node %q: %w", node, err)
	}
	switch {
	case last == nil && head == nil:
		return nil // a new chain
	case last == nil:
		return fmt.Errorf("%w: node %q: head at seq %d but no records", ErrChainBroken, node, head.Seq)
	case head == nil:
		return fmt.Errorf("%w: node %q: records up to seq %d but no head", ErrChainBroken, node, last.Seq)
	case head.Seq != last.Seq || !bytes.Equal(head.Hash, last.Hash):
		return fmt.Errorf("%w: node %q: head at seq %d, last record at seq %d", ErrChainBroken, node, head.Seq, last.Seq)
	}
	if h := chainHash(last.PrevHash, last.Record); !bytes.Equal(h[:], last.Hash) {
		return fmt.Errorf("%w: node %q: last record (seq %d) does not match its hash", ErrChainBroken, node, last.Seq)
	}
	rec, err := DecodeRecord(last.Record)
	if err != nil || rec.Node != node || rec.Seq != last.Seq {
		return fmt.Errorf("%w: node %q: last record (seq %d) is not a record of this chain", ErrChainBroken, node, last.Seq)
	}
	l.seq = last.Seq
	copy(l.prev[:], last.Hash)
	l.lastSeq.Store(l.seq)
	return nil
}

// Append queues rec for node's chain. With DurabilityAsync it returns once
// the record is queued; with DurabilityBatch once its batch has committed
// (or ctx ends, or the commit failed). It never blocks on a full queue: it
// returns ErrQueueFull, and the caller must then deny the request. Any error
// means the record may not be stored: fail closed.
//
// A zero rec.Time is set from the Log's clock; rec.Node and rec.Seq are
// overwritten.
func (l *Log) Append(ctx context.Context, rec Record) error {
	return l.append(ctx, rec, l.sync)
}

// Enqueue queues rec like Append with DurabilityAsync, whatever the Log's
// durability: it returns once the record is queued, and a crash before the
// next commit loses it. It is for records written after the answer they
// describe has been given (the gateway's result records), whose commit the
// caller must not wait for: the answer is out, nothing is left to deny, and
// waiting would only hold the connection. Its errors are Append's.
func (l *Log) Enqueue(rec Record) error {
	return l.append(context.Background(), rec, false)
}

func (l *Log) append(ctx context.Context, rec Record, wait bool) error {
	if rec.Time.IsZero() {
		rec.Time = l.cfg.Clock()
	}
	if err := rec.validate(); err != nil {
		l.rejected.Add(1)
		return err
	}
	var done chan error
	if wait {
		done = l.dones.Get().(chan error)
	}
	l.mu.RLock()
	err := l.admit()
	if err == nil {
		select {
		case l.queue <- item{rec: rec, done: done}:
			l.accepted.Add(1)
		default:
			err = ErrQueueFull
		}
	}
	l.mu.RUnlock()
	if err != nil {
		if done != nil {
			l.dones.Put(done)
		}
		l.rejected.Add(1)
		return err
	}
	if done == nil {
		return nil
	}
	select {
	case err := <-done:
		l.dones.Put(done)
		return err
	case <-ctx.Done():
		// The writer will still send on done: leave it to the collector.
		return fmt.Errorf("audit: waiting for commit: %w", ctx.Err())
	}
}

// admit says whether Append may queue. Called with mu read-locked.
func (l *Log) admit() error {
	switch {
	case l.closed:
		return ErrClosed
	case l.failure.Load() != nil:
		return ErrFailed
	case l.sync && l.degraded.Load():
		return ErrUnavailable
	}
	return nil
}

// Err returns why the log failed for good, or nil.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Stats returns the Log's counters.
func (l *Log) Stats() Stats {
	return Stats{
		QueueDepth:     len(l.queue),
		QueueCapacity:  cap(l.queue),
		Committed:      l.committed.Load(),
		Batches:        l.batches.Load(),
		Rejected:       l.rejected.Load(),
		CommitFailures: l.failures.Load(),
		Lost:           l.lost.Load(),
		CommitTime:     time.Duration(l.commitNS.Load()),
		LastSeq:        l.lastSeq.Load(),
		Degraded:       l.degraded.Load(),
		Failed:         l.failure.Load() != nil,
	}
}

// Sync waits until every record queued before the call has been committed
// or lost (Stats.Lost), whatever the durability: a barrier for records
// queued with Enqueue or DurabilityAsync, e.g. before reading the log back.
// It returns ctx's error if ctx ends first, and ErrFailed-wrapped errors if
// the log fails meanwhile.
func (l *Log) Sync(ctx context.Context) error {
	target := l.accepted.Load()
	for l.committed.Load()+l.lost.Load() < target {
		if err := l.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("audit: sync: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Close stops accepting records and waits until every queued record is
// committed. If ctx ends first, the writer gives up: records not yet
// committed are lost, and Close says how many.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		l.cancelWriter()
		<-l.done
	}
	l.cancelWriter()
	if n := l.lost.Load(); n > 0 {
		err := l.Err()
		if err == nil {
			err = ctx.Err()
		}
		return fmt.Errorf("audit: close: %d records not committed: %w", n, err)
	}
	return l.Err()
}

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	batch := make([]item, 0, l.cfg.BatchSize)
	var timer *time.Timer
	for {
		it, ok := <-l.queue
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		batch, timer = l.fill(batch, timer)
		l.write(batch)
		clear(batch) // drop references to record data
	}
}

// fill adds queued records to batch, up to BatchSize, waiting at most
// FlushInterval for more.
func (l *Log) fill(batch []item, timer *time.Timer) ([]item, *time.Timer) {
	for len(batch) < cap(batch) {
		select {
		case it, ok := <-l.queue:
			if !ok {
				return batch, timer
			}
			batch = append(batch, it)
			continue
		default:
		}
		if l.cfg.FlushInterval <= 0 {
			return batch, timer
		}
		if timer == nil {
			timer = time.NewTimer(l.cfg.FlushInterval)
		} else {
			timer.Reset(l.cfg.FlushInterval)
		}
		for len(batch) < cap(batch) {
			select {
			case it, ok := <-l.queue:
				if !ok {
					timer.Stop()
					return batch, timer
				}
				batch = append(batch, it)
			case <-timer.C:
				return batch, timer
			}
		}
		timer.Stop()
	}
	return batch, timer
}

// write commits batch, retrying while the store is unavailable.
func (l *Log) write(batch []item) {
	if err := l.Err(); err != nil {
		l.lose(batch, err)
		return
	}
	if l.writerCtx.Err() != nil {
		l.lose(batch, ErrClosed)
		return
	}
	rows := l.encode(batch)
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(l.writerCtx, l.cfg.CommitTimeout)
		start := time.Now()
		err := l.audit.Append(ctx, l.cfg.Node, rows)
		took := time.Since(start)
		cancel()
		if l.cfg.OnCommit != nil {
			l.cfg.OnCommit(len(rows), took, err)
		}
		if err == nil {
			l.advance(rows, took)
			l.notify(batch, nil)
			return
		}
		l.failures.Add(1)
		committed, fatal := l.reconcile(rows, err)
		if committed {
			l.advance(rows, took)
			l.notify(batch, nil)
			return
		}
		if fatal != nil {
			l.fail(fatal)
			l.lose(batch, fatal)
			return
		}
		if attempt == 0 {
			l.degraded.Store(true)
			l.cfg.Logger.Error("audit commit failed; retrying", "records", len(rows), "first_seq", rows[0].Seq, "err", err)
			// Waiting requests are answered now (and denied); their records
			// are still committed when the store recovers.
			l.notify(batch, fmt.Errorf("%w: %w", ErrUnavailable, err))
		}
		select {
		case <-time.After(backoff):
		case <-l.writerCtx.Done():
			l.lose(batch, ErrClosed)
			return
		}
		backoff = min(backoff*2, time.Second)
	}
}

// encode assigns seqs and hashes to batch and returns the rows to store.
// The rows alias the Log's buffers until the next call.
func (l *Log) encode(batch []item) []store.AuditRow {
	n := len(batch)
	l.buf = l.buf[:0]
	ends := make([]int, n)
	seq := l.seq
	for i := range batch {
		r := &batch[i].rec
		seq++
		r.Node, r.Seq = l.cfg.Node, seq
		l.buf = r.AppendCanonical(l.buf)
		ends[i] = len(l.buf)
	}
	if cap(l.hashes) < (n+1)*HashSize {
		l.hashes = make([]byte, (n+1)*HashSize)
	}
	hashes := l.hashes[:(n+1)*HashSize]
	copy(hashes, l.prev[:])
	l.rows = l.rows[:0]
	start := 0
	for i := range batch {
		r := &batch[i].rec
		data := l.buf[start:ends[i]:ends[i]]
		start = ends[i]
		prev := hashes[i*HashSize : (i+1)*HashSize : (i+1)*HashSize]
		h := chainHash(prev, data)
		cur := hashes[(i+1)*HashSize : (i+2)*HashSize : (i+2)*HashSize]
		copy(cur, h[:])
		l.rows = append(l.rows, store.AuditRow{
			Node: r.Node, Seq: r.Seq, PrevHash: prev, Hash: cur, Record: data,
			Time: r.Time, RequestID: r.RequestID, Subject: r.Subject, Decision: r.Decision, Action: r.Action, Route: r.Route,
		})
	}
	return l.rows
}

func (l *Log) advance(rows []store.AuditRow, took time.Duration) {
	last := &rows[len(rows)-1]
	l.seq = last.Seq
	copy(l.prev[:], last.Hash)
	l.lastSeq.Store(l.seq)
	l.committed.Add(uint64(len(rows)))
	l.batches.Add(1)
	l.commitNS.Add(uint64(took))
	if l.degraded.Load() {
		l.degraded.Store(false)
		l.cfg.Logger.Info("audit commits recovered", "seq", l.seq)
	}
}

// reconcile looks at the stored end of the chain after a failed commit: the
// commit may have succeeded (an error on COMMIT's reply), may be safe to
// retry, or the chain may have moved under the writer (fatal).
func (l *Log) reconcile(rows []store.AuditRow, appendErr error) (committed bool, fatal error) {
	ctx, cancel := context.WithTimeout(l.writerCtx, l.cfg.CommitTimeout)
	defer cancel()
	last, _, err := l.audit.Tail(ctx, l.cfg.Node)
	if err != nil {
		if errors.Is(appendErr, store.ErrConflict) {
			return false, fmt.Errorf("%w: %w", ErrFailed, appendErr)
		}
		return false, nil // the store is unreachable: retry
	}
	end := &rows[len(rows)-1]
	if last != nil && last.Seq == end.Seq && bytes.Equal(last.Hash, end.Hash) {
		return true, nil
	}
	where := last == nil && l.seq == 0 || last != nil && last.Seq == l.seq && bytes.Equal(last.Hash, l.prev[:])
	if where && !errors.Is(appendErr, store.ErrConflict) {
		return false, nil
	}
	var got uint64
	if last != nil {
		got = last.Seq
	}
	return false, fmt.Errorf("%w: node %q: the stored chain ends at seq %d, this writer is at seq %d (another writer for this node, or the chain was changed): %w",
		ErrFailed, l.cfg.Node, got, l.seq, appendErr)
}

func (l *Log) fail(err error) {
	if l.failure.CompareAndSwap(nil, &err) {
		l.cfg.Logger.Error("audit log failed; every request will be refused", "err", err)
	}
}

// notify answers the waiting Appends of batch, once.
func (l *Log) notify(batch []item, err error) {
	for i := range batch {
		if d := batch[i].done; d != nil {
			d <- err
			batch[i].done = nil
		}
	}
}

func (l *Log) lose(batch []item, err error) {
	l.lost.Add(uint64(len(batch)))
	l.notify(batch, err)
}
