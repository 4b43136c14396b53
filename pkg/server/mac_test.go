package server

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeNeighbours is a neighbour table the test sets: client address to
// MAC address. It counts its lookups.
type fakeNeighbours struct {
	mu      sync.Mutex
	table   map[netip.Addr]net.HardwareAddr
	lookups atomic.Int64
}

func newFakeNeighbours(pairs ...string) *fakeNeighbours {
	f := &fakeNeighbours{table: map[netip.Addr]net.HardwareAddr{}}
	for i := 0; i+1 < len(pairs); i += 2 {
		f.set(pairs[i], pairs[i+1])
	}
	return f
}

// set gives addr the MAC address mac, or none for "".
func (f *fakeNeighbours) set(addr, mac string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := netip.MustParseAddr(addr)
	if mac == "" {
		delete(f.table, a)
		return
	}
	m, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	f.table[a] = m
}

func (f *fakeNeighbours) ResolveMAC(_ context.Context, addr netip.Addr) (net.HardwareAddr, error) {
	f.lookups.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.table[addr]; ok {
		return m, nil
	}
	return nil, errors.New("no neighbour entry for " + addr.String() + ": not on a directly attached network (routed?)")
}

// fakeCachedNeighbours also answers without blocking, as the Server's own
// resolver does from its cache.
type fakeCachedNeighbours struct{ *fakeNeighbours }

func (f fakeCachedNeighbours) cachedMAC(addr netip.Addr) (net.HardwareAddr, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.table[addr]
	return m, ok
}

// The MAC addresses of the tests' guests.
const (
	macWeb1 = "58:9c:fc:0a:1b:21"
	macWeb2 = "52:54:00:0a:1b:31"
	macDB   = "bc:24:11:0a:1b:41"
	macNone = "02:99:99:99:99:99" // a guest no entry names
)

// cfgMACGuests: web1 is matched by its own mac, web2 by a MAC of match
// (and gets its own local_ipv4 from the file), db by an exact address
// (and a MAC, which the address beats); 127.0.1.0/24 is the lab's
// network.
const cfgMACGuests = `{
  "instance_id": "i-00000000000000000",
  "region": "us-east-2",
  "local_ipv4": "10.0.0.250",
  UNKNOWN
  "instances": [
    {"instance_id": "i-0000000000000000a", "mac": "` + macWeb1 + `", "tags": {"Name": "web1"}},
    {"match": ["` + macWeb2 + `"], "instance_id": "i-0000000000000000b", "local_ipv4": "10.0.0.31"},
    {"match": ["127.0.0.5", "` + macDB + `"], "instance_id": "i-0000000000000000c"},
    {"match": ["127.0.1.0/24"], "instance_id": "i-0000000000000000d"}
  ]
}`

func macConfig(unknown string) string { return strings.Replace(cfgMACGuests, "UNKNOWN", unknown, 1) }

// macGuest is one client of a test: its address, and what it asks with.
type macGuest struct {
	t   *testing.T
	ts  *testServer
	src string
}

func (g macGuest) token() string {
	g.t.Helper()
	r := g.ts.exchangeFrom(g.t, g.src, req("PUT", "/latest/api/token", ttlHdr("60")))
	if r.status != 200 {
		g.t.Fatalf("%s: PUT token: %d", g.src, r.status)
	}
	return string(r.body)
}

func (g macGuest) get(path, tok string) *response {
	g.t.Helper()
	return g.ts.exchangeFrom(g.t, g.src, req("GET", path, tokenHdr(tok)))
}

// want checks that the guest gets want at path with a fresh token.
func (g macGuest) want(path, want string) {
	g.t.Helper()
	r := g.get(path, g.token())
	if r.status != 200 || string(r.body) != want {
		g.t.Errorf("%s: GET %s: %d %q, want 200 %q", g.src, path, r.status, r.body, want)
	}
}

