// Package listen opens imdsd's listening sockets: the ones systemd passes
// (socket activation), or its own, bound with IP_FREEBIND (Linux) or
// IP_BINDANY (FreeBSD) so that imdsd can start before 169.254.169.254 is
// configured on the bridge the guests use.
package listen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
)

// Activated returns the TCP listeners systemd passed to this process, or
// none when it was not socket-activated. It clears LISTEN_FDS and friends
// so that children do not inherit them.
func Activated() ([]net.Listener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %w", err)
	}
	out := lns[:0]
	for _, ln := range lns {
		if ln != nil {
			out = append(out, ln)
		}
	}
	if len(out) == 0 && len(lns) > 0 {
		return nil, errors.New("socket activation: systemd passed no TCP stream socket (check ListenStream= in imdsd.socket)")
	}
	return out, nil
}

// TCP binds addr ("169.254.169.254:80", "[fd00:ec2::254]:80"). A specific
// address is bound even if it is not configured yet, where the system
// allows it; local reports whether the address is configured on this host
// now (false means clients reach it only once it is added).
//
// The connections it accepts get no TCP keep-alive (net's default sets it
// on every accepted connection: four setsockopt calls, a tenth of what a
// metadata request costs imdsd): an IMDS connection carries one request
// and every phase of it is bounded by a deadline, so a probe after 15 s
// of silence would never be sent. Sockets systemd passes (Activated) keep
// net's default, which cannot be changed on a listener made from a file.
func TCP(ctx context.Context, addr string) (ln net.Listener, local bool, err error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: func(network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || ap.Addr().IsUnspecified() {
			return nil
		}
		// Where the option is refused (FreeBSD without root), the bind
		// below fails on an unconfigured address and Explain says why.
		return c.Control(func(fd uintptr) { _ = freebind(fd, ap.Addr().Is6() && !ap.Addr().Is4In6()) })
	}}
	ln, err = lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, false, Explain(addr, err)
	}
	return ln, isLocal(ln.Addr()), nil
}

// Explain adds what to do to the usual reasons a bind fails.
func Explain(addr string, err error) error {
	host, _, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		freebsd, linux := AddCommands(host)
		return fmt.Errorf("%w\nthe address %s is not configured on this host; add it first, for example:\n"+
			"  FreeBSD: %s\n  Linux:   %s", err, host, freebsd, linux)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w\nports below 1024 need root (or CAP_NET_BIND_SERVICE on Linux); to try imdsd without root, use --host 127.0.0.1 --port 8000", err)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w\nanother process (another imdsd?) is listening on %s", err, addr)
	}
	return err
}

// AddCommands returns the commands that put host on a guests' bridge, on
// FreeBSD and on Linux.
func AddCommands(host string) (freebsd, linux string) {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		return "ifconfig bridge0 inet6 " + host + "/128 alias", "ip -6 addr add " + host + "/128 dev br0"
	}
	return "ifconfig bridge0 inet " + host + "/32 alias", "ip addr add " + host + "/32 dev br0"
}

// isLocal reports whether a's IP is configured on an interface of this
// host (or is a wildcard).
func isLocal(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.IsUnspecified() || ta.IP.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, ia := range addrs {
		if n, ok := ia.(*net.IPNet); ok && n.IP.Equal(ta.IP) {
			return true
		}
	}
	return false
}
