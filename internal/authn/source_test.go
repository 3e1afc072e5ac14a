package authn

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

type lockedDenySet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (d *lockedDenySet) Revoked(id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ids[id]
}

func (d *lockedDenySet) add(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids[id] = true
}

// TestKeySource: keys handed over in-process are used, a key added later is
// found on an unknown kid, and a failing source keeps the last good keys.
func TestKeySource(t *testing.T) {
	ks := testKeys(t)
	var mu sync.Mutex
	current := ks.public(t, "ec256")
	var fail atomic.Bool
	calls := atomic.Int32{}
	src := func(context.Context) ([]*jwk.Key, error) {
		calls.Add(1)
		if fail.Load() {
			return nil, errors.New("store down")
		}
		mu.Lock()
		defer mu.Unlock()
		return current, nil
	}
	ic := IssuerConfig{Issuer: testIssuer, Audiences: []string{testAudience}, Algorithms: []string{"ES256", "EdDSA"}, Type: "at+jwt", KeySource: src}
	clock := testutil.NewClock(testNow)
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ic}, CacheSize: -1, Clock: clock.Now})
	if _, err := v.Verify(t.Context(), ks.mint(t, "ES256", validClaims())); err != nil {
		t.Fatalf("token of the source's key: %v", err)
	}
	edTok := ks.mint(t, "EdDSA", validClaims())
	mu.Lock()
	current = ks.public(t, "ec256", "ed")
	mu.Unlock()
	clock.Advance(DefaultUnknownKidCooldown) // refetches on unknown kids are rate-limited
	if _, err := v.Verify(t.Context(), edTok); err != nil {
		t.Fatalf("token of a key added to the source: %v", err)
	}
	if calls.Load() < 2 {
		t.Fatalf("source called %d times, want a refetch on the unknown kid", calls.Load())
	}
	fail.Store(true)
	if _, err := v.Verify(t.Context(), ks.mint(t, "ES256", validClaims())); err != nil {
		t.Fatalf("after a failing refetch the last good keys must stay: %v", err)
	}

	ic.Keys = ks.public(t, "ec256")
	if _, err := New(t.Context(), Config{Issuers: []IssuerConfig{ic}}); err == nil {
		t.Fatal("New accepted Keys and KeySource together")
	}
}

// TestDenylistSession: a revoked "sid" denies every token of the session,
// cached ones included.
func TestDenylistSession(t *testing.T) {
	ks := testKeys(t)
	deny := &lockedDenySet{ids: map[string]bool{}}
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ks.issuerConfig(t)}, Denylist: deny})
	c := validClaims()
	c["sid"] = "fam-1"
	tok := ks.mint(t, "ES256", c)
	other := ks.mint(t, "EdDSA", validClaims())
	for range 2 { // the second round hits the cache
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	deny.add("fam-1")
	var ve *VerifyError
	if _, err := v.Verify(t.Context(), tok); !errors.As(err, &ve) || ve.Reason != ReasonRevoked {
		t.Fatalf("token of a revoked session: %v, want ReasonRevoked", err)
	}
	if _, err := v.Verify(t.Context(), other); err != nil {
		t.Fatalf("token without the session: %v", err)
	}
	deny.add("jti-1")
	if _, err := v.Verify(t.Context(), other); !errors.As(err, &ve) || ve.Reason != ReasonRevoked {
		t.Fatalf("revoked jti: %v, want ReasonRevoked", err)
	}
}
