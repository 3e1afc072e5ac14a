package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
)

func TestBuildOpenRoundTrip(t *testing.T) {
	files := srcFiles(t)
	for _, alg := range []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "PS256", "HS256", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			key := newKey(t, alg, "k-"+alg)
			data, built, err := bundle.Build(files, bundle.BuildOptions{Revision: "v1", Created: testCreated, Key: key})
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			trusted := key
			if key.Type() != "oct" {
				trusted = public(t, key)
			}
			got, err := bundle.Open(data, bundle.OpenOptions{Keys: []*jwk.Key{trusted}})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if diff := cmp.Diff(built, got); diff != "" {
				t.Errorf("Open(Build()) differs from Build's bundle (-built +opened):\n%s", diff)
			}
			if !got.Signed || got.KeyID != "k-"+alg || got.Alg != alg {
				t.Errorf("Signed, KeyID, Alg = %v, %q, %q; want true, %q, %q", got.Signed, got.KeyID, got.Alg, "k-"+alg, alg)
			}
			if rev, dig := got.Meta(); rev != "v1" || !strings.HasPrefix(dig, "sha256:") || len(dig) != 71 {
				t.Errorf("Meta() = %q, %q", rev, dig)
			}
			for name, body := range files {
				if !bytes.Equal(got.Files[name], body) {
					t.Errorf("file %s differs", name)
				}
			}
		})
	}
}

