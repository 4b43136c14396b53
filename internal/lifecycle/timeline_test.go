package lifecycle

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/golden"
)

var (
	load  = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) // a Thursday
	first = load.Add(5*time.Second + 300*time.Millisecond)
)

// web1 is the "done when": a spot instance that gets a terminate
// notice 90 s after its first request and a rebalance recommendation at
// 60 s, with a system-reboot event next Tuesday; plus an event without
// NotAfter, two in the history, and Auto Scaling transitions.
func web1() Spec {
	return Spec{
		Market:                  "spot",
		SpotInterruption:        &SpotInterruption{Action: "terminate", After: "90s"},
		RebalanceRecommendation: &RebalanceRecommendation{After: "60s"},
		ScheduledEvents: []ScheduledEvent{
			{Code: "system-reboot", NotBefore: "2026-12-08T09:00:43Z", NotAfter: "2026-12-08T09:17:23Z"},
			{Code: "instance-stop", After: "30s", NotBefore: "72h"},
			{Code: "system-maintenance", NotBefore: "1h", NotAfter: "3h", State: "completed"},
			{Code: "instance-reboot", Description: `reboot "now"`, NotBefore: "2026-12-09T01:00:00Z", State: "canceled", ID: "instance-event-0d59937288b749b32"},
		},
		AutoscalingLifecycle: []AutoscalingTransition{{State: "InService", After: "10s"}, {State: "Terminated", After: "100s"}},
	}
}

func compile(t testing.TB, s Spec, p Params) *Timeline {
	t.Helper()
	if p.InstanceID == "" {
		p.InstanceID = "i-0123456789abcdef0"
	}
	if p.Loaded.IsZero() {
		p.Loaded = load
	}
	tl, err := Compile(s, p)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// dump is every path and listing the package answers, at now.
func dump(tl *Timeline, now time.Time) []byte {
	var b bytes.Buffer
	for _, p := range Paths() {
		body, ok := tl.Lookup(p, now)
		if !ok {
			fmt.Fprintf(&b, "GET %s\n404\n\n", p)
			continue
		}
		fmt.Fprintf(&b, "GET %s\n200 %d bytes\n%s\n\n", p, len(body), body)
	}
	for _, d := range []string{"meta-data", "meta-data/events"} {
		fmt.Fprintf(&b, "LIST %s adds %q\n", d, tl.Listing(d, now))
	}
	return b.Bytes()
}

func TestGoldenTimeline(t *testing.T) {
	tl := compile(t, web1(), Params{})
	golden.Check(t, "web1/before-first-request.golden", dump(tl, load.Add(time.Hour)))
	if !tl.Request(first) {
		t.Fatal("Request: not the first")
	}
	for _, m := range []struct {
		name string
		at   time.Duration
	}{
		{"00s", 0}, {"30s", 30 * time.Second}, {"59s", 59 * time.Second}, {"60s", 60 * time.Second},
		{"90s", 90 * time.Second}, {"100s", 100 * time.Second}, {"10m", 10 * time.Minute},
	} {
		t.Run(m.name, func(t *testing.T) {
			golden.Check(t, "web1/first-request+"+m.name+".golden", dump(tl, first.Add(m.at)))
		})
	}
}

// TestBodies holds the bodies whose bytes matter most, so that a change of
// layout shows here first, not only in a golden file.
func TestBodies(t *testing.T) {
	tl := compile(t, web1(), Params{})
	tl.Request(first)
	now := first.Add(10 * time.Minute)
	get := func(p string) string {
		b, ok := tl.Lookup(p, now)
		if !ok {
			t.Fatalf("%s: 404", p)
		}
		return string(b)
	}
	// first = 10:00:05.3, rounded up to 10:00:06 once the delay is added.
	if got, want := get("meta-data/spot/instance-action"), `{"action":"terminate","time":"2026-12-03T10:03:36Z"}`; got != want {
		t.Errorf("instance-action = %s, want %s", got, want)
	}
	if got, want := get("meta-data/spot/termination-time"), `2026-12-03T10:03:36Z`; got != want {
		t.Errorf("termination-time = %s, want %s", got, want)
	}
	if got, want := get("meta-data/events/recommendations/rebalance"), `{"noticeTime":"2026-12-03T10:01:06Z"}`; got != want {
		t.Errorf("rebalance = %s, want %s", got, want)
	}
	if got, want := get("meta-data/autoscaling/target-lifecycle-state"), "Terminated"; got != want {
		t.Errorf("target-lifecycle-state = %s, want %s", got, want)
	}
	if got, want := get("meta-data/instance-life-cycle"), "spot"; got != want {
		t.Errorf("instance-life-cycle = %s, want %s", got, want)
	}
	sched := get("meta-data/events/maintenance/scheduled")
	wantSched := "[ {\n" +
		"  \"NotBefore\" : \"8 Dec 2026 09:00:43 GMT\",\n" +
		"  \"Code\" : \"system-reboot\",\n" +
		"  \"Description\" : \"scheduled reboot\",\n" +
		"  \"EventId\" : \"" + eventID("i-0123456789abcdef0", "system-reboot", 0) + "\",\n" +
		"  \"NotAfter\" : \"8 Dec 2026 09:17:23 GMT\",\n" +
		"  \"State\" : \"active\"\n" +
		"}, {\n" +
		"  \"NotBefore\" : \"6 Dec 2026 10:00:36 GMT\",\n" +
		"  \"Code\" : \"instance-stop\",\n" +
		"  \"Description\" : \"The instance is running on degraded hardware\",\n" +
		"  \"EventId\" : \"" + eventID("i-0123456789abcdef0", "instance-stop", 0) + "\",\n" +
		"  \"State\" : \"active\"\n" +
		"} ]"
	if sched != wantSched {
		t.Errorf("scheduled =\n%s\nwant\n%s", sched, wantSched)
	}
	hist := get("meta-data/events/maintenance/history")
	for _, want := range []string{`"Description" : "[Completed] scheduled maintenance"`, `"Description" : "[Canceled] reboot \"now\""`,
		`"State" : "completed"`, `"State" : "canceled"`, `"EventId" : "instance-event-0d59937288b749b32"`} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %s:\n%s", want, hist)
		}
	}
}

