package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgStore is the shared store for several nodes: a pgx connection pool.
// Appends lock the node's head row (SELECT … FOR UPDATE) and copy the rows
// in with COPY; reads of a whole chain run in one REPEATABLE READ
// transaction so that the head and the rows come from the same snapshot.
type pgStore struct {
	opt      Options
	pool     *pgxpool.Pool
	conn     *pgx.ConnConfig // for the LISTEN connection, outside the pool
	db       *sql.DB         // database/sql over pool, for the issuer tables
	issuer   *issuerSQL
	readOnly bool
}

var _ Store = (*pgStore)(nil)

// migrateLockKey is the advisory lock that serializes migrations of nodes
// starting at the same time ("warden" in ASCII).
const migrateLockKey = 0x77617264656e

func openPostgres(ctx context.Context, url string, opt Options) (Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's parse errors redact the password.
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	readers := opt.MaxReaders
	if readers <= 0 {
		readers = 8
	}
	cfg.MaxConns = int32(readers)
	if opt.ReadOnly {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL store: %w", err)
	}
	s := &pgStore{opt: opt, pool: pool, conn: cfg.ConnConfig.Copy(), readOnly: opt.ReadOnly}
	s.db = stdlib.OpenDBFromPool(pool)
	s.issuer = &issuerSQL{r: s.db, postgres: true, watch: s.watchRevocations}
	if !opt.ReadOnly {
		s.issuer.w = s.db
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL store: %w", err)
	}
	all, err := migrations(DriverPostgres)
	if err == nil {
		if opt.ReadOnly {
			var v int
			if v, err = s.SchemaVersion(ctx); err == nil {
				err = checkReadOnlyVersion(all, v)
			}
		} else {
			err = s.migrate(ctx, all, opt)
		}
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open PostgreSQL store: %w", err)
	}
	return s, nil
}

func (s *pgStore) migrate(ctx context.Context, all []migration, opt Options) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer NOT NULL PRIMARY KEY,
		name       text    NOT NULL,
		applied_ns bigint  NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	todo, err := pending(all, current)
	if err != nil {
		return err
	}
	for _, m := range todo {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate to %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_ns) VALUES ($1, $2, $3)",
			m.version, m.name, opt.now().UnixNano()); err != nil {
			return fmt.Errorf("migrate to %s: %w", m.name, err)
		}
		opt.logger().Info("store migrated", "driver", DriverPostgres, "version", m.version, "name", m.name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}

func (s *pgStore) Driver() string      { return DriverPostgres }
func (s *pgStore) Audit() AuditStore   { return pgAudit{s} }
func (s *pgStore) Issuer() IssuerStore { return s.issuer }
func (s *pgStore) Close() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}

// revocationChannel is the NOTIFY channel of migration 0002's trigger.
const revocationChannel = "warden_revocations"

// watchRevocations listens on its own connection (not one of the pool's)
// and calls fn for every notification until ctx is done. A lost connection
// is an error: the caller reconnects after a resync.
func (s *pgStore) watchRevocations(ctx context.Context, fn func(kind, id string)) error {
	conn, err := pgx.ConnectConfig(ctx, s.conn.Copy())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen for revocations: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+revocationChannel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen for revocations: %w", err)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("listen for revocations: %w", err)
		}
		kind, id, ok := strings.Cut(n.Payload, ":")
		if ok {
			fn(kind, id)
		}
	}
}

func (s *pgStore) SchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	if err := s.pool.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.pool.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func pgPH(n int) string { return "$" + strconv.Itoa(n) }

type pgAudit struct{ s *pgStore }

