package neigh

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
)

// watchRcvBuf is the receive buffer asked for the notification socket,
// so that a burst of changes (a bridge's forwarding entries share the
// group) rarely overflows it.
const watchRcvBuf = 1 << 20

// rtnlgrpNeigh is RTNLGRP_NEIGH, the group of neighbour notifications
// (linux/rtnetlink.h).
const rtnlgrpNeigh = 3

// Watch delivers the kernel's notifications of changes to the neighbour
// table (RTM_NEWNEIGH and RTM_DELNEIGH of IPv4 and IPv6 entries, from an
// rtnetlink socket bound to RTNLGRP_NEIGH, in the calling thread's network
// namespace) to events until ctx ends, when it returns nil. It first
// reports a Lost event, and one each time the socket overflowed. It
// returns an error when the socket cannot be opened or read.
func Watch(ctx context.Context, events func(Event)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening a netlink socket for neighbour notifications: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, watchRcvBuf) // the default does too
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (rtnlgrpNeigh - 1)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("subscribing to neighbour notifications (netlink RTNLGRP_NEIGH): %w", err)
	}
	recv := func(fd int, buf []byte) (int, error) {
		n, _, flags, from, err := unix.Recvmsg(fd, buf, nil, unix.MSG_DONTWAIT)
		if err != nil {
			return 0, err
		}
		if flags&unix.MSG_TRUNC != 0 {
			return 0, unix.ENOBUFS // lost, as far as the cache can tell
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			return 0, nil // not from the kernel
		}
		return n, nil
	}
	return watchSocket(ctx, fd, "netlink neighbour notifications", recv, parseNetlinkEvents, events)
}
