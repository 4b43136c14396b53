//go:build linux

package main

// Issue 10, item 1: the nftables filters of imdsd(8) ("A Linux bridge" and
// "Guests known by their MAC address"), loaded as the manual shows them
// into the bridge of a host namespace, keep each guest to its own
// addresses and its own MAC address.
//
//	web1 eth0 52:54:00:0a:1b:31  10.0.0.31 fd00::31 fe80::5054:ff:fe0a:1b31
//	     ── vm-web1 ─┐
//	web2 eth0 52:54:00:0a:1b:32  10.0.0.32
//	     ── vm-web2 ─┤ br0 in "host": 10.0.0.1/24, 169.254.169.254/32,
//	                 │ fd00::1/64; imdsd on 169.254.169.254:80, [fd00::1]:80
//
// The interface names, MAC and addresses are the manual's own, so its
// blocks load unchanged (names are per namespace: the host's are not
// touched). Namespaces are named after a per-run prefix and removed when
// the test ends, as in netns_test.go.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// filterGet asks imdsd at addr for the instance id from local in ns and
// returns the status, body, or the error of a request that got no answer
// within timeout.
func filterGet(ns, local, addr string, timeout time.Duration) (int, string, error) {
	c, err := nsDialFrom(ns, local, addr, timeout)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(c, "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
	return r.StatusCode, string(b), nil
}

func TestNetNSManualFilters(t *testing.T) {
	needRoot(t, "making network namespaces (run it as root: go test -run NetNS ./cmd/imdsd/)")
	need(t, "ip")
	nft := need(t, "nft")
	need(t, "bridge")

	const (
		web1MAC = "52:54:00:0a:1b:31"
		web1LL  = "fe80::5054:ff:fe0a:1b31"
		web1ID  = "i-0a1b2c3d4e5f60031"
		web2ID  = "i-0a1b2c3d4e5f60032"
		v4IMDS  = "169.254.169.254:80"
		v6IMDS  = "[fd00::1]:80"
		spoof4  = "10.0.0.99"
		spoof6  = "fe80::1:99"
		spoofMA = "52:54:00:0a:1b:99"
	)
	antispoof := manBlock(t, "nft-antispoof")
	ipv6 := manBlock(t, "nft-antispoof-ipv6")
	macpin := manBlock(t, "nft-macpin")
	fdb := manBlock(t, "bridge-fdb")

	lab := newNamespaces(t, "N")
	prefix := lab.prefix
	h, web1, web2 := lab.host, prefix+"-web1", prefix+"-web2"
	lab.add(t, web1, web2)
	lab.ip(t, "-n", h, "link", "add", "br0", "type", "bridge")
	lab.ip(t, "-n", h, "link", "set", "br0", "up")
	lab.ip(t, "-n", h, "addr", "add", "10.0.0.1/24", "dev", "br0")
	lab.ip(t, "-n", h, "addr", "add", "169.254.169.254/32", "dev", "br0")
	lab.ip(t, "-n", h, "addr", "add", "fd00::1/64", "dev", "br0", "nodad")
	for _, g := range []struct{ ns, port, mac, addr string }{
		{web1, "vm-web1", web1MAC, "10.0.0.31"},
		{web2, "vm-web2", "52:54:00:0a:1b:32", "10.0.0.32"},
	} {
		lab.ip(t, "-n", h, "link", "add", g.port, "type", "veth", "peer", "name", "eth0", "netns", g.ns)
		lab.ip(t, "-n", h, "link", "set", g.port, "master", "br0", "up")
		// The guest makes its link-local address from its MAC address
		// when eth0 comes up, without duplicate address detection, so
		// that it is usable at once.
		if _, err := nsRun("ip", "netns", "exec", g.ns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0", "net.ipv6.conf.eth0.addr_gen_mode=0"); err != nil {
			t.Fatal(err)
		}
		lab.ip(t, "-n", g.ns, "link", "set", "eth0", "address", g.mac)
		lab.ip(t, "-n", g.ns, "link", "set", "eth0", "up")
		lab.ip(t, "-n", g.ns, "addr", "add", g.addr+"/24", "dev", "eth0")
		lab.ip(t, "-n", g.ns, "route", "add", "169.254.169.254/32", "dev", "eth0")
	}
	lab.ip(t, "-n", web1, "addr", "add", "fd00::31/64", "dev", "eth0", "nodad")
	// What web1 spoofs: another address of the bridge's network, and a
	// link-local address that is not its own.
	lab.ip(t, "-n", web1, "addr", "add", spoof4+"/24", "dev", "eth0")
	lab.ip(t, "-n", web1, "addr", "add", spoof6+"/64", "dev", "eth0", "nodad")
	// The manual's link-local address for 52:54:00:0a:1b:31 is the one
	// the kernel made.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := nsRun("ip", "-n", web1, "-6", "addr", "show", "dev", "eth0", "scope", "link")
		if err == nil && strings.Contains(out, web1LL+"/64") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web1 (MAC %s) has no link-local address %s, which the manual says it makes: %s %v", web1MAC, web1LL, out, err)
		}
	}

	cfg := filepath.Join(t.TempDir(), "imdsd.json")
	if err := os.WriteFile(cfg, []byte(`{
  "http_tokens": "optional",
  "instance_id": "i-0a1b2c3d4e5f60000",
  "instances": [
    {"match": ["10.0.0.31", "fd00::31"], "instance_id": "`+web1ID+`"},
    {"match": ["10.0.0.32"], "instance_id": "`+web2ID+`"}
  ]
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	d := nsRunIMDS(t, imdsdBin.Path(t), h, "--config", cfg, "--listen", v4IMDS, "--listen", v6IMDS, "--log", "stderr", "--no-access-log")
	t.Cleanup(func() {
		if t.Failed() {
			if out, err := nsRun("ip", "netns", "exec", h, nft, "list", "ruleset"); err == nil {
				t.Logf("the host namespace's ruleset:\n%s", out)
			}
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d.running(t)
		if code, _, err := filterGet(web1, "10.0.0.31", v4IMDS, time.Second); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("imdsd did not answer web1 within 15s")
		}
	}

	type probe struct {
		what, ns, local, imds string
		id                    string // the instance id it gets, "" for any answer
	}
	own := []probe{
		{"web1 from its own address", web1, "10.0.0.31", v4IMDS, web1ID},
		{"web1 from its own IPv6 address", web1, "fd00::31", v6IMDS, web1ID},
		{"web1 from its own link-local address", web1, web1LL, v6IMDS, ""},
		{"web2 from its own address", web2, "10.0.0.32", v4IMDS, web2ID},
	}
	spoofed := []probe{
		{"web1 from " + spoof4, web1, spoof4, v4IMDS, ""},
		{"web1 from the link-local address " + spoof6, web1, spoof6, v6IMDS, ""},
	}
	reaches := func(t *testing.T, p probe) {
		t.Helper()
		code, body, err := filterGet(p.ns, p.local, p.imds, 3*time.Second)
		if err != nil || code != http.StatusOK || (p.id != "" && body != p.id) {
			t.Errorf("%s: %d %q %v, want 200 %q", p.what, code, body, err, p.id)
		}
	}
	dropped := func(t *testing.T, p probe) {
		t.Helper()
		if code, body, err := filterGet(p.ns, p.local, p.imds, time.Second); err == nil {
			t.Errorf("%s: answered %d %q, want it dropped", p.what, code, body)
		}
	}
	load := func(t *testing.T, name, rules string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), name+".nft")
		if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := nsRun("ip", "netns", "exec", h, nft, "-f", f); err != nil {
			t.Fatalf("nft -f with the manual's %s block (%v):\n%s\n%s", name, err, out, rules)
		}
	}

	t.Run("Unfiltered", func(t *testing.T) {
		// Without the filters, spoofing works: what the filters drop
		// below, they drop.
		for _, p := range append(own, spoofed...) {
			reaches(t, p)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("Addresses", func(t *testing.T) {
		// "add ... in the same chain": the IPv6 lines go at the end of
		// the chain of the first block.
		end := strings.LastIndex(antispoof, "\t}\n}")
		if end < 0 {
			t.Fatalf("the manual's nft-antispoof block has no chain's end (\\t}) to add the IPv6 lines before:\n%s", antispoof)
		}
		var add strings.Builder
		for _, l := range strings.SplitAfter(ipv6, "\n") {
			if l != "" {
				add.WriteString("\t\t" + l)
			}
		}
		load(t, "nft-antispoof", antispoof[:end]+add.String()+antispoof[end:])
		for _, p := range own {
			reaches(t, p)
		}
		for _, p := range spoofed {
			dropped(t, p)
		}
	})

	t.Run("MAC", func(t *testing.T) {
		// web1 takes another MAC address, and the host and web1 forget
		// what they knew of each other, as after a reboot.
		setMAC := func(mac string) {
			t.Helper()
			lab.ip(t, "-n", web1, "link", "set", "eth0", "address", mac)
			lab.ip(t, "-n", web1, "neigh", "flush", "dev", "eth0")
			lab.ip(t, "-n", h, "neigh", "flush", "dev", "br0")
		}
		setMAC(spoofMA)
		reaches(t, probe{"web1 with the MAC address " + spoofMA + " before the MAC filter", web1, "10.0.0.31", v4IMDS, web1ID})

		load(t, "nft-macpin", macpin)
		cmd, ok := strings.CutPrefix(strings.TrimSpace(fdb), "# ")
		if !ok || strings.Contains(cmd, "\n") {
			t.Fatalf("the manual's bridge-fdb block is not one root command (# ...): %q", fdb)
		}
		if out, err := nsRun("ip", append([]string{"netns", "exec", h}, strings.Fields(cmd)...)...); err != nil {
			t.Fatalf("the manual's %q: %v\n%s", cmd, err, out)
		}
		dropped(t, probe{"web1 with the MAC address " + spoofMA, web1, "10.0.0.31", v4IMDS, ""})

		setMAC(web1MAC)
		reaches(t, probe{"web1 with its own MAC address " + web1MAC, web1, "10.0.0.31", v4IMDS, web1ID})
		reaches(t, probe{"web2", web2, "10.0.0.32", v4IMDS, web2ID})
	})
	d.running(t)
}
