package neigh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeTable is a neighbour table the test changes; it counts its reads.
type fakeTable struct {
	mu      sync.Mutex
	entries []Entry
	err     error
	reads   atomic.Int64
}

func (f *fakeTable) set(entries ...Entry) {
	f.mu.Lock()
	f.entries = entries
	f.mu.Unlock()
}

func (f *fakeTable) read() ([]Entry, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		err := f.err
		f.err = nil
		return nil, err
	}
	return append([]Entry(nil), f.entries...), nil
}

func entry(ip, mac, ifname string) Entry {
	m, err := net.ParseMAC(mac)
	if err != nil {
		panic(err)
	}
	return Entry{Addr: netip.MustParseAddr(ip), MAC: m, IfIndex: 3, IfName: ifname, State: StateReachable}
}

// hostNets are the host's addresses in the tests: bridge0 holds
// 10.0.0.1/24, and the metadata address.
func hostNets() ([]netip.Prefix, error) {
	return []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00::1/64")}, nil
}

func newTestCache(tb testing.TB, opts Options) (*Cache, *fakeTable, *fakeClock) {
	tb.Helper()
	tbl, clk := &fakeTable{}, newClock()
	opts.Now, opts.ReadTable, opts.HostPrefixes = clk.Now, tbl.read, hostNets
	return New(opts), tbl, clk
}

func lookup(t *testing.T, c *Cache, ip string) (Entry, error) {
	t.Helper()
	return c.Lookup(context.Background(), netip.MustParseAddr(ip))
}

func wantMAC(t *testing.T, c *Cache, ip, mac string) {
	t.Helper()
	e, err := lookup(t, c, ip)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", ip, err)
	}
	if e.MAC.String() != mac {
		t.Fatalf("Lookup(%s) = %s, want %s", ip, e.MAC, mac)
	}
}

func wantNotFound(t *testing.T, c *Cache, ip, msg string) {
	t.Helper()
	_, err := lookup(t, c, ip)
	var nf *NotFoundError
	if !errors.As(err, &nf) {
		t.Fatalf("Lookup(%s): %v, want a *NotFoundError", ip, err)
	}
	if err.Error() != msg {
		t.Fatalf("Lookup(%s):\n got %q\nwant %q", ip, err, msg)
	}
}

func wantReads(t *testing.T, tbl *fakeTable, n int64) {
	t.Helper()
	if got := tbl.reads.Load(); got != n {
		t.Fatalf("the table was read %d times, want %d", got, n)
	}
}

func TestCacheHitsAndTTL(t *testing.T) {
	c, tbl, clk := newTestCache(t, Options{TTL: 3 * time.Second})
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"), entry("10.0.0.6", "52:54:00:00:00:06", "br0"))

	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	wantReads(t, tbl, 1)
	// A hit, and the read filled in the other guest too.
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	wantMAC(t, c, "10.0.0.6", "52:54:00:00:00:06")
	wantReads(t, tbl, 1)

	// The guests swap addresses: the cache answers the old way until the
	// TTL is over, then reads again.
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:06", "br0"), entry("10.0.0.6", "52:54:00:00:00:05", "br0"))
	clk.Add(2999 * time.Millisecond)
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	wantReads(t, tbl, 1)
	clk.Add(time.Millisecond)
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:06")
	wantMAC(t, c, "10.0.0.6", "52:54:00:00:00:05")
	wantReads(t, tbl, 2)

	if s := c.Stats(); s.Hits != 4 || s.Misses != 2 || s.Reads != 2 {
		t.Errorf("Stats() = %+v", s)
	}
}

