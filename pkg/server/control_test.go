package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/statefile"
)

const ctlConfig = `{"instance_id": "i-0aaaaaaaaaaaaaaa1", "http_tokens": "optional", "region": "eu-west-1",
 "instance_type": "t3.micro", "ami_id": "ami-00000000000000000"}`

var all = control.Target{All: true}

// Patches land while crawlers read the identity document: every document
// has the instance type and the AMI of one patch, never one of each.
func TestControlPatchAtomic(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	ts := start(t, ctlConfig, func(o *Options) { o.StateFile = state })
	b := ts.srv.Control()
	const patches, crawlers = 100, 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	versions := map[string]bool{}
	for range crawlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10*patches; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := ts.exchange(t, req("GET", "/latest/dynamic/instance-identity/document"))
				var doc struct{ InstanceType, ImageID string }
				if err := json.Unmarshal(r.body, &doc); err != nil {
					t.Errorf("document %q: %v", r.body, err)
					return
				}
				var n int
				fmt.Sscanf(doc.InstanceType, "m5.%dxlarge", &n)
				if want := fmt.Sprintf("ami-%017x", n); doc.InstanceType != "t3.micro" && doc.ImageID != want {
					t.Errorf("a mixed answer: instanceType %s with imageId %s", doc.InstanceType, doc.ImageID)
					return
				}
				mu.Lock()
				versions[doc.InstanceType] = true
				mu.Unlock()
			}
		}()
	}
	for i := 1; i <= patches; i++ {
		p := fmt.Sprintf(`{"instance_type": "m5.%dxlarge", "ami_id": "ami-%017x"}`, i, i)
		if _, err := b.PatchOverrides(context.Background(), all, json.RawMessage(p)); err != nil {
			t.Fatalf("patch %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if len(versions) < 2 {
		t.Errorf("the crawlers saw %d versions; the test did not overlap patches and answers", len(versions))
	}
	_, st, err := statefile.Open(state)
	if err != nil || !strings.Contains(string(st.Guests["i-0aaaaaaaaaaaaaaa1"].Overrides), fmt.Sprintf("m5.%dxlarge", patches)) {
		t.Fatalf("the state file does not hold the last patch: %v %+v", err, st)
	}
}

// A change that cannot be written is a 500 and is not applied.
func TestControlWriteFailure(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, ctlConfig, func(o *Options) { o.StateFile = filepath.Join(dir, "state.json") })
	os.RemoveAll(dir)
	_, err := ts.srv.Control().PatchOverrides(context.Background(), all, json.RawMessage(`{"instance_type": "m5.large"}`))
	var ce *control.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusInternalServerError {
		t.Fatalf("err = %v, want a 500", err)
	}
	if r := ts.exchange(t, req("GET", "/latest/meta-data/instance-type")); string(r.body) != "t3.micro" {
		t.Fatalf("instance-type %q after a failed write, want t3.micro", r.body)
	}
}

// A patch the configuration's rules refuse is a 422 with their messages,
// and nothing changes.
func TestControlRefused(t *testing.T) {
	ts := start(t, ctlConfig)
	_, err := ts.srv.Control().PatchOverrides(context.Background(), all, json.RawMessage(`{"region": "Mars", "match": ["10.0.0.1"]}`))
	var ce *control.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnprocessableEntity || len(ce.Problems) != 2 {
		t.Fatalf("err = %#v, want a 422 with two problems", err)
	}
	for _, p := range ce.Problems {
		if p.Guest != "i-0aaaaaaaaaaaaaaa1" || p.Key == "" {
			t.Errorf("problem %+v: want the guest and the key", p)
		}
	}
}

// A reload that makes a guest's runtime change invalid drops it for that
// guest only, and says so.
func TestControlReloadDrops(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	ts := start(t, ctlConfig, func(o *Options) { o.StateFile = state })
	b := ts.srv.Control()
	ctx := context.Background()
	if _, err := b.AddGuest(ctx, json.RawMessage(`{"instance_id": "i-0bbbbbbbbbbbbbbb2", "match": ["10.0.0.5"]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.PatchOverrides(ctx, all, json.RawMessage(`{"instance_type": "m5.large"}`)); err != nil {
		t.Fatal(err)
	}
	ts.srv.Reload(parseConfig(t, strings.TrimSuffix(ctlConfig, "}")+`, "instances": [{"instance_id": "i-0ccccccccccccccc3", "match": ["10.0.0.0/24"]}]}`))
	if !strings.Contains(ts.errlog.String(), "i-0bbbbbbbbbbbbbbb2") || !strings.Contains(ts.errlog.String(), "overlaps") {
		t.Errorf("the log does not say why the added guest was dropped:\n%s", ts.errlog)
	}
	gs, _ := b.Guests(ctx)
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	if got := strings.Join(ids, " "); got != "i-0aaaaaaaaaaaaaaa1 i-0ccccccccccccccc3" {
		t.Errorf("guests after the reload: %s", got)
	}
	if r := ts.exchange(t, req("GET", "/latest/meta-data/instance-type")); string(r.body) != "m5.large" {
		t.Errorf("the other guest lost its patch: %q", r.body)
	}
}
