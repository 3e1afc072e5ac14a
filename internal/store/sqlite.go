package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteStore is the embedded store: one file in WAL mode. All writes go
// through a single connection (SQLite has one writer at a time anyway, and a
// single connection makes BEGIN IMMEDIATE queue in Go rather than spin on
// SQLITE_BUSY); reads use a small pool of query-only connections that see
// consistent snapshots alongside the writer.
type sqliteStore struct {
	opt  Options
	path string
	w    *sql.DB // nil when read-only
	r    *sql.DB

	// inserts caches the writer's prepared multi-row audit INSERTs by
	// row count, for power-of-two counts only (1, 2, 4, ... maxInsertRows):
	// a batch is written as at most log2(maxInsertRows)+1 statements, none
	// of them parsed again. Preparing per commit was an eighth of the
	// writer's CPU at the batch sizes the gateway produces.
	mu      sync.Mutex
	inserts map[int]*sql.Stmt
}

// insertStmt returns the prepared INSERT of n audit rows (n a power of two).
func (s *sqliteStore) insertStmt(ctx context.Context, n int) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.inserts[n]; st != nil {
		return st, nil
	}
	st, err := s.w.PrepareContext(ctx, insertSQL(n, sqlitePH))
	if err != nil {
		return nil, err
	}
	if s.inserts == nil {
		s.inserts = make(map[int]*sql.Stmt)
	}
	s.inserts[n] = st
	return st, nil
}

// insertChunk is the largest power of two not above n, capped at
// maxInsertRows (itself a power of two).
func insertChunk(n int) int {
	c := 1
	for c*2 <= n && c*2 <= maxInsertRows {
		c *= 2
	}
	return c
}

var _ Store = (*sqliteStore)(nil)