func (a pgAudit) Append(ctx context.Context, node string, rows []AuditRow) error {
	if a.s.readOnly {
		return ErrReadOnly
	}
	if len(rows) == 0 {
		return nil
	}
	if err := checkRows(node, rows); err != nil {
		return err
	}
	tx, err := a.s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("append audit records: %w", err)
	}
	defer tx.Rollback(ctx)
	var head int64
	err = tx.QueryRow(ctx, "SELECT seq FROM audit_heads WHERE node = $1 FOR UPDATE", node).Scan(&head)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("append audit records: %w", err)
	}
	if uint64(head)+1 != rows[0].Seq {
		return fmt.Errorf("%w: node %q head is at seq %d, append starts at %d", ErrConflict, node, head, rows[0].Seq)
	}
	cols := []string{"node", "seq", "prev_hash", "hash", "record", "time_ns", "request_id", "subject", "decision", "action", "route"}
	args := make([]any, 0, auditColumnCount)
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"audit_records"}, cols, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		args = rowArgs(args[:0], &rows[i])
		return args, nil
	}))
	if err != nil {
		if isPGUniqueViolation(err) {
			return fmt.Errorf("%w: node %q: %w", ErrConflict, node, err)
		}
		return fmt.Errorf("append audit records: %w", err)
	}
	last := &rows[len(rows)-1]
	if _, err := tx.Exec(ctx, `INSERT INTO audit_heads (node, seq, hash, updated_ns) VALUES ($1, $2, $3, $4)
		ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, updated_ns = excluded.updated_ns`,
		node, int64(last.Seq), last.Hash, a.s.opt.now().UnixNano()); err != nil {
		if isPGUniqueViolation(err) {
			return fmt.Errorf("%w: node %q: %w", ErrConflict, node, err)
		}
		return fmt.Errorf("append audit records: update head: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		if isPGUniqueViolation(err) {
			return fmt.Errorf("%w: node %q: %w", ErrConflict, node, err)
		}
		return fmt.Errorf("append audit records: commit: %w", err)
	}
	return nil
}

func isPGUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// pgQuerier is what pgx.Tx and *pgxpool.Pool have in common here.
type pgQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func pgHead(ctx context.Context, q pgQuerier, node string) (*AuditHead, error) {
	h := AuditHead{Node: node}
	var seq, ns int64
	err := q.QueryRow(ctx, "SELECT seq, hash, updated_ns FROM audit_heads WHERE node = $1", node).Scan(&seq, &h.Hash, &ns)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	h.Seq = uint64(seq)
	h.Updated = time.Unix(0, ns).UTC()
	return &h, nil
}

func (a pgAudit) snapshot(ctx context.Context) (pgx.Tx, error) {
	return a.s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
}

func (a pgAudit) Tail(ctx context.Context, node string) (*AuditRow, *AuditHead, error) {
	tx, err := a.snapshot(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read audit tail: %w", err)
	}
	defer tx.Rollback(ctx)
	head, err := pgHead(ctx, tx, node)
	if err != nil {
		return nil, nil, err
	}
	r, err := scanRow(tx.QueryRow(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE node = $1 ORDER BY seq DESC LIMIT 1", node))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, head, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read audit tail: %w", err)
	}
	return &r, head, nil
}

func (a pgAudit) Nodes(ctx context.Context) ([]string, error) {
	rows, err := a.s.pool.Query(ctx, "SELECT node FROM audit_heads UNION SELECT DISTINCT node FROM audit_records ORDER BY 1")
	if err != nil {
		return nil, fmt.Errorf("list audit nodes: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list audit nodes: %w", err)
	}
	return out, nil
}

func (a pgAudit) Chain(ctx context.Context, node string, fn func(AuditRow) error) (*AuditHead, error) {
	tx, err := a.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit chain: %w", err)
	}
	defer tx.Rollback(ctx)
	head, err := pgHead(ctx, tx, node)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE node = $1 ORDER BY seq", node)
	if err != nil {
		return nil, fmt.Errorf("read audit chain: %w", err)
	}
	defer rows.Close()
	if err := eachRow(rows, "read audit chain", fn); err != nil {
		return nil, err
	}
	return head, nil
}

func (a pgAudit) Query(ctx context.Context, f AuditFilter) ([]AuditRow, error) {
	q, args := querySQL(f, pgPH)
	rows, err := a.s.pool.Query(ctx, q, args...)
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

// redactPostgresURL removes the password from a PostgreSQL URL.
func (a pgAudit) Range(ctx context.Context, node string, after uint64, limit int) ([]AuditRow, error) {
	rows, err := a.s.pool.Query(ctx, "SELECT "+auditColumns+" FROM audit_records WHERE node = $1 AND seq > $2 ORDER BY seq LIMIT $3", node, int64(after), clampLimit(limit))
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

func redactPostgresURL(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = neturl.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
