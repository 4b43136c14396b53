package neigh

import (
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Bounds of one read of the table.
const (
	readTimeout  = 2        // seconds a receive may wait for the kernel
	maxDumpBytes = 64 << 20 // a neighbour table larger than this is refused
	dumpAttempts = 3        // reads of a table that keeps changing under the dump
)

// dumpSeq numbers the dump requests of this process.
var dumpSeq atomic.Uint32

// ReadTable returns the IPv4 (ARP) and IPv6 (NDP) entries of the host's
// neighbour table, usable or not, read from the kernel by an rtnetlink
// RTM_GETNEIGH dump in the calling thread's network namespace.
func ReadTable() ([]Entry, error) {
	var err error
	for range dumpAttempts {
		var entries []Entry
		entries, err = dumpNeigh()
		if err == nil {
			nameInterfaces(entries)
			return entries, nil
		}
		if !errors.Is(err, errDumpInterrupted) {
			break
		}
	}
	return nil, err
}

// dumpNeigh sends one RTM_GETNEIGH dump request and reads the answer.
func dumpNeigh() ([]Entry, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening a netlink socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: readTimeout}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("netlink socket: setting a receive timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("binding a netlink socket: %w", err)
	}
	seq := dumpSeq.Add(1)
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if err := unix.Sendto(fd, netlinkNeighRequest(seq), 0, kernel); err != nil {
		return nil, fmt.Errorf("sending RTM_GETNEIGH: %w", err)
	}
	var entries []Entry
	buf := make([]byte, 1<<16) // more than a dump datagram holds (the kernel fills at most 32 KiB)
	total := 0
	for {
		n, _, flags, from, err := unix.Recvmsg(fd, buf, nil, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return nil, fmt.Errorf("reading the RTM_GETNEIGH dump: no answer from the kernel in %ds", readTimeout)
			}
			return nil, fmt.Errorf("reading the RTM_GETNEIGH dump: %w", err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return nil, fmt.Errorf("reading the RTM_GETNEIGH dump: a datagram larger than %d bytes", len(buf))
		}
		if total += n; total > maxDumpBytes {
			return nil, fmt.Errorf("reading the RTM_GETNEIGH dump: more than %d MiB", maxDumpBytes>>20)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		var done bool
		entries, done, err = parseNetlinkNeigh(buf[:n], seq, entries)
		if err != nil {
			return nil, err
		}
		if done {
			return entries, nil
		}
	}
}
