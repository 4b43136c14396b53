package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// attackerAddr is the loopback address the idle connections come from when
// several are usable: one guest misbehaving, apart from the measured clients.
var attackerAddr = netip.AddrFrom4([4]byte{127, 0, 0, 254})

// holdIdle opens n connections to addr from src (the zero Addr: any) that
// send the start of a request head and then nothing, as slowloris does.
// The caller closes them.
func holdIdle(ctx context.Context, addr string, n int, src netip.Addr) ([]net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	if src.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	head := []byte("GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: imdsbench\r\n")
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("idle connection %d of %d: %w", i+1, n, err)
		}
		// A server that refuses the connection at once is protecting
		// itself: not an error of the tool.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(head)
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// waitAccepted waits, up to timeout, until process pid has n descriptors
// more than before, or its count stops growing; it returns how many it
// gained, or -1 when descriptors cannot be counted (then it only pauses
// briefly, to let the server accept).
func waitAccepted(ctx context.Context, pid, before, n int, timeout time.Duration) int {
	const settle = 300 * time.Millisecond
	if before < 0 {
		sleep(ctx, settle)
		return -1
	}
	deadline := time.Now().Add(timeout)
	last, lastChange := before, time.Now()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		cur := openFiles(pid)
		if cur < 0 {
			return -1
		}
		if cur-before >= n {
			return cur - before
		}
		if cur != last {
			last, lastChange = cur, time.Now()
		} else if time.Since(lastChange) > settle {
			break
		}
		sleep(ctx, 10*time.Millisecond)
	}
	return last - before
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
