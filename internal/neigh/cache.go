package neigh

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The defaults of Options.
const (
	DefaultTTL        = 2 * time.Second
	DefaultMaxEntries = 4096
)

// Options tune a Cache. The zero value gives the defaults.
type Options struct {
	// TTL is how long an address found in the table is kept
	// (DefaultTTL). Without notifications (Watch), it is also the
	// longest time the cache may go on naming the old MAC of an address
	// a guest has handed to another guest, so keep it short.
	TTL time.Duration
	// NegativeTTL is how long an address not found is kept (TTL).
	NegativeTTL time.Duration
	// MaxEntries bounds the number of addresses kept
	// (DefaultMaxEntries).
	MaxEntries int
	// Now is the clock (time.Now).
	Now func() time.Time
	// ReadTable reads the whole neighbour table ([ReadTable]).
	ReadTable func() ([]Entry, error)
	// HostPrefixes lists the host's own addresses with the prefix length
	// of their networks; it is only called to explain a miss (the
	// addresses of the host's interfaces).
	HostPrefixes func() ([]netip.Prefix, error)
	// Watch delivers the kernel's notifications of changes to the
	// neighbour table until ctx ends (see [Watch]), so that the cache
	// drops an address's answer as soon as the address changes hands
	// rather than when its TTL runs out. Nil means the host's ([Watch],
	// where the system has one) when ReadTable is nil too, and none
	// otherwise. It is started by the first Lookup and stopped by
	// [Cache.Close].
	Watch func(ctx context.Context, events func(Event)) error
	// WatchError, if set, is told each time Watch fails; the cache then
	// forgets everything it holds and relies on the TTL until Watch,
	// started again after a pause, succeeds.
	WatchError func(error)
}

// Stats counts what a Cache did.
type Stats struct {
	Hits       uint64 // lookups answered from the cache
	Misses     uint64 // lookups that needed the table
	Reads      uint64 // reads of the table (misses share reads)
	ReadErrors uint64 // reads that failed

	Events      uint64 // notifications of changes applied (Options.Watch)
	Dropped     uint64 // cached answers dropped because of a notification
	Flushes     uint64 // whole cache dropped: notifications lost, or Watch failed
	WatchErrors uint64 // failures of Watch
}

// Cache answers which MAC an address has, from the neighbour table read at
// most once per miss and kept for a short time. It is safe for concurrent
// use. Concurrent misses share a read: the table is read by one caller at
// a time, and a caller that waited for another's read started after its
// own miss uses that read instead of starting one.
type Cache struct {
	ttl, negTTL  time.Duration
	max          int
	now          func() time.Time
	readTable    func() ([]Entry, error)
	hostPrefixes func() ([]netip.Prefix, error)

	hits, misses, reads, readErrors atomic.Uint64

	// reading holds a token while the table is read; snap is guarded by
	// it.
	reading chan struct{}
	snap    *snapshot

	mu      sync.RWMutex
	items   map[netip.Addr]item
	started uint64 // reads started; a miss remembers it to know which reads are newer
	// Notifications (watch.go): seq counts the changes applied, changed
	// holds the seq of the last change of an address, and every address
	// counts as changed at floor. An answer read from the table before a
	// change of its address is not cached.
	seq     uint64
	changed map[netip.Addr]uint64
	floor   uint64

	watch      func(ctx context.Context, events func(Event)) error
	watchError func(error)
	watchOnce  sync.Once
	closeOnce  sync.Once
	stopWatch  context.CancelFunc // nil when no watcher runs
	watchDone  chan struct{}

	events, dropped, flushes, watchErrors atomic.Uint64
}

// item is one cached answer.
type item struct {
	entry   Entry
	err     error // a *NotFoundError, or nil
	expires time.Time
}

