package authn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/testutil"
)

// mutableDenylist is a Denylist that tests can change while a Verifier runs.
type mutableDenylist struct {
	mu      sync.RWMutex
	revoked map[string]bool
	calls   int
}

func (d *mutableDenylist) Revoked(jti string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	return d.revoked[jti]
}

func (d *mutableDenylist) revoke(jti string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.revoked == nil {
		d.revoked = map[string]bool{}
	}
	d.revoked[jti] = true
}

func TestCache(t *testing.T) {
	ks := testKeys(t)
	ctx := context.Background()

	t.Run("hit returns the same principal", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}})
		tok := ks.mint(t, "EdDSA", validClaims())
		p1, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if p1 != p2 {
			t.Error("second Verify did not come from the cache")
		}
		if n := v.cache.len(); n != 1 {
			t.Errorf("cache holds %d entries, want 1", n)
		}
		if allocs := testing.AllocsPerRun(100, func() { _, _ = v.Verify(ctx, tok) }); allocs != 0 {
			t.Errorf("cache hit allocates %v times, want 0", allocs)
		}
	})

	t.Run("exp beyond what UnixNano can hold", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}})
		tok := ks.mint(t, "EdDSA", withClaims(map[string]any{"exp": maxNumericDate}))
		p1, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if p2, err := v.Verify(ctx, tok); err != nil || p2 != p1 {
			t.Fatalf("second Verify: %v (cached %v)", err, p2 == p1)
		}
	})

	t.Run("failures are not cached", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}})
		tok := ks.mint(t, "EdDSA", withClaims(map[string]any{"aud": "nope"}))
		for range 2 {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrAudience) {
				t.Fatalf("err %v", err)
			}
		}
		if n := v.cache.len(); n != 0 {
			t.Errorf("cache holds %d entries after failures", n)
		}
	})

	t.Run("never served at or past exp plus leeway", func(t *testing.T) {
		clock := testutil.NewClock(testNow)
		cfg := ks.issuerConfig(t)
		cfg.Leeway = 5 * time.Second
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{cfg}, Clock: clock.Now})
		exp := testNow.Add(time.Minute)
		tok := ks.mint(t, "ES256", withClaims(map[string]any{"exp": exp.Unix()}))
		p, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(exp.Add(5*time.Second - time.Nanosecond))
		if p2, err := v.Verify(ctx, tok); err != nil || p2 != p {
			t.Fatalf("just before the deadline: %v (same principal %v)", err, p2 == p)
		}
		clock.Set(exp.Add(5 * time.Second))
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("at the deadline: %v, want expired", err)
		}
		if n := v.cache.len(); n != 0 {
			t.Errorf("expired entry still cached (%d entries)", n)
		}
	})

	t.Run("denylist consulted on every hit", func(t *testing.T) {
		deny := &mutableDenylist{}
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, Denylist: deny})
		tok := ks.mint(t, "HS256", validClaims())
		for range 3 {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if deny.calls != 3 {
			t.Errorf("denylist asked %d times for 3 verifications", deny.calls)
		}
		deny.revoke("jti-1")
		if _, err := v.Verify(ctx, tok); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked jti on a cache hit: %v", err)
		}
	})

	t.Run("bounded", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, CacheSize: 8})
		hot := ks.mint(t, "HS256", validClaims())
		for i := range 50 {
			if _, err := v.Verify(ctx, ks.mint(t, "HS256", withClaims(map[string]any{"jti": fmt.Sprint(i)}))); err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(ctx, hot); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.cache.len(); n > 8 {
			t.Errorf("cache holds %d entries, capacity 8", n)
		}
		key := tokenDigest(hot)
		if v.cache.get(&key) == nil {
			t.Error("the token used on every round was evicted")
		}
	})

	t.Run("disabled", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, CacheSize: -1})
		tok := ks.mint(t, "HS256", validClaims())
		p1, _ := v.Verify(ctx, tok)
		p2, _ := v.Verify(ctx, tok)
		if v.cache != nil || p1 == p2 {
			t.Error("cache not disabled")
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, CacheSize: 16})
		toks := make([]string, 40)
		for i := range toks {
			toks[i] = ks.mint(t, "HS256", withClaims(map[string]any{"jti": fmt.Sprint(i)}))
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					if _, err := v.Verify(ctx, toks[(g*7+i)%len(toks)]); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if n := v.cache.len(); n > 16 {
			t.Errorf("cache holds %d entries, capacity 16", n)
		}
	})
}

func TestCacheEvictionAndRemoval(t *testing.T) {
	c := newTokenCache(3)
	entries := make([]*cacheEntry, 6)
	for i := range entries {
		entries[i] = &cacheEntry{key: [32]byte{byte(i)}}
	}
	for _, e := range entries[:3] {
		c.put(e)
	}
	c.get(&entries[0].key) // referenced: survives the next eviction
	c.put(entries[3])
	if c.get(&entries[0].key) == nil || c.len() != 3 {
		t.Fatalf("CLOCK evicted the referenced entry (len %d)", c.len())
	}
	c.remove(entries[0])
	c.remove(entries[0]) // already gone: no-op
	if c.get(&entries[0].key) != nil || c.len() != 2 {
		t.Fatal("remove did not remove")
	}
	c.put(entries[4])
	c.put(entries[5])
	if c.len() != 3 {
		t.Fatalf("len %d after refill, want 3", c.len())
	}
	for si := range c.shards {
		s := &c.shards[si]
		for i, e := range s.ring {
			if e.idx != i || s.m[e.key] != e {
				t.Fatalf("ring and map disagree at %d", i)
			}
		}
	}
	// Replacing a key keeps one entry.
	again := &cacheEntry{key: entries[5].key}
	c.put(again)
	if c.len() != 3 || c.get(&again.key) != again {
		t.Fatal("replacing an entry duplicated it")
	}
	// A stale pointer does not remove its replacement.
	c.remove(entries[5])
	if c.get(&again.key) != again {
		t.Fatal("removing a replaced entry removed its successor")
	}
}
