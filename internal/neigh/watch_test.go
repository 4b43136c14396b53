package neigh

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestParseNetlinkEvents parses a datagram of RTNLGRP_NEIGH notifications
// as the kernel sends them (neigh_update -> __neigh_notify -> neigh_fill_info,
// the same layout as a dump, with nlmsg_seq 0 and no NLM_F_MULTI).
func TestParseNetlinkEvents(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	var dgram []byte
	for _, m := range [][]byte{
		nlMsg(28, 0, 0, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:06")),     // new MAC, REACHABLE
		nlMsg(28, 0, 0, ndMsg(2, 3, 0x20, 0, "10.0.0.6", "")),                      // FAILED
		nlMsg(29, 0, 0, ndMsg(10, 4, 0x04, 0, "fd00::7", "52:54:00:00:00:07")),     // RTM_DELNEIGH
		nlMsg(28, 0, 0, ndMsg(7, 5, 0x80, 0x02, "", "52:54:00:00:00:13")),          // AF_BRIDGE FDB: skipped
		nlMsg(28, 0, 0, ndMsg(2, 3, 0x02, 0x08, "10.0.0.12", "52:54:00:00:00:12")), // NTF_PROXY: skipped
		nlMsg(16, 0, 0, make([]byte, 16)),                                          // RTM_NEWLINK: skipped
	} {
		dgram = append(dgram, m...)
	}
	got, err := parseNetlinkEvents(dgram, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.5"), MAC: mac("52:54:00:00:00:06"), IfIndex: 3, State: StateReachable}},
		{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.6"), IfIndex: 3, State: StateFailed}},
		{Entry: Entry{Addr: netip.MustParseAddr("fd00::7"), MAC: mac("52:54:00:00:00:07"), IfIndex: 4, State: StateStale}, Deleted: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	for _, bad := range [][]byte{
		dgram[:10],
		nlMsg(28, 0, 0, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:06"))[:30],
		nlMsg(28, 0, 0, []byte{2, 0, 0, 0}),
	} {
		if _, err := parseNetlinkEvents(bad, nil); err == nil {
			t.Errorf("% x: no error", bad)
		}
	}
}

// TestParseRouteEvents parses routing-socket messages as FreeBSD writes
// them: the kernel's (arp_lle_event, nd6_lle_event: rt_missmsg_fib with
// RTA_DST and RTA_GATEWAY, laid out as the sysctl's entries, sdl_nlen 0)
// and the echoes of arp(8)'s requests.
func TestParseRouteEvents(t *testing.T) {
	mac := func(s string) net.HardwareAddr { m, _ := net.ParseMAC(s); return m }
	withErrno := func(b []byte, errno uint32) []byte { le.PutUint32(b[24:], errno); return b }
	withFlags := func(b []byte, flags uint32) []byte { le.PutUint32(b[8:], flags); return b }
	// arp -d 10.0.0.9: RTM_DELETE, RTF_LLDATA, RTA_DST alone.
	del := make([]byte, 152+16)
	le.PutUint16(del[0:], uint16(len(del)))
	del[2], del[3] = 5, 2
	le.PutUint32(del[8:], 0x400)
	le.PutUint32(del[12:], 0x1)
	del[152], del[153] = 16, 2
	copy(del[156:], []byte{10, 0, 0, 9})

	b := fbsdDump(
		fbsdMsg{typ: 1, index: 3, ip: "10.0.0.5", ifType: 6, mac: "58:9c:fc:00:00:06"},     // resolved, or moved to a new MAC
		fbsdMsg{typ: 2, index: 3, ip: "10.0.0.6", ifType: 6},                               // expired
		fbsdMsg{typ: 1, index: 5, ip: "fe80:5::7", mac: "02:00:00:00:00:07"},               // ND resolved; rmx_state 0 in a notification
		fbsdMsg{typ: 2, index: 5, ip: "fd00::8", mac: "00:00:00:00:00:00"},                 // ND expired: sdl_alen set, no address
		fbsdMsg{typ: 3, index: 3, ip: "10.0.0.10", flags: 0x800, mac: "58:9c:fc:00:00:10"}, // arp -s ... (RTM_CHANGE)
		fbsdMsg{typ: 4, index: 3, ip: "10.0.0.11", mac: "58:9c:fc:00:00:11"},               // RTM_GET: skipped
	)
	b = append(b, withErrno(fbsdMsg{typ: 1, index: 3, ip: "10.0.0.12", mac: "58:9c:fc:00:00:12"}.bytes(), 17)...)      // a failed request: skipped
	b = append(b, withFlags(fbsdMsg{typ: 1, index: 3, ip: "10.0.0.13", mac: "58:9c:fc:00:00:13"}.bytes(), 0x1|0x2)...) // a route: skipped
	b = append(b, del...)
	b = append(b, 12, 0, 5, 0xe, 0, 0, 0, 0, 0, 0, 0, 0) // RTM_IFANNOUNCE-sized stranger: skipped

	got, err := parseRouteEvents(b, 8, binary.LittleEndian, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.5"), MAC: mac("58:9c:fc:00:00:06"), IfIndex: 3, State: StateReachable}},
		{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.6"), IfIndex: 3, State: StateIncomplete}, Deleted: true},
		{Entry: Entry{Addr: netip.MustParseAddr("fe80::7"), MAC: mac("02:00:00:00:00:07"), IfIndex: 5, State: StateReachable}},
		{Entry: Entry{Addr: netip.MustParseAddr("fd00::8"), MAC: mac("00:00:00:00:00:00"), IfIndex: 5, State: StateReachable}, Deleted: true},
		{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.10"), MAC: mac("58:9c:fc:00:00:10"), IfIndex: 3, State: StatePermanent}},
		{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.9")}, Deleted: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"truncated", fbsdMsg{typ: 1, index: 3, ip: "10.0.0.5", mac: "58:9c:fc:00:00:05"}.bytes()[:100], "length 224"},
		{"shorter than its header", func() []byte {
			b := fbsdMsg{typ: 1, index: 3, ip: "10.0.0.5"}.bytes()
			le.PutUint16(b, 100)
			return b[:100]
		}(), "shorter than its header"},
		{"no gateway on an add", func() []byte {
			b := fbsdMsg{typ: 1, index: 3, ip: "10.0.0.5"}.bytes()
			le.PutUint32(b[12:], 1)
			return b
		}(), "no destination and gateway"},
	} {
		if _, err := parseRouteEvents(c.b, 8, binary.LittleEndian, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// FuzzParseEvents checks that no input makes the notification parsers
// panic.
func FuzzParseEvents(f *testing.F) {
	f.Add(fbsdMsg{typ: 1, index: 3, ip: "10.0.0.5", mac: "58:9c:fc:00:00:05"}.bytes())
	f.Add(nlMsg(28, 0, 0, ndMsg(2, 3, 0x02, 0, "10.0.0.5", "52:54:00:00:00:06")))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseRouteEvents(b, 8, binary.LittleEndian, nil)
		parseRouteEvents(b, 4, binary.BigEndian, nil)
		parseNetlinkEvents(b, nil)
	})
}

// fakeWatch is an event source the test drives: send returns once the
// cache applied the event.
type fakeWatch struct {
	ch      chan Event
	applied chan struct{}
	started chan struct{}
}

func newFakeWatch() *fakeWatch {
	return &fakeWatch{ch: make(chan Event), applied: make(chan struct{}), started: make(chan struct{}, 10)}
}

func (w *fakeWatch) watch(ctx context.Context, events func(Event)) error {
	events(Event{Lost: true})
	w.started <- struct{}{}
	for {
		select {
		case ev := <-w.ch:
			events(ev)
			w.applied <- struct{}{}
		case <-ctx.Done():
			return nil
		}
	}
}

func (w *fakeWatch) send(t *testing.T, ev Event) {
	t.Helper()
	select {
	case w.ch <- ev:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher does not take events")
	}
	<-w.applied
}

// newWatchedCache is a cache on a fake table and clock, with an hour's
// TTL (so that only notifications change its answers) and w as its event
// source, started and closed with the test.
func newWatchedCache(t *testing.T, w *fakeWatch) (*Cache, *fakeTable) {
	t.Helper()
	c, tbl, _ := newTestCache(t, Options{TTL: time.Hour, Watch: w.watch})
	t.Cleanup(func() { c.Close() })
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"), entry("10.0.0.6", "52:54:00:00:00:06", "br0"))
	lookup(t, c, "10.0.0.99") // starts the watcher
	select {
	case <-w.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher did not start")
	}
	return c, tbl
}

func TestCacheWatch(t *testing.T) {
	w := newFakeWatch()
	c, tbl := newWatchedCache(t, w)
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	wantMAC(t, c, "10.0.0.6", "52:54:00:00:00:06")
	reads := tbl.reads.Load()

	// The entry goes STALE, same MAC: the answer holds.
	e5 := entry("10.0.0.5", "52:54:00:00:00:05", "br0")
	e5.State = StateStale
	w.send(t, Event{Entry: e5})
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	wantReads(t, tbl, reads)

	// The guests swap addresses: the kernel reports each address's new
	// MAC, and the very next lookups read the table again, an hour
	// before the TTL would.
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:06", "br0"), entry("10.0.0.6", "52:54:00:00:00:05", "br0"))
	w.send(t, Event{Entry: entry("10.0.0.5", "52:54:00:00:00:06", "br0")})
	w.send(t, Event{Entry: entry("10.0.0.6", "52:54:00:00:00:05", "br0")})
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:06")
	wantMAC(t, c, "10.0.0.6", "52:54:00:00:00:05")
	wantReads(t, tbl, reads+1)

	// FAILED, deleted: gone at once.
	tbl.set(entry("10.0.0.6", "52:54:00:00:00:05", "br0"))
	w.send(t, Event{Entry: Entry{Addr: netip.MustParseAddr("10.0.0.5"), IfIndex: 3, State: StateFailed}})
	wantNotFound(t, c, "10.0.0.5", "no neighbour entry for 10.0.0.5: on the directly attached network 10.0.0.0/24, but the host has no entry for it (not heard from yet?)")
	tbl.set()
	w.send(t, Event{Entry: entry("10.0.0.6", "52:54:00:00:00:05", "br0"), Deleted: true})
	wantNotFound(t, c, "10.0.0.6", "no neighbour entry for 10.0.0.6: on the directly attached network 10.0.0.0/24, but the host has no entry for it (not heard from yet?)")

	// A guest the host had not heard from is found as soon as it has.
	wantNotFound(t, c, "10.0.0.7", "no neighbour entry for 10.0.0.7: on the directly attached network 10.0.0.0/24, but the host has no entry for it (not heard from yet?)")
	tbl.set(entry("10.0.0.7", "52:54:00:00:00:07", "br0"))
	w.send(t, Event{Entry: entry("10.0.0.7", "52:54:00:00:00:07", "br0")})
	wantMAC(t, c, "10.0.0.7", "52:54:00:00:00:07")

	// Notifications lost: everything is read again.
	reads = tbl.reads.Load()
	w.send(t, Event{Lost: true})
	if n := c.Len(); n != 0 {
		t.Errorf("%d answers kept after notifications were lost", n)
	}
	wantMAC(t, c, "10.0.0.7", "52:54:00:00:00:07")
	wantReads(t, tbl, reads+1)

	if s := c.Stats(); s.Events == 0 || s.Dropped < 4 || s.Flushes != 2 || s.WatchErrors != 0 {
		t.Errorf("Stats() = %+v", s)
	}
}

// TestCacheWatchDuringRead: a change reported while the table is read may
// be missing from what was read, so that read's answer for the address
// is not kept, and the caller's own address is read again.
func TestCacheWatchDuringRead(t *testing.T) {
	w := newFakeWatch()
	c, tbl := newWatchedCache(t, w)
	c.Close() // the test sends the events itself, from inside the read
	c.readTable = func() ([]Entry, error) {
		entries, err := tbl.read()
		if tbl.reads.Load() == 3 { // see below
			// The kernel changes both addresses after the dump passed
			// them, and reports it while the read is still going.
			tbl.set(entry("10.0.0.5", "52:54:00:00:00:06", "br0"), entry("10.0.0.6", "52:54:00:00:00:05", "br0"))
			c.apply(Event{Entry: entry("10.0.0.5", "52:54:00:00:00:06", "br0")})
			c.apply(Event{Entry: entry("10.0.0.6", "52:54:00:00:00:05", "br0")})
		}
		return entries, err
	}
	c.apply(Event{Lost: true})
	wantReads(t, tbl, 1)
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05") // read 2, no change during it
	c.apply(Event{Lost: true})
	// Read 3 sees the old MACs, but the changes came in during it: the
	// caller reads again (read 4), and nothing of read 3 is kept.
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:06")
	wantReads(t, tbl, 4)
	wantMAC(t, c, "10.0.0.6", "52:54:00:00:00:05")
	wantReads(t, tbl, 4)
}

// TestCacheWatchFails: a watcher that cannot subscribe, or stops, makes
// the cache forget what it holds and fall back on the TTL; it is tried
// again, and Close stops it.
func TestCacheWatchFails(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	calls := make(chan struct{}, 100)
	c, tbl, clk := newTestCache(t, Options{
		TTL: 2 * time.Second,
		Watch: func(ctx context.Context, events func(Event)) error {
			calls <- struct{}{}
			return errors.New("permission denied")
		},
		WatchError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() },
	})
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"))
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	<-calls
	for deadline := time.Now().Add(5 * time.Second); c.Stats().WatchErrors == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failure was not counted")
		}
	}
	// The TTL still works.
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:06", "br0"))
	clk.Add(2 * time.Second)
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:06")
	// Tried again after a pause.
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher was not started again")
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop the watcher")
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(reported) == 0 || reported[0].Error() != "permission denied" {
		t.Errorf("WatchError was told %v", reported)
	}
}

// TestCacheCloseWithoutWatch: a cache with no watcher, or closed before
// any lookup, closes at once and goes on answering.
func TestCacheCloseWithoutWatch(t *testing.T) {
	c, tbl, _ := newTestCache(t, Options{})
	c.Close()
	tbl.set(entry("10.0.0.5", "52:54:00:00:00:05", "br0"))
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	c.Close()

	started := false
	c = New(Options{ReadTable: tbl.read, Watch: func(ctx context.Context, events func(Event)) error { started = true; return nil }})
	c.Close()
	wantMAC(t, c, "10.0.0.5", "52:54:00:00:00:05")
	if started {
		t.Error("a lookup after Close started the watcher")
	}
}
