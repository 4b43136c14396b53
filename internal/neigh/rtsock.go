package neigh

// Parsing of FreeBSD's neighbour table as the routing sysctl
// {CTL_NET, PF_ROUTE, 0, af, NET_RT_FLAGS, RTF_LLINFO} returns it. It is
// here, not in a _freebsd.go file, so that its tests run on any system.
//
// The kernel writes one message per entry (in_lltable_dump_entry in
// sys/netinet/in.c, in6_lltable_dump_entry in sys/netinet6/in6.c):
//
//	struct rt_msghdr    rtm;  rtm_type RTM_GET, rtm_addrs RTA_DST|RTA_GATEWAY
//	struct sockaddr_in  sin;  or sockaddr_in6, then 4 bytes of padding on LP64
//	struct sockaddr_dl  sdl;  sdl_alen 0 unless the entry is LLE_VALID
//
// rtm_msglen is the size of that struct. The addresses follow the header
// in RTAX_* order, each rounded up to a multiple of sizeof(long) (SA_SIZE in
// <net/route.h>), which is where the padding after sockaddr_in6 comes from.
// The parser walks them that way rather than trusting fixed offsets.
//
// struct rt_msghdr (<net/route.h>), with L = sizeof(long):
//
//	0  u_short rtm_msglen      16  pid_t rtm_pid
//	2  u_char  rtm_version     20  int   rtm_seq
//	3  u_char  rtm_type        24  int   rtm_errno
//	4  u_short rtm_index       28  int   rtm_fmask
//	6  u_short _rtm_spare1     32  u_long rtm_inits
//	8  int     rtm_flags       32+L struct rt_metrics rtm_rmx: 14 u_longs
//	12 int     rtm_addrs            (rmx_weight, the 11th, holds ND6's ln_state)
//
// sizeof(struct rt_msghdr) is 32+15L: 152 on amd64 and arm64.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// FreeBSD's constants (<sys/socket.h>, <net/route.h>, <netinet6/nd6.h>).
const (
	bsdRTMVersion = 5 // RTM_VERSION
	bsdRTMGet     = 4 // RTM_GET

	bsdAFInet  = 2  // AF_INET
	bsdAFLink  = 18 // AF_LINK
	bsdAFInet6 = 28 // AF_INET6

	bsdRTAXDst     = 0 // RTAX_DST
	bsdRTAXGateway = 1 // RTAX_GATEWAY
	bsdRTAXMax     = 8 // RTAX_MAX

	bsdRTFStatic   = 0x800    // RTF_STATIC: set by arp -s / ndp -s
	bsdRTFAnnounce = 0x4000   // RTF_ANNOUNCE (RTF_PROTO2): published, proxy ARP/NDP
	bsdRTFPinned   = 0x100000 // RTF_PINNED: LLE_IFADDR, one of the host's own addresses

	bsdSockaddrDLHdr = 8 // sdl_len, sdl_family, sdl_index(2), sdl_type, sdl_nlen, sdl_alen, sdl_slen

	bsdNDIncomplete = 0 // ND6_LLINFO_INCOMPLETE
	bsdNDReachable  = 1 // ND6_LLINFO_REACHABLE
	bsdNDStale      = 2 // ND6_LLINFO_STALE
	bsdNDDelay      = 3 // ND6_LLINFO_DELAY
	bsdNDProbe      = 4 // ND6_LLINFO_PROBE
)

// rtHeaderLen is sizeof(struct rt_msghdr) for a long of word bytes.
func rtHeaderLen(word int) int { return 32 + 15*word }

// rtWeightOff is the offset of rtm_rmx.rmx_weight (rmx_state).
func rtWeightOff(word int) int { return 32 + word + 10*word }

// saSize is SA_SIZE: sa_len rounded up to a multiple of word, or word for
// a zero sa_len.
func saSize(saLen, word int) int {
	if saLen == 0 {
		return word
	}
	return 1 + ((saLen - 1) | (word - 1))
}

