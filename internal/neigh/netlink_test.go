package neigh

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// The tests below build rtnetlink messages byte by byte as the Linux kernel
// writes them (neigh_fill_info in net/core/neighbour.c): struct nlmsghdr
// (16 bytes), struct ndmsg (12 bytes), then NDA_* attributes, each a
// struct rtattr (4 bytes) and its value padded to 4 bytes; all in the
// host's byte order.

var ne = binary.NativeEndian

// nlMsg returns one netlink message of type typ with flags and seq
// around body.
func nlMsg(typ, flags uint16, seq uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body)+3)
	ne.PutUint32(b[0:], uint32(16+len(body)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], flags)
	ne.PutUint32(b[8:], seq)
	ne.PutUint32(b[12:], 0) // from the kernel
	b = append(b, body...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// rta returns one attribute, padded.
func rta(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	ne.PutUint16(b[0:], uint16(4+len(v)))
	ne.PutUint16(b[2:], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ndMsg returns the body of an RTM_NEWNEIGH: an ndmsg and attributes
// NDA_DST (if ip is set), NDA_LLADDR (if mac is set) and NDA_CACHEINFO
// and NDA_PROBES, which the parser skips.
func ndMsg(family byte, ifindex int32, state uint16, flags byte, ip, mac string) []byte {
	b := make([]byte, 12)
	b[0] = family
	ne.PutUint32(b[4:], uint32(ifindex))
	ne.PutUint16(b[8:], state)
	b[10] = flags
	b[11] = 1 // ndm_type RTN_UNICAST
	if ip != "" {
		a := netip.MustParseAddr(ip)
		b = append(b, rta(1, a.AsSlice())...)
	}
	if mac != "" {
		m, err := net.ParseMAC(mac)
		if err != nil {
			panic(err)
		}
		b = append(b, rta(2, m)...)
	}
	b = append(b, rta(3, make([]byte, 16))...)   // NDA_CACHEINFO: struct nda_cacheinfo
	b = append(b, rta(4, []byte{0, 0, 0, 0})...) // NDA_PROBES
	return b
}

func TestNetlinkNeighRequest(t *testing.T) {
	got := netlinkNeighRequest(7)
	want := make([]byte, 28)
	ne.PutUint32(want[0:], 28)    // nlmsg_len
	ne.PutUint16(want[4:], 30)    // RTM_GETNEIGH
	ne.PutUint16(want[6:], 0x301) // NLM_F_REQUEST|NLM_F_DUMP
	ne.PutUint32(want[8:], 7)     // nlmsg_seq
	// ndmsg: AF_UNSPEC, all interfaces
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request\n% x\nwant\n% x", got, want)
	}
}

func TestParseNetlinkNeigh(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	const seq = 42
	var dgram []byte
	for _, m := range [][]byte{
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:05")),     // REACHABLE
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x04, 0x80, "10.0.0.6", "52:54:00:00:00:06")),  // STALE, NTF_ROUTER
		nlMsg(28, 2, seq, ndMsg(10, 4, 0x08, 0, "fd00::7", "52:54:00:00:00:07")),     // DELAY
		nlMsg(28, 2, seq, ndMsg(10, 4, 0x10, 0, "fe80::8", "52:54:00:00:00:08")),     // PROBE
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x80, 0, "10.0.0.9", "52:54:00:00:00:09")),     // PERMANENT
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x20, 0, "10.0.0.10", "")),                     // FAILED
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x01, 0, "10.0.0.11", "")),                     // INCOMPLETE
		nlMsg(28, 2, seq, ndMsg(2, 1, 0x40, 0, "0.0.0.0", "00:00:00:00:00:00")),      // NOARP on lo
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x02, 0x08, "10.0.0.12", "52:54:00:00:00:12")), // NTF_PROXY: skipped
		nlMsg(28, 2, seq, ndMsg(7, 5, 0x80, 0x02, "", "52:54:00:00:00:13")),          // AF_BRIDGE FDB: skipped
		nlMsg(28, 2, seq+1, ndMsg(2, 3, 0x02, 0, "10.0.0.14", "52:54:00:00:00:14")),  // another request: skipped
		nlMsg(28, 2, seq, ndMsg(2, 3, 0x02, 0, "", "52:54:00:00:00:15")),             // no NDA_DST: skipped
	} {
		dgram = append(dgram, m...)
	}
	got, done, err := parseNetlinkNeigh(dgram, seq, nil)
	if err != nil || done {
		t.Fatalf("done %v, err %v", done, err)
	}
	want := []Entry{
		{Addr: netip.MustParseAddr("10.0.0.5"), MAC: mac("52:54:00:00:00:05"), IfIndex: 3, State: StateReachable},
		{Addr: netip.MustParseAddr("10.0.0.6"), MAC: mac("52:54:00:00:00:06"), IfIndex: 3, State: StateStale},
		{Addr: netip.MustParseAddr("fd00::7"), MAC: mac("52:54:00:00:00:07"), IfIndex: 4, State: StateDelay},
		{Addr: netip.MustParseAddr("fe80::8"), MAC: mac("52:54:00:00:00:08"), IfIndex: 4, State: StateProbe},
		{Addr: netip.MustParseAddr("10.0.0.9"), MAC: mac("52:54:00:00:00:09"), IfIndex: 3, State: StatePermanent},
		{Addr: netip.MustParseAddr("10.0.0.10"), IfIndex: 3, State: StateFailed},
		{Addr: netip.MustParseAddr("10.0.0.11"), IfIndex: 3, State: StateIncomplete},
		{Addr: netip.MustParseAddr("0.0.0.0"), MAC: mac("00:00:00:00:00:00"), IfIndex: 1, State: StateNoARP},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}
	usable := map[string]bool{"10.0.0.5": true, "10.0.0.6": true, "fd00::7": true, "fe80::8": true, "10.0.0.9": true}
	for _, e := range got {
		if e.Usable() != usable[e.Addr.String()] {
			t.Errorf("%v: Usable() = %v", e, e.Usable())
		}
	}

	// The end of the dump.
	got, done, err = parseNetlinkNeigh(nlMsg(3, 2, seq, []byte{0, 0, 0, 0}), seq, got)
	if err != nil || !done || len(got) != len(want) {
		t.Errorf("NLMSG_DONE: done %v, err %v, %d entries", done, err, len(got))
	}
}

