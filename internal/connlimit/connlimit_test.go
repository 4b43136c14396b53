package connlimit

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
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
	l := New(raw, func() Limits { return *limits.Load() }, func(pc bool) {
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