func TestCacheMissReadsOnce(t *testing.T) {
	c, tbl, clk := newTestCache(t, Options{TTL: 2 * time.Second, NegativeTTL: 5 * time.Second})
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"))

	routed := "no neighbour entry for 10.232.0.13: not on a directly attached network (routed?)"
	wantNotFound(t, c, "10.232.0.13", routed)
	wantReads(t, tbl, 1)
	// The miss is remembered for NegativeTTL: a routed client does not make
	// every request read the table.
	clk.Add(4 * time.Second)
	wantNotFound(t, c, "10.232.0.13", routed)
	wantReads(t, tbl, 1)
	clk.Add(time.Second)
	wantNotFound(t, c, "10.232.0.13", routed)
	wantReads(t, tbl, 2)

	// A guest that was not in the table at its first request is found
	// once the miss expired.
	wantNotFound(t, c, "10.0.0.7", "no neighbour entry for 10.0.0.7: on the directly attached network 10.0.0.0/24, but the host has no entry for it (not heard from yet?)")
	wantReads(t, tbl, 3)
	tbl.set(entry("10.0.0.7", "52:54:00:00:00:07", "br0"))
	clk.Add(5 * time.Second)
	wantMAC(t, c, "10.0.0.7", "52:54:00:00:00:07")
	wantReads(t, tbl, 4)
}

func TestCacheReasons(t *testing.T) {
	c, tbl, _ := newTestCache(t, Options{})
	failed := entry("10.0.0.8", "00:00:00:00:00:00", "br0")
	failed.MAC, failed.State = nil, StateFailed
	incomplete := entry("10.0.0.9", "00:00:00:00:00:00", "tap1")
	incomplete.MAC, incomplete.State = nil, StateIncomplete
	noarp := entry("10.9.0.2", "00:00:00:00:00:00", "tun0")
	noarp.State = StateNoARP
	tbl.set(failed, incomplete, noarp,
		entry("10.0.0.20", "52:54:00:00:00:20", "br0"), entry("10.0.0.20", "52:54:00:00:00:21", "br1"),
		entry("10.0.0.21", "52:54:00:00:00:22", "br0"), entry("10.0.0.21", "52:54:00:00:00:22", "br1"))
	for _, tt := range []struct{ ip, msg string }{
		{"10.0.0.8", "no neighbour entry for 10.0.0.8: the entry on br0 is FAILED: it did not answer the host's ARP or neighbour solicitations"},
		{"10.0.0.9", "no neighbour entry for 10.0.0.9: the entry on tap1 is INCOMPLETE: the host has not resolved its link-layer address (yet)"},
		{"10.9.0.2", "no neighbour entry for 10.9.0.2: the entry on tun0 is NOARP: that interface does not resolve link-layer addresses (a tun or point-to-point link?)"},
		{"10.0.0.20", "no neighbour entry for 10.0.0.20: the entries on br0 (52:54:00:00:00:20) and on br1 (52:54:00:00:00:21) disagree, so which guest it is cannot be told"},
		{"10.0.0.1", "no neighbour entry for 10.0.0.1: an address of this host: the client is this host itself"},
		{"169.254.169.254", "no neighbour entry for 169.254.169.254: an address of this host: the client is this host itself"},
		{"127.0.0.1", "no neighbour entry for 127.0.0.1: a loopback address: the client is this host itself"},
		{"::1", "no neighbour entry for ::1: a loopback address: the client is this host itself"},
		{"fe80::1", "no neighbour entry for fe80::1: an IPv6 link-local address without a zone (interface)"},
		{"224.0.0.1", "no neighbour entry for 224.0.0.1: not a unicast address"},
		{"fd00::99", "no neighbour entry for fd00::99: on the directly attached network fd00::/64, but the host has no entry for it (not heard from yet?)"},
	} {
		wantNotFound(t, c, tt.ip, tt.msg)
	}
	// Two entries that agree are one answer.
	wantMAC(t, c, "10.0.0.21", "52:54:00:00:00:22")
	// Each miss of the table read it again (7 of them); loopback and the
	// like never needed it, and the read filled in 10.0.0.21.
	wantReads(t, tbl, 7)
	if _, err := c.Lookup(context.Background(), netip.Addr{}); err == nil || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("Lookup(zero Addr): %v", err)
	}
}