// parseRouteDump parses the neighbour entries of one address family as
// FreeBSD's routing sysctl returns them, for a kernel whose long is word
// bytes and whose byte order is order. Entries of the host's own addresses
// (RTF_PINNED) and published ones (RTF_ANNOUNCE: proxy ARP, the host's
// MAC) are left out: they do not name a neighbour.
func parseRouteDump(b []byte, word int, order binary.ByteOrder) ([]Entry, error) {
	hdrLen := rtHeaderLen(word)
	var entries []Entry
	for off := 0; off < len(b); {
		m := b[off:]
		if len(m) < 4 {
			return nil, fmt.Errorf("routing sysctl: %d bytes left at offset %d, too short for a message", len(m), off)
		}
		msgLen := int(order.Uint16(m[0:]))
		if msgLen < hdrLen || msgLen > len(m) {
			return nil, fmt.Errorf("routing sysctl: message at offset %d has length %d (header %d, %d bytes left)", off, msgLen, hdrLen, len(m))
		}
		m = m[:msgLen]
		off += msgLen
		if v := m[2]; v != bsdRTMVersion {
			return nil, fmt.Errorf("routing sysctl: message version %d, want %d (RTM_VERSION)", v, bsdRTMVersion)
		}
		if m[3] != bsdRTMGet {
			continue
		}
		e, ok, err := parseRouteEntry(m, hdrLen, word, order)
		if err != nil {
			return nil, fmt.Errorf("routing sysctl: message at offset %d: %w", off-msgLen, err)
		}
		if ok {
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// parseRouteEntry parses one RTM_GET message of the table.
func parseRouteEntry(m []byte, hdrLen, word int, order binary.ByteOrder) (_ Entry, ok bool, err error) {
	flags := order.Uint32(m[8:])
	addrs := order.Uint32(m[12:])
	if flags&(bsdRTFPinned|bsdRTFAnnounce) != 0 {
		return Entry{}, false, nil
	}
	sa, err := routeSockaddrs(m, hdrLen, word, addrs)
	if err != nil {
		return Entry{}, false, err
	}
	dst, gw := sa[bsdRTAXDst], sa[bsdRTAXGateway]
	if len(dst) < 2 || len(gw) < 2 {
		return Entry{}, false, fmt.Errorf("no destination and gateway addresses (rtm_addrs %#x)", addrs)
	}

	var e Entry
	family := dst[1]
	e.Addr, ok, err = bsdDstAddr(dst)
	if !ok || err != nil {
		return Entry{}, false, err
	}

	if gw[1] != bsdAFLink || len(gw) < bsdSockaddrDLHdr {
		return Entry{}, false, fmt.Errorf("gateway of family %d and %d bytes, want a sockaddr_dl (AF_LINK %d)", gw[1], len(gw), bsdAFLink)
	}
	e.IfIndex = int(order.Uint16(gw[2:]))
	nlen, alen := int(gw[5]), int(gw[6])
	if bsdSockaddrDLHdr+nlen+alen > len(gw) {
		return Entry{}, false, fmt.Errorf("sockaddr_dl of %d bytes holds no name of %d and address of %d bytes", len(gw), nlen, alen)
	}
	data := gw[bsdSockaddrDLHdr:]
	e.IfName = string(data[:nlen])
	if alen > 0 {
		e.MAC = net.HardwareAddr(append([]byte(nil), data[nlen:nlen+alen]...))
	}

	switch {
	case alen == 0:
		e.State = StateIncomplete
	case flags&bsdRTFStatic != 0:
		e.State = StatePermanent
	case family == bsdAFInet:
		e.State = StateReachable // ARP keeps no finer state: valid until it expires
	default:
		e.State = ndState(m, word, order)
	}
	return e, true, nil
}

// routeSockaddrs returns the socket addresses that follow the header of
// message m, by RTAX index, as rtm_addrs (addrs) lists them.
func routeSockaddrs(m []byte, hdrLen, word int, addrs uint32) (sa [bsdRTAXMax][]byte, err error) {
	p := hdrLen
	for i := range bsdRTAXMax {
		if addrs&(1<<i) == 0 {
			continue
		}
		if p >= len(m) {
			return sa, fmt.Errorf("address %d (RTAX) past the end of the message", i)
		}
		l := int(m[p])
		if p+l > len(m) {
			return sa, fmt.Errorf("address %d (RTAX) of %d bytes past the end of the message", i, l)
		}
		sa[i] = m[p : p+l]
		p += saSize(l, word)
	}
	return sa, nil
}

// bsdDstAddr returns the address of a sockaddr_in or sockaddr_in6; ok is
// false for other families.
func bsdDstAddr(dst []byte) (_ netip.Addr, ok bool, err error) {
	switch dst[1] {
	case bsdAFInet: // sin_len, sin_family, sin_port, sin_addr
		if len(dst) < 8 {
			return netip.Addr{}, false, fmt.Errorf("sockaddr_in of %d bytes", len(dst))
		}
		return netip.AddrFrom4([4]byte(dst[4:8])), true, nil
	case bsdAFInet6: // sin6_len, sin6_family, sin6_port, sin6_flowinfo, sin6_addr, sin6_scope_id
		if len(dst) < 24 {
			return netip.Addr{}, false, fmt.Errorf("sockaddr_in6 of %d bytes", len(dst))
		}
		a := [16]byte(dst[8:24])
		if a[0] == 0xfe && a[1]&0xc0 == 0x80 {
			// KAME embeds the scope in bytes 2-3 when
			// net.inet6.ip6.deembed_scopeid is 0; they are zero in a real
			// link-local address.
			a[2], a[3] = 0, 0
		}
		return netip.AddrFrom16(a), true, nil
	}
	return netip.Addr{}, false, nil
}

// FreeBSD's routing socket messages about neighbour entries: the kernel
// reports an entry resolved (or its link-layer address changed) as
// RTM_ADD and one expired as RTM_DELETE (arp_lle_event in
// sys/netinet/if_ether.c, nd6_lle_event in sys/netinet6/nd6.c, through
// rt_missmsg_fib), laid out as the sysctl's entries are (an rt_msghdr,
// RTA_DST and RTA_GATEWAY) with RTF_LLDATA in rtm_flags; and every
// listener sees the requests of arp(8) and ndp(8) (RTM_ADD, RTM_CHANGE,
// RTM_DELETE with RTF_LLDATA, a delete perhaps with RTA_DST alone), with
// rtm_errno set when they failed.
const (
	bsdRTMAdd    = 1     // RTM_ADD
	bsdRTMDelete = 2     // RTM_DELETE
	bsdRTMChange = 3     // RTM_CHANGE
	bsdRTFLLData = 0x400 // RTF_LLDATA (RTF_LLINFO)
	bsdRTMErrno  = 24    // offset of rtm_errno
)

// parseRouteEvents parses the messages of one read of a routing socket,
// for a kernel whose long is word bytes and whose byte order is order,
// appending an [Event] for each IPv4 and IPv6 neighbour entry added,
// changed or deleted. Routes, failed requests and other messages are
// skipped. An entry with a link-layer address is reported Reachable (or
// Permanent, when static): a notification carries no finer state.
func parseRouteEvents(b []byte, word int, order binary.ByteOrder, evs []Event) ([]Event, error) {
	hdrLen := rtHeaderLen(word)
	for off := 0; off < len(b); {
		m := b[off:]
		if len(m) < 4 {
			return evs, fmt.Errorf("routing socket: %d bytes left at offset %d, too short for a message", len(m), off)
		}
		msgLen := int(order.Uint16(m[0:]))
		if msgLen < 4 || msgLen > len(m) {
			return evs, fmt.Errorf("routing socket: message at offset %d has length %d (%d bytes left)", off, msgLen, len(m))
		}
		m = m[:msgLen]
		off += msgLen
		typ := m[3]
		if m[2] != bsdRTMVersion || (typ != bsdRTMAdd && typ != bsdRTMDelete && typ != bsdRTMChange) {
			continue
		}
		if msgLen < hdrLen {
			return evs, fmt.Errorf("routing socket: message of type %d at offset %d has length %d, shorter than its header (%d)", typ, off-msgLen, msgLen, hdrLen)
		}
		flags, addrs := order.Uint32(m[8:]), order.Uint32(m[12:])
		if flags&bsdRTFLLData == 0 || order.Uint32(m[bsdRTMErrno:]) != 0 {
			continue
		}
		if typ == bsdRTMDelete && addrs&(1<<bsdRTAXGateway) == 0 {
			sa, err := routeSockaddrs(m, hdrLen, word, addrs)
			if err != nil {
				return evs, fmt.Errorf("routing socket: message at offset %d: %w", off-msgLen, err)
			}
			if dst := sa[bsdRTAXDst]; len(dst) >= 2 {
				a, ok, err := bsdDstAddr(dst)
				if err != nil {
					return evs, fmt.Errorf("routing socket: message at offset %d: %w", off-msgLen, err)
				}
				if ok {
					evs = append(evs, Event{Entry: Entry{Addr: a}, Deleted: true})
				}
			}
			continue
		}
		e, ok, err := parseRouteEntry(m, hdrLen, word, order)
		if err != nil {
			return evs, fmt.Errorf("routing socket: message at offset %d: %w", off-msgLen, err)
		}
		if !ok {
			continue
		}
		if len(e.MAC) > 0 && e.State != StatePermanent {
			e.State = StateReachable
		}
		evs = append(evs, Event{Entry: e, Deleted: typ == bsdRTMDelete})
	}
	return evs, nil
}

// ndState reads ND6's ln_state from rmx_weight and maps it onto a State.
func ndState(m []byte, word int, order binary.ByteOrder) State {
	off := rtWeightOff(word)
	var st int64
	if word == 8 {
		st = int64(order.Uint64(m[off:]))
	} else {
		st = int64(int32(order.Uint32(m[off:])))
	}
	switch st {
	case bsdNDIncomplete:
		return StateIncomplete
	case bsdNDReachable:
		return StateReachable
	case bsdNDStale:
		return StateStale
	case bsdNDDelay:
		return StateDelay
	case bsdNDProbe:
		return StateProbe
	}
	return StateNone
}
