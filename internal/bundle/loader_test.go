package bundle_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/bundle"
	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/policy"
)

// served wires a real policy engine to a loader the way the gateway does.
type served struct {
	eng     *policy.Engine
	applied atomic.Int32
}

func newServed(t testing.TB) *served {
	t.Helper()
	eng, err := policy.New(policy.Config{Clock: func() time.Time { return testCreated }})
	if err != nil {
		t.Fatal(err)
	}
	return &served{eng: eng}
}

func (s *served) apply(ctx context.Context, b *bundle.Bundle) error {
	s.applied.Add(1)
	rev, digest := b.Meta()
	return s.eng.Load(ctx, b.FS(), policy.Meta{Revision: rev, Digest: digest})
}

// decide asks the engine a question the test bundle allows.
func (s *served) decide(ctx context.Context) policy.Decision {
	return s.eng.Decide(ctx, policy.Request{
		Principal: &authn.Principal{Issuer: "https://issuer.test", Subject: "alice", ClientID: "web", Roles: []string{"evaluator"}},
		Action:    "model:invoke",
		Resource:  policy.Resource{Type: "Model", ID: "gpt-4o"},
	})
}

// checkServing asserts that the engine allows the test question from rev.
func (s *served) checkServing(t testing.TB, rev, digest string) {
	t.Helper()
	d := s.decide(context.Background())
	if !d.Allowed || d.Revision != rev || d.Digest != digest {
		t.Fatalf("decision: allowed %v from %q (%s), errors %v; want allowed from %q (%s)", d.Allowed, d.Revision, d.Digest, d.Errors, rev, digest)
	}
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func digestOf(t testing.TB, data []byte, key *jwk.Key) string {
	t.Helper()
	b, err := bundle.Open(data, bundle.OpenOptions{Keys: []*jwk.Key{key}})
	if err != nil {
		t.Fatal(err)
	}
	return b.Digest
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// policyRefusals are bundles that verify but that the engine refuses.
func policyRefusals(t testing.TB, key *jwk.Key) []refusal {
	files := srcFiles(t)
	with := func(name, body string) map[string][]byte {
		out := withRevision(files, "bad")
		out[name] = []byte(body)
		return out
	}
	return []refusal{
		{name: "invalid Cedar", data: build(t, with("policies/broken.cedar", "permit (\n  principal,\n  action ==\n);\n"), key, "bad"), path: "policies/broken.cedar:"},
		{name: "schema violation: unknown attribute", data: build(t, with("policies/attr.cedar",
			"permit (principal, action == Action::\"model:invoke\", resource)\nwhen { resource.price < 10 };\n"), key, "bad"), path: "policies/attr.cedar:"},
		{name: "schema violation: unknown action", data: build(t, with("policies/action.cedar",
			"// comment\npermit (principal, action == Action::\"model:delete\", resource);\n"), key, "bad"), path: "policies/action.cedar:2"},
		{name: "schema violation: unknown entity type", data: build(t, with("policies/type.cedar",
			"permit (principal in Group::\"x\", action, resource);\n"), key, "bad"), path: "policies/type.cedar:"},
		{name: "bad entities", data: build(t, with("entities.json", `[{"uid":{"type":"Model","id":"m"},"attrs":{"tier":7},"parents":[]}]`), key, "bad"), path: "entities.json"},
	}
}

// TestLoaderRefusalsKeepLastGood feeds the loader every refused bundle after a
// good one: each is refused with its reason and the good one keeps deciding.
func TestLoaderRefusalsKeepLastGood(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	good, cases := refusals(t, key)
	cases = append(cases, policyRefusals(t, key)...)
	goodDigest := digestOf(t, good, key)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bundle.tar.gz")
			writeFile(t, path, good)
			s := newServed(t)
			var failed []error
			l, err := bundle.NewLoader(bundle.LoaderConfig{Path: path, Keys: []*jwk.Key{public(t, key)}},
				s.apply, func(err error) { failed = append(failed, err); s.eng.Fail(err) })
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := l.Reload(ctx); err != nil {
				t.Fatalf("first load: %v", err)
			}
			s.checkServing(t, "v1", goodDigest)

			writeFile(t, path, tc.data)
			err = l.Reload(ctx)
			if err == nil {
				t.Fatal("bad bundle loaded")
			}
			if strings.ContainsAny(err.Error(), "\n") && tc.reason != "" {
				t.Errorf("error is not one line: %q", err)
			}
			if tc.reason != "" {
				// Refused by Open: apply never ran, fail was told.
				if got := bundle.ReasonOf(err); got != tc.reason {
					t.Errorf("reason = %q, want %q (%v)", got, tc.reason, err)
				}
				if s.applied.Load() != 1 {
					t.Errorf("apply ran %d times, want once (only for the good bundle)", s.applied.Load())
				}
				if len(failed) != 1 || !errors.Is(failed[0], err) && failed[0].Error() != err.Error() {
					t.Errorf("fail got %v, want [%v]", failed, err)
				}
			} else {
				// Refused by the engine: a compile error naming file and line.
				var ce *policy.CompileError
				if !errors.As(err, &ce) {
					t.Fatalf("error %v is not a *policy.CompileError", err)
				}
				if !strings.Contains(err.Error(), tc.path) {
					t.Errorf("error %q does not name %q", err, tc.path)
				}
				if len(failed) != 0 {
					t.Errorf("fail called for an apply error (the engine records those): %v", failed)
				}
			}
			st := s.eng.Status()
			if !st.Loaded || st.Revision != "v1" || st.LastError == "" || st.Failures != 1 {
				t.Errorf("engine status = %+v; want v1 loaded, the failure recorded once", st)
			}
			ls := l.Status()
			if ls.Revision != "v1" || ls.LastError == "" || ls.LastReason != tc.reason || ls.Failures != 1 {
				t.Errorf("loader status = %+v", ls)
			}
			s.checkServing(t, "v1", goodDigest)

			// The same bad bytes again are not re-verified by polling.
			for range 3 {
				writeFile(t, path, tc.data)
			}
			// And the good bundle comes back.
			writeFile(t, path, good)
			if err := l.Reload(ctx); err != nil {
				t.Fatalf("reload of the good bundle: %v", err)
			}
			if ls := l.Status(); ls.LastError != "" || ls.Failures != 0 {
				t.Errorf("status after recovery = %+v", ls)
			}
			s.checkServing(t, "v1", goodDigest)
		})
	}
}

