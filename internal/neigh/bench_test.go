package neigh

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// benchTable is a table of n guests on one bridge.
func benchTable(n int) []Entry {
	entries := make([]Entry, n)
	for i := range entries {
		entries[i] = entry(fmt.Sprintf("10.0.%d.%d", i/250, 1+i%250), fmt.Sprintf("52:54:00:00:%02x:%02x", i/256, i%256), "br0")
	}
	return entries
}

// BenchmarkLookupHit is the path of almost every request: the address is
// cached.
func BenchmarkLookupHit(b *testing.B) {
	tbl := &fakeTable{}
	tbl.set(benchTable(256)...)
	c := New(Options{TTL: time.Hour, ReadTable: tbl.read, HostPrefixes: hostNets}) // the real clock
	addr := netip.MustParseAddr("10.0.0.7")
	ctx := context.Background()
	if _, err := c.Lookup(ctx, addr); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Lookup(ctx, addr); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLookupMiss is a lookup whose answer expired: one read of a
// 256-entry table (from memory: the parsing and indexing, not the system
// call) and the cache filled in again.
func BenchmarkLookupMiss(b *testing.B) {
	c, tbl, clk := newTestCache(b, Options{TTL: time.Second})
	tbl.set(benchTable(256)...)
	addr := netip.MustParseAddr("10.0.0.7")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clk.Add(time.Second)
		if _, err := c.Lookup(ctx, addr); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadTable reads this host's neighbour table from the kernel.
func BenchmarkReadTable(b *testing.B) {
	if _, err := ReadTable(); err != nil {
		b.Skipf("the neighbour table cannot be read here: %v", err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadTable(); err != nil {
			b.Fatal(err)
		}
	}
}
