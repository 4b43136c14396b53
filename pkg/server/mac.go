package server

// Guests known by their MAC address (issue 13). When an entry of the
// configuration matches guests by MAC address, the Server finds the MAC
// of each client through a MACResolver, by default the host's neighbour
// table read through a cache of its own (internal/neigh), kept across
// reloads. A configuration that matches by address alone never asks.
//
// Precedence: an exact address (a /32 or /128 of a match) first, then a
// MAC address, then networks, then the default instance. An exact address
// is the most specific thing a file can say; a MAC address names one
// guest, a network many.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/imdsd/imdsd/internal/guestkey"
	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/internal/neigh"
	"github.com/imdsd/imdsd/pkg/config"
)

// A MACResolver tells the MAC address of a client on a network the host
// is directly attached to, for the entries of a configuration that match
// guests by MAC address ([config.Entry.MACs]). It is asked for every
// request of a client that no entry matches by exact address, so it
// should answer from a cache.
type MACResolver interface {
	// ResolveMAC returns the MAC address of the client at addr, an
	// address as the client's connection gives it (an IPv6 link-local
	// one with its zone). An error says why there is none, in words for
	// the log; the client is then an unknown client (or matched by a
	// network).
	ResolveMAC(ctx context.Context, addr netip.Addr) (net.HardwareAddr, error)
}

// MACResolverFunc makes a function a [MACResolver].
type MACResolverFunc func(ctx context.Context, addr netip.Addr) (net.HardwareAddr, error)

// ResolveMAC calls f.
func (f MACResolverFunc) ResolveMAC(ctx context.Context, addr netip.Addr) (net.HardwareAddr, error) {
	return f(ctx, addr)
}

// NeighbourTTL is how long the Server's own MAC resolver (used when
// Options.MACResolver is nil) keeps what it read from the host's
// neighbour table: an address found, or not found. An answer is dropped
// before that as soon as the kernel reports a change of the address's
// entry (netlink on Linux, the routing socket on FreeBSD), so an address
// that moves from one guest to another is not taken for the old one's;
// only where those notifications cannot be had (the Server logs why) is
// NeighbourTTL the longest time the new holder may be. It is also the
// shortest time between two log lines about one client whose MAC address
// cannot be found.
const NeighbourTTL = neigh.DefaultTTL

// neighbours is the Server's own MACResolver: the host's neighbour table,
// through a cache that follows the kernel's notifications of changes from
// the first lookup until [Server.Shutdown] closes it.
type neighbours struct{ c *neigh.Cache }

func newNeighbours(log *slog.Logger) neighbours {
	return neighbours{neigh.New(neigh.Options{
		TTL: NeighbourTTL,
		WatchError: func(err error) {
			log.Warn("no notifications of changes to the neighbour table: MAC addresses are kept for their full time, so an address that moves to another guest may be taken for the old one's meanwhile; retrying",
				"err", err, "kept", NeighbourTTL)
		},
	})}
}

// close stops following the kernel's notifications.
func (n neighbours) close() { n.c.Close() }

func (n neighbours) ResolveMAC(ctx context.Context, addr netip.Addr) (net.HardwareAddr, error) {
	e, err := n.c.Lookup(ctx, addr)
	if err != nil {
		return nil, err
	}
	return e.MAC, nil
}

// cachedMAC answers from the cache alone, never blocking; see
// [Server.guestKey].
func (n neighbours) cachedMAC(addr netip.Addr) (net.HardwareAddr, bool) {
	e, ok := n.c.Peek(addr)
	return e.MAC, ok
}

// cachedResolver is a MACResolver that can answer without blocking.
type cachedResolver interface {
	cachedMAC(addr netip.Addr) (net.HardwareAddr, bool)
}

// maxClientInstances bounds the instances made for clients matched by MAC
// address (one per entry, address and MAC address): enough for every
// guest of a large host and the addresses it had lately.
const maxClientInstances = 4096

// macTable is what a configuration that matches guests by MAC address
// needs: the entries' instances by MAC address, and the instances made
// for clients.
type macTable struct {
	byMAC    map[[6]byte][]*instance
	launched time.Time

	mu      sync.Mutex
	clients map[clientKey]*instance
}

// clientKey names the instance of one client matched by MAC address.
type clientKey struct {
	in   *instance // the entry's
	addr netip.Addr
	mac  [6]byte
}

// addMACs records in's entry's MAC addresses in st.
func (st *state) addMACs(e *config.Entry, in *instance, launched time.Time) {
	if len(e.MACs) == 0 {
		return
	}
	if st.mac == nil {
		st.mac = &macTable{byMAC: map[[6]byte][]*instance{}, launched: launched, clients: map[clientKey]*instance{}}
	}
	in.entry = e
	for _, m := range e.MACs {
		k := [6]byte(m)
		st.mac.byMAC[k] = append(st.mac.byMAC[k], in)
	}
}

// macFor returns the entry instance matching mac for connections to
// local, or nil.
func (t *macTable) macFor(mac net.HardwareAddr, local netip.AddrPort) *instance {
	if len(mac) != 6 {
		return nil
	}
	for _, in := range t.byMAC[[6]byte(mac)] {
		if in.serves(local) {
			return in
		}
	}
	return nil
}