func TestMACGuests(t *testing.T) {
	nb := newFakeNeighbours(
		"127.0.0.2", macWeb1,
		"127.0.0.3", macWeb2,
		"127.0.0.4", macNone,
		"127.0.0.5", macWeb1, // db's address wins over web1's MAC
		"127.0.1.7", macDB, // a MAC wins over a network
	)
	ts := start(t, macConfig(`"unknown_clients": "default",`), func(o *Options) { o.MACResolver = nb })
	g := func(src string) macGuest { return macGuest{t, ts, src} }

	t.Run("EachItsOwn", func(t *testing.T) {
		for _, c := range []struct{ src, path, want string }{
			{"127.0.0.2", "/latest/meta-data/instance-id", "i-0000000000000000a"},
			// The address it comes from is its local_ipv4, and what
			// derives from it is derived from that.
			{"127.0.0.2", "/latest/meta-data/local-ipv4", "127.0.0.2"},
			{"127.0.0.2", "/latest/meta-data/local-hostname", "ip-127-0-0-2.us-east-2.compute.internal"},
			{"127.0.0.2", "/latest/meta-data/mac", macWeb1},
			{"127.0.0.2", "/latest/meta-data/tags/instance/Name", "web1"},
			// web2 gives local_ipv4 and takes its MAC from the client.
			{"127.0.0.3", "/latest/meta-data/instance-id", "i-0000000000000000b"},
			{"127.0.0.3", "/latest/meta-data/local-ipv4", "10.0.0.31"},
			{"127.0.0.3", "/latest/meta-data/mac", macWeb2},
			{"127.0.0.3", "/latest/meta-data/network/interfaces/macs/" + macWeb2 + "/local-ipv4s", "10.0.0.31"},
			// Precedence: exact address, MAC, network, default.
			{"127.0.0.5", "/latest/meta-data/instance-id", "i-0000000000000000c"},
			{"127.0.1.7", "/latest/meta-data/instance-id", "i-0000000000000000c"},
			{"127.0.1.8", "/latest/meta-data/instance-id", "i-0000000000000000d"},
			{"127.0.0.4", "/latest/meta-data/instance-id", "i-00000000000000000"},
			{"127.0.0.6", "/latest/meta-data/instance-id", "i-00000000000000000"},
		} {
			g(c.src).want(c.path, c.want)
		}
		r := g("127.0.0.2").get("/latest/dynamic/instance-identity/document", g("127.0.0.2").token())
		if !strings.Contains(string(r.body), `"privateIp" : "127.0.0.2"`) || !strings.Contains(string(r.body), `"instanceId" : "i-0000000000000000a"`) {
			t.Errorf("web1's identity document:\n%s", r.body)
		}
	})

	t.Run("NewLease", func(t *testing.T) {
		tok := g("127.0.0.2").token()
		nb.set("127.0.0.2", "")
		nb.set("127.0.0.8", macWeb1)
		g("127.0.0.8").want("/latest/meta-data/instance-id", "i-0000000000000000a")
		g("127.0.0.8").want("/latest/meta-data/local-ipv4", "127.0.0.8")
		// Its token was for its old address.
		if r := g("127.0.0.8").get("/latest/meta-data/instance-id", tok); r.status != 401 {
			t.Errorf("token from the old address: %d, want 401", r.status)
		}
		nb.set("127.0.0.8", "")
		nb.set("127.0.0.2", macWeb1)
	})

	t.Run("Swap", func(t *testing.T) {
		tok1, tok2 := g("127.0.0.2").token(), g("127.0.0.3").token()
		nb.set("127.0.0.2", macWeb2)
		nb.set("127.0.0.3", macWeb1)
		g("127.0.0.2").want("/latest/meta-data/instance-id", "i-0000000000000000b")
		g("127.0.0.3").want("/latest/meta-data/instance-id", "i-0000000000000000a")
		g("127.0.0.3").want("/latest/meta-data/local-ipv4", "127.0.0.3")
		// web2, now at web1's old address, holding web1's token from
		// before the swap (and the other way round): refused.
		for _, c := range []struct{ src, tok string }{{"127.0.0.2", tok1}, {"127.0.0.3", tok2}} {
			if r := g(c.src).get("/latest/meta-data/instance-id", c.tok); r.status != 401 || len(r.body) != 0 {
				t.Errorf("%s with the token of its address's former guest: %d %q, want 401", c.src, r.status, r.body)
			}
		}
		nb.set("127.0.0.2", macWeb1)
		nb.set("127.0.0.3", macWeb2)
	})

	t.Run("WhyUnknown", func(t *testing.T) {
		for range 3 {
			g("127.0.0.6").want("/latest/meta-data/instance-id", "i-00000000000000000")
			g("127.0.0.4").want("/latest/meta-data/instance-id", "i-00000000000000000")
		}
		var notFound, unmatched int
		for _, rec := range records(t, ts.errlog) {
			switch rec["msg"] {
			case "unknown client: its MAC address cannot be found":
				if rec["client"] == "127.0.0.6" && strings.Contains(rec["reason"].(string), "routed?") {
					notFound++
				}
			case "unknown client: no instance matches its MAC address":
				if rec["client"] == "127.0.0.4" && rec["mac"] == macNone {
					unmatched++
				}
			}
		}
		// Rate-limited: one line per client however many requests (the
		// test takes far less than NeighbourTTL).
		if notFound != 1 || unmatched != 1 {
			t.Errorf("log lines: %d about 127.0.0.6 (no MAC), %d about 127.0.0.4 (unknown MAC); want 1 each:\n%s", notFound, unmatched, ts.errlog.String())
		}
		// A client a network matches is not unknown: no line.
		if strings.Contains(ts.errlog.String(), "127.0.1.8") {
			t.Errorf("a client matched by a network was logged as unknown:\n%s", ts.errlog.String())
		}
	})
}