func openSQLite(ctx context.Context, target string, opt Options) (Store, error) {
	path, params, err := parseSQLite(target)
	if err != nil {
		return nil, err
	}
	busy := opt.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readers := opt.MaxReaders
	if readers <= 0 {
		readers = 4
	}
	base := path + "?_pragma=busy_timeout(" + strconv.FormatInt(busy.Milliseconds(), 10) + ")"
	s := &sqliteStore{path: path, opt: opt}
	if opt.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open SQLite store: %w", err)
		}
	} else {
		if err := createPrivate(path); err != nil {
			return nil, fmt.Errorf("open SQLite store: %w", err)
		}
		w, err := sql.Open("sqlite", base+"&_pragma=journal_mode(wal)&_pragma=synchronous("+params.synchronous+")&_pragma=temp_store(memory)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open SQLite store: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		s.w = w
		if err := s.migrate(ctx, opt); err != nil {
			w.Close()
			return nil, err
		}
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open SQLite store: %w", err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	s.r = r
	if opt.ReadOnly {
		all, err := migrations(DriverSQLite)
		if err != nil {
			s.Close()
			return nil, err
		}
		v, err := s.SchemaVersion(ctx)
		if err == nil {
			err = checkReadOnlyVersion(all, v)
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
		}
	}
	return s, nil
}

// createPrivate creates path with mode 0600 if it does not exist, so that
// audit data is not world-readable (SQLite's -wal and -shm files copy the
// database file's mode).
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func (s *sqliteStore) migrate(ctx context.Context, opt Options) error {
	all, err := migrations(DriverSQLite)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrator at a time
	if err != nil {
		return fmt.Errorf("migrate SQLite store: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_ns INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate SQLite store: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate SQLite store: %w", err)
	}
	todo, err := pending(all, current)
	if err != nil {
		return fmt.Errorf("open SQLite store %s: %w", s.path, err)
	}
	for _, m := range todo {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate SQLite store to %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES (?, ?, ?)",
			m.version, m.name, opt.now().UnixNano()); err != nil {
			return fmt.Errorf("migrate SQLite store to %s: %w", m.name, err)
		}
		opt.logger().Info("store migrated", "driver", DriverSQLite, "version", m.version, "name", m.name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate SQLite store: %w", err)
	}
	return nil
}

func (s *sqliteStore) Driver() string    { return DriverSQLite }
func (s *sqliteStore) Audit() AuditStore { return sqliteAudit{s} }
func (s *sqliteStore) Issuer() IssuerStore {
	return &issuerSQL{w: s.w, r: s.r}
}

func (s *sqliteStore) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v int
	if err := s.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func (s *sqliteStore) Close() error {
	var errs []error
	s.mu.Lock()
	for _, st := range s.inserts {
		errs = append(errs, st.Close())
	}
	s.inserts = nil
	s.mu.Unlock()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

type sqliteAudit struct{ s *sqliteStore }

func sqlitePH(int) string { return "?" }

func (a sqliteAudit) Append(ctx context.Context, node string, rows []AuditRow) error {
	if a.s.w == nil {
		return ErrReadOnly
	}
	if len(rows) == 0 {
		return nil
	}
	if err := checkRows(node, rows); err != nil {
		return err
	}
	// Prepare before the transaction: the writer has one connection, and
	// the transaction holds it.
	stmts := make([]*sql.Stmt, 0, 9)
	for left := len(rows); left > 0; {
		n := insertChunk(left)
		st, err := a.s.insertStmt(ctx, n)
		if err != nil {
			return fmt.Errorf("append audit records: prepare: %w", err)
		}
		stmts = append(stmts, st)
		left -= n
	}
	tx, err := a.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	defer tx.Rollback()
	var head int64
	err = tx.QueryRowContext(ctx, "SELECT seq FROM audit_heads WHERE node = ?", node).Scan(&head)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("append audit records: %w", err)
	}
	if uint64(head)+1 != rows[0].Seq {
		return fmt.Errorf("%w: node %q head is at seq %d, append starts at %d", ErrConflict, node, head, rows[0].Seq)
	}
	args := make([]any, 0, min(len(rows), maxInsertRows)*auditColumnCount)
	for k, chunk := 0, rows; len(chunk) > 0; k++ {
		n := insertChunk(len(chunk))
		args = args[:0]
		for i := range chunk[:n] {
			args = rowArgs(args, &chunk[i])
		}
		if _, err := tx.StmtContext(ctx, stmts[k]).ExecContext(ctx, args...); err != nil {
			if isSQLiteConstraint(err) {
				return fmt.Errorf("%w: node %q: %w", ErrConflict, node, err)
			}
			return fmt.Errorf("append audit records: %w", err)
		}
		chunk = chunk[n:]
	}
	last := &rows[len(rows)-1]
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_heads (node, seq, hash, updated_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_ns = excluded.updated_ns`,
		node, int64(last.Seq), last.Hash, a.s.opt.now().UnixNano()); err != nil {
		return fmt.Errorf("append audit records: update head: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append audit records: commit: %w", err)
	}
	return nil
}

func isSQLiteConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

func (a sqliteAudit) Tail(ctx context.Context, node string) (*AuditRow, *AuditHead, error) {
	tx, err := a.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read audit tail: %w", err)
	}
	defer tx.Rollback()
	head, err := sqliteHead(ctx, tx, node)
	if err != nil {
		return nil, nil, err
	}
	r, err := scanRow(tx.QueryRowContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE node = ? ORDER BY seq DESC LIMIT 1", node))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, head, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read audit tail: %w", err)
	}
	return &r, head, nil
}

func sqliteHead(ctx context.Context, tx *sql.Tx, node string) (*AuditHead, error) {
	h := AuditHead{Node: node}
	var seq, ns int64
	err := tx.QueryRowContext(ctx, "SELECT seq, hash, updated_ns FROM audit_heads WHERE node = ?", node).Scan(&seq, &h.Hash, &ns)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	h.Seq = uint64(seq)
	h.Updated = time.Unix(0, ns).UTC()
	return &h, nil
}

func (a sqliteAudit) Nodes(ctx context.Context) ([]string, error) {
	rows, err := a.s.r.QueryContext(ctx, "SELECT node FROM audit_heads UNION SELECT DISTINCT node FROM audit_records ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list audit nodes: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("list audit nodes: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit nodes: %w", err)
	}
	return out, nil
}

func (a sqliteAudit) Chain(ctx context.Context, node string, fn func(AuditRow) error) (*AuditHead, error) {
	tx, err := a.s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("read audit chain: %w", err)
	}
	defer tx.Rollback()
	head, err := sqliteHead(ctx, tx, node) // starts the read snapshot
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE node = ? ORDER BY seq", node)
	if err != nil {
		return nil, fmt.Errorf("read audit chain: %w", err)
	}
	defer rows.Close()
	if err := eachRow(rows, "read audit chain", fn); err != nil {
		return nil, err
	}
	return head, nil
}

func (a sqliteAudit) Query(ctx context.Context, f AuditFilter) ([]AuditRow, error) {
	q, args := querySQL(f, sqlitePH)
	rows, err := a.s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query audit records: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	err = eachRow(rows, "query audit records", func(r AuditRow) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a sqliteAudit) Range(ctx context.Context, node string, after uint64, limit int) ([]AuditRow, error) {
	rows, err := a.s.r.QueryContext(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE node = ? AND seq > ? ORDER BY seq LIMIT ?", node, int64(after), clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read audit range: %w", err)
	}
	defer rows.Close()
	var out []AuditRow
	err = eachRow(rows, "read audit range", func(r AuditRow) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
