package server

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/golden"
	"github.com/imdsd/imdsd/internal/token"
)

// lifePaths are the paths whose answers move with an instance's life.
var lifePaths = []string{
	"meta-data/",
	"meta-data/instance-life-cycle",
	"meta-data/spot/",
	"meta-data/spot/instance-action",
	"meta-data/spot/termination-time",
	"meta-data/events/",
	"meta-data/events/recommendations/",
	"meta-data/events/recommendations/rebalance",
	"meta-data/events/maintenance/",
	"meta-data/events/maintenance/scheduled",
	"meta-data/events/maintenance/history",
	"meta-data/autoscaling/",
	"meta-data/autoscaling/target-lifecycle-state",
	"meta-data/iam/info",
	"meta-data/iam/security-credentials/web",
}

// fixedSealer is a Sealer with a fixed key, so that the credentials
// derived from it are the same on every run.
func fixedSealer(t testing.TB) func(*Options) {
	sl, err := token.New(bytes.Repeat([]byte{7}, token.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options) { o.Sealer = sl }
}

// startLife serves testdata/lifecycle.json and makes the guest's first
// request (the token PUT) at epoch; it returns the server and a token.
func startLife(t *testing.T) (*testServer, string) {
	t.Helper()
	cfg, err := os.ReadFile("testdata/lifecycle.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, string(cfg), fixedSealer(t))
	return ts, tokenHdr(ts.mintToken(t, 21600))
}

// TestLifecycleGolden pins, byte for byte with the headers, every moving
// path at each step of testdata/lifecycle.json's timeline, counted from
// the guest's first request at epoch: 404s before each notice, the
// listings growing, EC2's event layout (an event without NotAfter, the
// history's prefixes), the spot notice, the Auto Scaling states and a
// rotated credential set.
func TestLifecycleGolden(t *testing.T) {
	ts, tok := startLife(t)
	steps := []struct {
		name  string
		after time.Duration
	}{
		{"start", 0}, // events: the active and past ones; nothing else yet
		{"asg_inservice", 5 * time.Second},
		{"event_stop", 30 * time.Second},
		{"rebalance", 60 * time.Second},
		{"spot", 90 * time.Second},
		{"asg_terminated", 120 * time.Second},
		{"rotated", time.Hour + time.Second},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ts.clock.Set(epoch.Add(st.after))
			var b strings.Builder
			for _, p := range lifePaths {
				r := ts.exchange(t, req("GET", "/latest/"+p, tok))
				checkFraming(t, r)
				fmt.Fprintf(&b, "=== GET /latest/%s\n%s\n", p, render(t, r))
			}
			golden.CheckString(t, "life_"+st.name+".golden", b.String())
		})
	}
}

// TestLifecyclePollSameBytes checks that a poller sees the same bytes on
// every poll once a notice is out: no time in a body moves with the clock.
func TestLifecyclePollSameBytes(t *testing.T) {
	ts, tok := startLife(t)
	paths := []string{"meta-data/spot/instance-action", "meta-data/spot/termination-time",
		"meta-data/events/recommendations/rebalance", "meta-data/events/maintenance/scheduled",
		"meta-data/events/maintenance/history", "meta-data/autoscaling/target-lifecycle-state"}
	first := map[string]string{}
	for i := 0; i < 20; i++ {
		ts.clock.Set(epoch.Add(121*time.Second + time.Duration(i)*1700*time.Millisecond))
		for _, p := range paths {
			r := ts.exchange(t, req("GET", "/latest/"+p, tok))
			if r.status != http.StatusOK {
				t.Fatalf("poll %d of %s: %d, want 200", i, p, r.status)
			}
			if i == 0 {
				first[p] = string(r.body)
			} else if string(r.body) != first[p] {
				t.Fatalf("poll %d of %s:\n%s\nfirst poll:\n%s", i, p, r.body, first[p])
			}
		}
	}
	if want := `{"action":"terminate","time":"2026-01-02T03:07:35Z"}`; first["meta-data/spot/instance-action"] != want {
		t.Errorf("instance-action = %s, want %s", first["meta-data/spot/instance-action"], want)
	}
}