// New returns an empty Cache.
func New(opts Options) *Cache {
	c := &Cache{
		ttl:          opts.TTL,
		negTTL:       opts.NegativeTTL,
		max:          opts.MaxEntries,
		now:          opts.Now,
		readTable:    opts.ReadTable,
		hostPrefixes: opts.HostPrefixes,
		reading:      make(chan struct{}, 1),
		items:        map[netip.Addr]item{},
		changed:      map[netip.Addr]uint64{},
		watch:        opts.Watch,
		watchError:   opts.WatchError,
	}
	if opts.Watch == nil && opts.ReadTable == nil && watchSupported {
		c.watch = Watch
	}
	if c.ttl <= 0 {
		c.ttl = DefaultTTL
	}
	if c.negTTL <= 0 {
		c.negTTL = c.ttl
	}
	if c.max <= 0 {
		c.max = DefaultMaxEntries
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.readTable == nil {
		c.readTable = ReadTable
	}
	if c.hostPrefixes == nil {
		c.hostPrefixes = hostPrefixes
	}
	return c
}

// Lookup returns the neighbour entry of addr: its MAC and the interface it
// is on. An address the table gives no usable MAC for is a
// [*NotFoundError] whose message says why (with the unusable entry, if
// there is one); any other error means the table could not be read, or ctx
// ended while waiting for another caller's read. IPv4-mapped IPv6
// addresses are looked up as IPv4; an IPv6 link-local address needs its
// zone, as the net package reports it for a client.
func (c *Cache) Lookup(ctx context.Context, addr netip.Addr) (Entry, error) {
	c.watchOnce.Do(c.startWatch)
	k := key(addr)
	c.mu.RLock()
	it, ok := c.items[k]
	seen := c.started
	c.mu.RUnlock()
	if ok && c.now().Before(it.expires) {
		c.hits.Add(1)
		return it.entry, it.err
	}
	c.misses.Add(1)
	if reason := addressReason(k); reason != "" {
		return c.store(k, result{err: &NotFoundError{Addr: k, Reason: reason}})
	}
	// An answer whose address changed after the table was read (a
	// notification came in meanwhile) is not kept: the table is read
	// again, once; the second answer, read after the change, is given
	// even if yet another change came in.
	for attempt := 0; ; attempt++ {
		r, seq, err := c.resolve(ctx, k, seen, attempt > 0)
		if err != nil {
			return Entry{}, err
		}
		if c.storeRead(k, r, seq) || attempt > 0 {
			return r.entry, r.err
		}
	}
}

// resolve answers for k from a read of the table started after the miss
// (which saw reads up to seen): another caller's, or its own; force
// makes it its own. seq is the count of changes applied when that read
// started.
func (c *Cache) resolve(ctx context.Context, k netip.Addr, seen uint64, force bool) (_ result, seq uint64, _ error) {
	select {
	case c.reading <- struct{}{}:
	case <-ctx.Done():
		return result{}, 0, fmt.Errorf("waiting for the neighbour table: %w", ctx.Err())
	}
	defer func() { <-c.reading }()
	snap := c.snap
	if force || snap == nil || snap.gen <= seen {
		// No read started after the miss: this caller reads.
		c.mu.Lock()
		c.started++
		gen, seq := c.started, c.seq
		c.mu.Unlock()
		c.reads.Add(1)
		entries, err := c.readTable()
		if err != nil {
			c.readErrors.Add(1)
			return result{}, 0, fmt.Errorf("reading the neighbour table: %w", err)
		}
		snap = newSnapshot(gen, entries)
		snap.seq = seq
		c.snap = snap
		c.fill(snap)
	}
	return snap.resolve(k, c.hostPrefixes), snap.seq, nil
}

// storeRead caches r for k, read from the table when seq changes had been
// applied, unless k changed since; it reports whether it did.
func (c *Cache) storeRead(k netip.Addr, r result, seq uint64) bool {
	ttl := c.ttl
	if r.err != nil {
		ttl = c.negTTL
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changedSince(k, seq) {
		return false
	}
	c.put(k, item{entry: r.entry, err: r.err, expires: now.Add(ttl)}, now)
	return true
}

// changedSince reports whether a notification about k was applied after
// the first seq ones. c.mu must be held.
func (c *Cache) changedSince(k netip.Addr, seq uint64) bool {
	return c.floor > seq || c.changed[k] > seq
}

// Stats returns the counts so far.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Reads: c.reads.Load(), ReadErrors: c.readErrors.Load(),
		Events: c.events.Load(), Dropped: c.dropped.Load(), Flushes: c.flushes.Load(), WatchErrors: c.watchErrors.Load(),
	}
}

// Len returns the number of addresses cached, expired or not.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// store caches r for k and returns it.
func (c *Cache) store(k netip.Addr, r result) (Entry, error) {
	ttl := c.ttl
	if r.err != nil {
		ttl = c.negTTL
	}
	now := c.now()
	c.mu.Lock()
	c.put(k, item{entry: r.entry, err: r.err, expires: now.Add(ttl)}, now)
	c.mu.Unlock()
	return r.entry, r.err
}

