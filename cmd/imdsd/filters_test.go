package main

// The filter examples of imdsd(8), as the tests load them: each block the
// manual marks with a comment line
//
//	.\" test: NAME
//
// right before its .Bd -literal is read here, so that the tests use
// exactly what an admin copies from the manual (filters_netns_test.go).

import (
	"net"
	"os"
	"strings"
	"testing"
)

// manBlock returns the literal block of man/imdsd.8 marked "test: name",
// as the reader sees it: the roff escapes \e and \& undone. It fails the
// test when the mark is missing, is not right before a .Bd -literal, or
// the block holds a macro or an escape it does not know.
func manBlock(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../man/imdsd.8")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	mark := `.\" test: ` + name
	for i, l := range lines {
		if l != mark && !strings.HasPrefix(l, mark+" ") {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], ".Bd -literal") {
			t.Fatalf("man/imdsd.8:%d: %q is not right before a .Bd -literal", i+1, mark)
		}
		var out []string
		for j := i + 2; j < len(lines); j++ {
			l := lines[j]
			if l == ".Ed" {
				return strings.Join(out, "\n") + "\n"
			}
			if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
				t.Fatalf("man/imdsd.8:%d: a macro in the block %s, which the test cannot read: %q", j+1, name, l)
			}
			l = strings.ReplaceAll(l, `\&`, "")
			l = strings.ReplaceAll(l, `\e`, "\x00")
			if strings.Contains(l, `\`) {
				t.Fatalf("man/imdsd.8:%d: an escape other than \\e or \\& in the block %s: %q", j+1, name, lines[j])
			}
			out = append(out, strings.ReplaceAll(l, "\x00", `\`))
		}
		t.Fatalf("man/imdsd.8:%d: the block %s has no .Ed", i+2, name)
	}
	t.Fatalf("man/imdsd.8 has no block marked %q", mark)
	return ""
}

// eui64LinkLocal is the link-local address a host makes from mac
// (RFC 4291, appendix A): bit 1 of the first byte flipped, ff:fe in the
// middle.
func eui64LinkLocal(mac net.HardwareAddr) net.IP {
	ip := net.IP{0xfe, 0x80, 0, 0, 0, 0, 0, 0,
		mac[0] ^ 2, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
	return ip
}

// TestManualFilterBlocks checks, without root, that the blocks the
// namespace test loads are in the manual, and that the link-local
// addresses the manual derives from MAC addresses are the ones a guest
// makes.
func TestManualFilterBlocks(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"nft-antispoof", "table bridge imdsd_antispoof {"},
		{"nft-antispoof-ipv6", `iifname "vm-web1" ip6 saddr != \`},
		{"nft-macpin", "table bridge imdsd_macpin {"},
		{"bridge-fdb", "# bridge fdb replace 52:54:00:0a:1b:31 dev vm-web1 master static"},
	} {
		if b := manBlock(t, c.name); !strings.Contains(b, c.want) {
			t.Errorf("the block %s does not hold %q:\n%s", c.name, c.want, b)
		}
	}
	for _, c := range []struct{ mac, ll string }{
		{"58:9c:fc:0a:1b:21", "fe80::5a9c:fcff:fe0a:1b21"}, // pf, ipfw
		{"52:54:00:0a:1b:31", "fe80::5054:ff:fe0a:1b31"},   // nftables
	} {
		mac, err := net.ParseMAC(c.mac)
		if err != nil {
			t.Fatal(err)
		}
		if got := eui64LinkLocal(mac).String(); got != c.ll {
			t.Errorf("%s makes %s, not %s", c.mac, got, c.ll)
		}
	}
	b, err := os.ReadFile("../../man/imdsd.8")
	if err != nil {
		t.Fatal(err)
	}
	for _, ll := range []string{"fe80::5a9c:fcff:fe0a:1b21", "fe80::5054:ff:fe0a:1b31"} {
		if !strings.Contains(string(b), ll) {
			t.Errorf("man/imdsd.8 no longer names %s; update this test", ll)
		}
	}
}
