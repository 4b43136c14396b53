package neigh

import "net/netip"

// Peek returns the entry the cache holds for addr, without reading the
// table or waiting: ok is false when the cache holds no fresh, usable
// entry. It suits callers that must not block, such as a server counting
// an accepted connection against its guest; it counts as neither a hit
// nor a miss.
func (c *Cache) Peek(addr netip.Addr) (e Entry, ok bool) {
	k := key(addr)
	c.mu.RLock()
	it, found := c.items[k]
	c.mu.RUnlock()
	if !found || it.err != nil || !c.now().Before(it.expires) {
		return Entry{}, false
	}
	return it.entry, true
}
