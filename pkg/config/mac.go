package config

// Guests known by their MAC address (issue 13): an entry's match may list
// MAC addresses, and an entry that gives a mac and no match is matched by
// its own mac. A guest matched by MAC address gets its address from DHCP,
// which the configuration does not know, so what the entry leaves out of
// local_ipv4 and mac is taken from the client at request time
// ([Entry.ForClient]), and what derives from them derived again.

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
)

// ownKeys says which of the keys a guest matched by MAC address may take
// from the client the entry gives itself (in its object or its file);
// keys inherited from the top level describe the default instance, not
// this guest.
type ownKeys struct {
	localIPv4, mac bool
}

// parseMAC reads a MAC address of a network card in a form net.ParseMAC
// takes ("58:9c:fc:0a:1b:21", "58-9C-FC-0A-1B-21", "589c.fc0a.1b21"):
// six bytes. ok is false for anything else, an IP address included.
func parseMAC(s string) (mac net.HardwareAddr, ok bool) {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil, false
	}
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, false
	}
	return m, true
}

// unicastMAC reports whether mac can be a network card's own address:
// not a group (multicast, broadcast) address and not all zeros.
func unicastMAC(mac net.HardwareAddr) bool {
	if mac[0]&1 != 0 {
		return false
	}
	for _, b := range mac {
		if b != 0 {
			return true
		}
	}
	return false
}

// provisionMACs fills in e.MACs: the MAC addresses of match or, when the
// entry gives no match, its own mac. What does not parse is left out
// (validate reports it).
func (e *Entry) provisionMACs() {
	e.MACs = nil
	for _, s := range e.Match {
		if m, ok := parseMAC(s); ok && unicastMAC(m) {
			e.MACs = append(e.MACs, m)
		}
	}
	if len(e.Match) == 0 && e.own.mac {
		if m, ok := parseMAC(e.MAC); ok && unicastMAC(m) {
			e.MACs = append(e.MACs, m)
		}
	}
}

// ByOwnMAC reports whether the entry is matched by its own mac: it gives
// a mac and no match.
func (e *Entry) ByOwnMAC() bool { return len(e.Match) == 0 && e.own.mac && len(e.MACs) > 0 }

// DerivesFromClient reports whether [Entry.ForClient] gives guests the
// entry matched by MAC address anything of their own: whether the entry
// leaves out local_ipv4 or mac.
func (e *Entry) DerivesFromClient() bool {
	return len(e.MACs) > 0 && (!e.own.localIPv4 || !e.own.mac)
}

// ForClient returns the instance e serves to a guest it matched by its MAC
// address mac, connecting from addr. Where the entry itself gives no
// local_ipv4 (one the top level gives is the default instance's), the
// guest's IPv4 address addr is its local_ipv4; where it gives no mac,
// mac is; the host names, the subnet and VPC blocks and their ids are
// derived from them again, as when loading. An IPv6 addr cannot be a
// local_ipv4: the guest then gets the local_ipv4 the entry has after
// loading. It returns a new instance, complete as after loading, or e's
// own when nothing changes; the caller keeps it (this is not cheap:
// cache it per client).
func (e *Entry) ForClient(addr netip.Addr, mac net.HardwareAddr) *Instance {
	if !e.DerivesFromClient() || e.decoded == nil {
		return &e.Instance
	}
	in := e.decoded.clone()
	addr = addr.Unmap()
	switch {
	case e.own.localIPv4:
	case addr.Is4():
		in.LocalIPv4 = addr.String()
	default:
		in.LocalIPv4 = e.LocalIPv4
	}
	if !e.own.mac && len(mac) == 6 {
		in.MAC = mac.String()
	}
	in.provision()
	return in
}

// validateMatch checks each of match: an address, a network or a MAC
// address a network card can have. p is scoped to the entry.
func (e *Entry) validateMatch(p *parser) {
	for j, s := range e.Match {
		key := "match[" + strconv.Itoa(j) + "]"
		if m, ok := parseMAC(s); ok {
			if !unicastMAC(m) {
				p.errorf(key, "%s is not the MAC address of a network card (a multicast or broadcast address, or all zeros): expected the one the hypervisor gives the guest, such as 58:9c:fc:0a:1b:21", quote(s))
			}
			continue
		}
		pf, err := parseMatch(s)
		if err != nil {
			p.errorf(key, "%s is not an address, network or MAC address: expected one such as 10.0.0.11, 10.0.1.0/28, fd00::11 or 58:9c:fc:0a:1b:21", quote(s))
			continue
		}
		if linkLocal(pf) {
			p.warnf(key, "%s is link-local: any guest on the link can send from it and get this instance's user-data and credentials, unless a filter keeps each guest to its own address (see MANY GUESTS in imdsd(8)); match the guest's own unique address instead", pf)
		}
	}
	if len(e.Match) == 0 && e.own.mac && !p.isBad("mac") {
		if m, ok := parseMAC(e.MAC); ok && !unicastMAC(m) {
			p.errorf("mac", "%s is not the MAC address of a network card (a multicast or broadcast address, or all zeros), and the instance, which has no match, is matched by it: give the one the hypervisor gives the guest, such as 58:9c:fc:0a:1b:21", quote(e.MAC))
		}
	}
}

// macKeys returns the key each of e.MACs is given by: "match[j]" or "mac".
func (e *Entry) macKeys() []string {
	if e.ByOwnMAC() {
		return []string{"mac"}
	}
	var keys []string
	for j, s := range e.Match {
		if m, ok := parseMAC(s); ok && unicastMAC(m) {
			keys = append(keys, "match["+strconv.Itoa(j)+"]")
		}
	}
	return keys
}

// crossCheckMACs reports the MAC addresses of e that an entry before it
// (in prev) matches too, naming both places, and returns where each of
// e.MACs is given. Two entries bound to different listen addresses may
// share one, as they may share an address.
func crossCheckMACs(prev []checkedEntry, e *Entry, p *parser) []string {
	keys := e.macKeys()
	at := make([]string, len(keys))
	for i, key := range keys {
		at[i] = p.where(key)
		mac := e.MACs[i]
		for _, q := range prev {
			for k, qm := range q.e.MACs {
				if bytes.Equal(mac, qm) && listenOverlap(e.Local, q.e.Local) {
					p.errorf(key, "%s is also the MAC address of the instance at %s: a guest would belong to two instances; give each MAC address to one instance", mac, q.macAt[k])
				}
			}
		}
	}
	return at
}
