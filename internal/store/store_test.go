package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardenhq/warden/internal/store"
	"github.com/wardenhq/warden/internal/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Suite(t, storetest.NewSQLite)
}

func TestPostgres(t *testing.T) {
	if os.Getenv(storetest.EnvPostgresURL) == "" {
		t.Skip(storetest.EnvPostgresURL + " not set")
	}
	storetest.Suite(t, storetest.NewPostgres)
}

func TestOpenURLs(t *testing.T) {
	dir := t.TempDir()
	abs := filepath.Join(dir, "a.db")
	rel, err := filepath.Rel(mustGetwd(t), filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"sqlite://" + abs, "sqlite:" + abs, abs, "sqlite://" + rel, "sqlite://" + abs + "?synchronous=normal", abs + "?synchronous=full"} {
		st, err := store.Open(context.Background(), url, store.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", url, err)
		}
		if st.Driver() != store.DriverSQLite {
			t.Errorf("Open(%q).Driver() = %q", url, st.Driver())
		}
		st.Close()
	}
	fi, err := os.Stat(abs)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new SQLite store has mode %v, want 0600", fi.Mode().Perm())
	}
	for _, url := range []string{"", "mysql://x/y", "sqlite://", "sqlite::memory:", "file:x.db", "x.db?mode=memory", "sqlite://x.db#frag", "x.db?synchronous=off", "x.db?synchronous=normal&x=1"} {
		st, err := store.Open(context.Background(), url, store.Options{})
		if err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", url)
		} else if !errors.Is(err, store.ErrBadURL) {
			t.Errorf("Open(%q) = %v, want ErrBadURL", url, err)
		}
	}
	if _, err := store.Open(context.Background(), filepath.Join(dir, "missing.db"), store.Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open of a missing file = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open created the file")
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestDescribeHidesPasswords(t *testing.T) {
	for url, want := range map[string]string{
		"postgres://app:s3cret@db:5432/warden?sslmode=require": "postgres://app:xxxxx@db:5432/warden?sslmode=require",
		"postgres://db/warden?password=s3cret&sslmode=disable": "postgres://db/warden?password=xxxxx&sslmode=disable",
		"sqlite:///var/lib/warden/warden.db":                   "sqlite:/var/lib/warden/warden.db",
	} {
		got := store.Describe(url)
		if got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Describe(%q) = %q, want %q", url, got, want)
		}
	}
	_, err := store.Open(context.Background(), "postgres://app:s3cret@127.0.0.1:1/x?sslmode=disable&connect_timeout=1", store.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open error shows the password or is nil: %v", err)
	}
}
