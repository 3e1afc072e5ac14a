package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
)

// Bundle is a verified bundle: its manifest and its content files.
type Bundle struct {
	Manifest Manifest
	// Files maps each content file's path to its bytes; the manifest and
	// the signature are not in it.
	Files map[string][]byte
	// Digest is "sha256:" and the hex SHA-256 of the manifest bytes.
	Digest string
	// Signed is false only for a bundle opened with InsecureAllowUnsigned
	// that carried no signature (or built with InsecureUnsigned).
	Signed bool
	// KeyID and Alg name the key and algorithm of the signature ("" if
	// unsigned).
	KeyID string
	Alg   string
}

// FS returns the content files as a read-only file system, the shape the
// policy engine loads from.
func (b *Bundle) FS() fs.FS { return newMemFS(b.Files, b.Manifest.Created) }

// Meta returns the revision and digest to stamp into decisions.
func (b *Bundle) Meta() (revision, digest string) { return b.Manifest.Revision, b.Digest }

// OpenOptions configures Open. The zero value trusts no key, so it opens
// nothing.
type OpenOptions struct {
	// Keys are the trusted verification keys. A key is selected by the
	// signature's kid (or, for a key without kid, by its RFC 7638
	// thumbprint); its alg, when set, must equal the signature's, and its
	// type must fit the algorithm.
	Keys []*jwk.Key
	// Algorithms allowed for the signature; nil means jwk.Algorithms().
	Algorithms []string
	// InsecureAllowUnsigned lets a bundle without .signature.jws open (with
	// Signed false). A signature that is present is still verified, and a
	// bad or untrusted one still refuses the bundle.
	InsecureAllowUnsigned bool
	// Limits bound the archive; zero fields take the defaults.
	Limits Limits
}

// Open verifies a bundle archive and returns its content. In order, before
// any policy is parsed: the archive structure within the limits, the
// signature over the manifest, the manifest, and each file's digest and size
// with none missing or unlisted. Errors are *Error.
func Open(data []byte, opt OpenOptions) (*Bundle, error) {
	lim := opt.Limits.withDefaults()
	a, err := readArchive(data, lim)
	if err != nil {
		return nil, err
	}
	manifest, ok := a.files[ManifestPath]
	if !ok {
		return nil, newError(ReasonManifest, ManifestPath, errors.New("no manifest in the archive"))
	}
	b := &Bundle{Digest: digestOf(manifest)}
	if jws, ok := a.files[SignaturePath]; ok {
		if b.Alg, b.KeyID, err = verify(jws, manifest, opt.Keys, opt.Algorithms); err != nil {
			return nil, err
		}
		b.Signed = true
	} else if !opt.InsecureAllowUnsigned {
		return nil, newError(ReasonUnsigned, SignaturePath, errors.New("bundle is not signed"))
	}
	m, err := parseManifest(manifest, lim)
	if err != nil {
		return nil, err
	}
	b.Manifest = *m
	b.Files = make(map[string][]byte, len(m.Files))
	for _, f := range m.Files {
		body, ok := a.files[f.Path]
		if !ok {
			return nil, newError(ReasonMissingFile, f.Path, errors.New("listed in the manifest but not in the archive"))
		}
		if int64(len(body)) != f.Size {
			return nil, newError(ReasonDigest, f.Path, fmt.Errorf("size %d, the manifest says %d", len(body), f.Size))
		}
		if sha256Hex(body) != f.SHA256 {
			return nil, newError(ReasonDigest, f.Path, errors.New("SHA-256 does not match the manifest"))
		}
		b.Files[f.Path] = body
	}
	for _, name := range slices.Sorted(maps.Keys(a.files)) {
		if _, listed := b.Files[name]; !listed && name != ManifestPath && name != SignaturePath {
			return nil, newError(ReasonUnlistedFile, name, errors.New("in the archive but not in the manifest"))
		}
	}
	return b, nil
}

func digestOf(manifest []byte) string { return "sha256:" + sha256Hex(manifest) }

// BuildOptions configures Build.
type BuildOptions struct {
	// Revision names the bundle; "" derives one from Created and the file
	// digests: "20261124T101500Z-" and the first 12 hex digits of the
	// SHA-256 of the sorted "path sha256" lines.
	Revision string
	// Created is the creation time (required; truncated to the second and
	// written in UTC).
	Created time.Time
	// Key is the private signing key. Its alg, or the default for its type
	// (jwk.DefaultAlgFor), signs; its kid, or its RFC 7638 thumbprint, names
	// it.
	Key *jwk.Key
	// InsecureUnsigned builds a bundle without a signature; Key must be nil.
	// Such a bundle only opens with OpenOptions.InsecureAllowUnsigned.
	InsecureUnsigned bool
}

