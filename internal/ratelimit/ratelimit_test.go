package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestTake(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := New()
	l.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
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
	// Idle buckets are swept once there are many.
	for i := 0; i < sweepAt; i++ {
		l.Take(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), set, MaxWait)
	}
	now = now.Add(2 * idleAfter)
	l.Take(netip.MustParseAddr("10.9.9.9"), set, MaxWait)
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after the sweep, want 1", n)
	}
}
