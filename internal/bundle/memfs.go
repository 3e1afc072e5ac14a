package bundle

import (
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// memFS is a read-only fs.FS over a bundle's files. Directories are implied
// by the file paths. Every file reports mode 0444 and the bundle's creation
// time.
type memFS struct {
	files   map[string][]byte
	dirs    map[string][]string // directory -> sorted child names
	modTime time.Time
}

var (
	_ fs.ReadFileFS = (*memFS)(nil)
	_ fs.ReadDirFS  = (*memFS)(nil)
	_ fs.StatFS     = (*memFS)(nil)
)

func newMemFS(files map[string][]byte, modTime time.Time) *memFS {
	m := &memFS{files: files, dirs: map[string][]string{".": nil}, modTime: modTime}
	for name := range files {
		for name != "." {
			dir, base := path.Dir(name), path.Base(name)
			children, seen := m.dirs[dir]
			if !slices.Contains(children, base) {
				m.dirs[dir] = append(children, base)
			}
			if seen {
				break
			}
			name = dir
		}
	}
	for d := range m.dirs {
		slices.Sort(m.dirs[d])
	}
	return m
}

func (m *memFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if data, ok := m.files[name]; ok {
		return &memFile{info: m.info(name, int64(len(data)), false), r: strings.NewReader(string(data))}, nil
	}
	if _, ok := m.dirs[name]; ok {
		return &memDir{info: m.info(name, 0, true), entries: m.entries(name)}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	data, ok := m.files[name]
	if !ok {
		if _, isDir := m.dirs[name]; isDir {
			return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
		}
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(data), nil
}

func (m *memFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
	}
	if _, ok := m.dirs[name]; !ok {
		if _, isFile := m.files[name]; isFile {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrInvalid}
		}
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return m.entries(name), nil
}

func (m *memFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	if data, ok := m.files[name]; ok {
		return m.info(name, int64(len(data)), false), nil
	}
	if _, ok := m.dirs[name]; ok {
		return m.info(name, 0, true), nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (m *memFS) entries(dir string) []fs.DirEntry {
	names := m.dirs[dir]
	out := make([]fs.DirEntry, 0, len(names))
	for _, n := range names {
		full := path.Join(dir, n)
		if data, ok := m.files[full]; ok {
			out = append(out, fs.FileInfoToDirEntry(m.info(full, int64(len(data)), false)))
		} else {
			out = append(out, fs.FileInfoToDirEntry(m.info(full, 0, true)))
		}
	}
	return out
}

func (m *memFS) info(name string, size int64, dir bool) *memInfo {
	return &memInfo{name: path.Base(name), size: size, dir: dir, modTime: m.modTime}
}

type memInfo struct {
	name    string
	size    int64
	dir     bool
	modTime time.Time
}

func (i *memInfo) Name() string       { return i.name }
func (i *memInfo) Size() int64        { return i.size }
func (i *memInfo) ModTime() time.Time { return i.modTime }
func (i *memInfo) IsDir() bool        { return i.dir }
func (i *memInfo) Sys() any           { return nil }
func (i *memInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}

type memFile struct {
	info *memInfo
	r    *strings.Reader
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *memFile) Close() error               { return nil }
func (f *memFile) Seek(off int64, whence int) (int64, error) {
	return f.r.Seek(off, whence)
}
func (f *memFile) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }

type memDir struct {
	info    *memInfo
	entries []fs.DirEntry
	off     int
}

func (d *memDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *memDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: fs.ErrInvalid}
}
func (d *memDir) Close() error { return nil }

func (d *memDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(rest))
	d.off += n
	return slices.Clone(rest[:n]), nil
}
