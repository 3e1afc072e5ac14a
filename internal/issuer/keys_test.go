package issuer

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/store"
)

// TestSeal: a sealed key opens only with its KEK and under its own kid.
func TestSeal(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, KEKBytes)
	plain := []byte(`{"kty":"EC","d":"secret"}`)
	sealed, err := seal(kek, "k1", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("the sealed key contains the plaintext")
	}
	again, _ := seal(kek, "k1", plain)
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one key are equal: the nonce is not random")
	}
	if got, err := open(kek, "k1", sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open = %q, %v", got, err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, tc := range map[string]struct {
		kek    []byte
		kid    string
		sealed []byte
	}{
		"another kid (moved row)": {kek, "k2", sealed},
		"another KEK":             {bytes.Repeat([]byte{8}, KEKBytes), "k1", sealed},
		"tampered":                {kek, "k1", flipped},
		"truncated":               {kek, "k1", sealed[:10]},
		"no prefix":               {kek, "k1", sealed[2:]},
		"short KEK":               {kek[:16], "k1", sealed},
	} {
		if _, err := open(tc.kek, tc.kid, tc.sealed); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// TestRevocationsReload: a reload replaces the set with the store's, but
// keeps IDs added on this node that the store does not show yet.
func TestRevocationsReload(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "w.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	if err := st.Issuer().Revoke(ctx, store.Revocation{ID: "stored", Kind: store.RevokeJTI, Expiry: now.Add(time.Hour), Created: now}); err != nil {
		t.Fatal(err)
	}
	r, err := NewRevocations(ctx, st.Issuer(), clock)
	if err != nil {
		t.Fatal(err)
	}
	r.Add("local", now.Add(time.Minute))
	r.Add("stale", now.Add(-time.Minute))
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"stored": true, "local": true, "stale": false, "other": false} {
		if got := r.Revoked(id); got != want {
			t.Errorf("Revoked(%q) = %v, want %v", id, got, want)
		}
	}
	if r.Len() != 2 {
		t.Errorf("Len = %d, want 2", r.Len())
	}
}
