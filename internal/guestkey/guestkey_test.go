package guestkey

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	tests := []struct {
		addr, guest string
		want        Key
	}{
		{"10.0.0.11", "i-0a", Key{Guest: "i-0a"}},
		{"fe80::1", "i-0a", Key{Guest: "i-0a"}},
		{"10.0.0.11", "", Key{Net: netip.MustParsePrefix("10.0.0.11/32")}},
		{"::ffff:10.0.0.11", "", Key{Net: netip.MustParsePrefix("10.0.0.11/32")}},
		// Every link-local address is one unknown client: any guest on
		// the link can send from any of them.
		{"fe80::1", "", Key{Net: netip.MustParsePrefix("fe80::/64")}},
		{"fe80::dead:beef:1:2%eth0", "", Key{Net: netip.MustParsePrefix("fe80::/64")}},
		{"2001:db8:1:2:3:4:5:6", "", Key{Net: netip.MustParsePrefix("2001:db8:1:2::/64")}},
	}
	for _, tt := range tests {
		if got := Of(netip.MustParseAddr(tt.addr), tt.guest); got != tt.want {
			t.Errorf("Of(%s, %q) = %v, want %v", tt.addr, tt.guest, got, tt.want)
		}
	}
	if got := Of(netip.Addr{}, ""); got != (Key{}) || got.Known() || got.String() != "unknown" {
		t.Errorf("Of(invalid) = %#v", got)
	}
	if !Of(netip.Addr{}, "i-0a").Known() {
		t.Error("a guest's key is not Known")
	}
}
