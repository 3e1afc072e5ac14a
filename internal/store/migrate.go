package store

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFiles holds the schema, one directory per dialect. A migration is
// NNNN_name.sql; versions start at 1 and have no gaps. Applied migrations are
// never edited: a change is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in version order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations for %s: version %d missing", dialect, i+1)
		}
	}
	return out, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	m, err := migrations(DriverSQLite)
	if err != nil {
		return 0
	}
	return len(m)
}

// pending returns the migrations after version current, or ErrSchemaTooNew.
func pending(all []migration, current int) ([]migration, error) {
	if current > len(all) {
		return nil, fmt.Errorf("%w: database at version %d, this binary knows up to %d", ErrSchemaTooNew, current, len(all))
	}
	return all[current:], nil
}

// checkReadOnlyVersion judges the version of a store opened read-only.
func checkReadOnlyVersion(all []migration, current int) error {
	switch {
	case current == 0:
		return ErrNotInitialized
	case current > len(all):
		return fmt.Errorf("%w: database at version %d, this binary knows up to %d", ErrSchemaTooNew, current, len(all))
	case current < len(all):
		return fmt.Errorf("%w: database at version %d, this binary expects %d (open it once read-write, e.g. by starting warden serve)", ErrSchemaOutdated, current, len(all))
	}
	return nil
}
