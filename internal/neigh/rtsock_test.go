package neigh

import (
	"encoding/binary"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// The tests below build the routing-sysctl messages FreeBSD writes, field
// by field at the offsets of the C structures on amd64 and arm64 (LP64,
// little endian), not with the parser's own helpers:
//
//	struct arpc { struct rt_msghdr rtm; struct sockaddr_in sin;  struct sockaddr_dl sdl; }          152+16+54 -> 224
//	struct ndpc { struct rt_msghdr rtm; struct sockaddr_in6 sin6; uint32_t pad; struct sockaddr_dl sdl; } 152+28+4+54 -> 240
//
// (sys/netinet/in.c in_lltable_dump_entry, sys/netinet6/in6.c
// in6_lltable_dump_entry; the sizes are sizeof of those structs, 8-byte
// aligned because of the u_longs in rt_msghdr.)

var le = binary.LittleEndian

// fbsdMsg describes one message.
type fbsdMsg struct {
	typ     byte   // rtm_type; 0 means RTM_GET
	version byte   // rtm_version; 0 means RTM_VERSION (5)
	flags   uint32 // rtm_flags beyond RTF_UP|RTF_HOST|RTF_LLDATA
	index   uint16
	ip      string
	ifType  byte // sdl_type
	name    string
	mac     string // "" for an entry that is not LLE_VALID
	ndState int64
	alen    int // overrides sdl_alen when not 0
}

// bytes lays m out like the kernel on LP64.
func (m fbsdMsg) bytes() []byte {
	ip := netip.MustParseAddr(m.ip)
	var b []byte
	var sdlOff int
	if ip.Is4() {
		b = make([]byte, 224)
		// struct sockaddr_in at 152: sin_len, sin_family, sin_port, sin_addr, sin_zero[8]
		b[152], b[153] = 16, 2
		a := ip.As4()
		copy(b[156:160], a[:])
		sdlOff = 168
	} else {
		b = make([]byte, 240)
		// struct sockaddr_in6 at 152: sin6_len, sin6_family, sin6_port,
		// sin6_flowinfo, sin6_addr[16], sin6_scope_id
		b[152], b[153] = 28, 28
		a := ip.As16()
		copy(b[160:176], a[:])
		if ip.IsLinkLocalUnicast() {
			le.PutUint32(b[176:], uint32(m.index)) // sa6_recoverscope
		}
		// uint32_t pad at 180
		sdlOff = 184
	}
	// struct rt_msghdr
	le.PutUint16(b[0:], uint16(len(b))) // rtm_msglen = sizeof
	b[2] = 5                            // rtm_version = RTM_VERSION
	if m.version != 0 {
		b[2] = m.version
	}
	b[3] = 4 // rtm_type = RTM_GET
	if m.typ != 0 {
		b[3] = m.typ
	}
	le.PutUint16(b[4:], m.index)                 // rtm_index
	le.PutUint32(b[8:], 0x1|0x4|0x400|m.flags)   // rtm_flags: RTF_UP|RTF_HOST|RTF_LLDATA
	le.PutUint32(b[12:], 0x1|0x2)                // rtm_addrs: RTA_DST|RTA_GATEWAY
	le.PutUint64(b[40+3*8:], 1700000000)         // rtm_rmx.rmx_expire
	le.PutUint64(b[40+10*8:], uint64(m.ndState)) // rtm_rmx.rmx_weight = rmx_state
	// struct sockaddr_dl: sdl_len, sdl_family, sdl_index, sdl_type,
	// sdl_nlen, sdl_alen, sdl_slen, sdl_data[46]
	d := b[sdlOff:]
	d[0], d[1] = 54, 18
	le.PutUint16(d[2:], m.index)
	d[4] = m.ifType
	d[5] = byte(len(m.name))
	copy(d[8:], m.name)
	if m.mac != "" {
		mac, err := net.ParseMAC(m.mac)
		if err != nil {
			panic(err)
		}
		d[6] = byte(len(mac))
		copy(d[8+len(m.name):], mac)
	}
	if m.alen != 0 {
		d[6] = byte(m.alen)
	}
	return b
}

func fbsdDump(msgs ...fbsdMsg) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, m.bytes()...)
	}
	return b
}

