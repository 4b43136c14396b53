// Package connlimit caps the connections a listener holds open: in all, and
// per client, where a client is whom guestkey says (a guest, however many
// addresses it sends from; an unknown client's address, IPv6 per /64). A
// client that opens connections and sends nothing (a slowloris) or a guest
// that floods the service then uses up its own share, not everyone's. A
// connection over a cap is closed as soon as it is accepted, so it never
// waits in a queue the others wait in too.
//
// One guest cannot starve the others by construction, not only by the
// per-client cap: each known guest, and the unknown clients together, is
// guaranteed a reserve of the total ([Reserve]), and what a group holds
// beyond its reserve comes from a shared pool that is the total less all
// the reserves. A guest over its reserve can take the pool, never another
// guest's reserve; the unknown clients, however many addresses they use,
// get their reserve and the pool, never a guest's reserve.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/imdsd/imdsd/internal/guestkey"
)

// Limits are the caps; 0 means no cap.
type Limits struct {
	// Total caps the connections open at once.
	Total int
	// PerClient caps those of one client (one guestkey.Key).
	PerClient int
	// Guests is the number of known guests, each of which, and the
	// unknown clients together, is guaranteed its [Reserve] of Total.
	Guests int
}

// Reserve returns the connections guaranteed to each known guest, and to
// the unknown clients together: half the total shared out among them
// (at least one each while the total allows it), no more than PerClient.
// The other half, and whatever a group does not use of its reserve, is
// first come, first served. 0 when there is no total cap.
func Reserve(lim Limits) int {
	if lim.Total <= 0 {
		return 0
	}
	groups := max(lim.Guests, 0) + 1
	r := lim.Total / (2 * groups)
	if r == 0 && lim.Total >= groups {
		r = 1
	}
	if lim.PerClient > 0 {
		r = min(r, lim.PerClient)
	}
	return r
}

// Listener wraps a net.Listener with connection caps that may change while
// it runs.
type Listener struct {
	net.Listener
	limits  func() Limits
	key     func(remote netip.Addr, local netip.AddrPort) guestkey.Key
	refused func(perClient bool)
	mu      sync.Mutex
	t       table
}

// New wraps ln. limits is called on every accept, so a reload takes effect
// at once; key, if not nil, says whom a connection counts against (nil:
// its source address, as an unknown client); refused, if not nil, is told
// of each connection closed over a cap.
func New(ln net.Listener, limits func() Limits, key func(remote netip.Addr, local netip.AddrPort) guestkey.Key, refused func(perClient bool)) *Listener {
	return &Listener{Listener: ln, limits: limits, key: key, refused: refused, t: newTable()}
}

// Accept returns the next connection within the caps; those over a cap are
// closed without a word.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		remote, local := addrs(c)
		var k guestkey.Key
		if l.key != nil {
			k = l.key(remote, local)
		} else {
			k = guestkey.Of(remote, "")
		}
		lim := l.limits()
		l.mu.Lock()
		over, perClient := l.t.admit(k, lim)
		l.mu.Unlock()
		if !over {
			return &conn{Conn: c, l: l, key: k}, nil
		}
		// Counted before the close, so that whoever sees the connection
		// closed also sees it counted.
		if l.refused != nil {
			l.refused(perClient)
		}
		c.Close()
	}
}

func (l *Listener) release(k guestkey.Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.release(k)
}

// Open returns the number of connections held open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.total
}

// table is the accounting: connections by client, by group (a guest, or
// "" for the unknown clients) and in all. over counts the connections
// groups hold beyond the reserve, which come from the shared pool.
type table struct {
	total    int
	byClient map[guestkey.Key]int
	byGroup  map[string]int
	reserve  int // the reserve over was counted with
	over     int
}

func newTable() table {
	return table{byClient: map[guestkey.Key]int{}, byGroup: map[string]int{}}
}

// admit counts a new connection of client k unless a cap forbids it.
func (t *table) admit(k guestkey.Key, lim Limits) (over, perClient bool) {
	if r := Reserve(lim); r != t.reserve {
		t.recount(r)
	}
	if lim.PerClient > 0 && t.byClient[k] >= lim.PerClient {
		return true, true
	}
	held := t.byGroup[k.Guest]
	if lim.Total > 0 {
		if t.total >= lim.Total {
			return true, false
		}
		pool := lim.Total - (max(lim.Guests, 0)+1)*t.reserve
		if held >= t.reserve && t.over >= pool {
			return true, false
		}
	}
	t.total++
	t.byClient[k]++
	t.byGroup[k.Guest] = held + 1
	if held >= t.reserve {
		t.over++
	}
	return false, false
}

func (t *table) release(k guestkey.Key) {
	t.total--
	if n := t.byClient[k] - 1; n > 0 {
		t.byClient[k] = n
	} else {
		delete(t.byClient, k)
	}
	held := t.byGroup[k.Guest]
	if held > t.reserve {
		t.over--
	}
	if held > 1 {
		t.byGroup[k.Guest] = held - 1
	} else {
		delete(t.byGroup, k.Guest)
	}
}

// recount works out over again for a new reserve (after a reload).
func (t *table) recount(r int) {
	t.reserve, t.over = r, 0
	for _, n := range t.byGroup {
		t.over += max(n-r, 0)
	}
}

// addrs returns the client's address, unmapped and without zone, and the
// local address it connected to.
func addrs(c net.Conn) (remote netip.Addr, local netip.AddrPort) {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = ta.AddrPort().Addr().Unmap().WithZone("")
	}
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		local = ta.AddrPort()
	}
	return remote, local
}

// conn gives its place back when closed, once.
type conn struct {
	net.Conn
	l      *Listener
	key    guestkey.Key
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.key)
	}
	return err
}

// Unwrap returns the underlying connection, for socket options.
func (c *conn) Unwrap() net.Conn { return c.Conn }

// CloseWrite half-closes the connection where the transport can.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
