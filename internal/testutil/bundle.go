package testutil

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// RewriteBundle returns a copy of a bundle archive in which edit has changed
// the entries: edit gets each entry's name and bytes and returns the new bytes
// (or nil with keep false to drop the entry). Nothing else changes: use it to
// tamper with a built bundle (one byte of a policy, of the manifest, of the
// signature) without touching the signature.
func RewriteBundle(tb testing.TB, data []byte, edit func(name string, body []byte) (newBody []byte, keep bool)) []byte {
	tb.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("RewriteBundle: %v", err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("RewriteBundle: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatalf("RewriteBundle: %v", err)
		}
		body, keep := edit(hdr.Name, body)
		if !keep {
			continue
		}
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatalf("RewriteBundle: %v", err)
		}
		if _, err := tw.Write(body); err != nil {
			tb.Fatalf("RewriteBundle: %v", err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatalf("RewriteBundle: %v", err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatalf("RewriteBundle: %v", err)
	}
	return out.Bytes()
}

// FlipByte returns an edit for RewriteBundle that changes the byte at offset
// i (negative: from the end) of the entry name into another printable
// character, keeping every other entry as it is.
func FlipByte(name string, i int) func(string, []byte) ([]byte, bool) {
	return func(n string, body []byte) ([]byte, bool) {
		if n != name || len(body) == 0 {
			return body, true
		}
		b := bytes.Clone(body)
		at := i
		if at < 0 {
			at += len(b)
		}
		if b[at] == 'A' {
			b[at] = 'B'
		} else {
			b[at] = 'A'
		}
		return b, true
	}
}
