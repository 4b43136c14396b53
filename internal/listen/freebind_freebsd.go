package listen

import "golang.org/x/sys/unix"

// freebind lets the socket bind an address not (yet) configured. It needs
// root (PRIV_NETINET_BINDANY); without it the bind fails as usual.
func freebind(fd uintptr, v6 bool) error {
	if v6 {
		return unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_BINDANY, 1)
	}
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BINDANY, 1)
}
