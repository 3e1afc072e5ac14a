package authn

import (
	"slices"
	"strings"
	"time"
)

// Stats is a snapshot of a Verifier's key sets, for metrics.
type Stats struct {
	// Issuers has one entry per configured issuer, sorted by name.
	Issuers []IssuerStats
}

// IssuerStats describes one issuer's current key set.
type IssuerStats struct {
	// Issuer is the configured "iss" value.
	Issuer string
	// Remote reports whether the keys come from a JWKS URL (only those
	// refresh over the network and can go stale).
	Remote bool
	// Generation changes whenever the keys change (0: no keys loaded).
	Generation uint64
	// LastRefresh is when the current key set was last loaded or
	// confirmed by a successful fetch (zero: never).
	LastRefresh time.Time
	// RefreshFailures counts failed fetches of the key set since start
	// (the initial fetch at New included).
	RefreshFailures uint64
	// Stale reports that the key set is past its max-stale bound (or no
	// keys are loaded): tokens of this issuer are refused until a refresh
	// succeeds.
	Stale bool
}

// Stats returns a snapshot of the issuers' key sets. It takes no lock that
// Verify takes: it reads the same atomics.
func (v *Verifier) Stats() Stats {
	now := v.clock()
	var s Stats
	add := func(iss *issuer) {
		ks := iss.keys
		st := IssuerStats{Issuer: iss.name, Remote: ks.src != nil && ks.src.remote(), RefreshFailures: ks.refreshFailures.Load()}
		if set := ks.current.Load(); set != nil {
			st.Generation, st.LastRefresh = set.gen, set.fetched
			st.Stale = !set.staleAt.IsZero() && !now.Before(set.staleAt)
		} else {
			st.Stale = true
		}
		s.Issuers = append(s.Issuers, st)
	}
	for _, iss := range v.issuers {
		add(iss)
	}
	if v.fallback != nil {
		add(v.fallback)
	}
	slices.SortFunc(s.Issuers, func(a, b IssuerStats) int { return strings.Compare(a.Issuer, b.Issuer) })
	return s
}
