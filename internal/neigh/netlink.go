package neigh

// Parsing of Linux rtnetlink neighbour messages (RTM_NEWNEIGH, the answer
// to an RTM_GETNEIGH dump). It is here, not in a _linux.go file, so that
// its tests run everywhere; the constants are Linux's (linux/netlink.h,
// linux/rtnetlink.h, linux/neighbour.h), which are the same on every
// architecture, and netlink data is in the host's byte order.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

const (
	nlmsgHdrLen = 16 // struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32
	ndmsgLen    = 12 // struct ndmsg: family u8, pad u8, pad u16, ifindex s32, state u16, flags u8, type u8
	rtaHdrLen   = 4  // struct rtattr: len u16, type u16

	nlmsgError  = 0x2
	nlmsgDone   = 0x3
	rtmNewNeigh = 28
	rtmDelNeigh = 29
	rtmGetNeigh = 30

	nlmFRequest  = 0x1
	nlmFMulti    = 0x2
	nlmFDumpIntr = 0x10
	nlmFDump     = 0x300 // NLM_F_ROOT|NLM_F_MATCH

	ndaDst    = 1
	ndaLLAddr = 2

	ntfProxy = 0x08

	linuxAFInet  = 2
	linuxAFInet6 = 10

	nudIncomplete = 0x01
	nudReachable  = 0x02
	nudStale      = 0x04
	nudDelay      = 0x08
	nudProbe      = 0x10
	nudFailed     = 0x20
	nudNoARP      = 0x40
	nudPermanent  = 0x80

	maxLLAddrLen = 32 // MAX_ADDR_LEN
)

// nlAlign rounds n up to netlink's 4-byte alignment (NLMSG_ALIGN,
// RTA_ALIGN).
func nlAlign(n int) int { return (n + 3) &^ 3 }

// netlinkNeighRequest returns an RTM_GETNEIGH dump request for all address
// families, numbered seq.
func netlinkNeighRequest(seq uint32) []byte {
	b := make([]byte, nlmsgHdrLen+ndmsgLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], rtmGetNeigh)
	ne.PutUint16(b[6:], nlmFRequest|nlmFDump)
	ne.PutUint32(b[8:], seq)
	// pid 0, ndmsg all zero: family AF_UNSPEC, any interface.
	return b
}

// errDumpInterrupted reports a dump the kernel marked inconsistent
// (NLM_F_DUMP_INTR): the table changed while it was read.
var errDumpInterrupted = errors.New("the neighbour table changed while it was read")

// parseNetlinkNeigh parses the messages of one netlink datagram, an answer
// to the dump numbered seq, appending the IPv4 and IPv6 neighbours to
// entries. done reports the end of the dump (NLMSG_DONE). Messages of
// other requests are skipped; an NLMSG_ERROR is returned as an error.
func parseNetlinkNeigh(b []byte, seq uint32, entries []Entry) (_ []Entry, done bool, err error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return entries, false, fmt.Errorf("netlink: %d bytes left, too short for a message header", len(b))
		}
		msgLen := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		flags := ne.Uint16(b[6:])
		msgSeq := ne.Uint32(b[8:])
		if msgLen < nlmsgHdrLen || msgLen > len(b) {
			return entries, false, fmt.Errorf("netlink: message length %d out of bounds (%d bytes left)", msgLen, len(b))
		}
		body := b[nlmsgHdrLen:msgLen]
		if next := nlAlign(msgLen); next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if msgSeq != seq {
			continue
		}
		if flags&nlmFDumpIntr != 0 {
			return entries, false, errDumpInterrupted
		}
		switch typ {
		case nlmsgDone:
			return entries, true, nil
		case nlmsgError:
			if len(body) < 4 {
				return entries, false, errors.New("netlink: truncated error message")
			}
			if errno := int32(ne.Uint32(body)); errno != 0 {
				return entries, false, fmt.Errorf("netlink: %w", syscall.Errno(-errno))
			}
		case rtmNewNeigh:
			e, ok, err := parseNdmsg(body)
			if err != nil {
				return entries, false, err
			}
			if ok {
				entries = append(entries, e)
			}
		}
	}
	return entries, false, nil
}

