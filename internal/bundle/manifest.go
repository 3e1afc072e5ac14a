package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// FormatVersion is the manifest version this package writes and reads.
const FormatVersion = 1

// maxRevisionLen bounds a revision string.
const maxRevisionLen = 128

// Manifest is the signed table of contents of a bundle.
type Manifest struct {
	Version  int       `json:"version"`
	Revision string    `json:"revision"`
	Created  time.Time `json:"created"`
	Files    []File    `json:"files"` // sorted by Path, without the manifest and the signature
}

// File is one manifest entry.
type File struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"` // lowercase hex
	Size   int64  `json:"size"`
}

// marshal returns the manifest bytes as Build writes them: indented JSON and
// a final newline.
func (m *Manifest) marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// manifestKeys are the only object member names a manifest may hold, at any
// level. encoding/json matches names case-insensitively; this set does not.
var manifestKeys = map[string]bool{
	"version": true, "revision": true, "created": true, "files": true,
	"path": true, "sha256": true, "size": true,
}

// parseManifest decodes and checks manifest bytes strictly: no duplicate,
// unknown or case-variant member names, no nulls, no trailing data, version
// 1, a valid revision, files sorted by path with valid paths, digests and
// sizes, and the required files present.
func parseManifest(data []byte, lim Limits) (*Manifest, error) {
	fail := func(err error) (*Manifest, error) {
		return nil, newError(ReasonManifest, ManifestPath, err)
	}
	if err := checkJSONStrict(data, manifestKeys); err != nil {
		return fail(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return fail(err)
	}
	if m.Version != FormatVersion {
		return fail(fmt.Errorf("unsupported version %d (want %d)", m.Version, FormatVersion))
	}
	if err := checkRevision(m.Revision); err != nil {
		return fail(err)
	}
	if m.Created.IsZero() {
		return fail(errors.New("created time is missing"))
	}
	if len(m.Files) == 0 {
		return fail(errors.New("no files listed"))
	}
	if len(m.Files) > lim.MaxEntries {
		return fail(fmt.Errorf("%d files listed, more than %d", len(m.Files), lim.MaxEntries))
	}
	names := make([]string, 0, len(m.Files))
	for i, f := range m.Files {
		if err := checkContentPath(f.Path); err != nil {
			return fail(fmt.Errorf("file %q: %w", f.Path, err))
		}
		if i > 0 && f.Path <= m.Files[i-1].Path {
			if f.Path == m.Files[i-1].Path {
				return fail(fmt.Errorf("file %q listed twice", f.Path))
			}
			return fail(fmt.Errorf("files not sorted by path at %q", f.Path))
		}
		if !isLowerHex(f.SHA256, sha256.Size) {
			return fail(fmt.Errorf("file %q: sha256 is not %d lowercase hex digits", f.Path, 2*sha256.Size))
		}
		if f.Size < 0 || f.Size > lim.MaxEntry {
			return fail(fmt.Errorf("file %q: size %d out of range", f.Path, f.Size))
		}
		names = append(names, f.Path)
	}
	if err := checkLayout(names); err != nil {
		return nil, err
	}
	return &m, nil
}

// checkRevision accepts 1 to 128 of [A-Za-z0-9._:+@/-], starting with a letter
// or digit (version tags, dates, git describe output).
func checkRevision(r string) error {
	if r == "" {
		return errors.New("revision is empty")
	}
	if len(r) > maxRevisionLen {
		return fmt.Errorf("revision longer than %d bytes", maxRevisionLen)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && bytes.IndexByte([]byte("._:+@/-"), c) >= 0:
		default:
			return fmt.Errorf("revision %q: only letters, digits and ._:+@/- allowed, starting with a letter or digit", r)
		}
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkJSONStrict walks one JSON value and refuses duplicate member names,
// names outside allowed, null values and trailing data.
func checkJSONStrict(data []byte, allowed map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walkJSON(dec, allowed, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

const maxJSONDepth = 16

func walkJSON(dec *json.Decoder, allowed map[string]bool, depth int) error {
	if depth > maxJSONDepth {
		return errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case nil:
		return errors.New("null value")
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("duplicate member %q", k)
			}
			if !allowed[k] {
				return fmt.Errorf("unknown member %q", k)
			}
			seen[k] = true
			if err := walkJSON(dec, allowed, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
		return err
	case json.Delim('['):
		for dec.More() {
			if err := walkJSON(dec, allowed, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
		return err
	}
	return nil
}