// TestFreeBSDLayout pins the sizes and offsets the parser relies on.
func TestFreeBSDLayout(t *testing.T) {
	if got := rtHeaderLen(8); got != 152 {
		t.Errorf("sizeof(struct rt_msghdr) on LP64 = %d, want 152 (0x98, SizeofRtMsghdr in x/sys/unix ztypes_freebsd_amd64.go)", got)
	}
	if got := rtHeaderLen(4); got != 92 {
		t.Errorf("sizeof(struct rt_msghdr) on ILP32 = %d, want 92", got)
	}
	if got := rtWeightOff(8); got != 40+10*8 {
		t.Errorf("offset of rmx_weight = %d, want %d", got, 40+10*8)
	}
	for _, c := range []struct{ l, word, want int }{{0, 8, 8}, {16, 8, 16}, {28, 8, 32}, {54, 8, 56}, {28, 4, 28}, {54, 4, 56}, {1, 8, 8}} {
		if got := saSize(c.l, c.word); got != c.want {
			t.Errorf("SA_SIZE(%d) with %d-byte long = %d, want %d", c.l, c.word, got, c.want)
		}
	}
	// The ndpc padding is exactly SA_SIZE's rounding of sockaddr_in6.
	if 152+saSize(28, 8) != 184 {
		t.Error("sockaddr_dl of an ND entry is not at 184")
	}
}

