package backoff_test

import (
	"testing"
	"time"

	"github.com/wardenhq/warden/internal/backoff"
)

func TestDelay(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
		n        int
		lo, hi   time.Duration
	}{
		{"first failure", time.Second, time.Minute, 1, 500 * time.Millisecond, time.Second},
		{"third failure", time.Second, time.Minute, 3, 2 * time.Second, 4 * time.Second},
		{"capped", time.Second, 10 * time.Second, 20, 5 * time.Second, 10 * time.Second},
		{"huge n does not overflow", time.Second, time.Hour, 1 << 20, 30 * time.Minute, time.Hour},
		{"zero", 0, 0, 3, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 {
				if d := backoff.Delay(tc.min, tc.max, tc.n); d < tc.lo || d > tc.hi {
					t.Fatalf("Delay(%s, %s, %d) = %s, want in [%s, %s]", tc.min, tc.max, tc.n, d, tc.lo, tc.hi)
				}
			}
		})
	}
}
