package connlimit

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/guestkey"
)

// dial connects from a given loopback source address.
func dial(t *testing.T, addr, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer reports whether the server closed c without a word.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	return err == io.EOF
}

func TestCaps(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var perClient, total atomic.Int32
	var limits atomic.Pointer[Limits]
	limits.Store(&Limits{Total: 3, PerClient: 2})
	l := New(raw, func() Limits { return *limits.Load() }, nil, func(pc bool) {
		if pc {
			perClient.Add(1)
		} else {
			total.Add(1)
		}
	})
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	addr := raw.Addr().String()
	take := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(2 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}

	dial(t, addr, "127.0.0.1")
	a1 := take()
	dial(t, addr, "127.0.0.1")
	take()
	over := dial(t, addr, "127.0.0.1") // a third from the same client
	if !closedByServer(over) || perClient.Load() != 1 {
		t.Fatalf("third connection from one client: per-client refusals %d, want 1", perClient.Load())
	}
	dial(t, addr, "127.0.0.2")
	take()
	if l.Open() != 3 {
		t.Fatalf("Open() = %d, want 3", l.Open())
	}
	over = dial(t, addr, "127.0.0.3") // over the total
	if !closedByServer(over) || total.Load() != 1 {
		t.Fatalf("fourth connection: total refusals %d", total.Load())
	}
	// Closing gives the place back, once however often it is closed.
	a1.Close()
	a1.Close()
	if l.Open() != 2 {
		t.Fatalf("Open() after close = %d, want 2", l.Open())
	}
	dial(t, addr, "127.0.0.1")
	take()
	// Limits read on every accept: lifting them takes effect at once.
	limits.Store(&Limits{})
	for i := 0; i < 3; i++ {
		dial(t, addr, "127.0.0.1")
		take()
	}
}

// unknown is the key of an unknown client: the nth /64.
func unknown(n int) guestkey.Key {
	return guestkey.Of(netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::1", n)), "")
}

// TestOneGuestCannotStarveAnother is issue 10's attack, in the table: a
// guest, or unknown clients, using many addresses take all they can; every
// known guest can still open its reserve.
func TestOneGuestCannotStarveAnother(t *testing.T) {
	lim := Limits{Total: 64, PerClient: 32, Guests: 2}
	r := Reserve(lim)
	if r != 10 {
		t.Fatalf("Reserve(%+v) = %d, want 64/(2*3)", lim, r)
	}
	tb := newTable()
	// Unknown clients from 16 networks (link-local addresses are all
	// one), as many connections as they are let have.
	unknownHeld := 0
	for i := range 16 {
		for range 100 {
			if over, _ := tb.admit(unknown(i), lim); !over {
				unknownHeld++
			}
		}
	}
	// Guest A, from 16 addresses, is still one client.
	a := guestkey.Of(netip.MustParseAddr("10.0.0.11"), "i-a")
	aHeld := 0
	for range 100 {
		if over, _ := tb.admit(a, lim); !over {
			aHeld++
		}
	}
	if aHeld < r {
		t.Fatalf("guest A got %d connections, fewer than its reserve %d", aHeld, r)
	}
	b := guestkey.Of(netip.MustParseAddr("10.0.0.12"), "i-b")
	for i := range r {
		if over, _ := tb.admit(b, lim); over {
			t.Fatalf("guest B refused its connection %d of a reserve of %d (unknown hold %d, A %d)", i+1, r, unknownHeld, aHeld)
		}
	}
	if over, _ := tb.admit(b, lim); !over {
		t.Fatal("guest B got more than its reserve with the pool taken")
	}
	if tb.total > lim.Total {
		t.Fatalf("%d connections open, over the total %d", tb.total, lim.Total)
	}
	// What a group gives back is there for the others.
	tb.release(unknown(0))
	if over, _ := tb.admit(b, lim); over {
		t.Fatal("a connection given back to the pool was not there for guest B")
	}
}

// TestReserveHolds: whatever the order of connections and closes, a known
// guest holding less than its reserve is admitted, and the total is never
// passed.
func TestReserveHolds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lim := range []Limits{
		{Total: 64, PerClient: 32, Guests: 2},
		{Total: 100, PerClient: 0, Guests: 5},
		{Total: 10, PerClient: 3, Guests: 20}, // fewer slots than groups
		{Total: 4096, PerClient: 256, Guests: 1},
	} {
		tb := newTable()
		r := Reserve(lim)
		var open []guestkey.Key
		for range 20000 {
			if len(open) > 0 && rng.IntN(3) == 0 {
				i := rng.IntN(len(open))
				tb.release(open[i])
				open[i] = open[len(open)-1]
				open = open[:len(open)-1]
				continue
			}
			var k guestkey.Key
			if g := rng.IntN(lim.Guests + 1); g < lim.Guests {
				k = guestkey.Key{Guest: fmt.Sprintf("i-%d", g)}
			} else {
				k = unknown(rng.IntN(50))
			}
			held := tb.byGroup[k.Guest]
			over, _ := tb.admit(k, lim)
			if !over {
				open = append(open, k)
			} else if k.Known() && held < r {
				t.Fatalf("%+v: guest %s holding %d was refused within its reserve %d", lim, k, held, r)
			}
			if tb.total > lim.Total {
				t.Fatalf("%+v: %d open, over the total", lim, tb.total)
			}
		}
		for _, k := range open {
			tb.release(k)
		}
		if tb.total != 0 || tb.over != 0 || len(tb.byClient) != 0 || len(tb.byGroup) != 0 {
			t.Fatalf("%+v: after closing everything: %+v", lim, tb)
		}
	}
}

// TestReloadChangesReserve: a reload that changes the reserve recounts
// what is over it.
func TestReloadChangesReserve(t *testing.T) {
	tb := newTable()
	g := guestkey.Key{Guest: "i-a"}
	lim := Limits{Total: 40, Guests: 1} // reserve 10
	for range 15 {
		tb.admit(g, lim)
	}
	if tb.over != 5 {
		t.Fatalf("over = %d, want 5", tb.over)
	}
	lim.Guests = 4 // reserve 4
	tb.admit(g, lim)
	if tb.reserve != 4 || tb.over != 12 {
		t.Fatalf("after the reload: reserve %d over %d, want 4 and 12", tb.reserve, tb.over)
	}
	for range 16 {
		tb.release(g)
	}
	if tb.over != 0 || tb.total != 0 {
		t.Fatalf("after closing: %+v", tb)
	}
}

func TestKeyFunc(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// 127.0.0.1 and 127.0.0.2 are one guest: its cap is shared.
	l := New(raw, func() Limits { return Limits{PerClient: 1} }, func(remote netip.Addr, local netip.AddrPort) guestkey.Key {
		if !local.IsValid() {
			t.Errorf("no local address for %s", remote)
		}
		return guestkey.Of(remote, "i-a")
	}, nil)
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial(t, raw.Addr().String(), "127.0.0.1")
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("no connection accepted")
	}
	if over := dial(t, raw.Addr().String(), "127.0.0.2"); !closedByServer(over) {
		t.Fatal("a second address of the same guest got past its cap of 1")
	}
}
