package issuer

import (
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// Stats are the issuer's counters since start, for /metrics.
type Stats struct {
	// Issued counts tokens issued by grant ("client_credentials",
	// "refresh_token", "token-exchange").
	Issued map[string]uint64
	// Refused counts refused token, introspection and revocation requests
	// by OAuth error code.
	Refused map[string]uint64
	// Revocations is the number of revoked jtis and families this node
	// holds.
	Revocations int
	// PublishedKeys is the number of keys in the JWKS.
	PublishedKeys int
	// ResyncFailures counts failed reloads of revocations or keys.
	ResyncFailures uint64
	// FeedWaiters is the number of revocation-feed requests held now.
	FeedWaiters int64
}

type counters struct {
	mu             sync.Mutex
	issued         map[string]uint64
	refused        map[string]uint64
	resyncFailures atomic.Uint64
}

func (c *counters) add(m *map[string]uint64, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if *m == nil {
		*m = map[string]uint64{}
	}
	(*m)[key]++
}

// grantName is the short name of a grant type for metrics.
func grantName(gt string) string {
	return strings.TrimPrefix(gt, "urn:ietf:params:oauth:grant-type:")
}

// Stats returns a snapshot of the counters.
func (iss *Issuer) Stats() Stats {
	c := &iss.ctr
	c.mu.Lock()
	s := Stats{Issued: maps.Clone(c.issued), Refused: maps.Clone(c.refused)}
	c.mu.Unlock()
	s.Revocations = iss.cfg.Revocations.Len()
	s.PublishedKeys = len(iss.cfg.Keys.KeyIDs())
	s.ResyncFailures = c.resyncFailures.Load()
	s.FeedWaiters = iss.waiters.Load()
	return s
}