// TestCapturedLayout renders the event captured from a real instance (the
// issue's example) and compares it byte for byte.
func TestCapturedLayout(t *testing.T) {
	nb := time.Date(2019, 1, 21, 9, 0, 43, 0, time.UTC)
	got := eventsBody([]renderedEvent{{notBefore: nb, code: "system-reboot", description: "scheduled reboot",
		id: "instance-event-0d59937288b749b32", notAfter: time.Date(2019, 1, 21, 9, 17, 23, 0, time.UTC), state: "active"}})
	want := "[ {\n  \"NotBefore\" : \"21 Jan 2019 09:00:43 GMT\",\n  \"Code\" : \"system-reboot\",\n  \"Description\" : \"scheduled reboot\",\n  \"EventId\" : \"instance-event-0d59937288b749b32\",\n  \"NotAfter\" : \"21 Jan 2019 09:17:23 GMT\",\n  \"State\" : \"active\"\n} ]"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// The instance-stop capture: no NotAfter, a day of one digit.
	got = eventsBody([]renderedEvent{{notBefore: time.Date(2021, 1, 1, 2, 0, 0, 0, time.UTC), code: "instance-stop",
		description: "The instance is running on degraded hardware", id: "instance-event-07a1c1c08b77d4bf1", state: "active"}})
	want = "[ {\n  \"NotBefore\" : \"1 Jan 2021 02:00:00 GMT\",\n  \"Code\" : \"instance-stop\",\n  \"Description\" : \"The instance is running on degraded hardware\",\n  \"EventId\" : \"instance-event-07a1c1c08b77d4bf1\",\n  \"State\" : \"active\"\n} ]"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := eventsBody(nil); string(got) != "[]" {
		t.Errorf("empty list = %q, want []", got)
	}
}