// forClient returns the instance in (an entry's) serves a client at addr
// with MAC address mac: its own, with local_ipv4 and mac derived from the
// client where the entry leaves them out (config.Entry.ForClient), and
// bound to mac for tokens. Each is made once and kept, up to
// maxClientInstances.
func (t *macTable) forClient(in *instance, addr netip.Addr, mac net.HardwareAddr) *instance {
	k := clientKey{in: in, addr: addr, mac: [6]byte(mac)}
	t.mu.Lock()
	c, ok := t.clients[k]
	t.mu.Unlock()
	if ok {
		return c
	}
	c = in.clone()
	c.mac = append(net.HardwareAddr(nil), mac...)
	if cfg := in.entry.ForClient(addr, mac); cfg != in.cfg {
		c.cfg = cfg
		c.tree = metadata.Build(cfg, t.launched)
		c.modified = []string{c.tree.Modified.UTC().Format(http.TimeFormat)}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev, ok := t.clients[k]; ok { // made meanwhile by another request
		return prev
	}
	if len(t.clients) >= maxClientInstances {
		for old := range t.clients { // any one: the map's order is random
			delete(t.clients, old)
			break
		}
	}
	t.clients[k] = c
	return c
}

// clone returns a copy of in for one client, sharing its configuration,
// tree and timeline (its life is the guest's, whatever its address). What
// the transition goroutine writes (lifeFrom) is not read: it reports the
// entry's instance, never a client's.
func (in *instance) clone() *instance {
	return &instance{
		cfg: in.cfg, tree: in.tree, id: in.id, listen: in.listen, match: in.match,
		label: in.label, modified: in.modified, count: in.count, entry: in.entry,
		tl: in.tl, dyn: in.dyn, listings: in.listings,
	}
}

// clientInstance returns the instance serving r, from client at local, or
// nil when it is refused; see the precedence above. why, when not nil,
// says why the client's MAC address matched no entry (for the log),
// whatever the client got in the end.
func (s *Server) clientInstance(ctx context.Context, st *state, r *http.Request, client netip.Addr, local netip.AddrPort) (in *instance, why error) {
	if st.mac == nil {
		return st.instanceFor(client, local), nil
	}
	if in := st.exactFor(client, local); in != nil {
		return in, nil
	}
	addr := client
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		addr = ap.Addr().Unmap() // with its zone, which a link-local entry needs
	}
	mac, err := s.macs.ResolveMAC(ctx, addr)
	switch {
	case err != nil:
		why = err
	case st.mac.macFor(mac, local) == nil:
		why = &unmatchedMAC{mac: mac}
	default:
		return st.mac.forClient(st.mac.macFor(mac, local), client, mac), nil
	}
	if in := st.netFor(client, local); in != nil {
		return in, why
	}
	return st.def, why
}

// unmatchedMAC says that a client's MAC address is no entry's.
type unmatchedMAC struct{ mac net.HardwareAddr }

func (e *unmatchedMAC) Error() string {
	return "its MAC address " + e.mac.String() + " is in no instance's match or mac"
}

// guestKey says whom a connection from addr to local counts against: see
// [state.guestKey]. A client that would be matched by MAC address counts
// against its guest when the MAC resolver knows its MAC address without
// asking the system (the Server's own does, for NeighbourTTL after the
// client's last request that needed the table); otherwise, against its
// address, as an unknown client. Accepting is never held up by a read
// of the neighbour table, and connections to imdsd are short (every
// answer closes its connection).
func (s *Server) guestKey(st *state, addr netip.Addr, local netip.AddrPort) guestkey.Key {
	if st.mac == nil {
		return st.guestKey(addr, local)
	}
	if in := st.exactFor(addr, local); in != nil {
		return guestkey.Of(addr, in.guestID())
	}
	if cr, ok := s.macs.(cachedResolver); ok {
		if mac, ok := cr.cachedMAC(addr); ok {
			if in := st.mac.macFor(mac, local); in != nil {
				return guestkey.Of(addr, in.guestID())
			}
		}
	}
	if in := st.netFor(addr, local); in != nil {
		return guestkey.Of(addr, in.guestID())
	}
	return guestkey.Of(addr, "")
}

// unknownLog rate-limits the log lines about clients whose MAC address
// matched nothing: one per client per NeighbourTTL at most, for at most
// maxLogged clients at a time.
type unknownLog struct {
	mu   sync.Mutex
	next map[netip.Addr]time.Time
}

const maxLogged = 4096

// allow reports whether a line about client may be logged now.
func (l *unknownLog) allow(client netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == nil {
		l.next = map[netip.Addr]time.Time{}
	}
	if t, ok := l.next[client]; ok && now.Before(t) {
		return false
	}
	if len(l.next) >= maxLogged {
		for a, t := range l.next {
			if !now.Before(t) {
				delete(l.next, a)
			}
		}
		if len(l.next) >= maxLogged {
			return false // a flood of clients: the lines of those known go on
		}
	}
	l.next[client] = now.Add(NeighbourTTL)
	return true
}

// logUnknown says why a client was not matched by its MAC address.
func (s *Server) logUnknown(ctx context.Context, client netip.Addr, why error) {
	if ctx.Err() != nil || !s.unknown.allow(client, time.Now()) {
		return
	}
	var um *unmatchedMAC
	if errors.As(why, &um) {
		s.log.Info("unknown client: no instance matches its MAC address", "client", client, "mac", um.mac.String())
		return
	}
	s.log.Warn("unknown client: its MAC address cannot be found", "client", client, "reason", why.Error())
}
