// Package guestkey says whom a connection or a request counts against, so
// that the connection caps and the rate limit are shared out by guest
// rather than by source address: a guest that sends from many addresses
// (any guest can, on a link where filters allow a range such as fe80::/10)
// still gets one share, not one per address.
//
// A client that matches a guest counts against that guest, whatever its
// address. A client no guest matches counts against its address, IPv6 per
// /64 (a host is handed a whole /64, and the link-local fe80::/64 is one),
// and all such clients together form one group of their own, the
// unknown clients, that shares out no more than its part.
package guestkey

import "net/netip"

// Key is whom one connection or request counts against. Its zero value is
// an unknown client of unknown address (a Unix socket). Keys are
// comparable and used as map keys.
type Key struct {
	// Guest is the matched guest's instance id; "" for a client no guest
	// matches.
	Guest string
	// Net is the address of an unknown client: its IPv4 address (a /32),
	// or its IPv6 /64. Unset for a guest.
	Net netip.Prefix
}

// IPv6Bits is the length of the IPv6 prefix an unknown client is counted
// by.
const IPv6Bits = 64

// Of returns the key of a client at addr that matched guest ("" for none).
// addr is taken unmapped and without its zone, as the guest lookup takes
// it.
func Of(addr netip.Addr, guest string) Key {
	if guest != "" {
		return Key{Guest: guest}
	}
	if !addr.IsValid() {
		return Key{}
	}
	addr = addr.Unmap().WithZone("")
	bits := addr.BitLen()
	if addr.Is6() {
		bits = IPv6Bits
	}
	pf, _ := addr.Prefix(bits)
	return Key{Net: pf}
}

// Known reports whether the key is a guest's.
func (k Key) Known() bool { return k.Guest != "" }

// String is the guest's id, or the unknown client's network.
func (k Key) String() string {
	if k.Guest != "" {
		return k.Guest
	}
	if k.Net.IsValid() {
		return k.Net.String()
	}
	return "unknown"
}
