// Package storetest runs tests against every store backend: SQLite in a
// temporary file always, and PostgreSQL when WARDEN_TEST_POSTGRES_URL is set
// (each test in a schema of its own, dropped afterwards, so that parallel and
// repeated runs never collide). It also holds the conformance suite every
// implementation of store.Store passes, and raw SQL access so that tests can
// tamper with a database the way an attacker with write access would.
//
// It is for tests only.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for raw access
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"

	"github.com/wardenhq/warden/internal/store"
)

// EnvPostgresURL names the environment variable holding the PostgreSQL URL
// for tests, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvPostgresURL = "WARDEN_TEST_POSTGRES_URL"

// Backend is one empty database for one test.
type Backend struct {
	Name string // store.DriverSQLite or store.DriverPostgres
	URL  string // for store.Open
	Path string // the SQLite file ("" for PostgreSQL)
	raw  *sql.DB
}

// ForEach runs fn as a subtest per backend ("sqlite", "postgres"), each with
// a fresh empty database. The PostgreSQL subtest is skipped when
// WARDEN_TEST_POSTGRES_URL is not set.
func ForEach(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	t.Run(store.DriverSQLite, func(t *testing.T) { fn(t, NewSQLite(t)) })
	t.Run(store.DriverPostgres, func(t *testing.T) { fn(t, NewPostgres(t)) })
}

// ForEachKind runs fn as a subtest per backend kind ("sqlite", "postgres"),
// with a constructor of fresh empty databases of that kind, for tests that
// need several. The PostgreSQL subtest is skipped when
// WARDEN_TEST_POSTGRES_URL is not set.
func ForEachKind(t *testing.T, fn func(t *testing.T, newBackend func(testing.TB) *Backend)) {
	t.Helper()
	t.Run(store.DriverSQLite, func(t *testing.T) { fn(t, NewSQLite) })
	t.Run(store.DriverPostgres, func(t *testing.T) {
		if os.Getenv(EnvPostgresURL) == "" {
			t.Skip(EnvPostgresURL + " not set")
		}
		fn(t, NewPostgres)
	})
}

// NewSQLite returns a backend for a SQLite file in t's temporary directory
// (the file does not exist yet).
func NewSQLite(t testing.TB) *Backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "warden.db")
	return &Backend{Name: store.DriverSQLite, URL: "sqlite://" + path, Path: path}
}

// NewPostgres returns a backend for a new, empty schema in the database at
// WARDEN_TEST_POSTGRES_URL, dropped when t ends. It skips t when the
// variable is not set.
func NewPostgres(t testing.TB) *Backend {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		t.Skip(EnvPostgresURL + " not set")
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "warden_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	defer admin.Close()
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("storetest: %v", err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("storetest: drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("storetest: %s: %v", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return &Backend{Name: store.DriverPostgres, URL: u.String()}
}

// Open opens the backend's store read-write and closes it when t ends.
func (b *Backend) Open(t testing.TB) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), b.URL, store.Options{})
	if err != nil {
		t.Fatalf("storetest: open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (b *Backend) db(t testing.TB) *sql.DB {
	t.Helper()
	if b.raw != nil {
		return b.raw
	}
	var err error
	switch b.Name {
	case store.DriverSQLite:
		b.raw, err = sql.Open("sqlite", b.Path+"?_pragma=busy_timeout(5000)")
	default:
		b.raw, err = sql.Open("pgx", b.URL)
	}
	if err != nil {
		t.Fatalf("storetest: raw %s: %v", b.Name, err)
	}
	b.raw.SetMaxOpenConns(1)
	raw := b.raw
	t.Cleanup(func() { raw.Close() })
	return b.raw
}

// rebind turns ? placeholders into $1, $2... for PostgreSQL.
func (b *Backend) rebind(query string) string {
	if b.Name != store.DriverPostgres {
		return query
	}
	var sb strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			sb.WriteString("$" + strconv.Itoa(n))
			continue
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

// Exec runs one statement on a connection of its own, bypassing the store.
// Placeholders are "?" for both databases.
func (b *Backend) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := b.db(t).ExecContext(context.Background(), b.rebind(query), args...); err != nil {
		t.Fatalf("storetest: exec %q: %v", query, err)
	}
}

// TryExec is Exec returning the error.
func (b *Backend) TryExec(t testing.TB, query string, args ...any) error {
	t.Helper()
	_, err := b.db(t).ExecContext(context.Background(), b.rebind(query), args...)
	return err
}

// QueryInt runs a query returning one integer.
func (b *Backend) QueryInt(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := b.db(t).QueryRowContext(context.Background(), b.rebind(query), args...).Scan(&n); err != nil {
		t.Fatalf("storetest: query %q: %v", query, err)
	}
	return n
}

// DropAppendOnly removes the triggers that make audit_records append-only,
// as an attacker with DDL rights can, so that a test can edit and delete
// records.
func (b *Backend) DropAppendOnly(t testing.TB) {
	t.Helper()
	if b.Name == store.DriverSQLite {
		b.Exec(t, "DROP TRIGGER IF EXISTS audit_records_no_update")
		b.Exec(t, "DROP TRIGGER IF EXISTS audit_records_no_delete")
		return
	}
	b.Exec(t, "DROP TRIGGER IF EXISTS audit_records_no_update ON audit_records")
	b.Exec(t, "DROP TRIGGER IF EXISTS audit_records_no_truncate ON audit_records")
}
