package testutil

import (
	"sync"
	"time"
)

// Clock is a test clock for the Clock fields of the packages' Configs: no
// package variable is ever patched. The zero value follows the wall clock;
// Set fixes it at a time; Advance moves it forward, from the fixed time if
// one is set, else as an offset from the wall clock (for code that also
// checks real time, such as go-oidc). It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	fixed  time.Time
	offset time.Duration
}

// NewClock returns a Clock fixed at t.
func NewClock(t time.Time) *Clock { return &Clock{fixed: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fixed.IsZero() {
		return time.Now().Add(c.offset)
	}
	return c.fixed
}

// Set fixes the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fixed = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fixed.IsZero() {
		c.offset += d
	} else {
		c.fixed = c.fixed.Add(d)
	}
}
