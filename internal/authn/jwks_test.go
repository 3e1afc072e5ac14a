package authn

import (
	"context"
	"encoding/json"
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

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

// jwksServer serves a JWK Set that tests change, and counts requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	delay        time.Duration
}

func newJWKSServer(t *testing.T, tls bool, keys ...*jwk.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(t, keys...)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, cc, delay := s.body, s.status, s.cacheControl, s.delay
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

// setKeys serves the public halves of keys (HMAC keys as they are, to test
// that a fetched secret is ignored).
func (s *jwksServer) setKeys(t *testing.T, keys ...*jwk.Key) {
	t.Helper()
	set := &jwk.Set{}
	for _, k := range keys {
		if pub, err := k.Public(); err == nil {
			k = pub
		}
		set.Keys = append(set.Keys, k)
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.set(func() { s.body = body })
}

func (s *jwksServer) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// eventually polls cond for up to 5 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func genKey(t *testing.T, alg, kid string) *jwk.Key {
	t.Helper()
	k, err := jwk.Generate(alg, kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// longClaims are validClaims that stay valid for two days of fake time.
func longClaims() map[string]any {
	return withClaims(map[string]any{"exp": testNow.Add(48 * time.Hour).Unix()})
}

func mintWith(t *testing.T, k *jwk.Key, claims map[string]any) string {
	t.Helper()
	return testutil.MintJWT(t, map[string]any{"alg": k.Alg, "kid": k.KeyID, "typ": "at+jwt"}, claims, k.Alg, k.SigningKey())
}

// urlIssuer trusts testIssuer with keys from url: refresh bounds [1m, 1h],
// max stale 2h, unknown-kid cool-down 30s.
func urlIssuer(url string) IssuerConfig {
	return IssuerConfig{
		Issuer:             testIssuer,
		Audiences:          []string{testAudience},
		Algorithms:         []string{"ES256", "EdDSA", "HS256"},
		JWKSURL:            url,
		MinRefresh:         time.Minute,
		MaxRefresh:         time.Hour,
		MaxStale:           2 * time.Hour,
		UnknownKidCooldown: 30 * time.Second,
	}
}

func TestJWKSCacheControl(t *testing.T) {
	key := genKey(t, "ES256", "k1")
	for _, tc := range []struct {
		header string
		want   time.Duration // lifetime used
	}{
		{"max-age=600", 10 * time.Minute},
		{"public, max-age=600, must-revalidate", 10 * time.Minute},
		{"max-age=5", time.Minute},   // below MinRefresh
		{"max-age=86400", time.Hour}, // above MaxRefresh
		{"max-age=99999999999999999", time.Hour},
		{"no-store", time.Minute},
		{"no-cache", time.Minute},
		{"", time.Hour}, // no header: MaxRefresh
		{"max-age=abc", time.Hour},
		{"max-age=-5", time.Hour},
	} {
		t.Run(tc.header, func(t *testing.T) {
			srv := newJWKSServer(t, false, key)
			srv.set(func() { srv.cacheControl = tc.header })
			clock := testutil.NewClock(testNow)
			v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now})
			ks := v.issuers[testIssuer].keys.current.Load()
			if got := ks.staleAt.Sub(testNow) - 2*time.Hour; got != tc.want {
				t.Errorf("lifetime %s, want %s", got, tc.want)
			}
			if got, want := ks.refreshAt.Sub(testNow), tc.want*3/4; got != want {
				t.Errorf("refresh after %s, want %s", got, want)
			}
		})
	}
	h := http.Header{"Cache-Control": {"max-age=100"}, "Age": {"40"}}
	if got := cacheLifetime(h); got != 60*time.Second {
		t.Errorf("max-age=100 with Age 40: %s, want 1m0s", got)
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	key := genKey(t, "ES256", "k1")
	ctx := context.Background()

	t.Run("injected clock", func(t *testing.T) {
		srv := newJWKSServer(t, false, key)
		srv.set(func() { srv.cacheControl = "max-age=600" })
		clock := testutil.NewClock(testNow)
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now})
		tok := mintWith(t, key, validClaims())
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// Before three quarters of the lifetime: no refresh.
		clock.Advance(7 * time.Minute)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if n := srv.hits.Load(); n != 1 {
			t.Fatalf("%d fetches before the refresh time, want 1", n)
		}
		// After it, before expiry: refreshed in the background, and the
		// request that noticed is not held up.
		clock.Advance(1 * time.Minute)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		eventually(t, "background refresh", func() bool { return srv.hits.Load() == 2 })
		eventually(t, "new key set", func() bool {
			return v.issuers[testIssuer].keys.current.Load().fetched.Equal(testNow.Add(8 * time.Minute))
		})
	})

	t.Run("real clock", func(t *testing.T) {
		srv := newJWKSServer(t, false, key)
		cfg := urlIssuer(srv.URL)
		cfg.MinRefresh, cfg.MaxRefresh, cfg.UnknownKidCooldown = 40*time.Millisecond, 40*time.Millisecond, 10*time.Millisecond
		v, err := New(ctx, Config{Issuers: []IssuerConfig{cfg}})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "timer-driven refreshes", func() bool { return srv.hits.Load() >= 3 })
		v.Close()
		n := srv.hits.Load()
		time.Sleep(150 * time.Millisecond)
		if m := srv.hits.Load(); m != n {
			t.Errorf("%d fetches after Close", m-n)
		}
	})
}

