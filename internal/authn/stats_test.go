package authn

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/jwk"
	"github.com/wardenhq/warden/internal/testutil"
)

func TestVerifierStats(t *testing.T) {
	ctx := context.Background()
	key := genKey(t, "ES256", "k1")
	srv := newJWKSServer(t, false, key)
	srv.set(func() { srv.cacheControl = "max-age=600" }) // lifetime 10m, stale after 10m+2h
	clock := testutil.NewClock(testNow)
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{urlIssuer(srv.URL)}, Clock: clock.Now, CacheSize: -1})

	one := func() IssuerStats {
		t.Helper()
		st := v.Stats()
		if len(st.Issuers) != 1 || st.Issuers[0].Issuer != testIssuer {
			t.Fatalf("Stats().Issuers = %+v, want one entry for %s", st.Issuers, testIssuer)
		}
		return st.Issuers[0]
	}
	st := one()
	if !st.Remote || st.Generation == 0 || !st.LastRefresh.Equal(testNow) || st.RefreshFailures != 0 || st.Stale {
		t.Fatalf("after start: %+v", st)
	}
	gen := st.Generation

	// The IdP starts failing: every failed refresh is counted, the last
	// good keys stay (same generation, same refresh time) and are not stale.
	srv.set(func() { srv.status = http.StatusInternalServerError })
	tok := mintWith(t, key, longClaims())
	for want := uint64(1); want <= 2; want++ {
		clock.Advance(9 * time.Minute)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("last good keys not used: %v", err)
		}
		eventually(t, "a counted refresh failure", func() bool { return one().RefreshFailures >= want })
	}
	st = one()
	if st.Generation != gen || !st.LastRefresh.Equal(testNow) || st.Stale {
		t.Fatalf("after failures: %+v", st)
	}

	// Past max-stale: reported stale.
	clock.Set(testNow.Add(10*time.Minute + 2*time.Hour))
	if st = one(); !st.Stale {
		t.Fatalf("past max-stale: %+v, want stale", st)
	}

	// Recovery: a new key set, a new generation, no longer stale; the
	// failure counter is a total and does not go back.
	failed := st.RefreshFailures
	key2 := genKey(t, "ES256", "k2")
	srv.setKeys(t, key, key2)
	srv.set(func() { srv.status = http.StatusOK })
	clock.Advance(time.Hour)
	_, _ = v.Verify(ctx, tok) // nudges the refresh loop
	eventually(t, "recovery", func() bool { return !one().Stale })
	st = one()
	if st.Generation == gen || st.RefreshFailures < failed || st.LastRefresh.Before(testNow.Add(3*time.Hour)) {
		t.Fatalf("after recovery: %+v (failures before %d)", st, failed)
	}
}

func TestVerifierStatsStatic(t *testing.T) {
	key := genKey(t, "ES256", "k1")
	ic := urlIssuer("")
	ic.JWKSURL = ""
	ic.Keys = []*jwk.Key{key}
	v := newTestVerifier(t, Config{Issuers: []IssuerConfig{ic}, Clock: testutil.NewClock(testNow).Now})
	st := v.Stats()
	if len(st.Issuers) != 1 || st.Issuers[0].Remote || st.Issuers[0].Stale || st.Issuers[0].Generation == 0 {
		t.Fatalf("static keys: %+v", st.Issuers)
	}
}
