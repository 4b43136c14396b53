package lifecycle

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRequestConcurrent: of many guests' goroutines racing on the first
// request, exactly one wins, and every reader sees its time.
func TestRequestConcurrent(t *testing.T) {
	tl := compile(t, web1(), Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed})
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			now := first.Add(time.Duration(i) * time.Millisecond)
			if tl.Request(now) {
				wins.Add(1)
			}
			tl.Lookup("meta-data/spot/instance-action", now.Add(time.Hour))
			tl.Observe("meta-data/spot/instance-action", now.Add(time.Hour))
			tl.Credentials(now)
		}(i)
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d first requests, want 1", wins.Load())
	}
}

func BenchmarkRequest(b *testing.B) {
	tl := compile(b, web1(), Params{})
	tl.Request(first)
	b.ReportAllocs()
	for b.Loop() {
		tl.Request(first)
	}
}

func BenchmarkLookupSpot(b *testing.B) {
	tl := compile(b, web1(), Params{})
	tl.Request(first)
	now := first.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		tl.Lookup("meta-data/spot/instance-action", now)
	}
}
