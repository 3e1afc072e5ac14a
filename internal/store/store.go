package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Driver names, as reported by Store.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	// ErrConflict reports that an append did not continue the node's chain as
	// stored: another writer appended for the same node, or rows were
	// added or removed behind the writer's back.
	ErrConflict = errors.New("store: audit chain conflict")
	// ErrSchemaTooNew reports a database migrated by a newer Warden.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrSchemaOutdated reports a database (opened read-only) that needs
	// migrations this binary would apply when opened read-write.
	ErrSchemaOutdated = errors.New("store: database schema needs migrating")
	// ErrNotInitialized reports a database without Warden's schema (opened
	// read-only, so nothing was created).
	ErrNotInitialized = errors.New("store: not a Warden store")
	// ErrReadOnly reports a write to a store opened with Options.ReadOnly.
	ErrReadOnly = errors.New("store: opened read-only")
	// ErrBadURL reports a store URL that names no supported database.
	ErrBadURL = errors.New("store: bad URL")
)

// Store is Warden's persistent state. Implementations are safe for
// concurrent use. Each concern has its own accessor returning a small
// interface; the store opened by Open implements all of them.
type Store interface {
	// Driver is DriverSQLite or DriverPostgres.
	Driver() string
	// SchemaVersion is the migration version the database is at.
	SchemaVersion(ctx context.Context) (int, error)
	// Audit is the audit-record storage.
	Audit() AuditStore
	// Issuer is the token issuer's storage: clients, refresh tokens,
	// revocations, signing keys.
	Issuer() IssuerStore
	// Close releases the database. It does not wait for callers still using
	// the store.
	Close() error
}

// AuditStore keeps the audit records of every node: one hash chain per node
// (package audit computes and verifies the hashes), plus a head row per node
// holding the last seq and hash, written in the same transaction as the
// records.
type AuditStore interface {
	// Append stores rows for node in one transaction. rows must carry node,
	// consecutive seqs that continue the stored head (the first seq is the
	// head's seq + 1, or 1 when the node has no head), and valid hashes. The
	// head moves to the last row. If the stored head is not where rows say it
	// is, or one of the seqs is taken, nothing is written and the error wraps
	// ErrConflict.
	Append(ctx context.Context, node string, rows []AuditRow) error
	// Tail returns node's last record (the highest seq) and its head row; either
	// is nil when absent. A writer resumes from them.
	Tail(ctx context.Context, node string) (last *AuditRow, head *AuditHead, err error)
	// Nodes lists every node with records or a head, sorted.
	Nodes(ctx context.Context) ([]string, error)
	// Chain reads node's head and records from one consistent snapshot and
	// calls fn for each record in seq order. Each row passed to fn is freshly
	// allocated and may be retained. fn's error stops the scan and is returned.
	Chain(ctx context.Context, node string, fn func(AuditRow) error) (head *AuditHead, err error)
	// Query returns records matching f, ordered by (time, node, seq).
	Query(ctx context.Context, f AuditFilter) ([]AuditRow, error)
	// Range returns up to limit of node's records with seq > after, in seq
	// order (limit ≤ 0 means DefaultQueryLimit, and never more than
	// MaxQueryLimit). A shipper reads its chain with it.
	Range(ctx context.Context, node string, after uint64, limit int) ([]AuditRow, error)
}

// AuditRow is one stored audit record: its place in the chain, the canonical
// record bytes that were hashed, and copies of the fields that queries filter
// on (package audit checks that the copies match the record).
type AuditRow struct {
	Node     string
	Seq      uint64
	PrevHash []byte // 32 bytes: the previous record's Hash, zeros for seq 1
	Hash     []byte // 32 bytes: SHA-256(PrevHash || Record)
	Record   []byte // canonical encoding of the record (package audit)

	// Indexed copies of record fields.
	Time      time.Time
	RequestID string
	Subject   string
	Decision  string
	Action    string
	Route     string
}

// AuditHead is the per-node head row: the last seq and hash the writer
// committed. Records removed from the end of a chain without moving the head
// are detected by comparing against it.
type AuditHead struct {
	Node    string
	Seq     uint64
	Hash    []byte
	Updated time.Time
}

// AuditFilter selects records for AuditStore.Query. Zero fields do not
// filter.
type AuditFilter struct {
	Node      string
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	Subject   string
	Decision  string
	Action    string
	Route     string
	RequestID string
	// After continues a previous query: only records ordered strictly after
	// this position.
	After *AuditCursor
	// Limit caps the result; 0 means DefaultQueryLimit, and it is never more
	// than MaxQueryLimit.
	Limit int
}

