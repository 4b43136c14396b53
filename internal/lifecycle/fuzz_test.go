package lifecycle

import (
	"bytes"
	"testing"
	"time"
)

// FuzzLookup checks that no path, time or first request makes Lookup,
// Listing, Observe, Transitions or NextChange panic, that bodies are
// deterministic, and that a listed name can be fetched.
func FuzzLookup(f *testing.F) {
	for _, p := range Paths() {
		f.Add(p, int64(100), int64(5))
	}
	f.Add("meta-data/spot/../spot/instance-action", int64(-1<<62), int64(0))
	f.Add("", int64(1<<62), int64(-7))
	f.Add("meta-data/events//", int64(0), int64(1))
	f.Fuzz(func(t *testing.T, path string, nowSec, firstSec int64) {
		tl := compile(t, web1(), Params{Role: "web", IAM: rotating("1h", "10m"), Seed: seed})
		now := load.Add(time.Duration(nowSec) * time.Second)
		if firstSec != 0 {
			tl.Request(load.Add(time.Duration(firstSec) * time.Second))
		}
		b1, ok1 := tl.Lookup(path, now)
		b2, ok2 := tl.Lookup(path, now)
		if ok1 != ok2 || !bytes.Equal(b1, b2) {
			t.Fatalf("Lookup(%q) not deterministic", path)
		}
		if ok1 && !Owns(path) {
			t.Fatalf("Lookup(%q) answers a path it does not own", path)
		}
		for _, name := range tl.Listing(path, now) {
			child := path
			if len(child) > 0 && child[len(child)-1] != '/' {
				child += "/"
			}
			if _, ok := tl.Lookup(child+name, now); !ok && Owns(child+name) {
				t.Fatalf("%s lists %s, which is a 404", path, name)
			}
		}
		tl.Observe(path, now)
		tl.Credentials(now)
		tl.NextChange(now)
		if len(tl.Transitions(now.Add(-48*time.Hour), now)) > 2*maxRotations {
			t.Fatal("unbounded transitions")
		}
	})
}