func TestBuildDeterministic(t *testing.T) {
	files := srcFiles(t)
	key := newKey(t, "EdDSA", "det") // Ed25519 signatures are deterministic
	a := build(t, files, key, "")
	b := build(t, files, key, "")
	if !bytes.Equal(a, b) {
		t.Fatal("two builds of the same files, revision, time and key differ")
	}
	c := build(t, withRevision(files, "x"), key, "")
	if bytes.Equal(a, c) {
		t.Fatal("different files gave the same archive")
	}
	for _, e := range unpack(t, a) {
		h := e.hdr
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(testCreated) {
			t.Errorf("entry %s: type %q mode %o uid %d gid %d uname %q gname %q mtime %v", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
		}
	}
	names := func(es []entry) (out []string) {
		for _, e := range es {
			out = append(out, e.hdr.Name)
		}
		return out
	}(unpack(t, a))
	want := []string{".manifest.json", ".signature.jws", "entities.json", "policies/invoke.cedar", "schema.cedarschema"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("entry order (-want +got):\n%s", diff)
	}
}

func TestDefaultRevision(t *testing.T) {
	_, b, err := bundle.Build(srcFiles(t), bundle.BuildOptions{Created: testCreated, Key: newKey(t, "EdDSA", "k")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Manifest.Revision, bundle.DefaultRevision(testCreated, b.Manifest.Files); got != want {
		t.Errorf("revision = %q, want %q", got, want)
	}
	if !strings.HasPrefix(b.Manifest.Revision, "20261124T101500Z-") || len(b.Manifest.Revision) != len("20261124T101500Z-")+12 {
		t.Errorf("revision = %q, want 20261124T101500Z-<12 hex>", b.Manifest.Revision)
	}
}

func TestManifestFormat(t *testing.T) {
	data := build(t, srcFiles(t), newKey(t, "EdDSA", "k"), "v7")
	var manifest, sig []byte
	for _, e := range unpack(t, data) {
		switch e.hdr.Name {
		case bundle.ManifestPath:
			manifest = e.body
		case bundle.SignaturePath:
			sig = e.body
		}
	}
	if !strings.Contains(string(manifest), `"created": "2026-11-24T10:15:00Z"`) || !strings.Contains(string(manifest), `"version": 1`) {
		t.Errorf("manifest:\n%s", manifest)
	}
	parts := strings.Split(string(sig), ".")
	if len(parts) != 3 || parts[1] != "" {
		t.Fatalf("signature %q is not header..signature", sig)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(hdr), `{"alg":"EdDSA","kid":"k","typ":"warden-bundle+jws"}`; got != want {
		t.Errorf("header = %s, want %s", got, want)
	}
}

// TestSignatureInterop checks the detached JWS against go-jose both ways.
func TestSignatureInterop(t *testing.T) {
	files := srcFiles(t)
	for _, tc := range []struct {
		alg  string
		jose jose.SignatureAlgorithm
	}{{"EdDSA", jose.EdDSA}, {"ES256", jose.ES256}, {"PS384", jose.PS384}} {
		t.Run(tc.alg, func(t *testing.T) {
			key := newKey(t, tc.alg, "interop")
			data := build(t, files, key, "v1")
			var manifest, sig []byte
			for _, e := range unpack(t, data) {
				switch e.hdr.Name {
				case bundle.ManifestPath:
					manifest = e.body
				case bundle.SignaturePath:
					sig = e.body
				}
			}
			obj, err := jose.ParseDetached(string(sig), manifest, []jose.SignatureAlgorithm{tc.jose})
			if err != nil {
				t.Fatalf("go-jose ParseDetached: %v", err)
			}
			if _, err := obj.Verify(public(t, key).Key); err != nil {
				t.Fatalf("go-jose Verify: %v", err)
			}
			// And a bundle signed by go-jose opens.
			joseSigned := mutate(t, data, edit(bundle.SignaturePath, func([]byte) []byte {
				return joseSign(t, key, tc.jose, manifest, nil)
			}))
			if _, err := bundle.Open(joseSigned, bundle.OpenOptions{Keys: []*jwk.Key{public(t, key)}}); err != nil {
				t.Fatalf("Open of a go-jose signature: %v", err)
			}
		})
	}
}

func TestUnsigned(t *testing.T) {
	files := srcFiles(t)
	data, b, err := bundle.Build(files, bundle.BuildOptions{Created: testCreated, InsecureUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if b.Signed {
		t.Error("Build: Signed = true for an unsigned bundle")
	}
	key := public(t, newKey(t, "EdDSA", "k"))
	if _, err := bundle.Open(data, bundle.OpenOptions{Keys: []*jwk.Key{key}}); bundle.ReasonOf(err) != bundle.ReasonUnsigned {
		t.Errorf("Open without InsecureAllowUnsigned: %v, want reason unsigned", err)
	}
	got, err := bundle.Open(data, bundle.OpenOptions{InsecureAllowUnsigned: true})
	if err != nil {
		t.Fatalf("Open with InsecureAllowUnsigned: %v", err)
	}
	if got.Signed || got.KeyID != "" {
		t.Errorf("Signed, KeyID = %v, %q; want false, empty", got.Signed, got.KeyID)
	}
	// A signature that is present is checked even then.
	signed := build(t, files, newKey(t, "EdDSA", "other"), "v1")
	for name, data := range map[string][]byte{
		"untrusted": signed,
		"tampered":  mutate(t, signed, edit(bundle.SignaturePath, flipByte(-5))),
	} {
		if _, err := bundle.Open(data, bundle.OpenOptions{InsecureAllowUnsigned: true, Keys: []*jwk.Key{key}}); err == nil {
			t.Errorf("%s signature opened with InsecureAllowUnsigned", name)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	files := srcFiles(t)
	key := newKey(t, "EdDSA", "k")
	with := func(name string, body []byte) map[string][]byte {
		out := withRevision(files, "x")
		out[name] = body
		return out
	}
	without := func(name string) map[string][]byte {
		out := withRevision(files, "x")
		delete(out, name)
		return out
	}
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		opt   bundle.BuildOptions
	}{
		{"no key", files, bundle.BuildOptions{Created: testCreated}},
		{"key and insecure", files, bundle.BuildOptions{Created: testCreated, Key: key, InsecureUnsigned: true}},
		{"no time", files, bundle.BuildOptions{Key: key}},
		{"public key", files, bundle.BuildOptions{Created: testCreated, Key: public(t, key)}},
		{"bad revision", files, bundle.BuildOptions{Created: testCreated, Key: key, Revision: "a b"}},
		{"unexpected file", with("README", []byte("x")), bundle.BuildOptions{Created: testCreated, Key: key}},
		{"traversal", with("policies/../x.cedar", []byte("x")), bundle.BuildOptions{Created: testCreated, Key: key}},
		{"reserved", with(".manifest.json", []byte("{}")), bundle.BuildOptions{Created: testCreated, Key: key}},
		{"no schema", without("schema.cedarschema"), bundle.BuildOptions{Created: testCreated, Key: key}},
		{"no policy", without("policies/invoke.cedar"), bundle.BuildOptions{Created: testCreated, Key: key}},
		{"too large", with("policies/big.cedar", make([]byte, bundle.DefaultMaxEntry+1)), bundle.BuildOptions{Created: testCreated, Key: key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := bundle.Build(tc.files, tc.opt); err == nil {
				t.Fatal("Build succeeded")
			}
		})
	}
}

func TestReadDir(t *testing.T) {
	write := func(t *testing.T, dir string, files map[string]string) {
		t.Helper()
		for name, body := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	base := map[string]string{"schema.cedarschema": "entity A;", "policies/a.cedar": "permit(principal,action,resource);"}
	t.Run("ignores dotfiles and top-level non-content files", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, base)
		write(t, dir, map[string]string{".git/config": "x", ".gitignore": "x", "policies/.DS_Store": "x", "README.md": "# doc", "LICENSE": "x", "bundle.tar.gz": "x", "tests/t.yaml": "cases: []", "entities.json": "[]"})
		got, err := bundle.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for n := range got {
			names = append(names, n)
		}
		want := []string{"entities.json", "policies/a.cedar", "schema.cedarschema", "tests/t.yaml"}
		if diff := cmp.Diff(want, names, cmpSorted); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
	})
	for _, tc := range []struct {
		name   string
		extra  map[string]string
		link   string // symlink name -> schema.cedarschema
		drop   string
		reason bundle.Reason
	}{
		{name: "top-level policy", extra: map[string]string{"extra.cedar": "x"}, reason: bundle.ReasonPath},
		{name: "top-level JSON", extra: map[string]string{"schema.json": "x"}, reason: bundle.ReasonPath},
		{name: "top-level YAML", extra: map[string]string{"tests.yml": "x"}, reason: bundle.ReasonPath},
		{name: "test with .yml", extra: map[string]string{"tests/a.yml": "x"}, reason: bundle.ReasonPath},
		{name: "unexpected directory", extra: map[string]string{"docs/notes.txt": "x"}, reason: bundle.ReasonPath},
		{name: "misnamed policy dir", extra: map[string]string{"policy/b.cedar": "x"}, reason: bundle.ReasonPath},
		{name: "misnamed policy", extra: map[string]string{"policies/b.ceder": "x"}, reason: bundle.ReasonPath},
		{name: "nested markdown", extra: map[string]string{"policies/README.md": "x"}, reason: bundle.ReasonPath},
		{name: "nested dir", extra: map[string]string{"policies/sub/b.cedar": "x"}, reason: bundle.ReasonPath},
		{name: "symlink", link: "policies/b.cedar", reason: bundle.ReasonLink},
		{name: "no schema", drop: "schema.cedarschema", reason: bundle.ReasonLayout},
		{name: "no policy", drop: "policies/a.cedar", reason: bundle.ReasonLayout},
		{name: "too large", extra: map[string]string{"policies/big.cedar": strings.Repeat("x", bundle.DefaultMaxEntry+1)}, reason: bundle.ReasonTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, base)
			write(t, dir, tc.extra)
			if tc.link != "" {
				if err := os.Symlink(filepath.Join(dir, "schema.cedarschema"), filepath.Join(dir, tc.link)); err != nil {
					t.Skip(err)
				}
			}
			if tc.drop != "" {
				os.Remove(filepath.Join(dir, tc.drop))
			}
			_, err := bundle.ReadDir(dir)
			if got := bundle.ReasonOf(err); got != tc.reason {
				t.Fatalf("ReadDir: %v (reason %q), want reason %q", err, got, tc.reason)
			}
		})
	}
	if _, err := bundle.ReadDir(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("ReadDir of an absent directory succeeded")
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestFS(t *testing.T) {
	data := build(t, srcFiles(t), newKey(t, "EdDSA", "k"), "v1")
	b, err := bundle.Open(data, bundle.OpenOptions{InsecureAllowUnsigned: true, Keys: nil})
	if err == nil || bundle.ReasonOf(err) != bundle.ReasonUntrustedKey {
		t.Fatalf("Open with no keys: %v, want untrusted_key", err)
	}
	key := newKey(t, "EdDSA", "k2")
	b, err = bundle.Open(build(t, srcFiles(t), key, "v1"), bundle.OpenOptions{Keys: []*jwk.Key{public(t, key)}})
	if err != nil {
		t.Fatal(err)
	}
	fsys := b.FS()
	if err := fstest.TestFS(fsys, "entities.json", "policies/invoke.cedar", "schema.cedarschema"); err != nil {
		t.Fatal(err)
	}
	got, err := fs.Glob(fsys, "policies/*.cedar")
	if err != nil || len(got) != 1 || got[0] != "policies/invoke.cedar" {
		t.Errorf("Glob = %v, %v", got, err)
	}
	if _, err := fs.ReadFile(fsys, ".manifest.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the manifest is visible in FS: %v", err)
	}
}

// gzipOf compresses raw bytes.
func gzipOf(t testing.TB, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := gz.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bomb returns a tar.gz with one entry header claiming size bytes of zeros,
// streamed so that the test does not hold them in memory twice.
func bomb(t testing.TB, name string, size int64, entries int) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	zeros := make([]byte, 1<<20)
	for i := range entries {
		n := name
		if entries > 1 {
			n = strings.Replace(name, ".cedar", "-"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".cedar", 1)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Size: size, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		for left := size; left > 0; {
			k := min(left, int64(len(zeros)))
			if _, err := tw.Write(zeros[:k]); err != nil {
				t.Fatal(err)
			}
			left -= k
		}
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// refusal is one bundle that Open must refuse.
type refusal struct {
	name   string
	data   []byte
	reason bundle.Reason
	path   string // the Path of the *Error, when it names one
}

// refusals returns the malicious and broken bundles of the acceptance list
// and more, each derived from a good bundle signed by key (trusted).
func refusals(t testing.TB, key *jwk.Key) (good []byte, cases []refusal) {
	files := srcFiles(t)
	good = build(t, files, key, "v1")
	untrusted := newKey(t, "EdDSA", "intruder")
	sameKidOtherKey := newKey(t, "EdDSA", key.KeyID)
	var manifest []byte
	for _, e := range unpack(t, good) {
		if e.hdr.Name == bundle.ManifestPath {
			manifest = e.body
		}
	}
	m := func(f func([]entry) []entry) []byte { return mutate(t, good, f) }
	sigWith := func(f func(*jose.SignerOptions) *jose.SignerOptions) func([]entry) []entry {
		return edit(bundle.SignaturePath, func([]byte) []byte {
			return joseSign(t, key, jose.EdDSA, manifest, f(&jose.SignerOptions{}))
		})
	}
	rawSig := func(header string, sig []byte) func([]entry) []entry {
		return edit(bundle.SignaturePath, func([]byte) []byte {
			return []byte(base64.RawURLEncoding.EncodeToString([]byte(header)) + ".." + base64.RawURLEncoding.EncodeToString(sig))
		})
	}
	hmacOverPublic := func() []byte {
		// The RS256->HS256 confusion: an HMAC signature keyed with the
		// public key's bytes.
		hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + key.KeyID + `","typ":"warden-bundle+jws"}`))
		method, _ := jwk.SigningMethod("HS256")
		secret := []byte(public(t, key).Key.(ed25519.PublicKey))
		s, err := method.Sign(hdr+"."+base64.RawURLEncoding.EncodeToString(manifest), secret)
		if err != nil {
			t.Fatal(err)
		}
		return []byte(hdr + ".." + base64.RawURLEncoding.EncodeToString(s))
	}
	cases = []refusal{
		// Content and signature tampering.
		{"policy byte changed", m(edit("policies/invoke.cedar", flipByte(20))), bundle.ReasonDigest, "policies/invoke.cedar"},
		{"policy grew", m(edit("policies/invoke.cedar", func(b []byte) []byte { return append(b, '\n') })), bundle.ReasonDigest, "policies/invoke.cedar"},
		{"schema byte changed", m(edit("schema.cedarschema", flipByte(3))), bundle.ReasonDigest, "schema.cedarschema"},
		{"manifest byte changed", m(edit(bundle.ManifestPath, flipByte(30))), bundle.ReasonSignature, bundle.SignaturePath},
		{"manifest digest changed", m(edit(bundle.ManifestPath, func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"sha256": "`)) + len(`"sha256": "`)
			b[i] ^= 1
			return b
		})), bundle.ReasonSignature, bundle.SignaturePath},
		{"signature byte changed", m(edit(bundle.SignaturePath, flipByte(-10))), bundle.ReasonSignature, bundle.SignaturePath},
		{"signature header byte changed", m(edit(bundle.SignaturePath, flipByte(5))), bundle.ReasonSignature, bundle.SignaturePath},
		{"signature truncated", m(edit(bundle.SignaturePath, func(b []byte) []byte { return b[:len(b)-4] })), bundle.ReasonSignature, bundle.SignaturePath},
		{"signature with padding", m(edit(bundle.SignaturePath, func(b []byte) []byte { return append(b, '=') })), bundle.ReasonSignature, bundle.SignaturePath},
		{"signature with newline", m(edit(bundle.SignaturePath, func(b []byte) []byte { return append(b, '\n') })), bundle.ReasonSignature, bundle.SignaturePath},
		{"signature not detached", m(edit(bundle.SignaturePath, func(b []byte) []byte {
			i := bytes.Index(b, []byte(".."))
			return append(append(b[:i+1:i+1], base64.RawURLEncoding.EncodeToString(manifest)...), b[i+1:]...)
		})), bundle.ReasonSignature, bundle.SignaturePath},
		{"unsigned", m(remove(bundle.SignaturePath)), bundle.ReasonUnsigned, bundle.SignaturePath},
		{"empty signature", m(edit(bundle.SignaturePath, func([]byte) []byte { return nil })), bundle.ReasonSignature, bundle.SignaturePath},
		{"untrusted key", build(t, files, untrusted, "v1"), bundle.ReasonUntrustedKey, bundle.SignaturePath},
		{"same kid, other key", build(t, files, sameKidOtherKey, "v1"), bundle.ReasonSignature, bundle.SignaturePath},
		{"alg none", m(rawSig(`{"alg":"none","kid":"`+key.KeyID+`","typ":"warden-bundle+jws"}`, []byte{0})), bundle.ReasonSignature, bundle.SignaturePath},
		{"alg none empty sig", m(edit(bundle.SignaturePath, func([]byte) []byte {
			return []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+key.KeyID+`","typ":"warden-bundle+jws"}`)) + "..")
		})), bundle.ReasonSignature, bundle.SignaturePath},
		{"HS256 keyed with the public key", m(edit(bundle.SignaturePath, func([]byte) []byte { return hmacOverPublic() })), bundle.ReasonUntrustedKey, bundle.SignaturePath},
		{"header with crit", m(sigWith(func(o *jose.SignerOptions) *jose.SignerOptions {
			return o.WithHeader("exp", 1).WithCritical("exp")
		})), bundle.ReasonSignature, bundle.SignaturePath},
		{"header with b64 false", m(sigWith(func(o *jose.SignerOptions) *jose.SignerOptions { return o.WithBase64(false) })), bundle.ReasonSignature, bundle.SignaturePath},
		{"header with jku", m(sigWith(func(o *jose.SignerOptions) *jose.SignerOptions {
			return o.WithHeader("jku", "https://evil.example/jwks")
		})), bundle.ReasonSignature, bundle.SignaturePath},
		{"header typ wrong", m(edit(bundle.SignaturePath, func([]byte) []byte {
			signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key.SigningKey()}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
			obj, _ := signer.Sign(manifest)
			s, _ := obj.DetachedCompactSerialize()
			return []byte(s)
		})), bundle.ReasonSignature, bundle.SignaturePath},
		{"header duplicate alg", m(rawSig(`{"alg":"EdDSA","alg":"none","kid":"`+key.KeyID+`","typ":"warden-bundle+jws"}`, []byte{1})), bundle.ReasonSignature, bundle.SignaturePath},

		// Manifest strictness (validly signed, so the manifest parser is reached).
		{"manifest unknown field", m(resign(t, key, replace(`"version": 1`, `"version": 1, "extra": true`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest duplicate field", m(resign(t, key, replace(`"version": 1`, `"version": 1, "revision": "v2"`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest case variant", m(resign(t, key, replace(`"version": 1`, `"Version": 1`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest null", m(resign(t, key, replace(`"revision": "v1"`, `"revision": null`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest version 2", m(resign(t, key, replace(`"version": 1`, `"version": 2`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest trailing data", m(resign(t, key, func(b []byte) []byte { return append(b, "{}"...) })), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest not JSON", m(resign(t, key, func([]byte) []byte { return []byte("hello") })), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest bad revision", m(resign(t, key, replace(`"revision": "v1"`, `"revision": "v1\n"`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest path traversal", m(resign(t, key, replace(`"path": "entities.json"`, `"path": "../entities.json"`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest lists the manifest", m(resign(t, key, replace(`"path": "entities.json"`, `"path": ".manifest.json"`))), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest uppercase digest", m(resign(t, key, func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"sha256": "`)) + len(`"sha256": "`)
			copy(b[i:i+64], bytes.ToUpper(b[i:i+64]))
			return b
		})), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest negative size", m(resign(t, key, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"size": `, `"size": -`, 1))
		})), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest lists a file twice", m(resign(t, key, func(b []byte) []byte {
			s := string(b)
			i := strings.Index(s, `    {`)
			j := strings.Index(s[i:], `},`) + i + 2
			return []byte(s[:i] + s[i:j] + "\n" + s[i:])
		})), bundle.ReasonManifest, bundle.ManifestPath},
		{"manifest wrong digest", m(resign(t, key, func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"sha256": "`)) + len(`"sha256": "`)
			if b[i] == '0' {
				b[i] = '1'
			} else {
				b[i] = '0'
			}
			return b
		})), bundle.ReasonDigest, "entities.json"},
		{"manifest wrong size", m(resign(t, key, func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"size": `, `"size": 1`, 1))
		})), bundle.ReasonDigest, "entities.json"},
		{"no manifest", m(remove(bundle.ManifestPath)), bundle.ReasonManifest, bundle.ManifestPath},

		// Files against the manifest.
		{"extra file", m(add(regular("policies/extra.cedar", []byte("permit(principal,action,resource);")))), bundle.ReasonUnlistedFile, "policies/extra.cedar"},
		{"extra test file", m(add(regular("tests/extra.yaml", []byte("cases: []")))), bundle.ReasonUnlistedFile, "tests/extra.yaml"},
		{"missing file", m(remove("policies/invoke.cedar")), bundle.ReasonMissingFile, "policies/invoke.cedar"},
		{"missing entities", m(remove("entities.json")), bundle.ReasonMissingFile, "entities.json"},

		// Archive structure.
		{"traversal ../x", m(add(regular("../x", []byte("x")))), bundle.ReasonPath, "../x"},
		{"traversal policies/../../x", m(add(regular("policies/../../x.cedar", []byte("x")))), bundle.ReasonPath, "policies/../../x.cedar"},
		{"absolute /etc/passwd", m(add(regular("/etc/passwd", []byte("root:x:0:0")))), bundle.ReasonPath, "/etc/passwd"},
		{"dot prefix", m(add(regular("./schema.cedarschema", []byte("x")))), bundle.ReasonPath, "./schema.cedarschema"},
		{"double slash", m(add(regular("policies//a.cedar", []byte("x")))), bundle.ReasonPath, "policies//a.cedar"},
		{"backslash", m(add(regular(`policies\..\..\x.cedar`, []byte("x")))), bundle.ReasonPath, ""},
		{"outside the layout", m(add(regular("README", []byte("x")))), bundle.ReasonPath, "README"},
		{"nested policy dir", m(add(regular("policies/sub/a.cedar", []byte("x")))), bundle.ReasonPath, "policies/sub/a.cedar"},
		{"hidden policy", m(add(regular("policies/.a.cedar", []byte("x")))), bundle.ReasonPath, "policies/.a.cedar"},
		{"duplicate entry", m(add(regular("policies/invoke.cedar", []byte("permit(principal,action,resource);")))), bundle.ReasonPath, "policies/invoke.cedar"},
		{"symlink", m(add(entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "policies/evil.cedar", Linkname: "/etc/passwd"}})), bundle.ReasonLink, "policies/evil.cedar"},
		{"symlink replacing a file", m(func(es []entry) []entry {
			es = remove("entities.json")(es)
			return append(es, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "entities.json", Linkname: "../../../etc/passwd"}})
		}), bundle.ReasonLink, "entities.json"},
		{"hardlink", m(add(entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "policies/evil.cedar", Linkname: "schema.cedarschema"}})), bundle.ReasonLink, "policies/evil.cedar"},
		{"directory entry", m(add(entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "policies/", Mode: 0o755}})), bundle.ReasonPath, "policies/"},
		{"device", m(add(entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "policies/tty.cedar", Devmajor: 5}})), bundle.ReasonFormat, "policies/tty.cedar"},
		{"fifo", m(add(entry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "policies/p.cedar"}})), bundle.ReasonFormat, "policies/p.cedar"},
		{"oversized entry", m(add(regular("policies/big.cedar", make([]byte, bundle.DefaultMaxEntry+1)))), bundle.ReasonTooLarge, "policies/big.cedar"},
		{"gzip bomb (one entry)", bomb(t, "policies/bomb.cedar", 64<<20, 1), bundle.ReasonTooLarge, "policies/bomb.cedar"},
		{"gzip bomb (many entries)", bomb(t, "policies/bomb.cedar", bundle.DefaultMaxEntry, 5), bundle.ReasonTooLarge, ""},
		{"gzip bomb (zeros)", gzipOf(t, make([]byte, 40<<20)), bundle.ReasonTooLarge, ""},
		{"too many entries", m(func(es []entry) []entry {
			for i := range bundle.DefaultMaxEntries {
				es = append(es, regular("tests/t"+strings.Repeat("1", 1+i/50)+string(rune('a'+i%50/2))+string(rune('a'+i%2))+".yaml", nil))
			}
			return es
		}), bundle.ReasonTooLarge, ""},
		{"compressed too large", append(gzipOf(t, []byte("x")), make([]byte, bundle.DefaultMaxCompressed)...), bundle.ReasonTooLarge, ""},
		{"not gzip", []byte("PK\x03\x04 not a tar.gz"), bundle.ReasonFormat, ""},
		{"empty", nil, bundle.ReasonFormat, ""},
		{"gzip of garbage", gzipOf(t, bytes.Repeat([]byte("garbage!"), 200)), bundle.ReasonFormat, ""},
		{"trailing garbage", gzipOf(t, append(unzip(t, good), "junk"...)), bundle.ReasonFormat, ""},
		{"truncated", good[:len(good)/2], bundle.ReasonFormat, ""},
		{"bad gzip checksum", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-6] ^= 0xff // CRC-32 in the gzip trailer
			return b
		}(), bundle.ReasonFormat, ""},
	}
	return good, cases
}