func TestParseRouteDump(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	tests := []struct {
		name string
		msgs []fbsdMsg
		want []Entry
	}{
		{
			name: "ARP entry of a bhyve guest on a bridge",
			msgs: []fbsdMsg{{index: 3, ip: "10.0.0.5", ifType: 6, mac: "58:9c:fc:00:00:05"}},
			want: []Entry{{Addr: netip.MustParseAddr("10.0.0.5"), MAC: mac("58:9c:fc:00:00:05"), IfIndex: 3, State: StateReachable}},
		},
		{
			name: "ARP entry being resolved (not LLE_VALID: sdl_alen 0)",
			msgs: []fbsdMsg{{index: 3, ip: "10.0.0.6", ifType: 6}},
			want: []Entry{{Addr: netip.MustParseAddr("10.0.0.6"), IfIndex: 3, State: StateIncomplete}},
		},
		{
			name: "static ARP entry (arp -s)",
			msgs: []fbsdMsg{{index: 3, ip: "10.0.0.7", flags: 0x800, mac: "58:9c:fc:00:00:07"}},
			want: []Entry{{Addr: netip.MustParseAddr("10.0.0.7"), MAC: mac("58:9c:fc:00:00:07"), IfIndex: 3, State: StatePermanent}},
		},
		{
			name: "the host's own address (LLE_IFADDR: RTF_PINNED) and a published one (RTF_ANNOUNCE) are not neighbours",
			msgs: []fbsdMsg{
				{index: 3, ip: "10.0.0.1", flags: 0x800 | 0x100000, mac: "58:9c:fc:00:00:01"},
				{index: 3, ip: "10.0.0.99", flags: 0x800 | 0x4000, mac: "58:9c:fc:00:00:01"},
				{index: 4, ip: "10.0.1.5", mac: "58:9c:fc:00:01:05"},
			},
			want: []Entry{{Addr: netip.MustParseAddr("10.0.1.5"), MAC: mac("58:9c:fc:00:01:05"), IfIndex: 4, State: StateReachable}},
		},
		{
			name: "NDP entries in every state",
			msgs: []fbsdMsg{
				{index: 5, ip: "fd00::10", mac: "02:00:00:00:00:10", ndState: 1},
				{index: 5, ip: "fd00::11", mac: "02:00:00:00:00:11", ndState: 2},
				{index: 5, ip: "fd00::12", mac: "02:00:00:00:00:12", ndState: 3},
				{index: 5, ip: "fd00::13", mac: "02:00:00:00:00:13", ndState: 4},
				{index: 5, ip: "fd00::14", ndState: 0},
				{index: 5, ip: "fd00::15", mac: "02:00:00:00:00:15", ndState: -2},
				{index: 5, ip: "fd00::16", mac: "02:00:00:00:00:16", ndState: 1, flags: 0x800},
			},
			want: []Entry{
				{Addr: netip.MustParseAddr("fd00::10"), MAC: mac("02:00:00:00:00:10"), IfIndex: 5, State: StateReachable},
				{Addr: netip.MustParseAddr("fd00::11"), MAC: mac("02:00:00:00:00:11"), IfIndex: 5, State: StateStale},
				{Addr: netip.MustParseAddr("fd00::12"), MAC: mac("02:00:00:00:00:12"), IfIndex: 5, State: StateDelay},
				{Addr: netip.MustParseAddr("fd00::13"), MAC: mac("02:00:00:00:00:13"), IfIndex: 5, State: StateProbe},
				{Addr: netip.MustParseAddr("fd00::14"), IfIndex: 5, State: StateIncomplete},
				{Addr: netip.MustParseAddr("fd00::15"), MAC: mac("02:00:00:00:00:15"), IfIndex: 5, State: StateNone},
				{Addr: netip.MustParseAddr("fd00::16"), MAC: mac("02:00:00:00:00:16"), IfIndex: 5, State: StatePermanent},
			},
		},
		{
			name: "link-local NDP entry, scope embedded KAME-style (deembed_scopeid=0)",
			msgs: []fbsdMsg{{index: 7, ip: "fe80:7::1", mac: "02:00:00:00:00:01", ndState: 2}},
			want: []Entry{{Addr: netip.MustParseAddr("fe80::1"), MAC: mac("02:00:00:00:00:01"), IfIndex: 7, State: StateStale}},
		},
		{
			name: "sockaddr_dl with the interface name before the address",
			msgs: []fbsdMsg{{index: 2, ip: "192.168.5.9", name: "tap0", mac: "58:9c:fc:00:05:09"}},
			want: []Entry{{Addr: netip.MustParseAddr("192.168.5.9"), MAC: mac("58:9c:fc:00:05:09"), IfIndex: 2, IfName: "tap0", State: StateReachable}},
		},
		{
			name: "messages other than RTM_GET are skipped",
			msgs: []fbsdMsg{{typ: 1, index: 2, ip: "192.168.5.9", mac: "58:9c:fc:00:05:09"}},
		},
		{name: "an empty table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRouteDump(fbsdDump(tt.msgs...), 8, binary.LittleEndian)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// TestParseRouteDumpILP32 parses an ARP message of a 32-bit kernel (i386,
// armv7: sizeof(long) 4), where rt_msghdr is 92 bytes.
func TestParseRouteDumpILP32(t *testing.T) {
	b := make([]byte, 92+16+54+2)
	le.PutUint16(b[0:], uint16(len(b)))
	b[2], b[3] = 5, 4
	le.PutUint16(b[4:], 1)
	le.PutUint32(b[8:], 0x405)
	le.PutUint32(b[12:], 3)
	b[92], b[93] = 16, 2
	copy(b[96:], []byte{10, 1, 2, 3})
	d := b[108:]
	d[0], d[1], d[2], d[6] = 54, 18, 1, 6
	copy(d[8:], []byte{2, 0, 0, 1, 2, 3})
	got, err := parseRouteDump(b, 4, binary.LittleEndian)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Addr != netip.MustParseAddr("10.1.2.3") || got[0].MAC.String() != "02:00:00:01:02:03" {
		t.Errorf("got %v", got)
	}
}

func TestParseRouteDumpErrors(t *testing.T) {
	good := fbsdMsg{index: 3, ip: "10.0.0.5", mac: "58:9c:fc:00:00:05"}.bytes()
	edit := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated", good[:100], "length 224"},
		{"a few bytes after the last message", append(append([]byte(nil), good...), 1, 2), "too short"},
		{"message length below the header", edit(func(b []byte) []byte { le.PutUint16(b, 100); return b }), "length 100"},
		{"another RTM_VERSION", edit(func(b []byte) []byte { b[2] = 6; return b }), "version 6"},
		{"no gateway", edit(func(b []byte) []byte { le.PutUint32(b[12:], 1); return b }), "no destination and gateway"},
		{"gateway not AF_LINK", edit(func(b []byte) []byte { b[169] = 2; return b }), "want a sockaddr_dl"},
		{"sdl_alen beyond sdl_len", edit(func(b []byte) []byte { b[168+6] = 50; return b }), "holds no name"},
		{"sockaddr past the message", edit(func(b []byte) []byte { b[168] = 200; return b }), "past the end"},
		{"short sockaddr_in: the gateway is then looked for in the wrong place", edit(func(b []byte) []byte { b[152] = 4; return b }), "rtm_addrs 0x3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRouteDump(tt.b, 8, binary.LittleEndian)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzParseRouteDump checks that no input makes the parser panic.
func FuzzParseRouteDump(f *testing.F) {
	f.Add(fbsdDump(fbsdMsg{index: 3, ip: "10.0.0.5", mac: "58:9c:fc:00:00:05"}, fbsdMsg{index: 5, ip: "fd00::1", mac: "02:00:00:00:00:01", ndState: 2}))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseRouteDump(b, 8, binary.LittleEndian)
		parseRouteDump(b, 4, binary.BigEndian)
	})
}
