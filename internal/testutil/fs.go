package testutil

import (
	"io/fs"
	"os"
	"testing"
	"testing/fstest"
)

// DirWith returns the files of directory dir as an in-memory file system,
// with extra files (path → content) added or replaced: a bundle source with
// a test policy added, without touching the directory.
func DirWith(tb testing.TB, dir string, extra map[string]string) fs.FS {
	tb.Helper()
	src := os.DirFS(dir)
	m := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, path)
		m[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		tb.Fatalf("DirWith %s: %v", dir, err)
	}
	for path, body := range extra {
		m[path] = &fstest.MapFile{Data: []byte(body)}
	}
	return m
}