func TestCacheAddressForms(t *testing.T) {
	c, tbl, _ := newTestCache(t, Options{})
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"), entry("fe80::5%br0", "52:54:00:00:00:15", "br0"), entry("fd00::5", "52:54:00:00:00:25", "br0"))
	// An IPv4 client of a dual-stack listener.
	wantMAC(t, c, "::ffff:10.0.0.5", "52:54:00:00:00:05")
	// A link-local client is known with its interface only.
	wantMAC(t, c, "fe80::5%br0", "52:54:00:00:00:15")
	wantNotFound(t, c, "fe80::5%br1", "no neighbour entry for fe80::5%br1: a link-local address, but the host has no entry for it (not heard from yet?)")
	// A zone on a global address means nothing.
	wantMAC(t, c, "fd00::5%br0", "52:54:00:00:00:25")
}

func TestCacheReadError(t *testing.T) {
	c, tbl, _ := newTestCache(t, Options{})
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"))
	tbl.err = errors.New("netlink: no buffer space")
	_, err := lookup(t, c, "10.0.0.5")
	var nf *NotFoundError
	if err == nil || errors.As(err, &nf) || !strings.Contains(err.Error(), "reading the neighbour table: netlink: no buffer space") {
		t.Fatalf("Lookup with a failing read: %v", err)
	}
	// The error is not remembered.
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	wantReads(t, tbl, 2)
	if s := c.Stats(); s.ReadErrors != 1 {
		t.Errorf("Stats() = %+v", s)
	}
}

func TestCacheBound(t *testing.T) {
	c, tbl, clk := newTestCache(t, Options{MaxEntries: 4, TTL: time.Second})
	var entries []Entry
	for i := range 10 {
		entries = append(entries, entry(fmt.Sprintf("10.0.0.%d", 10+i), fmt.Sprintf("52:54:00:00:00:%02x", 10+i), "br0"))
	}
	tbl.set(entries...)
	for i := range 10 {
		wantMAC(t, c, fmt.Sprintf("10.0.0.%d", 10+i), fmt.Sprintf("52:54:00:00:00:%02x", 10+i))
		if n := c.Len(); n > 4 {
			t.Fatalf("%d addresses cached, more than MaxEntries 4", n)
		}
	}
	for i := range 50 {
		wantNotFound(t, c, fmt.Sprintf("10.232.0.%d", i), fmt.Sprintf("no neighbour entry for 10.232.0.%d: not on a directly attached network (routed?)", i))
		clk.Add(100 * time.Millisecond)
		if n := c.Len(); n > 4 {
			t.Fatalf("%d addresses cached, more than MaxEntries 4", n)
		}
	}
}

// TestCacheCoalesces starts many misses while a read is under way: they
// all wait for it, and share the one read that starts after it.
func TestCacheCoalesces(t *testing.T) {
	c, tbl, _ := newTestCache(t, Options{})
	const n = 50
	var entries []Entry
	for i := range n + 1 {
		entries = append(entries, entry(fmt.Sprintf("10.0.0.%d", 10+i), fmt.Sprintf("52:54:00:00:00:%02x", 10+i), "br0"))
	}
	tbl.set(entries...)
	started, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	read := tbl.read
	c.readTable = func() ([]Entry, error) {
		if first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return read()
	}

	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	look := func(i int) {
		defer wg.Done()
		ip := fmt.Sprintf("10.0.0.%d", 10+i)
		e, err := c.Lookup(context.Background(), netip.MustParseAddr(ip))
		if err == nil && e.MAC.String() != fmt.Sprintf("52:54:00:00:00:%02x", 10+i) {
			err = fmt.Errorf("%s: got %s", ip, e.MAC)
		}
		errs <- err
	}
	wg.Add(1)
	go look(0)
	<-started
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go look(i)
	}
	// Wait until every lookup has missed (bounded: 10 s).
	for deadline := time.Now().Add(10 * time.Second); c.Stats().Misses < n+1; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d lookups missed", c.Stats().Misses)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	// The first read started before the others missed, so it cannot
	// answer them; one more read does, for all of them.
	wantReads(t, tbl, 2)
}

