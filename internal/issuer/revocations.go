package issuer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardenhq/warden/internal/authn"
	"github.com/wardenhq/warden/internal/store"
)

// Revocations is the node's copy of the revoked token IDs (jti) and refresh
// families (sid): an authn.Denylist. Reads are lock-free; Reload replaces
// the set from the store, Add inserts one ID at once (after this node
// revoked it, or when another node announced it).
type Revocations struct {
	st    store.IssuerStore
	clock func() time.Time
	set   atomic.Pointer[map[string]time.Time]
	// changed is closed (and replaced) when an ID joins the set.
	changed atomic.Pointer[chan struct{}]
	mu      sync.Mutex // serializes writers of set and changed
}

var _ authn.Denylist = (*Revocations)(nil)

// NewRevocations loads the unexpired revocations from st.
func NewRevocations(ctx context.Context, st store.IssuerStore, clock func() time.Time) (*Revocations, error) {
	if st == nil {
		return nil, errors.New("issuer: revocations: no store")
	}
	if clock == nil {
		clock = time.Now
	}
	r := &Revocations{st: st, clock: clock}
	empty := map[string]time.Time{}
	r.set.Store(&empty)
	ch := make(chan struct{})
	r.changed.Store(&ch)
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Revoked reports whether id (a jti or a family's sid) is revoked.
func (r *Revocations) Revoked(id string) bool {
	_, ok := (*r.set.Load())[id]
	return ok
}

// Len is the number of revocations held.
func (r *Revocations) Len() int { return len(*r.set.Load()) }

// Reload replaces the set with the store's unexpired revocations, keeping
// IDs added since that are not yet visible (a notification can overtake
// the commit becoming visible to this node's snapshot).
func (r *Revocations) Reload(ctx context.Context) error {
	now := r.clock()
	revs, err := r.st.Revocations(ctx, now)
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	next := make(map[string]time.Time, len(revs))
	for _, v := range revs {
		next[v.ID] = v.Expiry
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := *r.set.Load()
	for id, exp := range cur {
		if _, ok := next[id]; !ok && now.Before(exp) {
			next[id] = exp
		}
	}
	r.set.Store(&next)
	for id := range next {
		if _, ok := cur[id]; !ok {
			r.notify()
			break
		}
	}
	return nil
}

// Changed returns a channel that is closed when an ID next joins the set
// (Add, or a Reload that found new ones). The revocation feed's waiters
// read the store again then.
func (r *Revocations) Changed() <-chan struct{} { return *r.changed.Load() }

// notify wakes the waiters of Changed; r.mu is held.
func (r *Revocations) notify() {
	ch := make(chan struct{})
	close(*r.changed.Swap(&ch))
}

// Add marks id revoked until exp on this node (copy on write).
func (r *Revocations) Add(id string, exp time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := *r.set.Load()
	if _, ok := cur[id]; ok {
		return
	}
	next := maps.Clone(cur)
	next[id] = exp
	r.set.Store(&next)
	r.notify()
}