// Build writes the deterministic, signed bundle archive of files (content
// paths such as "policies/a.cedar" to their bytes, as ReadDir returns them)
// and returns it with the Bundle that Open would return for it. It checks the
// layout and the default limits, not the policies.
func Build(files map[string][]byte, opt BuildOptions) ([]byte, *Bundle, error) {
	switch {
	case opt.Key == nil && !opt.InsecureUnsigned:
		return nil, nil, errors.New("build bundle: no signing key")
	case opt.Key != nil && opt.InsecureUnsigned:
		return nil, nil, errors.New("build bundle: a signing key and InsecureUnsigned both given")
	case opt.Created.IsZero():
		return nil, nil, errors.New("build bundle: no creation time")
	}
	lim := Limits{}.withDefaults()
	if len(files) > lim.MaxEntries-2 {
		return nil, nil, newError(ReasonTooLarge, "", fmt.Errorf("%d files, more than %d", len(files), lim.MaxEntries-2))
	}
	names := slices.Sorted(maps.Keys(files))
	created := opt.Created.UTC().Truncate(time.Second)
	m := Manifest{Version: FormatVersion, Created: created, Files: make([]File, 0, len(names))}
	var total int64
	for _, name := range names {
		if err := checkContentPath(name); err != nil {
			return nil, nil, newError(ReasonPath, quoteIfOdd(name), err)
		}
		size := int64(len(files[name]))
		if size > lim.MaxEntry {
			return nil, nil, newError(ReasonTooLarge, name, fmt.Errorf("%d bytes, more than %d", size, lim.MaxEntry))
		}
		if total += size; total > lim.MaxTotal {
			return nil, nil, newError(ReasonTooLarge, name, fmt.Errorf("files add up to more than %d bytes", lim.MaxTotal))
		}
		m.Files = append(m.Files, File{Path: name, SHA256: sha256Hex(files[name]), Size: size})
	}
	if err := checkLayout(names); err != nil {
		return nil, nil, err
	}
	m.Revision = opt.Revision
	if m.Revision == "" {
		m.Revision = DefaultRevision(created, m.Files)
	}
	if err := checkRevision(m.Revision); err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}
	manifest, err := m.marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}
	out := maps.Clone(files)
	out[ManifestPath] = manifest
	b := &Bundle{Manifest: m, Files: maps.Clone(files), Digest: digestOf(manifest)}
	if opt.Key != nil {
		sig, alg, kid, err := sign(manifest, opt.Key)
		if err != nil {
			return nil, nil, err
		}
		out[SignaturePath] = sig
		b.Signed, b.Alg, b.KeyID = true, alg, kid
	}
	data, err := writeArchive(slices.Sorted(maps.Keys(out)), out, created)
	if err != nil {
		return nil, nil, fmt.Errorf("build bundle: %w", err)
	}
	return data, b, nil
}

// DefaultRevision is the revision Build gives a bundle when none is asked
// for: the creation time in UTC as 20060102T150405Z, a dash, and the first
// 12 hex digits of the SHA-256 over the lines "path sha256\n" of files
// (sorted by path). The same files at the same time give the same revision.
func DefaultRevision(created time.Time, files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s %s\n", f.Path, f.SHA256)
	}
	return created.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// ReadDir reads a bundle source directory: schema.cedarschema,
// entities.json, policies/*.cedar and tests/*.yaml.
//
// It skips every entry whose name starts with a dot (.git, .gitignore) and
// top-level files that do not look like bundle content (README.md, LICENSE,
// Makefile, a bundle.tar.gz built there). It refuses what looks like content
// in the wrong place, so that a misnamed policy cannot silently drop out of
// the bundle: any other directory, anything else under policies/ and tests/,
// top-level *.cedar, *.cedarschema, *.json, *.yaml and *.yml files other than
// the two above; and links, special files, and sizes past the default
// limits. Errors are *Error with the path relative to dir.
func ReadDir(dir string) (map[string][]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read bundle source: %w", err)
	}
	defer root.Close()
	lim := Limits{}.withDefaults()
	files := map[string][]byte{}
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read bundle source: %w", err)
		}
		if name == "." {
			return nil
		}
		base := path.Base(name)
		switch {
		case strings.HasPrefix(base, "."):
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return newError(ReasonLink, quoteIfOdd(name), errors.New("symbolic link in the bundle source"))
		case d.IsDir():
			if name == PoliciesDir || name == TestsDir {
				return nil
			}
			return newError(ReasonPath, quoteIfOdd(name), fmt.Errorf("unexpected directory (only %s/ and %s/)", PoliciesDir, TestsDir))
		case !d.Type().IsRegular():
			return newError(ReasonFormat, quoteIfOdd(name), errors.New("not a regular file"))
		case !strings.Contains(name, "/") && !bundleLike(name):
			return nil // README.md, LICENSE, a built bundle.tar.gz...
		}
		if err := checkContentPath(name); err != nil {
			return newError(ReasonPath, quoteIfOdd(name), err)
		}
		if len(files) >= lim.MaxEntries-2 {
			return newError(ReasonTooLarge, name, fmt.Errorf("more than %d files", lim.MaxEntries-2))
		}
		body, err := readFileCapped(root, name, lim.MaxEntry)
		if err != nil {
			return err
		}
		if total += int64(len(body)); total > lim.MaxTotal {
			return newError(ReasonTooLarge, name, fmt.Errorf("files add up to more than %d bytes", lim.MaxTotal))
		}
		files[name] = body
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := checkLayout(slices.Collect(maps.Keys(files))); err != nil {
		return nil, err
	}
	return files, nil
}

// bundleLike reports whether a top-level file name has the extension of
// bundle content.
func bundleLike(name string) bool {
	switch strings.ToLower(path.Ext(name)) {
	case ".cedar", ".cedarschema", ".json", ".yaml", ".yml":
		return true
	}
	return false
}

func readFileCapped(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read bundle source: %w", err)
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read bundle source: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, newError(ReasonTooLarge, name, fmt.Errorf("more than %d bytes", limit))
	}
	return body, nil
}