// parseNetlinkEvents parses the messages of one datagram of an rtnetlink
// socket bound to RTNLGRP_NEIGH, appending an [Event] for each IPv4 and
// IPv6 neighbour added, changed (RTM_NEWNEIGH) or deleted (RTM_DELNEIGH).
// Other messages are skipped.
func parseNetlinkEvents(b []byte, evs []Event) ([]Event, error) {
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return evs, fmt.Errorf("netlink: %d bytes left, too short for a message header", len(b))
		}
		msgLen := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		if msgLen < nlmsgHdrLen || msgLen > len(b) {
			return evs, fmt.Errorf("netlink: message length %d out of bounds (%d bytes left)", msgLen, len(b))
		}
		body := b[nlmsgHdrLen:msgLen]
		if next := nlAlign(msgLen); next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if typ != rtmNewNeigh && typ != rtmDelNeigh {
			continue
		}
		e, ok, err := parseNdmsg(body)
		if err != nil {
			return evs, err
		}
		if ok {
			evs = append(evs, Event{Entry: e, Deleted: typ == rtmDelNeigh})
		}
	}
	return evs, nil
}

// parseNdmsg parses the body of an RTM_NEWNEIGH message: an ndmsg and its
// attributes. ok is false for entries that are not an IPv4 or IPv6
// neighbour (bridge FDB entries, proxy entries, no destination).
func parseNdmsg(b []byte) (_ Entry, ok bool, err error) {
	ne := binary.NativeEndian
	if len(b) < ndmsgLen {
		return Entry{}, false, fmt.Errorf("netlink: neighbour message of %d bytes, too short for an ndmsg", len(b))
	}
	family := b[0]
	e := Entry{IfIndex: int(int32(ne.Uint32(b[4:]))), State: nudState(ne.Uint16(b[8:]))}
	flags := b[10]
	if (family != linuxAFInet && family != linuxAFInet6) || flags&ntfProxy != 0 {
		return Entry{}, false, nil
	}
	for a := b[nlAlign(ndmsgLen):]; len(a) >= rtaHdrLen; {
		l := int(ne.Uint16(a[0:]))
		typ := ne.Uint16(a[2:]) & 0x3fff // without NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < rtaHdrLen || l > len(a) {
			return Entry{}, false, fmt.Errorf("netlink: attribute length %d out of bounds (%d bytes left)", l, len(a))
		}
		v := a[rtaHdrLen:l]
		switch typ {
		case ndaDst:
			ip, good := netip.AddrFromSlice(v)
			if !good || (family == linuxAFInet) != (len(v) == 4) {
				return Entry{}, false, fmt.Errorf("netlink: NDA_DST of %d bytes in a family %d entry", len(v), family)
			}
			e.Addr = ip
		case ndaLLAddr:
			if len(v) > maxLLAddrLen {
				return Entry{}, false, fmt.Errorf("netlink: NDA_LLADDR of %d bytes", len(v))
			}
			e.MAC = net.HardwareAddr(append([]byte(nil), v...))
		}
		if n := nlAlign(l); n < len(a) {
			a = a[n:]
		} else {
			break
		}
	}
	if !e.Addr.IsValid() {
		return Entry{}, false, nil
	}
	return e, true, nil
}

// nudState maps a Linux NUD state onto a State.
func nudState(nud uint16) State {
	switch {
	case nud&nudPermanent != 0:
		return StatePermanent
	case nud&nudNoARP != 0:
		return StateNoARP
	case nud&nudFailed != 0:
		return StateFailed
	case nud&nudIncomplete != 0:
		return StateIncomplete
	case nud&nudReachable != 0:
		return StateReachable
	case nud&nudStale != 0:
		return StateStale
	case nud&nudDelay != 0:
		return StateDelay
	case nud&nudProbe != 0:
		return StateProbe
	}
	return StateNone
}
