// Package backoff computes the wait between retries of a failing remote
// call: exponential, capped, and jittered so that clients that failed
// together do not retry together.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait after n consecutive failures (n ≥ 1): minD·2^(n-1),
// capped at maxD, less a random part of up to half of it. It is 0 when the
// cap is not positive.
func Delay(minD, maxD time.Duration, n int) time.Duration {
	d := minD
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	d = min(d, maxD)
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Int64N(int64(d)/2+1))
}
