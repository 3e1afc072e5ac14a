package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
)

// FuzzOpen feeds Open arbitrary archives, seeded with a good bundle and every
// refused one. Open must never panic, and whatever it accepts must carry a
// manifest that the trusted key really signed (one of the seeds' manifests:
// the fuzzer cannot forge an Ed25519 signature) with files that match it.
func FuzzOpen(f *testing.F) {
	key := newKey(f, "EdDSA", "trusted")
	good, cases := refusals(f, key)
	lim := bundle.Limits{MaxCompressed: 256 << 10, MaxTotal: 256 << 10, MaxEntry: 64 << 10, MaxEntries: 64}
	signed := map[string]bool{} // digests of every manifest found in a seed
	seed := func(data []byte) {
		for _, m := range manifestsIn(data) {
			signed["sha256:"+sha256Hex(m)] = true
		}
		f.Add(data)
	}
	seed(good)
	for _, tc := range cases {
		if len(tc.data) <= int(lim.MaxCompressed) {
			seed(tc.data)
		}
	}
	opt := bundle.OpenOptions{Keys: []*jwk.Key{public(f, key)}, Limits: lim}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Open(data, opt)
		if err != nil {
			if b != nil {
				t.Fatal("Open returned a bundle with an error")
			}
			if bundle.ReasonOf(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if !b.Signed || b.KeyID != "trusted" {
			t.Fatalf("accepted bundle: Signed %v, KeyID %q", b.Signed, b.KeyID)
		}
		if !signed[b.Digest] {
			t.Fatalf("accepted a manifest the key never signed: %s", b.Digest)
		}
		if len(b.Files) != len(b.Manifest.Files) {
			t.Fatalf("%d files, manifest lists %d", len(b.Files), len(b.Manifest.Files))
		}
		for _, mf := range b.Manifest.Files {
			body, ok := b.Files[mf.Path]
			if !ok || sha256Hex(body) != mf.SHA256 || int64(len(body)) != mf.Size {
				t.Fatalf("file %s does not match the manifest", mf.Path)
			}
		}
	})
}

// manifestsIn returns the bodies of every .manifest.json entry it can read
// from data, without any check.
func manifestsIn(data []byte) [][]byte {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	tr := tar.NewReader(io.LimitReader(gz, 64<<20))
	var out [][]byte
	for {
		hdr, err := tr.Next()
		if err != nil {
			return out
		}
		if hdr.Name == bundle.ManifestPath {
			if body, err := io.ReadAll(io.LimitReader(tr, 1<<20)); err == nil {
				out = append(out, body)
			}
		}
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