func TestSpotActions(t *testing.T) {
	for _, tt := range []struct {
		action, body string
		names        []string
	}{
		{"terminate", `{"action":"terminate","time":"2026-12-03T10:02:00Z"}`, []string{"instance-action", "termination-time"}},
		{"stop", `{"action":"stop","time":"2026-12-03T10:02:00Z"}`, []string{"instance-action"}},
		{"hibernate", `{"action":"hibernate","time":"2026-12-03T10:00:00Z"}`, []string{"instance-action"}},
	} {
		t.Run(tt.action, func(t *testing.T) {
			tl := compile(t, Spec{Market: "spot", SpotInterruption: &SpotInterruption{Action: tt.action, At: "2026-12-03T10:00:00Z"}}, Params{})
			if _, ok := tl.Lookup("meta-data/spot/instance-action", load.Add(-time.Nanosecond)); ok {
				t.Error("instance-action is there before the notice")
			}
			body, ok := tl.Lookup("meta-data/spot/instance-action", load)
			if !ok || string(body) != tt.body {
				t.Errorf("instance-action = %s %v, want %s", body, ok, tt.body)
			}
			_, ok = tl.Lookup("meta-data/spot/termination-time", load.Add(24*time.Hour))
			if ok != (tt.action == "terminate") {
				t.Errorf("termination-time exists = %v a day later, want %v (terminate only, and it stays)", ok, tt.action == "terminate")
			}
			if got := tl.Listing("meta-data/spot/", load); fmt.Sprint(got) != fmt.Sprint(tt.names) {
				t.Errorf("spot/ lists %q, want %q", got, tt.names)
			}
			if body, _ := tl.Lookup("meta-data/spot/", load); string(body) != strings.Join(tt.names, "\n") {
				t.Errorf("spot/ body = %q", body)
			}
		})
	}
}

func TestOnDemand(t *testing.T) {
	tl := compile(t, Spec{}, Params{})
	tl.Request(first)
	now := first.Add(time.Hour)
	if b, _ := tl.Lookup("meta-data/instance-life-cycle", now); string(b) != "on-demand" {
		t.Errorf("instance-life-cycle = %s", b)
	}
	for _, p := range []string{"meta-data/events/maintenance/scheduled", "meta-data/events/maintenance/history"} {
		if b, ok := tl.Lookup(p, now); !ok || string(b) != "[]" {
			t.Errorf("%s = %q %v, want 200 []", p, b, ok)
		}
	}
	for _, p := range []string{"meta-data/spot/instance-action", "meta-data/spot/", "meta-data/autoscaling/target-lifecycle-state",
		"meta-data/events/recommendations/rebalance", "meta-data/events/recommendations"} {
		if _, ok := tl.Lookup(p, now); ok {
			t.Errorf("%s exists on an on-demand instance", p)
		}
	}
	if tl.Listing("meta-data", now) != nil || tl.Listing("meta-data/events/", now) != nil {
		t.Error("listings grow on an on-demand instance")
	}
	if tl.NextChange(now) != (time.Time{}) || len(tl.Transitions(time.Time{}, now)) != 0 {
		t.Error("an on-demand instance has transitions")
	}
}

// TestPoller polls every 2 seconds, as the termination handler does, and
// checks that once a body exists it never changes.
func TestPoller(t *testing.T) {
	tl := compile(t, web1(), Params{})
	seen := map[string][]byte{}
	for i := 0; i < 600; i++ {
		now := load.Add(time.Duration(i) * 2 * time.Second).Add(123 * time.Millisecond)
		tl.Request(now) // the first poll is the first request
		for _, p := range []string{"meta-data/spot/instance-action", "meta-data/spot/termination-time", "meta-data/events/recommendations/rebalance"} {
			b, ok := tl.Lookup(p, now)
			prev, had := seen[p]
			switch {
			case had && !ok:
				t.Fatalf("%s went away at poll %d", p, i)
			case had && !bytes.Equal(b, prev):
				t.Fatalf("%s changed at poll %d: %s, was %s", p, i, b, prev)
			case ok:
				seen[p] = b
			}
		}
	}
	if len(seen) != 3 {
		t.Errorf("saw %d notices, want 3", len(seen))
	}
}

func TestFirstRequestClock(t *testing.T) {
	tl := compile(t, Spec{Market: "spot", SpotInterruption: &SpotInterruption{After: "90s"}}, Params{})
	if _, ok := tl.Lookup("meta-data/spot/instance-action", load.Add(24*time.Hour)); ok {
		t.Error("the notice is there before the guest's first request")
	}
	if !tl.NextChange(load).IsZero() {
		t.Error("NextChange knows a time before the first request")
	}
	if !tl.Request(first) || tl.Request(first.Add(time.Second)) {
		t.Error("Request: first caller must win, once")
	}
	if got, ok := tl.FirstRequest(); !ok || !got.Equal(first) {
		t.Errorf("FirstRequest = %v %v", got, ok)
	}
	want := time.Date(2026, 12, 3, 10, 1, 36, 0, time.UTC)
	if got := tl.NextChange(first); !got.Equal(want) {
		t.Errorf("NextChange = %v, want %v", got, want)
	}
	if _, ok := tl.Lookup("meta-data/spot/instance-action", want.Add(-time.Nanosecond)); ok {
		t.Error("visible before its time")
	}
	if _, ok := tl.Lookup("meta-data/spot/instance-action", want); !ok {
		t.Error("not visible at its time")
	}
	tr := tl.Transitions(first, want)
	if len(tr) != 1 || tr[0].Kind != KindSpotInterruption || !tr[0].Time.Equal(want) || tr[0].Guest != "i-0123456789abcdef0" ||
		tr[0].String() != "2026-12-03T10:01:36Z i-0123456789abcdef0 spot_interruption: terminate at 2026-12-03T10:03:36Z" {
		t.Errorf("Transitions = %v", tr)
	}
	if tr := tl.Transitions(want, want.Add(time.Hour)); len(tr) != 0 {
		t.Errorf("Transitions after = %v, want none (the window is (from, to])", tr)
	}
	if got := tl.NextChange(want); !got.IsZero() {
		t.Errorf("NextChange after the last = %v", got)
	}
}