func TestCacheContextWhileWaiting(t *testing.T) {
	c, tbl, _ := newTestCache(t, Options{})
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"))
	started, release := make(chan struct{}), make(chan struct{})
	read := tbl.read
	c.readTable = func() ([]Entry, error) {
		close(started)
		<-release
		return read()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Lookup(context.Background(), netip.MustParseAddr("10.0.0.5"))
	}()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Lookup(ctx, netip.MustParseAddr("10.0.0.6"))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup with a cancelled context while another reads: %v", err)
	}
	close(release)
	<-done
}

// TestCacheConcurrent runs lookups, table changes and clock moves at once,
// for the race detector.
func TestCacheConcurrent(t *testing.T) {
	c, tbl, clk := newTestCache(t, Options{MaxEntries: 8, TTL: 10 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ip := fmt.Sprintf("10.0.0.%d", (g*7+i)%20)
				c.Lookup(context.Background(), netip.MustParseAddr(ip))
				if i%10 == 0 {
					clk.Add(5 * time.Millisecond)
					tbl.set(entry(ip, "52:54:00:00:00:01", "br0"))
				}
			}
		}()
	}
	wg.Wait()
	if n := c.Len(); n > 8 {
		t.Errorf("%d addresses cached, more than 8", n)
	}
}

func TestEntryString(t *testing.T) {
	e := entry("10.0.0.5", "52:54:00:00:00:05", "br0")
	if got, want := e.String(), "10.0.0.5 dev br0 lladdr 52:54:00:00:00:05 REACHABLE"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	e.IfName, e.MAC, e.State = "", nil, StateFailed
	if got, want := e.String(), "10.0.0.5 dev #3 FAILED"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := State(200).String(); got != "STATE(200)" {
		t.Errorf("State(200) = %q", got)
	}
}

func TestNameInterfaces(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no lo interface: %v", err)
	}
	entries := []Entry{
		{Addr: netip.MustParseAddr("fe80::1"), IfIndex: lo.Index},
		{Addr: netip.MustParseAddr("fe80::2"), IfIndex: 1 << 30},
		{Addr: netip.MustParseAddr("10.0.0.1"), IfIndex: lo.Index, IfName: "given"},
	}
	nameInterfaces(entries)
	if entries[0].IfName != "lo" || entries[0].Addr.Zone() != "lo" {
		t.Errorf("%v", entries[0])
	}
	if entries[1].IfName != "" || entries[1].Addr.Zone() != "1073741824" {
		t.Errorf("%v", entries[1])
	}
	if entries[2].IfName != "given" || entries[2].Addr.Zone() != "" {
		t.Errorf("%v", entries[2])
	}
}

func TestPeek(t *testing.T) {
	now := time.Unix(1000, 0)
	mac, _ := net.ParseMAC("58:9c:fc:00:00:05")
	c := New(Options{
		TTL: time.Second,
		Now: func() time.Time { return now },
		ReadTable: func() ([]Entry, error) {
			return []Entry{{Addr: netip.MustParseAddr("10.0.0.5"), MAC: mac, State: StateReachable}}, nil
		},
		HostPrefixes: func() ([]netip.Prefix, error) { return nil, nil },
	})
	a := netip.MustParseAddr("10.0.0.5")
	if _, ok := c.Peek(a); ok {
		t.Fatal("Peek found an address before any read")
	}
	if _, err := c.Lookup(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Peek(netip.MustParseAddr("::ffff:10.0.0.5")); !ok || e.MAC.String() != mac.String() {
		t.Errorf("Peek after a lookup: %v %t", e, ok)
	}
	if _, err := c.Lookup(context.Background(), netip.MustParseAddr("10.9.0.5")); err == nil {
		t.Fatal("a routed address was found")
	}
	if _, ok := c.Peek(netip.MustParseAddr("10.9.0.5")); ok {
		t.Error("Peek gives a negative entry as found")
	}
	now = now.Add(time.Second)
	if _, ok := c.Peek(a); ok {
		t.Error("Peek gives an expired entry")
	}
	if s := c.Stats(); s.Reads != 2 || s.Hits != 0 {
		t.Errorf("Peek counted or read: %+v", s)
	}
}