func TestJWKSUnknownKid(t *testing.T) {
	ctx := context.Background()
	k1 := genKey(t, "ES256", "k1")
	k2 := genKey(t, "EdDSA", "k2")

	t.Run("refetch rate-limited per cool-down", func(t *testing.T) {
		srv := newJWKSServer(t, false, k1)
		clock := testutil.NewClock(testNow)
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now})
		attacker := genKey(t, "ES256", "x")
		spray := func() {
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 25 {
						tok := testutil.MintJWT(t, map[string]any{"alg": "ES256", "kid": fmt.Sprintf("rand-%d-%d", g, i)}, validClaims(), "ES256", attacker.SigningKey())
						if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrUnknownKey) {
							t.Errorf("random kid: %v", err)
						}
					}
				})
			}
			wg.Wait()
		}
		spray() // within the cool-down of New's fetch
		if n := srv.hits.Load(); n != 1 {
			t.Fatalf("%d fetches after 200 random kids within the cool-down, want 1", n)
		}
		clock.Advance(31 * time.Second)
		spray()
		if n := srv.hits.Load(); n != 2 {
			t.Fatalf("%d fetches after the cool-down, want 2", n)
		}
		clock.Advance(10 * time.Second)
		spray()
		if n := srv.hits.Load(); n != 2 {
			t.Fatalf("%d fetches 10s later, want still 2", n)
		}
		clock.Advance(25 * time.Second)
		spray()
		if n := srv.hits.Load(); n != 3 {
			t.Fatalf("%d fetches after another cool-down, want 3", n)
		}
	})

	t.Run("rotation", func(t *testing.T) {
		srv := newJWKSServer(t, false, k1)
		clock := testutil.NewClock(testNow)
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now})
		old, rotated := mintWith(t, k1, longClaims()), mintWith(t, k2, longClaims())
		if _, err := v.Verify(ctx, old); err != nil {
			t.Fatal(err)
		}
		srv.setKeys(t, k1, k2) // the IdP publishes the next key
		clock.Advance(31 * time.Second)
		if _, err := v.Verify(ctx, rotated); err != nil {
			t.Fatalf("new kid after refetch: %v", err)
		}
		if n := srv.hits.Load(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}
		// The IdP retires the old key: once Warden refreshes, tokens signed
		// with it fail, even those in the verified-token cache.
		srv.setKeys(t, k2)
		clock.Advance(time.Hour)
		_, _ = v.Verify(ctx, rotated) // notices the refresh is due
		eventually(t, "refresh without the old key", func() bool {
			_, err := v.Verify(ctx, old)
			return errors.Is(err, ErrUnknownKey)
		})
		if _, err := v.Verify(ctx, rotated); err != nil {
			t.Fatalf("current key after refresh: %v", err)
		}
	})

	t.Run("a slow refetch does not outlive the request context", func(t *testing.T) {
		srv := newJWKSServer(t, false, k1)
		clock := testutil.NewClock(testNow)
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now})
		srv.set(func() { srv.delay = 2 * time.Second })
		clock.Advance(time.Minute)
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := v.Verify(cctx, mintWith(t, k2, longClaims())); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("err %v, want unknown_key", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Verify waited %s for a refetch past its context", d)
		}
		v.Close() // cancels the fetch still running, and waits for it
	})

	t.Run("fetched HMAC secrets are ignored", func(t *testing.T) {
		secret := genKey(t, "HS256", "hmac")
		srv := newJWKSServer(t, false, k1, secret)
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}})
		if _, err := v.Verify(ctx, mintWith(t, secret, validClaims())); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("token signed with a fetched secret: %v, want unknown_key", err)
		}
	})
}

func TestJWKSRefreshFailure(t *testing.T) {
	ctx := context.Background()
	key := genKey(t, "ES256", "k1")
	srv := newJWKSServer(t, false, key)
	srv.set(func() { srv.cacheControl = "max-age=600" }) // lifetime 10m, stale after 10m+2h
	clock := testutil.NewClock(testNow)
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now, CacheSize: -1})
	tok := mintWith(t, key, longClaims())
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	for _, fail := range []func(){
		func() { srv.status = http.StatusInternalServerError },
		func() { srv.status, srv.body = http.StatusOK, []byte(`{"keys":[]}`) },
		func() { srv.body = []byte(`<html>maintenance</html>`) },
	} {
		srv.set(fail)
		clock.Advance(9 * time.Minute) // past the refresh time
		before := failures(v)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("last good keys not used: %v", err)
		}
		eventually(t, "a failed refresh", func() bool { return failures(v) > before })
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("after a failed refresh: %v", err)
		}
	}
	// Past max-stale (2h after the last good set's lifetime): fail closed.
	clock.Set(testNow.Add(10*time.Minute + 2*time.Hour))
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("past max-stale: %v, want keys_unavailable", err)
	}
	// The IdP recovers: the next refresh restores verification.
	srv.setKeys(t, key)
	srv.set(func() { srv.status = http.StatusOK })
	clock.Advance(time.Hour)
	// A failing fetch started by the past-max-stale Verify may finish after
	// the Advance above and schedule its retry from the advanced clock, so
	// time keeps moving while we wait.
	eventually(t, "recovery", func() bool {
		clock.Advance(time.Minute)
		_, err := v.Verify(ctx, tok)
		return err == nil
	})
}

