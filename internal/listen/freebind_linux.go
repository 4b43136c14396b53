package listen

import "golang.org/x/sys/unix"

// freebind lets the socket bind an address not (yet) configured.
func freebind(fd uintptr, v6 bool) error {
	if v6 {
		return unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
	}
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_FREEBIND, 1)
}
