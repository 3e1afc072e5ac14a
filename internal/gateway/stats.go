package gateway

import (
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/audit"
	"github.com/wardenhq/warden/internal/guard"
)

// Stats is a snapshot of the gateway's counters, for /metrics.
type Stats struct {
	// Requests counts finished requests by route (RouteNone for requests
	// that matched no route, RouteAuthz prefixed names for /authz) and
	// decision (audit.Allow or audit.Deny; every refusal, 401 and 404
	// included, is a deny). Only non-zero counters are listed.
	Requests []RequestCount
	// DecisionLatency is the histogram of the time from the arrival of a
	// request to its decision (authentication, routing, body parsing,
	// policy and request guards), in seconds.
	DecisionLatency Histogram
	// GuardHits counts guard matches per detector, request and response
	// phases together.
	GuardHits map[string]uint64
	// AuditFailures counts records the audit log did not take.
	AuditFailures uint64
	// UpstreamErrors counts failed upstream exchanges (transport errors,
	// timeouts, responses the gateway refused to pass on).
	UpstreamErrors uint64
}

// RouteNone is the route label of requests that matched no route.
const RouteNone = ""

// RequestCount is one (route, decision) counter.
type RequestCount struct {
	Route    string
	Decision string
	Count    uint64
}

// Histogram is a cumulative histogram in the Prometheus sense.
type Histogram struct {
	Bounds []float64 // upper bounds in seconds, ascending; +Inf is implied
	Counts []uint64  // cumulative counts, len(Bounds)+1 (the last is +Inf)
	Sum    float64   // seconds
	Count  uint64
}

// latencyBounds are the decision latency buckets, in seconds.
var latencyBounds = [...]float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}

type routeCounters struct {
	allow, deny atomic.Uint64
}

type counters struct {
	routeNames []string        // index i: route i; last: RouteNone
	requests   []routeCounters // same indexes
	authz      []routeCounters // /authz, same indexes
	buckets    [len(latencyBounds) + 1]atomic.Uint64
	latSum     atomic.Int64 // nanoseconds
	latCount   atomic.Uint64
	hits       map[guard.Detector]*atomic.Uint64 // built once, read-only map
	auditFail  atomic.Uint64
	upstream   atomic.Uint64
}

func newCounters(routes []RouteSpec) *counters {
	c := &counters{
		routeNames: make([]string, len(routes)+1),
		requests:   make([]routeCounters, len(routes)+1),
		authz:      make([]routeCounters, len(routes)+1),
		hits:       make(map[guard.Detector]*atomic.Uint64),
	}
	for i, r := range routes {
		c.routeNames[i] = r.Name
	}
	c.routeNames[len(routes)] = RouteNone
	for _, d := range guard.Detectors() {
		c.hits[d] = new(atomic.Uint64)
	}
	return c
}

func (c *counters) request(authz bool, route int, allowed bool) {
	rc := &c.requests[route]
	if authz {
		rc = &c.authz[route]
	}
	if allowed {
		rc.allow.Add(1)
	} else {
		rc.deny.Add(1)
	}
}

func (c *counters) decision(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(latencyBounds) && s > latencyBounds[i] {
		i++
	}
	c.buckets[i].Add(1)
	c.latSum.Add(int64(d))
	c.latCount.Add(1)
}

func (c *counters) guardHits(h guard.Hits) {
	for d, n := range h.All() {
		if ctr := c.hits[d]; ctr != nil {
			ctr.Add(uint64(n))
		}
	}
}

func (c *counters) snapshot() Stats {
	var s Stats
	add := func(prefix string, rcs []routeCounters) {
		for i := range rcs {
			name := prefix + c.routeNames[i]
			if n := rcs[i].allow.Load(); n > 0 {
				s.Requests = append(s.Requests, RequestCount{Route: name, Decision: audit.Allow, Count: n})
			}
			if n := rcs[i].deny.Load(); n > 0 {
				s.Requests = append(s.Requests, RequestCount{Route: name, Decision: audit.Deny, Count: n})
			}
		}
	}
	add("", c.requests)
	add(AuthzPath+":", c.authz)
	s.DecisionLatency.Bounds = latencyBounds[:]
	s.DecisionLatency.Counts = make([]uint64, len(c.buckets))
	var cum uint64
	for i := range c.buckets {
		cum += c.buckets[i].Load()
		s.DecisionLatency.Counts[i] = cum
	}
	s.DecisionLatency.Count = c.latCount.Load()
	s.DecisionLatency.Sum = time.Duration(c.latSum.Load()).Seconds()
	s.GuardHits = make(map[string]uint64, len(c.hits))
	for d, ctr := range c.hits {
		s.GuardHits[string(d)] = ctr.Load()
	}
	s.AuditFailures = c.auditFail.Load()
	s.UpstreamErrors = c.upstream.Load()
	return s
}