// TestLifecycleFirstRequestClock checks that the clocks counting from the
// first request start at the guest's first request, not at the load.
func TestLifecycleFirstRequestClock(t *testing.T) {
	cfg, err := os.ReadFile("testdata/lifecycle.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, string(cfg))
	ts.clock.Set(epoch.Add(time.Hour)) // an hour after the load, the first request
	tok := tokenHdr(ts.mintToken(t, 21600))
	get := func(p string) *response { return ts.exchange(t, req("GET", "/latest/"+p, tok)) }
	if r := get("meta-data/spot/instance-action"); r.status != http.StatusNotFound || string(r.body) != page404 {
		t.Fatalf("spot notice right after the first request: %v, want EC2's 404", r)
	}
	ts.clock.Set(epoch.Add(time.Hour + 90*time.Second))
	if r := get("meta-data/spot/instance-action"); r.status != http.StatusOK || string(r.body) != `{"action":"terminate","time":"2026-01-02T04:07:35Z"}` {
		t.Fatalf("spot notice 90 s after the first request: %v", r)
	}
}

// TestLifecycleReload checks that a reload with the same configuration
// keeps what was issued and the first-request time, and that a changed
// schedule applies from the reload.
func TestLifecycleReload(t *testing.T) {
	ts, tok := startLife(t)
	get := func(p string) *response { return ts.exchange(t, req("GET", "/latest/"+p, tok)) }
	ts.clock.Set(epoch.Add(100 * time.Second))
	before := map[string]string{}
	for _, p := range lifePaths {
		before[p] = string(get(p).body)
	}
	raw, _ := os.ReadFile("testdata/lifecycle.json")
	ts.clock.Set(epoch.Add(110 * time.Second))
	ts.srv.Reload(parseConfig(t, string(raw)))
	for _, p := range lifePaths {
		if got := string(get(p).body); got != before[p] {
			t.Errorf("after a reload with the same configuration, %s =\n%s\nwant, as before,\n%s", p, got, before[p])
		}
	}
	// A changed schedule: the notice now comes 10 minutes after, counted
	// from the reload (the first request was before it).
	changed := strings.Replace(string(raw), `"after": "90s"`, `"after": "10m"`, 1)
	ts.clock.Set(epoch.Add(200 * time.Second))
	ts.srv.Reload(parseConfig(t, changed))
	if r := get("meta-data/spot/instance-action"); r.status != http.StatusNotFound {
		t.Errorf("right after a reload that moved the notice: %v, want 404", r)
	}
	if r := get("meta-data/events/recommendations/rebalance"); r.status != http.StatusOK || string(r.body) != before["meta-data/events/recommendations/rebalance"] {
		t.Errorf("the unchanged rebalance recommendation after the reload: %v, want %s", r, before["meta-data/events/recommendations/rebalance"])
	}
	ts.clock.Set(epoch.Add(200*time.Second + 10*time.Minute))
	if r := get("meta-data/spot/instance-action"); string(r.body) != `{"action":"terminate","time":"2026-01-02T03:19:25Z"}` {
		t.Errorf("10 minutes after the reload: %v, want the notice with the reload + 12m", r)
	}
}

// TestLifecycleCredentialFaults checks the faults the server applies
// itself: detached answers 404 for the role while iam/info stays.
func TestLifecycleCredentialFaults(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "iam": {"role": "web", "fault": "detached"}}`)
	if r := ts.exchange(t, req("GET", "/latest/meta-data/iam/security-credentials/web")); r.status != http.StatusNotFound || string(r.body) != page404 {
		t.Errorf("detached role: %v, want EC2's 404", r)
	}
	if r := ts.exchange(t, req("GET", "/latest/meta-data/iam/info")); r.status != http.StatusOK || !strings.Contains(string(r.body), `"Code" : "Success"`) {
		t.Errorf("detached: iam/info %v, want 200 Success", r)
	}
	ts = start(t, `{"http_tokens": "optional", "iam": {"role": "web", "fault": "error"}}`)
	if r := ts.exchange(t, req("GET", "/latest/meta-data/iam/security-credentials/web")); r.status != http.StatusOK || !strings.Contains(string(r.body), `"Code" : "AssumeRoleUnauthorizedAccess"`) {
		t.Errorf("error fault: %v, want 200 with Code AssumeRoleUnauthorizedAccess", r)
	}
}

// TestLifecycleNoLife checks that an instance without lifecycle keys
// serves what it served before: on-demand, events [], no spot/.
func TestLifecycleNoLife(t *testing.T) {
	ts := start(t, cfgOptional)
	for p, want := range map[string]string{
		"meta-data/instance-life-cycle":          "on-demand",
		"meta-data/events/maintenance/scheduled": "[]",
		"meta-data/events/maintenance/history":   "[]",
		"meta-data/events/":                      "maintenance/",
	} {
		if r := ts.exchange(t, req("GET", "/latest/"+p)); r.status != http.StatusOK || string(r.body) != want {
			t.Errorf("%s: %v, want 200 %q", p, r, want)
		}
	}
	for _, p := range []string{"meta-data/spot/instance-action", "meta-data/spot/", "meta-data/autoscaling/target-lifecycle-state", "meta-data/events/recommendations/rebalance"} {
		if r := ts.exchange(t, req("GET", "/latest/"+p)); r.status != http.StatusNotFound {
			t.Errorf("%s: %v, want 404", p, r)
		}
	}
	if r := ts.exchange(t, req("GET", "/latest/meta-data/")); bytes.Contains(r.body, []byte("spot")) || bytes.Contains(r.body, []byte("autoscaling")) {
		t.Errorf("meta-data/ lists %q", r.body)
	}
}

// TestLifecycleTransitions checks the host's view: a log line per
// transition (guest, what, when), the counters per kind and the delay
// until the guest read the notice; and that a removed guest's series go.
func TestLifecycleTransitions(t *testing.T) {
	ts, tok := startLife(t)
	ts.clock.Set(epoch.Add(90 * time.Second))
	ts.srv.life.wake()
	waitFor(t, 5*time.Second, "the spot notice's log line", func() bool {
		return strings.Contains(ts.errlog.String(), `"kind":"spot_interruption"`)
	})
	ts.clock.Set(epoch.Add(97 * time.Second))
	if r := ts.exchange(t, req("GET", "/latest/meta-data/spot/instance-action", tok)); r.status != http.StatusOK {
		t.Fatalf("spot notice: %v", r)
	}
	var line map[string]any
	for _, rec := range records(t, ts.errlog) {
		if rec["kind"] == "spot_interruption" {
			line = rec
		}
	}
	if line["msg"] != "lifecycle transition" || line["guest"] != "default" || line["at"] != "2026-01-02T03:05:35Z" ||
		line["what"] != "terminate at 2026-01-02T03:07:35Z" {
		t.Errorf("log line %v: want the guest, the kind, what and when", line)
	}
	m := httptestRecord(ts.srv.AdminHandler(), "GET", "/metrics").Body.String()
	for _, want := range []string{
		`imdsd_lifecycle_transitions_total{instance_id="default",kind="spot_interruption"} 1`,
		`imdsd_lifecycle_transitions_total{instance_id="default",kind="rebalance_recommendation"} 1`,
		`imdsd_lifecycle_transitions_total{instance_id="default",kind="autoscaling_lifecycle"} 1`,
		`imdsd_lifecycle_transitions_total{instance_id="default",kind="credentials"} 0`,
		`imdsd_lifecycle_notice_read_delay_seconds{instance_id="default",kind="spot_interruption"} 7`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A guest that goes away takes its series along.
	ts.srv.Reload(parseConfig(t, `{"unknown_clients": "deny"}`))
	if m := httptestRecord(ts.srv.AdminHandler(), "GET", "/metrics").Body.String(); strings.Contains(m, `instance_id="default"`) {
		t.Errorf("after the default instance went, /metrics still has its series")
	}
}
