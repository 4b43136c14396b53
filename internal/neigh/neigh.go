// Package neigh finds the link-layer (MAC) address of a client from the
// host's neighbour table, the ARP and NDP entries the kernel keeps for
// directly attached networks.
//
// imdsd needs it because hypervisors know a guest by the MAC they pin on
// its NIC, while the guest's IP address often comes from a DHCP server the
// host does not control. Reading the table is a system call and a dump of
// the whole table (netlink RTM_GETNEIGH on Linux, the routing sysctl
// NET_RT_FLAGS/RTF_LLINFO on FreeBSD), too slow to do on every request, so
// a [Cache] keeps the answers for a short time, re-reads the table at most
// once for a miss, and lets concurrent misses share one read. It follows
// the kernel's notifications of changes to the table ([Watch]: netlink
// RTNLGRP_NEIGH on Linux, the routing socket on FreeBSD) and drops an
// answer as soon as its entry changes, so that an address handed from one
// guest to another is never taken for the first guest's for the rest of
// the answer's time.
//
// A client the table does not know (one routed from elsewhere, or the host
// itself) is reported by a [*NotFoundError] whose message says why, for the
// log.
package neigh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// ErrNotSupported is returned by [ReadTable] (and so by [Cache.Lookup]) on
// systems whose neighbour table this package cannot read.
var ErrNotSupported = errors.New("reading the neighbour table is only supported on Linux and FreeBSD")

// State is the state of a neighbour entry, in the terms of Linux's NUD
// states (FreeBSD's ND6_LLINFO states map onto them; its ARP entries are
// either Reachable, Permanent or Incomplete).
type State uint8

// The states of a neighbour entry.
const (
	StateNone       State = iota // no state (Linux NUD_NONE, FreeBSD ND6_LLINFO_NOSTATE)
	StateIncomplete              // being resolved: no link-layer address yet
	StateReachable               // confirmed recently
	StateStale                   // known, not confirmed recently: still the last address the host heard
	StateDelay                   // stale, confirmation pending
	StateProbe                   // stale, being probed
	StateFailed                  // resolution failed: no link-layer address
	StateNoARP                   // the interface does not resolve addresses; the entry does not name a peer
	StatePermanent               // set by the administrator
)

var stateNames = [...]string{"NONE", "INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "NOARP", "PERMANENT"}

// String returns the state's name as ip-neighbour(8) prints it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "STATE(" + strconv.Itoa(int(s)) + ")"
}

// usable reports whether an entry in state s names the peer's current
// link-layer address.
func (s State) usable() bool {
	switch s {
	case StateReachable, StateStale, StateDelay, StateProbe, StatePermanent:
		return true
	}
	return false
}

// Entry is one entry of the neighbour table.
type Entry struct {
	// Addr is the neighbour's IP address. An IPv6 link-local address
	// carries its interface's name as zone, since the same link-local
	// address may live on several links.
	Addr netip.Addr
	// MAC is the link-layer address; empty when the entry has none. It is
	// shared with the cache: do not modify it.
	MAC net.HardwareAddr
	// IfIndex and IfName name the interface the entry is on (IfName is
	// empty when the interface went away during the read).
	IfIndex int
	IfName  string
	State   State
}

// Usable reports whether the entry names the neighbour's link-layer
// address: a usable state and a MAC that is not all zeros.
func (e Entry) Usable() bool {
	if !e.State.usable() || len(e.MAC) == 0 {
		return false
	}
	for _, b := range e.MAC {
		if b != 0 {
			return true
		}
	}
	return false
}

// String formats the entry like one line of ip-neighbour(8).
func (e Entry) String() string {
	s := e.Addr.String() + " dev " + e.iface()
	if len(e.MAC) > 0 {
		s += " lladdr " + e.MAC.String()
	}
	return s + " " + e.State.String()
}

// iface names the entry's interface for messages.
func (e Entry) iface() string {
	if e.IfName != "" {
		return e.IfName
	}
	return "#" + strconv.Itoa(e.IfIndex)
}

// NotFoundError reports that the neighbour table gives no usable
// link-layer address for Addr; Reason says why, in words for the log.
type NotFoundError struct {
	Addr   netip.Addr
	Reason string
}

func (e *NotFoundError) Error() string {
	return "no neighbour entry for " + e.Addr.String() + ": " + e.Reason
}

// The reasons of a NotFoundError that do not depend on the table.
const (
	reasonRouted     = "not on a directly attached network (routed?)"
	reasonLoopback   = "a loopback address: the client is this host itself"
	reasonLocal      = "an address of this host: the client is this host itself"
	reasonNoZone     = "an IPv6 link-local address without a zone (interface)"
	reasonLinkLocal  = "a link-local address, but the host has no entry for it (not heard from yet?)"
	reasonInvalid    = "not an IP address"
	reasonNotUnicast = "not a unicast address"
)

// key is the form of addr the table and cache are indexed by: IPv4-mapped
// IPv6 addresses unmapped, and the zone kept only where it means something
// (IPv6 link-local).
func key(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is6() && !addr.IsLinkLocalUnicast() {
		addr = addr.WithZone("")
	}
	return addr
}

// nameInterfaces fills in the IfName of entries from the host's interface
// list and gives IPv6 link-local addresses their zone, the way the net
// package writes a link-local client's address.
func nameInterfaces(entries []Entry) {
	var names map[int]string
	for i := range entries {
		e := &entries[i]
		if e.IfName == "" {
			if names == nil {
				names = map[int]string{}
				if ifs, err := net.Interfaces(); err == nil {
					for _, ifi := range ifs {
						names[ifi.Index] = ifi.Name
					}
				}
			}
			e.IfName = names[e.IfIndex]
		}
		if e.Addr.Is6() && e.Addr.IsLinkLocalUnicast() {
			zone := e.IfName
			if zone == "" {
				zone = strconv.Itoa(e.IfIndex)
			}
			e.Addr = e.Addr.WithZone(zone)
		}
	}
}

// hostPrefixes returns the addresses of this host with the prefix length
// of their networks.
func hostPrefixes() ([]netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("listing the host's addresses: %w", err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, bits := n.Mask.Size()
		if ip.Is4In6() && bits == 128 {
			ones -= 96
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}