// fill caches every usable address of a fresh read, as far as there is
// room, so that the other guests' next requests are hits.
func (c *Cache) fill(s *snapshot) {
	now := c.now()
	expires := now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range s.results {
		if r.err != nil || c.changedSince(k, s.seq) {
			continue
		}
		if _, ok := c.items[k]; !ok && len(c.items) >= c.max {
			continue
		}
		c.items[k] = item{entry: r.entry, expires: expires}
	}
}

// put stores it under k, making room if the cache is full: first by
// dropping expired items, then any one. c.mu must be held.
func (c *Cache) put(k netip.Addr, it item, now time.Time) {
	if _, ok := c.items[k]; !ok && len(c.items) >= c.max {
		for old, o := range c.items {
			if !now.Before(o.expires) {
				delete(c.items, old)
			}
		}
		if len(c.items) >= c.max {
			for old := range c.items {
				delete(c.items, old)
				break
			}
		}
	}
	c.items[k] = it
}

// addressReason returns why addr cannot have a neighbour entry at all, or
// "".
func addressReason(addr netip.Addr) string {
	switch {
	case !addr.IsValid():
		return reasonInvalid
	case addr.IsLoopback():
		return reasonLoopback
	case addr.IsUnspecified() || addr.IsMulticast() || addr == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return reasonNotUnicast
	case addr.Is6() && addr.IsLinkLocalUnicast() && addr.Zone() == "":
		return reasonNoZone
	}
	return ""
}

// result is the answer for one address.
type result struct {
	entry     Entry
	err       error
	ambiguous bool
}

// snapshot is one read of the table, indexed by address.
type snapshot struct {
	gen      uint64
	seq      uint64 // changes applied when the read started
	results  map[netip.Addr]result
	prefixes []netip.Prefix // the host's, read on the first miss that needs them
	prefRead bool
}

// newSnapshot indexes entries. Where an address has several entries (on
// several interfaces), a usable one wins over unusable ones, and usable
// ones that disagree on the MAC make the address ambiguous: no answer is
// better than the wrong guest's.
func newSnapshot(gen uint64, entries []Entry) *snapshot {
	s := &snapshot{gen: gen, results: make(map[netip.Addr]result, len(entries))}
	for _, e := range entries {
		k := key(e.Addr)
		r, seen := s.results[k]
		switch {
		case !seen:
			s.results[k] = resultOf(e)
		case r.ambiguous || !e.Usable():
		case r.err != nil:
			s.results[k] = resultOf(e)
		case !bytes.Equal(r.entry.MAC, e.MAC):
			s.results[k] = result{ambiguous: true, err: &NotFoundError{Addr: k, Reason: fmt.Sprintf(
				"the entries on %s (%s) and on %s (%s) disagree, so which guest it is cannot be told",
				r.entry.iface(), r.entry.MAC, e.iface(), e.MAC)}}
		}
	}
	return s
}

// resultOf is the answer an entry gives for its address.
func resultOf(e Entry) result {
	if e.Usable() {
		return result{entry: e}
	}
	var why string
	switch e.State {
	case StateNone, StateIncomplete:
		why = "the host has not resolved its link-layer address (yet)"
	case StateFailed:
		why = "it did not answer the host's ARP or neighbour solicitations"
	case StateNoARP:
		why = "that interface does not resolve link-layer addresses (a tun or point-to-point link?)"
	default:
		why = "it has no link-layer address"
	}
	return result{entry: e, err: &NotFoundError{Addr: key(e.Addr), Reason: fmt.Sprintf(
		"the entry on %s is %s: %s", e.iface(), e.State, why)}}
}

// resolve answers for k, explaining an address the read did not find by
// the host's own addresses.
func (s *snapshot) resolve(k netip.Addr, hostPrefixes func() ([]netip.Prefix, error)) result {
	if r, ok := s.results[k]; ok {
		return r
	}
	if !s.prefRead {
		s.prefRead = true
		s.prefixes, _ = hostPrefixes() // only an explanation: without them, "routed?" stays
	}
	reason := reasonRouted
	plain := k.WithZone("")
	for _, p := range s.prefixes {
		if p.Addr() == plain {
			reason = reasonLocal
			break
		}
	}
	if reason == reasonRouted {
		for _, p := range s.prefixes {
			if p.Bits() < p.Addr().BitLen() && p.Contains(plain) {
				reason = "on the directly attached network " + p.Masked().String() +
					", but the host has no entry for it (not heard from yet?)"
				break
			}
		}
	}
	if reason == reasonRouted && plain.IsLinkLocalUnicast() {
		reason = reasonLinkLocal
	}
	return result{err: &NotFoundError{Addr: k, Reason: reason}}
}