func TestParseNetlinkNeighErrors(t *testing.T) {
	const seq = 9
	good := nlMsg(28, 2, seq, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:05"))
	errMsg := make([]byte, 4+16)
	ne.PutUint32(errMsg, uint32(0xffffffff-uint32(syscall.EPERM)+1)) // -EPERM
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated header", good[:10], "too short for a message header"},
		{"message longer than the datagram", good[:40], "out of bounds"},
		{"short ndmsg", nlMsg(28, 2, seq, []byte{2, 0, 0}), "too short for an ndmsg"},
		{"attribute longer than the message", nlMsg(28, 2, seq, append(ndMsg(2, 3, 2, 0, "", ""), 0xff, 0, 1, 0)), "attribute length"},
		{"IPv6 address in an IPv4 entry", nlMsg(28, 2, seq, append(ndMsg(2, 3, 2, 0, "", ""), rta(1, make([]byte, 16))...)), "NDA_DST of 16 bytes"},
		{"link-layer address too long", nlMsg(28, 2, seq, append(ndMsg(2, 3, 2, 0, "10.0.0.1", ""), rta(2, make([]byte, 40))...)), "NDA_LLADDR of 40"},
		{"the kernel's error", nlMsg(2, 0, seq, errMsg), "operation not permitted"},
		{"the table changed during the dump", nlMsg(28, 2|0x10, seq, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:05")), "changed while it was read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := parseNetlinkNeigh(tt.b, seq, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	_, _, err := parseNetlinkNeigh(nlMsg(28, 2|0x10, seq, nil), seq, nil)
	if !errors.Is(err, errDumpInterrupted) {
		t.Errorf("NLM_F_DUMP_INTR: %v, want errDumpInterrupted", err)
	}
}

// FuzzParseNetlinkNeigh checks that no input makes the parser panic.
func FuzzParseNetlinkNeigh(f *testing.F) {
	f.Add(append(nlMsg(28, 2, 1, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:05")), nlMsg(3, 2, 1, []byte{0, 0, 0, 0})...))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNetlinkNeigh(b, 1, nil)
	})
}
