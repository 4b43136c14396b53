package ratelimit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/guestkey"
)

// addrKey is the key of an unknown client at a.
func addrKey(a string) guestkey.Key { return guestkey.Of(netip.MustParseAddr(a), "") }

// nthKey is the key of the nth of many unknown IPv4 clients.
func nthKey(i int) guestkey.Key {
	return guestkey.Of(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), "")
}

func TestTake(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New()
	l.now = func() time.Time { return now }
	a, b := addrKey("10.0.0.1"), addrKey("10.0.0.2")
	set := Settings{PerSecond: 10, Burst: 2}

	for i := 0; i < 2; i++ { // the burst passes at once
		if w, ok := l.Take(a, set, MaxWait); !ok || w != 0 {
			t.Fatalf("request %d: wait %v ok %v, want none", i, w, ok)
		}
	}
	if w, ok := l.Take(a, set, MaxWait); !ok || w != 100*time.Millisecond {
		t.Fatalf("over the burst: wait %v ok %v, want 100ms", w, ok)
	}
	if _, ok := l.Take(a, set, 0); ok {
		t.Fatal("with no wait allowed, a client over its rate must be refused")
	}
	if w, ok := l.Take(b, set, MaxWait); !ok || w != 0 {
		t.Fatalf("another client waits %v: buckets must be per client", w)
	}
	// Far over the rate: refused rather than queued for long.
	for i := 0; i < 30; i++ {
		l.Take(a, set, MaxWait)
	}
	if _, ok := l.Take(a, set, MaxWait); ok {
		t.Fatal("a client 3 s over its rate was made to wait instead of refused")
	}
	if w, ok := l.Take(a, Settings{}, MaxWait); !ok || w != 0 {
		t.Fatal("PerSecond 0 must mean no limit")
	}
}

// TestByGuest: a guest sending from many addresses has one bucket; unknown
// IPv6 clients share one per /64, so that the link-local addresses any
// guest can send from are one client.
func TestByGuest(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New()
	l.now = func() time.Time { return now }
	set := Settings{PerSecond: 1, Burst: 4}
	for i := range 4 {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(10 + i)})
		if _, ok := l.Take(guestkey.Of(a, "i-0a"), set, 0); !ok {
			t.Fatalf("request %d of the guest refused within its burst", i)
		}
	}
	if _, ok := l.Take(guestkey.Of(netip.MustParseAddr("10.0.0.99"), "i-0a"), set, 0); ok {
		t.Fatal("a guest got more than its burst by sending from another address")
	}
	for i := range 4 {
		a := netip.MustParseAddr("fe80::1").Next()
		for range i {
			a = a.Next()
		}
		if _, ok := l.Take(guestkey.Of(a, ""), set, 0); !ok {
			t.Fatalf("link-local request %d refused within the burst", i)
		}
	}
	if _, ok := l.Take(addrKey("fe80::abcd"), set, 0); ok {
		t.Fatal("another link-local address got a bucket of its own")
	}
	if _, ok := l.Take(guestkey.Of(netip.MustParseAddr("10.0.0.11"), "i-0b"), set, 0); !ok {
		t.Fatal("another guest was refused: buckets must be per guest")
	}
}

// TestBounded: however many clients come, the buckets stay within
// MaxClients, and idle ones go as new clients arrive.
func TestBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New()
	l.max = 1000
	l.now = func() time.Time { return now }
	set := Settings{PerSecond: 10, Burst: 2}
	for i := range 5000 {
		l.Take(nthKey(i), set, MaxWait)
		if n := l.Len(); n > l.max {
			t.Fatalf("%d buckets after %d clients, want at most %d", n, i+1, l.max)
		}
	}
	// The most recent clients keep their state.
	for range 2 {
		l.Take(nthKey(4999), set, MaxWait)
	}
	if _, ok := l.Take(nthKey(4999), set, 0); ok {
		t.Fatal("the most recent client lost its bucket")
	}
	// After a quiet minute, new clients drop the idle buckets as they come.
	now = now.Add(2 * idleAfter)
	for i := range 300 {
		l.Take(nthKey(100_000+i), set, MaxWait)
	}
	if n := l.Len(); n != 300 {
		t.Fatalf("%d buckets, want the 300 new clients' only: idle ones must go as new clients come", n)
	}
	if n := len(l.buckets); n != l.lru.Len() {
		t.Fatalf("map holds %d buckets, list %d", n, l.lru.Len())
	}
	if MaxClients > 1<<20 {
		t.Fatalf("MaxClients %d is not a memory bound", MaxClients)
	}
}

func TestExempt(t *testing.T) {
	for _, tt := range []struct {
		addr    string
		include bool
		want    bool
	}{
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, true},
		{"::1", false, true},
		{"127.0.0.1", true, false},
		{"10.0.0.1", false, false},
		{"fe80::1", false, false},
		{"169.254.169.254", false, false},
	} {
		if got := Exempt(netip.MustParseAddr(tt.addr), tt.include); got != tt.want {
			t.Errorf("Exempt(%s, %v) = %v, want %v", tt.addr, tt.include, got, tt.want)
		}
	}
	if Exempt(netip.Addr{}, false) {
		t.Error("an unknown address is exempt")
	}
}

// BenchmarkManyClients is one request from each of 100,000 distinct
// clients, then again: the cost of a request must not grow with the number
// of clients seen. Compare ns/op with BenchmarkOneClient.
func BenchmarkManyClients(b *testing.B) {
	const clients = 100_000
	keys := make([]guestkey.Key, clients)
	for i := range keys {
		keys[i] = nthKey(i)
	}
	l := New()
	set := Settings{PerSecond: 100, Burst: 200}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		l.Take(keys[i%clients], set, MaxWait)
	}
	b.ReportMetric(float64(l.Len()), "buckets")
}

func BenchmarkOneClient(b *testing.B) {
	l := New()
	k := nthKey(1)
	set := Settings{PerSecond: 1 << 30, Burst: 1 << 30}
	b.ReportAllocs()
	for range b.N {
		l.Take(k, set, MaxWait)
	}
}
