//go:build linux

package main

// Issue 13 end to end: guests known by their MAC address, on the network
// of netns_test.go (newNSLab), with a configuration that names no guest
// address (testdata/netns/mac.json): guest1 and guest2 by MAC address,
// guest3 by MAC address too but one routed hop away, where the host
// cannot see it; guest4's MAC address is in no entry.

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/server"
)

// nsMove gives guest g the address addr in place of its own, as a new
// DHCP lease does.
func (lab *nsLab) nsMove(t *testing.T, g *nsGuest, addr string) {
	t.Helper()
	lab.ip(t, "-n", g.ns, "addr", "flush", "dev", "eth0")
	lab.ip(t, "-n", g.ns, "addr", "add", addr+"/24", "dev", "eth0")
	lab.ip(t, "-n", g.ns, "route", "replace", nsIMDSHost+"/32", "dev", "eth0")
	g.addr = addr
}

// nsMACGet GETs path from g with a fresh token.
func nsMACGet(t *testing.T, g *nsGuest, path string) nsResponse {
	t.Helper()
	return nsGetWith(t, g, path, nsToken(t, g))
}

// nsWantOwn checks that g gets its own instance, from the address it has.
func nsWantOwn(t *testing.T, g *nsGuest) {
	t.Helper()
	for _, c := range []struct{ path, want string }{
		{"/latest/meta-data/instance-id", g.id},
		{"/latest/meta-data/local-ipv4", g.addr},
		{"/latest/meta-data/mac", g.mac},
	} {
		if r := nsMACGet(t, g, c.path); r.status != http.StatusOK || r.body != c.want {
			t.Errorf("%s at %s: GET %s: %d %q, want 200 %q", g.role, g.addr, c.path, r.status, r.body, c.want)
		}
	}
	r := nsMACGet(t, g, "/latest/dynamic/instance-identity/document")
	var doc struct {
		PrivateIP  string `json:"privateIp"`
		InstanceID string `json:"instanceId"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || doc.PrivateIP != g.addr || doc.InstanceID != g.id {
		t.Errorf("%s at %s: identity document %q (%v): want privateIp %s, instanceId %s", g.role, g.addr, r.body, err, g.addr, g.id)
	}
}

// nsAwaitOwn waits, up to a bound well above imdsd's neighbour cache
// lifetime, until g gets its own instance id.
func nsAwaitOwn(t *testing.T, d *nsDaemon, g *nsGuest) {
	t.Helper()
	deadline := time.Now().Add(server.NeighbourTTL + 8*time.Second)
	for {
		r := nsMACGet(t, g, "/latest/meta-data/instance-id")
		if r.status == http.StatusOK && r.body == g.id {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s at %s: instance-id is %d %q after %v, want %q", g.role, g.addr, r.status, r.body, server.NeighbourTTL+8*time.Second, g.id)
		}
		d.running(t)
		time.Sleep(200 * time.Millisecond)
	}
}

func TestNetNSMAC(t *testing.T) {
	lab := newNSLab(t)
	g1, g2, g3, g4 := lab.g1, lab.g2, lab.g3, lab.g4
	cfg, err := filepath.Abs("testdata/netns/mac.json")
	if err != nil {
		t.Fatal(err)
	}
	d := lab.start(t, cfg)

	t.Run("EachItsOwn", func(t *testing.T) {
		nsWantOwn(t, g1)
		nsWantOwn(t, g2)
	})

	t.Run("UnknownMAC", func(t *testing.T) {
		if r := nsMACGet(t, g4, "/latest/meta-data/instance-id"); r.status != http.StatusOK || r.body != nsDefaultID {
			t.Errorf("guest4 (its MAC in no entry): instance-id %d %q, want the default %q", r.status, r.body, nsDefaultID)
		}
		if !d.logged("no instance matches its MAC address", "client="+g4.addr, "mac="+g4.mac) {
			t.Errorf("no log line says why guest4 is unknown")
		}
	})

	t.Run("Routed", func(t *testing.T) {
		// guest3's MAC address is in an entry, but the host sees the
		// router's: guest3 is unknown, and the log says why.
		if r := nsMACGet(t, g3, "/latest/meta-data/instance-id"); r.status != http.StatusOK || r.body != nsDefaultID {
			t.Errorf("guest3 (routed): instance-id %d %q, want the default %q", r.status, r.body, nsDefaultID)
		}
		if !d.logged("its MAC address cannot be found", "client="+g3.addr, "not on a directly attached network (routed?)") {
			t.Errorf("no log line says why guest3 is unknown")
		}
	})

	t.Run("NewLease", func(t *testing.T) {
		lab.nsMove(t, g1, "10.231.0.21")
		nsAwaitOwn(t, d, g1)
		nsWantOwn(t, g1)
	})

	t.Run("Swap", func(t *testing.T) {
		tok1, tok2 := nsToken(t, g1), nsToken(t, g2)
		a1, a2 := g1.addr, g2.addr
		lab.nsMove(t, g1, "10.231.0.99") // out of the way while they swap
		lab.nsMove(t, g2, a1)
		lab.nsMove(t, g1, a2)
		// What the guests' announcements do after a new lease: the host
		// forgets the old address-to-MAC pairs.
		lab.ip(t, "-n", lab.host, "neigh", "flush", "dev", "br0")
		nsAwaitOwn(t, d, g1)
		nsAwaitOwn(t, d, g2)
		nsWantOwn(t, g1)
		nsWantOwn(t, g2)
		// Each holds the address the other's token was taken from.
		nsTokenRefused(t, g2, tok1, "guest1 (taken before the swap)")
		nsTokenRefused(t, g1, tok2, "guest2 (taken before the swap)")
	})

	t.Run("SwapAtOnce", func(t *testing.T) {
		// Both guests were just served, so imdsd holds both addresses'
		// MACs; then they swap addresses and announce it, as gratuitous
		// ARP does, which the host's neighbour table takes in at once.
		nsWantOwn(t, g1)
		nsWantOwn(t, g2)
		a1, a2 := g1.addr, g2.addr
		served := time.Now()
		lab.nsMove(t, g1, "10.231.0.98")
		lab.nsMove(t, g2, a1)
		lab.nsMove(t, g1, a2)
		lab.ip(t, "-n", lab.host, "neigh", "replace", a1, "lladdr", g2.mac, "dev", "br0", "nud", "reachable")
		lab.ip(t, "-n", lab.host, "neigh", "replace", a2, "lladdr", g1.mac, "dev", "br0", "nud", "reachable")
		// The very next request of each, well within NeighbourTTL of
		// the last ones, is its own: imdsd dropped the old answers when
		// the kernel reported the change.
		for _, g := range []*nsGuest{g1, g2} {
			if r := nsMACGet(t, g, "/latest/meta-data/instance-id"); r.status != http.StatusOK || r.body != g.id {
				t.Errorf("%s, now at %s: the first request after the swap gets %d %q, want %q", g.role, g.addr, r.status, r.body, g.id)
			}
		}
		if took := time.Since(served); took >= server.NeighbourTTL {
			t.Errorf("the swap took %v, longer than NeighbourTTL (%v): the test proves nothing", took, server.NeighbourTTL)
		}
		nsWantOwn(t, g1)
		nsWantOwn(t, g2)
		if d.logged("no notifications of changes to the neighbour table") {
			t.Error("imdsd could not follow the neighbour table's changes")
		}
	})
	d.running(t)
}
