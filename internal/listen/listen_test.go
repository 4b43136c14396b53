package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		err  error
		want []string
	}{
		{syscall.EADDRNOTAVAIL, []string{"not configured on this host", "ifconfig bridge0 inet 169.254.169.254/32 alias", "ip addr add 169.254.169.254/32 dev br0"}},
		{syscall.EACCES, []string{"need root", "--host 127.0.0.1 --port 8000"}},
		{syscall.EADDRINUSE, []string{"another process", "169.254.169.254:80"}},
	}
	for _, tt := range tests {
		err := Explain("169.254.169.254:80", fmt.Errorf("listen tcp 169.254.169.254:80: bind: %w", tt.err))
		if !errors.Is(err, tt.err) {
			t.Errorf("Explain lost the cause %v", tt.err)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Explain(%v) = %q, want it to contain %q", tt.err, err, w)
			}
		}
	}
}

func TestTCPLoopback(t *testing.T) {
	ln, local, err := TCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !local {
		t.Error("127.0.0.1 reported as not configured")
	}
}

func TestActivatedWithoutSystemd(t *testing.T) {
	t.Setenv("LISTEN_FDS", "")
	lns, err := Activated()
	if err != nil || len(lns) != 0 {
		t.Fatalf("Activated() = %v, %v; want none and no error", lns, err)
	}
}

// TestTCPNoKeepAlive checks that accepted connections are left without
// TCP keep-alive, which net would otherwise set on each.
func TestTCPNoKeepAlive(t *testing.T) {
	ln, _, err := TCP(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	var serr error
	if err := rc.Control(func(fd uintptr) { on, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	if on != 0 {
		t.Errorf("SO_KEEPALIVE = %d on an accepted connection, want 0", on)
	}
}