func TestStartClock(t *testing.T) {
	tl := compile(t, Spec{Market: "spot", RebalanceRecommendation: &RebalanceRecommendation{After: "1m", From: "start"}}, Params{})
	b, ok := tl.Lookup("meta-data/events/recommendations/rebalance", load.Add(time.Minute))
	if !ok || string(b) != `{"noticeTime":"2026-12-03T10:01:00Z"}` {
		t.Errorf("rebalance = %s %v: from start counts without a request", b, ok)
	}
	if l := tl.Listing("meta-data/events", load.Add(time.Minute)); fmt.Sprint(l) != "[recommendations/]" {
		t.Errorf("events/ adds %v", l)
	}
}

func TestAutoscaling(t *testing.T) {
	tl := compile(t, Spec{AutoscalingLifecycle: []AutoscalingTransition{
		{State: "Warmed:Stopped", After: "0s", From: "start"},
		{State: "InService", At: "2026-12-03T11:00:00Z"},
		{State: "Terminated", At: "2026-12-03T11:00:00Z"},
	}}, Params{})
	at := func(d time.Duration) string {
		b, _ := tl.Lookup("meta-data/autoscaling/target-lifecycle-state", load.Add(d))
		return string(b)
	}
	if _, ok := tl.Lookup("meta-data/autoscaling/target-lifecycle-state", load.Add(-time.Second)); ok {
		t.Error("a state before the first transition")
	}
	if at(0) != "Warmed:Stopped" || at(time.Hour) != "Terminated" {
		t.Errorf("states %q %q, want Warmed:Stopped, then Terminated (the last listed of a tie)", at(0), at(time.Hour))
	}
	if l := tl.Listing("meta-data/", load); fmt.Sprint(l) != "[autoscaling/]" {
		t.Errorf("meta-data/ adds %v", l)
	}
	if tr := tl.Transitions(load.Add(-time.Nanosecond), load.Add(2*time.Hour)); len(tr) != 3 {
		t.Errorf("transitions = %v", tr)
	}
}

func TestOwns(t *testing.T) {
	for p, want := range map[string]bool{
		"meta-data/spot/instance-action": true, "meta-data/spot/": true, "meta-data/spot": true,
		"meta-data/events/maintenance/scheduled": true, "meta-data/autoscaling/": true,
		"meta-data/events": false, "meta-data/events/maintenance": false, "meta-data/instance-id": false, "meta-data": false,
	} {
		if Owns(p) != want {
			t.Errorf("Owns(%q) = %v", p, !want)
		}
	}
}

func TestObserve(t *testing.T) {
	tl := compile(t, web1(), Params{})
	tl.Request(first)
	notice := time.Date(2026, 12, 3, 10, 1, 36, 0, time.UTC)
	if o := tl.Observe("meta-data/spot/instance-action", notice.Add(-time.Second)); o != nil {
		t.Errorf("Observe before the notice = %v", o)
	}
	o := tl.Observe("meta-data/spot/instance-action", notice.Add(1500*time.Millisecond))
	if len(o) != 1 || o[0].Kind != KindSpotInterruption || o[0].Lag != 1500*time.Millisecond {
		t.Errorf("Observe = %v", o)
	}
	if o := tl.Observe("meta-data/spot/termination-time", notice.Add(time.Minute)); o != nil {
		t.Errorf("second read observed again: %v", o)
	}
	if o := tl.Observe("meta-data/events/maintenance/scheduled", first.Add(time.Hour)); len(o) != 2 {
		t.Errorf("scheduled: observed %v, want the 2 active events", o)
	}
}
