package neigh

// Notifications of changes to the neighbour table (issue 13): the cache
// keeps an address's MAC for its TTL, and without them an address that
// moves from one guest to another would still be taken for the first
// guest's until then. With them the answer is dropped as soon as the
// kernel reports the change, before the new holder's first request can
// be served as the old guest in all but a race of microseconds.

import (
	"bytes"
	"context"
	"time"
)

// Event is one notification of a change to the neighbour table.
type Event struct {
	// Entry is the entry as it is now (Linux RTM_NEWNEIGH, FreeBSD
	// RTM_ADD and RTM_CHANGE), or as it was (Deleted).
	Entry Entry
	// Deleted reports that the entry is gone (Linux RTM_DELNEIGH, FreeBSD
	// RTM_DELETE).
	Deleted bool
	// Lost reports that notifications may have been lost (the socket
	// overflowed, or it was just opened and changes before it were not
	// seen): anything may have changed. Entry is then unset.
	Lost bool
}

// Bounds of the watcher's retries after Watch fails.
const (
	watchRetryMin = time.Second
	watchRetryMax = 30 * time.Second
)

// startWatch starts the watcher, if the cache has one; see Options.Watch.
func (c *Cache) startWatch() {
	if c.watch == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.stopWatch, c.watchDone = cancel, make(chan struct{})
	go c.watchLoop(ctx)
}

// watchLoop runs Watch until ctx ends, starting it again after a pause
// (longer after each failure in a row) when it fails.
func (c *Cache) watchLoop(ctx context.Context) {
	defer close(c.watchDone)
	pause := watchRetryMin
	for {
		began := time.Now()
		err := c.watch(ctx, c.apply)
		if ctx.Err() != nil {
			return
		}
		// Changes from now on go unseen: forget everything, and rely on
		// the TTL until Watch is back (it reports Lost when it is).
		c.apply(Event{Lost: true})
		c.watchErrors.Add(1)
		if c.watchError != nil && err != nil {
			c.watchError(err)
		}
		if time.Since(began) > watchRetryMax {
			pause = watchRetryMin
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, watchRetryMax)
	}
}

// Close stops the watcher, if one runs, and waits for it to end. The
// cache goes on answering, relying on its TTL alone. Close is safe to call
// more than once, and concurrently with Lookup.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		c.watchOnce.Do(func() {}) // a Lookup from now on starts none
		if c.stopWatch != nil {
			c.stopWatch()
			<-c.watchDone
		}
	})
	return nil
}

// apply updates the cache for ev: the answer for its address is dropped
// unless the entry still names the cached MAC on the same interface; a
// Lost event drops every answer. Either way a read of the table started
// before is not cached for the addresses concerned.
func (c *Cache) apply(ev Event) {
	c.events.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Lost {
		c.seq++
		c.floor = c.seq
		clear(c.items)
		clear(c.changed)
		c.flushes.Add(1)
		return
	}
	e := ev.Entry
	if !e.Addr.IsValid() {
		return
	}
	k := key(e.Addr)
	it, cached := c.items[k]
	if cached && !ev.Deleted && it.err == nil && e.Usable() &&
		bytes.Equal(it.entry.MAC, e.MAC) && it.entry.IfIndex == e.IfIndex {
		return // the answer still holds (such as REACHABLE becoming STALE)
	}
	c.seq++
	if len(c.changed) >= c.max {
		clear(c.changed)
		c.floor = c.seq
	}
	c.changed[k] = c.seq
	if cached {
		delete(c.items, k)
		c.dropped.Add(1)
	}
}

// zoneEvents gives the IPv6 link-local addresses of evs their zone, the
// name of their interface, as [ReadTable] does, so that they name the
// cache's keys.
func zoneEvents(evs []Event) {
	var ll []Entry
	for _, ev := range evs {
		if a := ev.Entry.Addr; a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" {
			ll = append(ll, ev.Entry)
		}
	}
	if len(ll) == 0 {
		return
	}
	nameInterfaces(ll)
	j := 0
	for i := range evs {
		if a := evs[i].Entry.Addr; a.Is6() && a.IsLinkLocalUnicast() && a.Zone() == "" {
			evs[i].Entry = ll[j]
			j++
		}
	}
}
