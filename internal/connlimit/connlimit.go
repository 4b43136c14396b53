// Package connlimit caps the connections a listener holds open: in all, and
// per client address. A client that opens connections and sends nothing (a
// slowloris) or a guest that floods the service then uses up its own share,
// not everyone's. A connection over a cap is closed as soon as it is
// accepted, so it never waits in a queue the others wait in too.
package connlimit

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Limits are the caps; 0 means no cap.
type Limits struct {
	Total     int
	PerClient int
}

// Listener wraps a net.Listener with connection caps that may change while
// it runs.
type Listener struct {
	net.Listener
	limits   func() Limits
	refused  func(perClient bool)
	mu       sync.Mutex
	total    int
	byClient map[netip.Addr]int
}

// New wraps ln. limits is called on every accept, so a reload takes effect
// at once; refused, if not nil, is told of each connection closed over a
// cap.
func New(ln net.Listener, limits func() Limits, refused func(perClient bool)) *Listener {
	return &Listener{Listener: ln, limits: limits, refused: refused, byClient: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; those over a cap are
// closed without a word.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientAddr(c)
		over, perClient := l.admit(addr)
		if !over {
			return &conn{Conn: c, l: l, addr: addr}, nil
		}
		c.Close()
		if l.refused != nil {
			l.refused(perClient)
		}
	}
}

// admit counts a new connection from addr unless a cap forbids it.
func (l *Listener) admit(addr netip.Addr) (over, perClient bool) {
	lim := l.limits()
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim.Total > 0 && l.total >= lim.Total {
		return true, false
	}
	if lim.PerClient > 0 && addr.IsValid() && l.byClient[addr] >= lim.PerClient {
		return true, true
	}
	l.total++
	if addr.IsValid() {
		l.byClient[addr]++
	}
	return false, false
}

func (l *Listener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if addr.IsValid() {
		if n := l.byClient[addr] - 1; n > 0 {
			l.byClient[addr] = n
		} else {
			delete(l.byClient, addr)
		}
	}
}

// Open returns the number of connections held open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

func clientAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}

// conn gives its place back when closed, once.
type conn struct {
	net.Conn
	l      *Listener
	addr   netip.Addr
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.addr)
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