// AuditCursor is a position in the (time, node, seq) order of Query.
type AuditCursor struct {
	Time time.Time
	Node string
	Seq  uint64
}

// Query limits.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 100000
)

func (f AuditFilter) limit() int { return clampLimit(f.Limit) }

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultQueryLimit
	case n > MaxQueryLimit:
		return MaxQueryLimit
	}
	return n
}

// Options tunes Open. The zero value opens read-write with defaults.
type Options struct {
	// ReadOnly opens an existing store without creating or migrating
	// anything; writes fail with ErrReadOnly. Inspection commands use it.
	ReadOnly bool
	// MaxReaders caps the connections used for reads (PostgreSQL: the whole
	// pool). 0 means 4 for SQLite, 8 for PostgreSQL.
	MaxReaders int
	// BusyTimeout is how long SQLite waits for a lock held by another
	// process before failing. 0 means 5s.
	BusyTimeout time.Duration
	// Logger receives migration notices. nil discards.
	Logger *slog.Logger
	// Clock stamps migrations and head updates. nil means time.Now.
	Clock func() time.Time
}

func (o Options) now() time.Time {
	if o.Clock == nil {
		return time.Now()
	}
	return o.Clock()
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Open opens the store at url, creating it (SQLite) and applying pending
// migrations in one transaction unless opt.ReadOnly. url is
// "sqlite:///abs/path.db", "sqlite://rel/path.db", "sqlite:path.db" or a
// plain file path, optionally followed by "?synchronous=normal" (commits
// survive a killed process but not a power loss; the default "full" survives
// both), or "postgres://…" / "postgresql://…" (any URL pgx accepts; a
// search_path parameter selects the schema). Error messages never
// contain the URL, which may hold a password.
func Open(ctx context.Context, url string, opt Options) (Store, error) {
	driver, target, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	switch driver {
	case DriverSQLite:
		return openSQLite(ctx, target, opt)
	default:
		return openPostgres(ctx, target, opt)
	}
}

// Describe returns url with any password removed, for messages and logs.
func Describe(url string) string {
	driver, target, err := parseURL(url)
	if err != nil {
		return "(invalid store URL)"
	}
	if driver == DriverSQLite {
		return "sqlite:" + target
	}
	return redactPostgresURL(target)
}

func parseURL(url string) (driver, target string, err error) {
	url = strings.TrimSpace(url)
	switch {
	case url == "":
		return "", "", fmt.Errorf("%w: empty", ErrBadURL)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return DriverPostgres, url, nil
	case strings.HasPrefix(url, "sqlite://"):
		target = strings.TrimPrefix(url, "sqlite://")
	case strings.HasPrefix(url, "sqlite:"):
		target = strings.TrimPrefix(url, "sqlite:")
	case strings.Contains(url, "://"):
		scheme, _, _ := strings.Cut(url, "://")
		return "", "", fmt.Errorf("%w: unsupported scheme %q (want sqlite or postgres)", ErrBadURL, scheme)
	default:
		target = url
	}
	if _, _, err := parseSQLite(target); err != nil {
		return "", "", err
	}
	return DriverSQLite, target, nil
}

// sqliteParams are the URL parameters of a SQLite store.
type sqliteParams struct {
	// synchronous is SQLite's PRAGMA synchronous: "full" (the default: a
	// commit is on disk when it returns, and survives power loss) or
	// "normal" (in WAL mode a commit survives the process being killed but
	// not a power loss or OS crash; commits are several times faster).
	synchronous string
}

// parseSQLite splits "path[?synchronous=full|normal]".
func parseSQLite(target string) (string, sqliteParams, error) {
	path, query, _ := strings.Cut(target, "?")
	p := sqliteParams{synchronous: "full"}
	switch {
	case path == "":
		return "", p, fmt.Errorf("%w: no SQLite file path", ErrBadURL)
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return "", p, fmt.Errorf("%w: the SQLite store must be a file path", ErrBadURL)
	case strings.ContainsAny(path, "#\x00"):
		return "", p, fmt.Errorf("%w: SQLite file path contains '#' or NUL", ErrBadURL)
	}
	if query == "" {
		return path, p, nil
	}
	for kv := range strings.SplitSeq(query, "&") {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "synchronous" && (v == "full" || v == "normal"):
			p.synchronous = v
		case k == "synchronous":
			return "", p, fmt.Errorf("%w: synchronous=%q (want full or normal)", ErrBadURL, v)
		default:
			return "", p, fmt.Errorf("%w: unknown SQLite parameter %q (only synchronous)", ErrBadURL, k)
		}
	}
	return path, p, nil
}
