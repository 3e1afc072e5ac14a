package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"time"
)

// Default limits for reading a bundle.
const (
	DefaultMaxCompressed = 8 << 20  // bytes of the .tar.gz
	DefaultMaxTotal      = 16 << 20 // bytes of all files, uncompressed
	DefaultMaxEntry      = 4 << 20  // bytes of one file
	DefaultMaxEntries    = 1000     // files in the archive
)

// Limits bound what reading a bundle may cost. A zero or negative field means
// its default.
type Limits struct {
	MaxCompressed int64 // size of the compressed archive
	MaxTotal      int64 // sum of the uncompressed file sizes
	MaxEntry      int64 // uncompressed size of one file
	MaxEntries    int   // number of tar entries
}

func (l Limits) withDefaults() Limits {
	if l.MaxCompressed <= 0 {
		l.MaxCompressed = DefaultMaxCompressed
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = DefaultMaxTotal
	}
	if l.MaxEntry <= 0 {
		l.MaxEntry = DefaultMaxEntry
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// rawCap bounds the whole decompressed stream: the files plus, per entry,
// a header block, a PAX header of up to one block and padding.
func (l Limits) rawCap() int64 {
	return l.MaxTotal + int64(l.MaxEntries+2)*2048 + 10240
}

// boundedReader counts the bytes read through it and fails once more than max
// have been read: decompression stops there, whatever the compression ratio.
type boundedReader struct {
	r        io.Reader
	n, max   int64
	exceeded bool
}

var errStreamTooLarge = errors.New("decompressed archive larger than the limit")

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.exceeded {
		return 0, errStreamTooLarge
	}
	if rem := b.max - b.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		b.exceeded = true
		return n, errStreamTooLarge
	}
	return n, err
}

// archive is the content of a bundle archive that passed the structural
// checks: every entry a regular file at a clean path inside the layout.
type archive struct {
	files map[string][]byte // every entry, the manifest and signature included
}

// readArchive decompresses and reads a bundle archive within lim. It checks
// the entries (type, path, duplicates, sizes) but nothing about their content.
func readArchive(data []byte, lim Limits) (*archive, error) {
	if int64(len(data)) > lim.MaxCompressed {
		return nil, newError(ReasonTooLarge, "", fmt.Errorf("archive is %d bytes, more than %d", len(data), lim.MaxCompressed))
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, newError(ReasonFormat, "", fmt.Errorf("not a gzip stream: %w", err))
	}
	br := &boundedReader{r: gz, max: lim.rawCap()}
	streamErr := func(path string, err error) error {
		if br.exceeded || errors.Is(err, errStreamTooLarge) {
			return newError(ReasonTooLarge, path, errStreamTooLarge)
		}
		return newError(ReasonFormat, path, fmt.Errorf("read archive: %w", err))
	}
	tr := tar.NewReader(br)
	a := &archive{files: map[string][]byte{}}
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, streamErr("", err)
		}
		if n >= lim.MaxEntries {
			return nil, newError(ReasonTooLarge, "", fmt.Errorf("more than %d entries", lim.MaxEntries))
		}
		name := hdr.Name
		if err := checkPath(name); err != nil {
			return nil, newError(ReasonPath, quoteIfOdd(name), err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, newError(ReasonLink, name, fmt.Errorf("link to %q (only regular files allowed)", hdr.Linkname))
		default:
			return nil, newError(ReasonFormat, name, fmt.Errorf("entry type %q not allowed (only regular files)", hdr.Typeflag))
		}
		if classify(name) == kindNone {
			return nil, newError(ReasonPath, name, errors.New("not part of the bundle layout"))
		}
		if _, dup := a.files[name]; dup {
			return nil, newError(ReasonPath, name, errors.New("duplicate entry"))
		}
		if hdr.Size > lim.MaxEntry {
			return nil, newError(ReasonTooLarge, name, fmt.Errorf("%d bytes, more than %d", hdr.Size, lim.MaxEntry))
		}
		if total+hdr.Size > lim.MaxTotal {
			return nil, newError(ReasonTooLarge, name, fmt.Errorf("files add up to more than %d bytes", lim.MaxTotal))
		}
		body, err := io.ReadAll(io.LimitReader(tr, lim.MaxEntry+1))
		if err != nil {
			return nil, streamErr(name, err)
		}
		if int64(len(body)) != hdr.Size {
			return nil, newError(ReasonFormat, name, fmt.Errorf("read %d bytes, header says %d", len(body), hdr.Size))
		}
		total += hdr.Size
		a.files[name] = body
	}
	// Read to the end so that the gzip checksum is verified; after the tar
	// end marker only zero padding may follow.
	var buf [4096]byte
	for {
		n, err := br.Read(buf[:])
		for _, c := range buf[:n] {
			if c != 0 {
				return nil, newError(ReasonFormat, "", errors.New("data after the end of the tar archive"))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, streamErr("", err)
		}
	}
	return a, nil
}

// quoteIfOdd quotes a path for an error message unless it is plain printable
// ASCII, so that a hostile name cannot forge log lines.
func quoteIfOdd(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == '"' {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

// writeArchive writes a deterministic tar.gz of files: entries in the order
// of names, regular files with mode 0644, uid/gid 0, no owner names, modTime.
func writeArchive(names []string, files map[string][]byte, modTime time.Time) ([]byte, error) {
	var out bytes.Buffer
	gz, err := gzip.NewWriterLevel(&out, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, name := range names {
		body := files[name]
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     name,
			Size:     int64(len(body)),
			Mode:     0o644,
			ModTime:  modTime,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
