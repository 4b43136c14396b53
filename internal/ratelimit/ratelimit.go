// Package ratelimit limits how fast each client may send requests, with a
// token bucket per client (golang.org/x/time/rate). A client is whom
// guestkey says: a guest, however many addresses it sends from, or an
// unknown client's address (IPv6 per /64). EC2 throttles per instance and
// drops or delays rather than answering 429, so the usual answer to a
// client over its rate is to make it wait; an answer of 429 or 503 can be
// chosen instead.
//
// The buckets are kept in least-recently-used order, so that finding,
// adding and dropping one costs the same whether ten clients have been
// seen or a million: idle buckets are dropped a few at a time as new
// clients come, and past [MaxClients] the least recently used one makes
// room. A bucket dropped early only gives its client a full bucket again,
// which is no worse for the others.
package ratelimit

import (
	"container/list"
	"context"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/imdsd/imdsd/internal/guestkey"
)

// MaxWait is the longest delay worth making a request wait: a client so far
// over its rate that it would wait longer is answered at once instead.
const MaxWait = 2 * time.Second

// idleAfter is how long a client's bucket is kept after its last request;
// a full bucket carries no state worth keeping.
const idleAfter = time.Minute

// MaxClients bounds the buckets kept: about 200 bytes each, some 13 MB in
// all.
const MaxClients = 1 << 16

// dropPerTake bounds the idle buckets dropped by one new client, so that
// no request pays for sweeping many.
const dropPerTake = 4

// Settings are one limit: PerSecond requests a second on average, Burst at
// once. PerSecond 0 means no limit.
type Settings struct {
	PerSecond int
	Burst     int
}

// Limiter holds a bucket per client. It is safe for concurrent use.
type Limiter struct {
	mu      sync.Mutex
	buckets map[guestkey.Key]*list.Element // of *bucket
	lru     list.List                      // most recently used first
	max     int
	now     func() time.Time
}

type bucket struct {
	key  guestkey.Key
	lim  *rate.Limiter
	set  Settings
	last time.Time
}

// New returns an empty Limiter.
func New() *Limiter {
	return &Limiter{buckets: map[guestkey.Key]*list.Element{}, max: MaxClients, now: time.Now}
}

// Take takes one request's token for client under set and returns how
// long the caller must wait before answering. ok is false, and no token is
// taken, when the client is so far over its rate that it would wait longer
// than maxWait (0: it may not wait at all).
func (l *Limiter) Take(client guestkey.Key, set Settings, maxWait time.Duration) (wait time.Duration, ok bool) {
	if set.PerSecond <= 0 {
		return 0, true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e := l.buckets[client]; e != nil {
		b = e.Value.(*bucket)
		l.lru.MoveToFront(e)
	} else {
		l.drop(now)
		b = &bucket{key: client}
		l.buckets[client] = l.lru.PushFront(b)
	}
	if b.lim == nil || b.set != set {
		b.lim, b.set = rate.NewLimiter(rate.Limit(set.PerSecond), max(set.Burst, 1)), set
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

// drop makes room for one more bucket: it drops up to dropPerTake idle
// buckets, and the least recently used one if there is still no room.
// l.mu is held.
func (l *Limiter) drop(now time.Time) {
	for range dropPerTake {
		e := l.lru.Back()
		if e == nil || now.Sub(e.Value.(*bucket).last) <= idleAfter {
			break
		}
		l.remove(e)
	}
	for l.lru.Len() >= l.max && l.lru.Len() > 0 {
		l.remove(l.lru.Back())
	}
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.buckets, e.Value.(*bucket).key)
	l.lru.Remove(e)
}

// Exempt reports whether requests from addr skip the rate limit: loopback
// clients do unless includeLoopback. A loopback source reaches imdsd only
// when it listens on a loopback address, which is the developer's or the
// CI job's setup, never a guest's; the connection caps still apply.
func Exempt(addr netip.Addr, includeLoopback bool) bool {
	return !includeLoopback && addr.IsLoopback()
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
