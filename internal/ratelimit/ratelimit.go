// Package ratelimit limits how fast each client may send requests, with a
// token bucket per client address (golang.org/x/time/rate). EC2 throttles
// per instance and drops or delays rather than answering 429, so the usual
// answer to a client over its rate is to make it wait; an answer of 429 or
// 503 can be chosen instead.
package ratelimit

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxWait is the longest delay worth making a request wait: a client so far
// over its rate that it would wait longer is answered at once instead.
const MaxWait = 2 * time.Second

// idleAfter is how long a client's bucket is kept after its last request;
// a full bucket carries no state worth keeping.
const idleAfter = time.Minute

// sweepAt is the number of buckets at which idle ones are swept away.
const sweepAt = 4096

// Settings are one limit: PerSecond requests a second on average, Burst at
// once. PerSecond 0 means no limit.
type Settings struct {
	PerSecond int
	Burst     int
}

// Limiter holds a bucket per client. It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	now     func() time.Time
}

type bucket struct {
	lim  *rate.Limiter
	set  Settings
	last time.Time
}

// New returns an empty Limiter.
func New() *Limiter {
	return &Limiter{buckets: map[netip.Addr]*bucket{}, now: time.Now}
}

// Take takes one request's token for client under set and returns how
// long the caller must wait before answering. ok is false, and no token is
// taken, when the client is so far over its rate that it would wait longer
// than maxWait (0: it may not wait at all).
func (l *Limiter) Take(client netip.Addr, set Settings, maxWait time.Duration) (wait time.Duration, ok bool) {
	if set.PerSecond <= 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[client]
	if b == nil || b.set != set {
		if len(l.buckets) >= sweepAt {
			l.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(set.PerSecond), max(set.Burst, 1)), set: set}
		l.buckets[client] = b
	}
	b.last = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return 0, false
	}
	d := r.DelayFrom(now)
	if d > maxWait {
		r.CancelAt(now)
		return 0, false
	}
	return d, true
}

// Sleep waits d, or until ctx is done, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Len returns the number of clients with a bucket.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// sweep drops the buckets of clients idle for a while. l.mu is held.
func (l *Limiter) sweep(now time.Time) {
	for a, b := range l.buckets {
		if now.Sub(b.last) > idleAfter {
			delete(l.buckets, a)
		}
	}
}