// failures returns the test issuer's count of consecutive failed fetches.
func failures(v *Verifier) int {
	s := v.issuers[testIssuer].keys
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failures
}

func TestJWKSFetchLimits(t *testing.T) {
	ctx := context.Background()
	key := genKey(t, "ES256", "k1")

	t.Run("body cap", func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			srv := newJWKSServer(t, false, key)
			big := `{"keys":[` + strings.Repeat(" ", MaxJWKSBytes) + `]}`
			srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				srv.hits.Add(1)
				if chunked {
					w.(http.Flusher).Flush()
				}
				_, _ = w.Write([]byte(big))
			})
			_, err := New(ctx, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}})
			if err == nil || !strings.Contains(err.Error(), "exceeds") {
				t.Errorf("chunked=%v: err %v, want a size error", chunked, err)
			}
		}
	})

	t.Run("client timeout", func(t *testing.T) {
		srv := newJWKSServer(t, false, key)
		srv.set(func() { srv.delay = 3 * time.Second })
		start := time.Now()
		_, err := New(ctx, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
		if err == nil {
			t.Fatal("New succeeded against a server that does not answer")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("New took %s", d)
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		srv := newJWKSServer(t, false, key)
		srv.set(func() { srv.delay = 3 * time.Second })
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := New(cctx, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, HTTPClient: &http.Client{}}); err == nil {
			t.Fatal("New succeeded past its context deadline")
		}
	})

	t.Run("status", func(t *testing.T) {
		srv := newJWKSServer(t, false, key)
		srv.set(func() { srv.status = http.StatusNotFound })
		if _, err := New(ctx, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}}); err == nil || !strings.Contains(err.Error(), "404") {
			t.Fatalf("err %v, want status 404", err)
		}
	})

	t.Run("redirect to plain http refused", func(t *testing.T) {
		srv := newJWKSServer(t, false, key)
		srv.Config.Handler = http.RedirectHandler("http://jwks.example.invalid/keys", http.StatusFound)
		_, err := New(ctx, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}})
		if err == nil || !strings.Contains(err.Error(), "redirect refused") {
			t.Fatalf("err %v, want a refused redirect", err)
		}
	})

	t.Run("https", func(t *testing.T) {
		srv := newJWKSServer(t, true, key)
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, HTTPClient: srv.Client()})
		if _, err := v.Verify(ctx, mintWith(t, key, validClaims())); err != nil {
			t.Fatal(err)
		}
	})
}

func TestJWKSFile(t *testing.T) {
	ctx := context.Background()
	k1, k2 := genKey(t, "ES256", "k1"), genKey(t, "EdDSA", "k2")
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func(mtime time.Time, keys ...*jwk.Key) {
		set := &jwk.Set{}
		for _, k := range keys {
			pub, _ := k.Public()
			set.Keys = append(set.Keys, pub)
		}
		b, _ := json.Marshal(set)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	write(testNow, k1)
	clock := testutil.NewClock(testNow)
	cfg := urlIssuer("")
	cfg.JWKSURL, cfg.JWKSFile = "", path
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{cfg}, Clock: clock.Now})
	t1, t2 := mintWith(t, k1, longClaims()), mintWith(t, k2, longClaims())
	if _, err := v.Verify(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, t2); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("k2 before it is in the file: %v", err)
	}
	// The file changes: an unknown kid rereads it (after the cool-down).
	write(testNow.Add(time.Second), k1, k2)
	clock.Advance(31 * time.Second)
	if _, err := v.Verify(ctx, t2); err != nil {
		t.Fatalf("k2 after the file changed: %v", err)
	}
	// k1 removed: noticed at the next periodic check (MaxRefresh), and the
	// cached verification of t1 is dropped with it.
	write(testNow.Add(2*time.Second), k2)
	clock.Advance(time.Hour)
	_, _ = v.Verify(ctx, t2)
	eventually(t, "file reload", func() bool {
		_, err := v.Verify(ctx, t1)
		return errors.Is(err, ErrUnknownKey)
	})
	// A broken file keeps the last good keys.
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	_, _ = v.Verify(ctx, t2)
	time.Sleep(50 * time.Millisecond)
	if _, err := v.Verify(ctx, t2); err != nil {
		t.Fatalf("after the file broke: %v", err)
	}
}
