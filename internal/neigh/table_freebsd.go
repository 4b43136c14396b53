package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Bounds of one read of the table.
const (
	maxDumpBytes  = 64 << 20 // a neighbour table larger than this is refused
	sysctlRetries = 5        // reads of a table that keeps growing between the sizing and the read
)

// The layouts the parser assumes, checked at compile time against those
// x/sys/unix took from FreeBSD's headers: an index out of range does not
// compile.
var (
	_ = [1]struct{}{}[unix.SizeofRtMsghdr-(32+15*strconv.IntSize/8)]
	_ = [1]struct{}{}[unix.SizeofSockaddrDatalink-54]
	_ = [1]struct{}{}[unix.SizeofSockaddrInet6-28]
	_ = [1]struct{}{}[unix.SizeofSockaddrInet4-16]
)

// ReadTable returns the IPv4 (ARP) and IPv6 (NDP) entries of the host's
// neighbour table (of the vnet jail it runs in), usable or not, read by the
// routing sysctl {CTL_NET, PF_ROUTE, 0, af, NET_RT_FLAGS, RTF_LLINFO}, the
// way arp -an and ndp -an read it.
func ReadTable() ([]Entry, error) {
	var entries []Entry
	for _, af := range []int32{unix.AF_INET, unix.AF_INET6} {
		b, err := sysctlLLInfo(af)
		if err != nil {
			return nil, err
		}
		e, err := parseRouteDump(b, strconv.IntSize/8, binary.NativeEndian)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e...)
	}
	nameInterfaces(entries)
	return entries, nil
}

// sysctlLLInfo returns the raw llinfo messages of address family af.
func sysctlLLInfo(af int32) ([]byte, error) {
	mib := [6]int32{unix.CTL_NET, unix.AF_ROUTE, 0, af, unix.NET_RT_FLAGS, unix.RTF_LLINFO}
	for range sysctlRetries {
		var n uintptr
		if err := sysctl(mib[:], nil, &n); err != nil {
			return nil, fmt.Errorf("sizing the neighbour table (sysctl net.route.0.%d.flags.llinfo): %w", af, err)
		}
		if n == 0 {
			return nil, nil
		}
		n += n / 8 // room for entries added in between
		if n > maxDumpBytes {
			return nil, fmt.Errorf("the neighbour table of family %d takes more than %d MiB", af, maxDumpBytes>>20)
		}
		b := make([]byte, n)
		if err := sysctl(mib[:], &b[0], &n); err != nil {
			if errors.Is(err, unix.ENOMEM) {
				continue // it grew past the room: size it again
			}
			return nil, fmt.Errorf("reading the neighbour table (sysctl net.route.0.%d.flags.llinfo): %w", af, err)
		}
		return b[:n], nil
	}
	return nil, fmt.Errorf("reading the neighbour table of family %d: it kept growing while read", af)
}

// sysctl calls __sysctl(2) with a numeric name, which unix.Sysctl* do not
// take.
func sysctl(mib []int32, old *byte, oldlen *uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS___SYSCTL,
		uintptr(unsafe.Pointer(&mib[0])), uintptr(len(mib)),
		uintptr(unsafe.Pointer(old)), uintptr(unsafe.Pointer(oldlen)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
