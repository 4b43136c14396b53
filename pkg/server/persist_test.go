package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/statefile"
)

// A guest's first request is kept in the state file by the lifecycle
// goroutine; after a restart the clocks counting from it keep their times.
func TestFirstRequestPersisted(t *testing.T) {
	cfg, err := os.ReadFile("testdata/lifecycle.json")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	ts := start(t, string(cfg), fixedSealer(t), func(o *Options) { o.StateFile = state })
	ts.clock.Set(epoch.Add(7*time.Second + 300*time.Millisecond))
	tok := tokenHdr(ts.mintToken(t, 21600))
	var first time.Time
	waitFor(t, 5*time.Second, "the first request in the state file", func() bool {
		_, st, err := statefile.Open(state)
		if err == nil && st.Guests["i-0123456789abcdef0"] != nil {
			first = st.Guests["i-0123456789abcdef0"].FirstRequest
		}
		return !first.IsZero()
	})
	if !first.Equal(epoch.Add(7*time.Second + 300*time.Millisecond)) {
		t.Fatalf("first request %v in the state file, want %v", first, epoch.Add(7*time.Second+300*time.Millisecond))
	}
	ts.clock.Set(epoch.Add(100 * time.Second))
	want := ts.exchange(t, req("GET", "/latest/meta-data/spot/instance-action", tok))
	if want.status != 200 {
		t.Fatalf("spot notice: %v", want)
	}
	ts.srv.Shutdown(context.Background())

	// A restart 20 s later: the notice counted from the first request has
	// the same bytes.
	ts = start(t, string(cfg), fixedSealer(t), func(o *Options) { o.StateFile = state })
	ts.clock.Set(epoch.Add(120 * time.Second))
	got := ts.exchange(t, req("GET", "/latest/meta-data/spot/instance-action", tokenHdr(ts.mintToken(t, 60))))
	if got.status != 200 || string(got.body) != string(want.body) {
		t.Errorf("after a restart: %v, want %s", got, want.body)
	}
}

// imdsctl credentials rotate serves a new set at once, made at the
// rotation (LastUpdated) and expiring a lifetime after; a restart serves
// the same set.
func TestCredentialsRotate(t *testing.T) {
	cfg, err := os.ReadFile("testdata/lifecycle.json")
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	ts := start(t, string(cfg), fixedSealer(t), func(o *Options) { o.StateFile = state })
	tok := tokenHdr(ts.mintToken(t, 21600))
	const path = "/latest/meta-data/iam/security-credentials/web"
	ts.clock.Set(epoch.Add(10*time.Minute + 500*time.Millisecond))
	before := ts.exchange(t, req("GET", path, tok))
	if _, err := ts.srv.Control().Credentials(context.Background(), all, "rotate"); err != nil {
		t.Fatal(err)
	}
	after := ts.exchange(t, req("GET", path, tok))
	var a, b struct{ AccessKeyId, LastUpdated, Expiration string }
	unmarshal(t, before.body, &b)
	unmarshal(t, after.body, &a)
	if a.AccessKeyId == b.AccessKeyId || a.LastUpdated != "2026-01-02T03:14:05Z" || a.Expiration != "2026-01-02T09:14:05Z" {
		t.Fatalf("after rotate: %s\nbefore: %s", after.body, before.body)
	}
	ts.srv.Shutdown(context.Background())
	ts = start(t, string(cfg), fixedSealer(t), func(o *Options) { o.StateFile = state })
	ts.clock.Set(epoch.Add(20 * time.Minute))
	again := ts.exchange(t, req("GET", path, tokenHdr(ts.mintToken(t, 60))))
	if string(again.body) != string(after.body) {
		t.Errorf("after a restart:\n%s\nwant:\n%s", again.body, after.body)
	}
}

func unmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
}
