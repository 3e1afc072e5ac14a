package authn

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCacheSize is the verified-token cache capacity when
// Config.CacheSize is zero.
const DefaultCacheSize = 10000

// cacheEntry is one verified token. Entries are immutable except for the
// CLOCK reference bit and their ring position.
type cacheEntry struct {
	key      [32]byte // SHA-256 of the token
	p        *Principal
	deadline time.Time // exp + leeway; never served at or after
	store    *keyStore
	gen      uint64 // store's key generation the token was verified with
	ref      atomic.Bool
	idx      int // position in the shard's ring; guarded by the shard lock
}

// tokenCache is a bounded map from token digest to verified Principal,
// sharded to keep lock contention low, evicting with the CLOCK algorithm (a
// hit only sets a bit; no list is reordered under a write lock).
type tokenCache struct {
	shards []cacheShard
	mask   uint64
}

type cacheShard struct {
	mu   sync.RWMutex
	m    map[[32]byte]*cacheEntry
	ring []*cacheEntry
	hand int
	cap  int
	_    [32]byte // keep hot shards off each other's cache lines
}

func newTokenCache(size int) *tokenCache {
	n := 1
	for n < 16 && size/(n*2) >= 64 {
		n *= 2
	}
	per := (size + n - 1) / n
	c := &tokenCache{shards: make([]cacheShard, n), mask: uint64(n - 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry, min(per, 1024))
		c.shards[i].cap = per
	}
	return c
}

func (c *tokenCache) shard(key *[32]byte) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint64(key[:8])&c.mask]
}

// get returns the entry for key, or nil. The caller checks its deadline.
func (c *tokenCache) get(key *[32]byte) *cacheEntry {
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[*key]
	s.mu.RUnlock()
	if e != nil && !e.ref.Load() {
		e.ref.Store(true)
	}
	return e
}

// put adds e, replacing an entry with the same key, evicting one that has
// not been used since the clock hand last passed when the shard is full.
func (c *tokenCache) put(e *cacheEntry) {
	s := c.shard(&e.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[e.key]; ok {
		e.idx = old.idx
		s.ring[e.idx] = e
		s.m[e.key] = e
		return
	}
	if len(s.ring) < s.cap {
		e.idx = len(s.ring)
		s.ring = append(s.ring, e)
		s.m[e.key] = e
		return
	}
	for {
		victim := s.ring[s.hand]
		if victim.ref.Load() {
			victim.ref.Store(false)
			s.hand = (s.hand + 1) % len(s.ring)
			continue
		}
		delete(s.m, victim.key)
		e.idx = s.hand
		s.ring[s.hand] = e
		s.m[e.key] = e
		s.hand = (s.hand + 1) % len(s.ring)
		return
	}
}

// remove drops e (a token found expired, revoked or verified with keys
// that changed), so that it does not hold a slot it will never serve. An
// entry that has already been replaced is left alone.
func (c *tokenCache) remove(e *cacheEntry) {
	s := c.shard(&e.key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[e.key] != e {
		return
	}
	delete(s.m, e.key)
	last := len(s.ring) - 1
	moved := s.ring[last]
	s.ring[e.idx], moved.idx = moved, e.idx
	s.ring[last] = nil
	s.ring = s.ring[:last]
	if s.hand >= len(s.ring) {
		s.hand = 0
	}
}

// len returns the number of entries (for tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
