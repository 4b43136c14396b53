package neigh

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Options of FreeBSD's routing socket not in x/sys/unix (<net/route.h>).
const (
	bsdRouteMsgFilter = 1       // ROUTE_MSGFILTER: the message types to receive, 1<<type each
	watchRcvBuf       = 1 << 20 // asked for, so that bursts rarely overflow it
)

// Watch delivers the kernel's notifications of changes to the neighbour
// table (RTM_ADD, RTM_CHANGE and RTM_DELETE messages about ARP and NDP
// entries on a routing socket, of the vnet jail it runs in) to events
// until ctx ends, when it returns nil. It first reports a Lost event, and
// one each time the socket overflowed. It returns an error when the
// socket cannot be opened or read.
func Watch(ctx context.Context, events func(Event)) error {
	fd, err := unix.Socket(unix.AF_ROUTE, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.AF_UNSPEC)
	if err != nil {
		return fmt.Errorf("opening a routing socket for neighbour notifications: %w", err)
	}
	// Only the messages that can be about neighbour entries (FreeBSD 13
	// and later; older ones deliver all, which the parser skips).
	_ = unix.SetsockoptInt(fd, unix.AF_ROUTE, bsdRouteMsgFilter, 1<<bsdRTMAdd|1<<bsdRTMDelete|1<<bsdRTMChange)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, watchRcvBuf)
	recv := func(fd int, buf []byte) (int, error) { return unix.Read(fd, buf) }
	parse := func(b []byte, evs []Event) ([]Event, error) {
		return parseRouteEvents(b, strconv.IntSize/8, binary.NativeEndian, evs)
	}
	return watchSocket(ctx, fd, "routing socket", recv, parse, events)
}
