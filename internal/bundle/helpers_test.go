package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
)

var testCreated = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)

// newKey generates a private key for alg with kid.
func newKey(t testing.TB, alg, kid string) *jwk.Key {
	t.Helper()
	k, err := jwk.Generate(alg, kid)
	if err != nil {
		t.Fatalf("generate %s key: %v", alg, err)
	}
	return k
}

// public returns the public half of k.
func public(t testing.TB, k *jwk.Key) *jwk.Key {
	t.Helper()
	p, err := k.Public()
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	return p
}

// srcFiles returns the files of testdata/src.
func srcFiles(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := bundle.ReadDir("testdata/src")
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	return files
}

// withRevision returns a copy of files whose policy text carries rev in a
// comment, so that different revisions have different content.
func withRevision(files map[string][]byte, rev string) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		out[k] = v
	}
	out["policies/invoke.cedar"] = append([]byte("// revision "+rev+"\n"), files["policies/invoke.cedar"]...)
	return out
}

// build builds a signed bundle of files.
func build(t testing.TB, files map[string][]byte, key *jwk.Key, rev string) []byte {
	t.Helper()
	data, _, err := bundle.Build(files, bundle.BuildOptions{Revision: rev, Created: testCreated, Key: key})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return data
}

// entry is one raw tar entry.
type entry struct {
	hdr  tar.Header
	body []byte
}

// unpack reads the raw entries of a tar.gz without any check.
func unpack(t testing.TB, data []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{hdr: *hdr, body: body})
	}
}

// repack writes raw entries as a tar.gz, sizes taken from the bodies.
func repack(t testing.TB, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("write header %q: %v", hdr.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// regular returns a regular-file entry.
func regular(name string, body []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, body: body}
}

// mutate unpacks data, applies f and repacks.
func mutate(t testing.TB, data []byte, f func([]entry) []entry) []byte {
	t.Helper()
	return repack(t, f(unpack(t, data)))
}

// edit returns an f for mutate that replaces the body of name.
func edit(name string, f func([]byte) []byte) func([]entry) []entry {
	return func(es []entry) []entry {
		for i := range es {
			if es[i].hdr.Name == name {
				es[i].body = f(bytes.Clone(es[i].body))
			}
		}
		return es
	}
}

// remove returns an f for mutate that drops name.
func remove(name string) func([]entry) []entry {
	return func(es []entry) []entry {
		out := es[:0]
		for _, e := range es {
			if e.hdr.Name != name {
				out = append(out, e)
			}
		}
		return out
	}
}

// add returns an f for mutate that appends entries.
func add(extra ...entry) func([]entry) []entry {
	return func(es []entry) []entry { return append(es, extra...) }
}

// flipByte changes the byte at i (negative: from the end) to another
// character of the same class, so that text stays text and base64url stays
// base64url.
func flipByte(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		if i < 0 {
			i += len(b)
		}
		switch c := b[i]; {
		case c == 'A':
			b[i] = 'B'
		default:
			b[i] = 'A'
		}
		return b
	}
}

// joseSign returns a detached compact JWS over payload made with go-jose:
// an independent implementation of RFC 7515.
func joseSign(t testing.TB, key *jwk.Key, alg jose.SignatureAlgorithm, payload []byte, opts *jose.SignerOptions) []byte {
	t.Helper()
	if opts == nil {
		opts = &jose.SignerOptions{}
	}
	opts = opts.WithType(bundle.SignatureType).WithHeader("kid", key.KeyID)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.SigningKey()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.DetachedCompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(s)
}

// resign replaces the manifest with f(manifest) and signs the result with key
// using go-jose.
func resign(t testing.TB, key *jwk.Key, f func([]byte) []byte) func([]entry) []entry {
	return func(es []entry) []entry {
		var manifest []byte
		for i := range es {
			if es[i].hdr.Name == bundle.ManifestPath {
				es[i].body = f(bytes.Clone(es[i].body))
				manifest = es[i].body
			}
		}
		for i := range es {
			if es[i].hdr.Name == bundle.SignaturePath {
				es[i].body = joseSign(t, key, jose.EdDSA, manifest, nil)
			}
		}
		return es
	}
}

// replace returns an f for a manifest edit replacing old with new once.
func replace(old, new string) func([]byte) []byte {
	return func(b []byte) []byte {
		s := string(b)
		if !strings.Contains(s, old) {
			panic("replace: " + old + " not in manifest")
		}
		return []byte(strings.Replace(s, old, new, 1))
	}
}