func unzip(t testing.TB, data []byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(gz); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestOpenRefuses(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	good, cases := refusals(t, key)
	opt := bundle.OpenOptions{Keys: []*jwk.Key{public(t, key)}}
	if _, err := bundle.Open(good, opt); err != nil {
		t.Fatalf("Open(good): %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bundle.Open(tc.data, opt)
			if err == nil {
				t.Fatalf("Open succeeded (revision %q)", b.Manifest.Revision)
			}
			if b != nil {
				t.Error("Open returned a bundle with its error")
			}
			var be *bundle.Error
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *bundle.Error", err)
			}
			if be.Reason != tc.reason {
				t.Errorf("reason = %q, want %q (%v)", be.Reason, tc.reason, err)
			}
			if tc.path != "" && be.Path != tc.path {
				t.Errorf("path = %q, want %q (%v)", be.Path, tc.path, err)
			}
			if msg := err.Error(); strings.ContainsAny(msg, "\n\r") {
				t.Errorf("message is not one line: %q", msg)
			}
		})
	}
}

func TestOpenKeySelection(t *testing.T) {
	files := srcFiles(t)
	ed := newKey(t, "EdDSA", "ed")
	es := newKey(t, "ES256", "es")
	data := build(t, files, ed, "v1")
	pinnedOther := public(t, ed)
	pinnedOther.Alg = "ES256" // a key pinned to another alg does not serve EdDSA
	noKid := public(t, ed)
	noKid.KeyID = "" // selected by thumbprint
	tp, _ := ed.Thumbprint()
	noKidSigner := *ed
	noKidSigner.KeyID = ""
	byThumbprint := build(t, files, &noKidSigner, "v1")
	unpinned := public(t, ed)
	unpinned.Alg = ""
	hmacConfusion := mutate(t, data, edit(bundle.SignaturePath, func([]byte) []byte {
		var manifest []byte
		for _, e := range unpack(t, data) {
			if e.hdr.Name == bundle.ManifestPath {
				manifest = e.body
			}
		}
		hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"ed","typ":"warden-bundle+jws"}`))
		method, _ := jwk.SigningMethod("HS256")
		s, err := method.Sign(hdr+"."+base64.RawURLEncoding.EncodeToString(manifest), []byte(unpinned.Key.(ed25519.PublicKey)))
		if err != nil {
			t.Fatal(err)
		}
		return []byte(hdr + ".." + base64.RawURLEncoding.EncodeToString(s))
	}))
	for _, tc := range []struct {
		name   string
		data   []byte
		opt    bundle.OpenOptions
		reason bundle.Reason
	}{
		{"among several", data, bundle.OpenOptions{Keys: []*jwk.Key{public(t, es), public(t, ed)}}, ""},
		{"private key given", data, bundle.OpenOptions{Keys: []*jwk.Key{ed}}, ""},
		{"alg not allowed", data, bundle.OpenOptions{Keys: []*jwk.Key{public(t, ed)}, Algorithms: []string{"ES256"}}, bundle.ReasonSignature},
		{"alg allowed", data, bundle.OpenOptions{Keys: []*jwk.Key{public(t, ed)}, Algorithms: []string{"EdDSA"}}, ""},
		{"key pinned to another alg", data, bundle.OpenOptions{Keys: []*jwk.Key{pinnedOther}}, bundle.ReasonUntrustedKey},
		{"other kid", data, bundle.OpenOptions{Keys: []*jwk.Key{public(t, es)}}, bundle.ReasonUntrustedKey},
		{"no keys", data, bundle.OpenOptions{}, bundle.ReasonUntrustedKey},
		{"nil key", data, bundle.OpenOptions{Keys: []*jwk.Key{nil}}, bundle.ReasonUntrustedKey},
		{"kid-less key by thumbprint", byThumbprint, bundle.OpenOptions{Keys: []*jwk.Key{noKid}}, ""},
		{"HS256 keyed with the public key, key without alg", hmacConfusion, bundle.OpenOptions{Keys: []*jwk.Key{unpinned}}, bundle.ReasonUntrustedKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := bundle.Open(tc.data, tc.opt)
			if got := bundle.ReasonOf(err); got != tc.reason {
				t.Fatalf("Open: %v (reason %q), want reason %q", err, got, tc.reason)
			}
			if err == nil && tc.name == "kid-less key by thumbprint" && b.KeyID != tp {
				t.Errorf("KeyID = %q, want the thumbprint %q", b.KeyID, tp)
			}
		})
	}
}

func TestOpenLimits(t *testing.T) {
	key := newKey(t, "EdDSA", "k")
	data := build(t, srcFiles(t), key, "v1")
	opt := func(l bundle.Limits) bundle.OpenOptions {
		return bundle.OpenOptions{Keys: []*jwk.Key{public(t, key)}, Limits: l}
	}
	for _, tc := range []struct {
		name   string
		limits bundle.Limits
		reason bundle.Reason
	}{
		{"defaults", bundle.Limits{}, ""},
		{"compressed", bundle.Limits{MaxCompressed: int64(len(data) - 1)}, bundle.ReasonTooLarge},
		{"entry", bundle.Limits{MaxEntry: 100}, bundle.ReasonTooLarge},
		{"total", bundle.Limits{MaxTotal: 500}, bundle.ReasonTooLarge},
		{"entries", bundle.Limits{MaxEntries: 4}, bundle.ReasonTooLarge},
		{"exact entries", bundle.Limits{MaxEntries: 5}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bundle.Open(data, opt(tc.limits))
			if got := bundle.ReasonOf(err); got != tc.reason {
				t.Fatalf("Open: %v, want reason %q", err, tc.reason)
			}
		})
	}
}