func TestMACGuestsDeny(t *testing.T) {
	nb := newFakeNeighbours("127.0.0.2", macWeb1, "127.0.0.4", macNone)
	ts := start(t, macConfig(`"unknown_clients": "deny",`), func(o *Options) { o.MACResolver = nb })
	for _, src := range []string{"127.0.0.4", "127.0.0.6"} {
		r := ts.exchangeFrom(t, src, req("PUT", "/latest/api/token", ttlHdr("60")))
		expect{status: 403, body: str(""), ttl: "-"}.check(t, r)
	}
	macGuest{t, ts, "127.0.0.2"}.want("/latest/meta-data/instance-id", "i-0000000000000000a")
}

// TestAddressOnlyNeverResolves: a configuration without MAC matching
// never asks for a MAC address, and a reload to one that has it does.
func TestAddressOnlyNeverResolves(t *testing.T) {
	nb := newFakeNeighbours("127.0.0.2", macWeb1)
	ts := start(t, guestsConfig(`"unknown_clients": "default",`), func(o *Options) { o.MACResolver = nb })
	for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.9"} {
		macGuest{t, ts, src}.token()
	}
	if n := nb.lookups.Load(); n != 0 {
		t.Fatalf("an address-only configuration looked up %d MAC addresses", n)
	}
	ts.srv.Reload(parseConfig(t, macConfig("")))
	macGuest{t, ts, "127.0.0.2"}.want("/latest/meta-data/instance-id", "i-0000000000000000a")
	if nb.lookups.Load() == 0 {
		t.Error("after a reload to MAC matching, no lookup")
	}
}

// TestMACGuestKey: at accept, a MAC-matched client counts against its
// guest when its MAC address is known without waiting, else against its
// address; exact addresses and networks as before.
func TestMACGuestKey(t *testing.T) {
	nb := newFakeNeighbours("127.0.0.2", macWeb1, "127.0.1.7", macDB)
	srv, err := New(parseConfig(t, macConfig("")), Options{MACResolver: fakeCachedNeighbours{nb}})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.state.Load()
	local := netip.MustParseAddrPort("169.254.169.254:80")
	for _, c := range []struct{ addr, want string }{
		{"127.0.0.2", "i-0000000000000000a"},
		{"127.0.0.5", "i-0000000000000000c"},
		{"127.0.1.7", "i-0000000000000000c"},
		{"127.0.1.8", "i-0000000000000000d"},
		{"127.0.0.9", "127.0.0.9/32"},
	} {
		if got := srv.guestKey(st, netip.MustParseAddr(c.addr), local).String(); got != c.want {
			t.Errorf("guestKey(%s) = %s, want %s", c.addr, got, c.want)
		}
	}
	if nb.lookups.Load() != 0 {
		t.Error("guestKey waited for a lookup")
	}
	// A resolver that cannot answer without asking: by address.
	srv2, _ := New(parseConfig(t, macConfig("")), Options{MACResolver: nb})
	if got := srv2.guestKey(srv2.state.Load(), netip.MustParseAddr("127.0.0.2"), local).String(); got != "127.0.0.2/32" {
		t.Errorf("guestKey without a cache = %s, want the address", got)
	}
}

// TestClientInstancesBounded: the instances made for MAC-matched clients
// stay within maxClientInstances, however many addresses a guest uses.
func TestClientInstancesBounded(t *testing.T) {
	srv, err := New(parseConfig(t, macConfig("")), Options{MACResolver: newFakeNeighbours()})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.state.Load()
	mac, _ := net.ParseMAC(macWeb1)
	in := st.mac.macFor(mac, netip.AddrPort{})
	base := netip.MustParseAddr("10.0.0.0")
	a := base
	for range maxClientInstances + 100 {
		a = a.Next()
		if got := st.mac.forClient(in, a, mac); got.cfg.LocalIPv4 != a.String() {
			t.Fatalf("client %s: local_ipv4 %s", a, got.cfg.LocalIPv4)
		}
	}
	if n := len(st.mac.clients); n > maxClientInstances {
		t.Errorf("%d client instances kept, want at most %d", n, maxClientInstances)
	}
	// The same client again is the same instance: no rebuild.
	if first := st.mac.forClient(in, a, mac); st.mac.forClient(in, a, mac) != first {
		t.Error("a client's instance was made twice")
	}
}

// TestOwnNeighboursClosed: the Server's own MAC resolver follows the
// kernel's notifications from its first lookup, with a goroutine that
// Shutdown ends (a Server leaves nothing running behind it).
func TestOwnNeighboursClosed(t *testing.T) {
	before := goleak.IgnoreCurrent()
	srv, err := New(parseConfig(t, macConfig(`"unknown_clients": "default",`)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, ok := srv.macs.(neighbours)
	if !ok {
		t.Fatalf("the Server's own resolver is a %T", srv.macs)
	}
	// A lookup starts the watcher (where the system has one); the answer
	// does not matter here.
	n.ResolveMAC(context.Background(), netip.MustParseAddr("192.0.2.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t, before)
}