// TestLoaderNoGoodBundle: a loader whose first bundle is bad leaves the
// engine denying everything.
func TestLoaderNoGoodBundle(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	writeFile(t, path, build(t, srcFiles(t), newKey(t, "EdDSA", "intruder"), "v1"))
	s := newServed(t)
	l, err := bundle.NewLoader(bundle.LoaderConfig{Path: path, Keys: []*jwk.Key{public(t, key)}}, s.apply, s.eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(context.Background()); bundle.ReasonOf(err) != bundle.ReasonUntrustedKey {
		t.Fatalf("Reload: %v, want untrusted_key", err)
	}
	if d := s.decide(context.Background()); d.Allowed {
		t.Fatalf("allowed with no good bundle: %+v", d)
	}
	if st := s.eng.Status(); st.Loaded || st.LastError == "" {
		t.Errorf("engine status = %+v", st)
	}
	if st := l.Status(); st.Loaded {
		t.Errorf("loader status = %+v", st)
	}
	// An absent file is a fetch failure.
	os.Remove(path)
	if err := l.Reload(context.Background()); bundle.ReasonOf(err) != bundle.ReasonFetch {
		t.Fatalf("Reload of an absent file: %v, want fetch", err)
	}
}

func TestLoaderFileHotReload(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	files := srcFiles(t)
	v1 := build(t, withRevision(files, "1"), key, "v1")
	v2 := build(t, withRevision(files, "2"), key, "v2")
	v3 := build(t, withRevision(files, "3"), key, "v3")
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	writeFile(t, path, v1)
	s := newServed(t)
	l, err := bundle.NewLoader(bundle.LoaderConfig{Path: path, Keys: []*jwk.Key{public(t, key)}, PollInterval: 10 * time.Millisecond}, s.apply, s.eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	revision := func() string { return s.decide(ctx).Revision }
	eventually(t, "v1", func() bool { return revision() == "v1" })

	// Unchanged: no new apply.
	time.Sleep(50 * time.Millisecond)
	if n := s.applied.Load(); n != 1 {
		t.Errorf("apply ran %d times for an unchanged file", n)
	}
	writeFile(t, path, v2) // atomic replace
	eventually(t, "v2", func() bool { return revision() == "v2" })
	s.checkServing(t, "v2", digestOf(t, v2, key))

	// Rewritten in place (the loader may catch it half-written; it must
	// still end on v3).
	if err := os.WriteFile(path, v3, 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, "v3", func() bool { return revision() == "v3" })
	if st := l.Status(); st.Revision != "v3" || !st.Loaded {
		t.Errorf("status = %+v", st)
	}
	if err := l.Run(ctx); err == nil {
		t.Error("a second Run while running succeeded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel", err)
	}
}

// bundleServer serves a bundle with an ETag and counts what happens.
type bundleServer struct {
	mu          sync.Mutex
	data        []byte
	etag        string
	status      int // when non-zero, answer this instead
	requests    int
	notModified int
}

func (b *bundleServer) set(data []byte, etag string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data, b.etag = data, etag
}

func (b *bundleServer) fail(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status = status
}

func (b *bundleServer) counts() (requests, notModified int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests, b.notModified
}

func (b *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requests++
	if b.status != 0 {
		http.Error(w, "unavailable", b.status)
		return
	}
	if b.etag != "" {
		w.Header().Set("ETag", b.etag)
		if r.Header.Get("If-None-Match") == b.etag {
			b.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(b.data)
}

func TestLoaderHTTPETag(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	files := srcFiles(t)
	v1 := build(t, withRevision(files, "1"), key, "v1")
	v2 := build(t, withRevision(files, "2"), key, "v2")
	srv := &bundleServer{}
	srv.set(v1, `"v1-etag"`)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	s := newServed(t)
	l, err := bundle.NewLoader(bundle.LoaderConfig{URL: ts.URL + "/bundle.tar.gz", Keys: []*jwk.Key{public(t, key)},
		PollInterval: 10 * time.Millisecond, HTTPClient: ts.Client()}, s.apply, s.eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	eventually(t, "v1", func() bool { return s.decide(ctx).Revision == "v1" })
	eventually(t, "three 304s", func() bool { _, nm := srv.counts(); return nm >= 3 })
	if n := s.applied.Load(); n != 1 {
		t.Errorf("apply ran %d times; 304 must not reload", n)
	}
	if st := l.Status(); st.ETag != `"v1-etag"` || st.Revision != "v1" || st.LastError != "" {
		t.Errorf("status = %+v", st)
	}

	srv.set(v2, `"v2-etag"`)
	eventually(t, "v2", func() bool { return s.decide(ctx).Revision == "v2" })
	s.checkServing(t, "v2", digestOf(t, v2, key))
	eventually(t, "etag v2", func() bool { return l.Status().ETag == `"v2-etag"` })

	// A bad bundle under a new ETag is refused once; v2 keeps serving.
	srv.set(mutate(t, v1, edit("policies/invoke.cedar", flipByte(5))), `"bad-etag"`)
	eventually(t, "the refusal", func() bool { return l.Status().LastReason == bundle.ReasonDigest })
	_, nm := srv.counts()
	eventually(t, "304s for the bad bundle", func() bool { _, n := srv.counts(); return n >= nm+3 })
	if st := s.eng.Status(); st.Failures != 1 || st.Revision != "v2" {
		t.Errorf("engine status = %+v; want one failure, v2 serving", st)
	}
	s.checkServing(t, "v2", digestOf(t, v2, key))
}

// TestLoaderHTTPBackoff drives the loader with Reload and an injected clock
// and jitter, and reads the schedule from Status.NextAttempt.
func TestLoaderHTTPBackoff(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	good := build(t, srcFiles(t), key, "v1")
	srv := &bundleServer{}
	srv.set(good, "")
	srv.fail(http.StatusInternalServerError)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	now := testCreated
	s := newServed(t)
	l, err := bundle.NewLoader(bundle.LoaderConfig{
		URL: ts.URL, Keys: []*jwk.Key{public(t, key)}, HTTPClient: ts.Client(),
		PollInterval: time.Minute, MinBackoff: time.Second, MaxBackoff: 10 * time.Second,
		Clock:  func() time.Time { return now },
		Jitter: func() float64 { return 0.5 },
	}, s.apply, s.eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Delay after n failures: 2^(n-1) s capped at 10 s, drawn at 3/4 (jitter 0.5 of the upper half).
	for i, want := range []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 7500 * time.Millisecond, 7500 * time.Millisecond} {
		err := l.Reload(ctx)
		if bundle.ReasonOf(err) != bundle.ReasonFetch || !strings.Contains(err.Error(), "500") {
			t.Fatalf("attempt %d: %v, want a fetch error naming the 500", i+1, err)
		}
		st := l.Status()
		if got := st.NextAttempt.Sub(now); got != want {
			t.Errorf("attempt %d: next attempt in %v, want %v", i+1, got, want)
		}
		if st.Failures != i+1 || st.LastErrorAt != now {
			t.Errorf("attempt %d: status = %+v", i+1, st)
		}
		now = now.Add(time.Second)
	}
	if st := s.eng.Status(); st.Failures != 6 || st.Loaded {
		t.Errorf("engine status = %+v; want 6 failures recorded, nothing loaded", st)
	}
	srv.fail(0)
	if err := l.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	// Back to the poll interval (±10%, jitter 0.5 = exactly the interval).
	if st := l.Status(); st.NextAttempt.Sub(now) != time.Minute || st.Failures != 0 || st.Revision != "v1" || st.LastSuccess != now {
		t.Errorf("status after recovery = %+v", st)
	}
	srv.fail(http.StatusServiceUnavailable)
	if err := l.Reload(ctx); err == nil {
		t.Fatal("503 not an error")
	}
	if st := l.Status(); st.NextAttempt.Sub(now) != 750*time.Millisecond {
		t.Errorf("backoff did not restart: next attempt in %v", st.NextAttempt.Sub(now))
	}
	s.checkServing(t, "v1", digestOf(t, good, key))
}

func TestLoaderHTTPLimits(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	good := build(t, srcFiles(t), key, "v1")
	big := make([]byte, 4096)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		reason  bundle.Reason
	}{
		{"too large with length", func(w http.ResponseWriter, r *http.Request) { w.Write(big) }, bundle.ReasonTooLarge},
		{"too large chunked", func(w http.ResponseWriter, r *http.Request) {
			w.Write(big[:1000])
			w.(http.Flusher).Flush()
			w.Write(big[1000:])
		}, bundle.ReasonTooLarge},
		{"304 without If-None-Match", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) }, bundle.ReasonFetch},
		{"404", http.NotFound, bundle.ReasonFetch},
		{"redirect to plain http elsewhere", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://bundles.example/b.tar.gz", http.StatusFound)
		}, bundle.ReasonFetch},
		{"fine", func(w http.ResponseWriter, r *http.Request) { w.Write(good) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(tc.handler)
			defer ts.Close()
			l, err := bundle.NewLoader(bundle.LoaderConfig{URL: ts.URL, Keys: []*jwk.Key{public(t, key)},
				Limits: bundle.Limits{MaxCompressed: 2048}}, func(context.Context, *bundle.Bundle) error { return nil }, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = l.Reload(context.Background())
			if got := bundle.ReasonOf(err); got != tc.reason {
				t.Fatalf("Reload: %v, want reason %q", err, tc.reason)
			}
		})
	}
}

func TestLoaderHTTPS(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	good := build(t, srcFiles(t), key, "v1")
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(good) }))
	defer ts.Close()
	s := newServed(t)
	l, err := bundle.NewLoader(bundle.LoaderConfig{URL: ts.URL, Keys: []*jwk.Key{public(t, key)}, HTTPClient: ts.Client()}, s.apply, s.eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.checkServing(t, "v1", digestOf(t, good, key))
	// Without the test CA the server is not trusted.
	l2, err := bundle.NewLoader(bundle.LoaderConfig{URL: ts.URL, Keys: []*jwk.Key{public(t, key)}}, s.apply, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Reload(context.Background()); bundle.ReasonOf(err) != bundle.ReasonFetch {
		t.Fatalf("untrusted TLS server: %v", err)
	}
}

func TestNewLoaderRefuses(t *testing.T) {
	key := public(t, newKey(t, "EdDSA", "k"))
	keys := []*jwk.Key{key}
	apply := func(context.Context, *bundle.Bundle) error { return nil }
	for _, tc := range []struct {
		name  string
		cfg   bundle.LoaderConfig
		apply func(context.Context, *bundle.Bundle) error
	}{
		{"no source", bundle.LoaderConfig{Keys: keys}, apply},
		{"two sources", bundle.LoaderConfig{Path: "b.tar.gz", URL: "https://x.example/b", Keys: keys}, apply},
		{"no keys", bundle.LoaderConfig{Path: "b.tar.gz"}, apply},
		{"no apply", bundle.LoaderConfig{Path: "b.tar.gz", Keys: keys}, nil},
		{"plain http", bundle.LoaderConfig{URL: "http://bundles.example/b.tar.gz", Keys: keys}, apply},
		{"plain http to a lookalike", bundle.LoaderConfig{URL: "http://127.0.0.1.example/b", Keys: keys}, apply},
		{"ftp", bundle.LoaderConfig{URL: "ftp://bundles.example/b", Keys: keys}, apply},
		{"no host", bundle.LoaderConfig{URL: "https:///b", Keys: keys}, apply},
		{"negative interval", bundle.LoaderConfig{Path: "b", Keys: keys, PollInterval: -1}, apply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := bundle.NewLoader(tc.cfg, tc.apply, nil); err == nil {
				t.Fatal("NewLoader succeeded")
			}
		})
	}
	for _, u := range []string{"http://127.0.0.1:8080/b", "http://[::1]/b", "http://localhost/b", "https://bundles.example/b"} {
		if _, err := bundle.NewLoader(bundle.LoaderConfig{URL: u, Keys: keys}, apply, nil); err != nil {
			t.Errorf("NewLoader(%s): %v", u, err)
		}
	}
	l, err := bundle.NewLoader(bundle.LoaderConfig{URL: "https://user:secret@bundles.example/b", Keys: keys}, apply, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src := l.Status().Source; strings.Contains(src, "secret") {
		t.Errorf("Status().Source %q shows the password", src)
	}
	// Unsigned bundles load only when asked for.
	data, _, err := bundle.Build(srcFiles(t), bundle.BuildOptions{Created: testCreated, InsecureUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.tar.gz")
	writeFile(t, path, data)
	for _, insecure := range []bool{false, true} {
		l, err := bundle.NewLoader(bundle.LoaderConfig{Path: path, Keys: keys, InsecureAllowUnsigned: insecure}, apply, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = l.Reload(context.Background())
		if (err == nil) != insecure {
			t.Errorf("InsecureAllowUnsigned=%v: Reload = %v", insecure, err)
		}
	}
}

// TestLoaderSwapRace runs Decide from several goroutines while the loader
// swaps bundles; run with -race. Every decision must come whole from one
// bundle: allowed, with a revision and the digest of that same revision.
func TestLoaderSwapRace(t *testing.T) {
	key := newKey(t, "EdDSA", "trusted")
	files := srcFiles(t)
	const n = 4
	var versions [n][]byte
	digests := map[string]string{}
	for i := range versions {
		rev := fmt.Sprintf("v%d", i)
		versions[i] = build(t, withRevision(files, rev), key, rev)
		digests[rev] = digestOf(t, versions[i], key)
	}
	path := filepath.Join(t.TempDir(), "bundle.tar.gz")
	writeFile(t, path, versions[0])
	s := newServed(t)
	l, err := bundle.NewLoader(bundle.LoaderConfig{Path: path, Keys: []*jwk.Key{public(t, key)}, PollInterval: time.Millisecond}, s.apply, s.eng.Fail)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { l.Run(ctx) })
	var decisions atomic.Int64
	errs := make(chan string, 8)
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d := s.decide(context.Background())
				decisions.Add(1)
				if !d.Allowed || digests[d.Revision] != d.Digest {
					select {
					case errs <- fmt.Sprintf("decision allowed=%v revision %q digest %s errors %v", d.Allowed, d.Revision, d.Digest, d.Errors):
					default:
					}
				}
			}
		})
	}
	for i := 1; i <= 40; i++ {
		writeFile(t, path, versions[i%n])
		rev := fmt.Sprintf("v%d", i%n)
		eventually(t, rev, func() bool { return s.eng.Status().Revision == rev })
		// Reload on demand races with Run's polling.
		if err := l.Reload(context.Background()); err != nil {
			t.Errorf("Reload: %v", err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if decisions.Load() == 0 {
		t.Error("no decisions ran")
	}
	if st := s.eng.Status(); st.Failures != 0 {
		t.Errorf("engine recorded failures during clean swaps: %+v", st)
	}
}
