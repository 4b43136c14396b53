package lifecycle

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// reload is the time of the reload in these tests: after the spot notice
// (10:01:36) and the rebalance (10:01:06) of web1.
var reload = time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)

func reloaded(t *testing.T, prev *Timeline, s Spec, p Params) *Timeline {
	t.Helper()
	p.Loaded = reload
	tl := compile(t, s, p)
	tl.Carry(prev)
	return tl
}

func TestCarryUnchanged(t *testing.T) {
	p := Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed}
	prev := compile(t, web1(), p)
	prev.Request(first)
	prev.Observe("meta-data/spot/instance-action", reload)
	tl := reloaded(t, prev, web1(), p)
	now := reload.Add(time.Minute)
	if !bytes.Equal(dump(prev, now), dump(tl, now)) {
		t.Errorf("an unchanged spec serves other bodies after a reload:\n%s\nwas\n%s", dump(tl, now), dump(prev, now))
	}
	a, _ := prev.Credentials(now)
	b, _ := tl.Credentials(now)
	if a != b {
		t.Error("an unchanged rotation serves another set after a reload")
	}
	if o := tl.Observe("meta-data/spot/instance-action", now); o != nil {
		t.Errorf("a notice read before the reload is read for the first time again: %v", o)
	}
	if tr := tl.Transitions(reload.Add(-time.Nanosecond), now); len(tr) != 0 {
		t.Errorf("an unchanged reload reports %v", tr)
	}
}

func TestCarryChangedWhen(t *testing.T) {
	prev := compile(t, web1(), Params{})
	prev.Request(first)
	s := web1()
	s.SpotInterruption.After = "5m"                                                  // from the first request, which was before the reload
	s.RebalanceRecommendation = &RebalanceRecommendation{After: "2m", From: "start"} // from the reload
	s.AutoscalingLifecycle = s.AutoscalingLifecycle[:1]                              // Terminated removed
	tl := reloaded(t, prev, s, Params{})
	if _, ok := tl.Lookup("meta-data/spot/instance-action", reload.Add(5*time.Minute-time.Second)); ok {
		t.Error("a changed notice counts from the first request, before the reload")
	}
	if b, _ := tl.Lookup("meta-data/spot/instance-action", reload.Add(5*time.Minute)); string(b) != `{"action":"terminate","time":"2026-12-03T10:37:00Z"}` {
		t.Errorf("instance-action = %s, want the reload + 5m + 2m", b)
	}
	if b, _ := tl.Lookup("meta-data/events/recommendations/rebalance", reload.Add(2*time.Minute)); string(b) != `{"noticeTime":"2026-12-03T10:32:00Z"}` {
		t.Errorf("rebalance = %s, want the reload + 2m", b)
	}
	if b, _ := tl.Lookup("meta-data/autoscaling/target-lifecycle-state", reload); string(b) != "InService" {
		t.Errorf("target-lifecycle-state = %s: a removed transition is gone", b)
	}
	if got := tl.NextChange(reload); !got.Equal(reload.Add(2 * time.Minute)) {
		t.Errorf("NextChange = %v", got)
	}
	tr := tl.Transitions(reload.Add(-time.Nanosecond), reload.Add(time.Hour))
	if len(tr) != 3 || tr[0].Kind != KindAutoscaling || !tr[0].Time.Equal(reload) || tr[1].Kind != KindRebalance || tr[2].Kind != KindSpotInterruption {
		t.Errorf("Transitions = %v", tr)
	}
	// A guest whose first request comes after the reload counts from it.
	only := Spec{Market: "spot", SpotInterruption: &SpotInterruption{After: "5m"}}
	fresh := compile(t, Spec{Market: "spot", SpotInterruption: &SpotInterruption{After: "90s"}}, Params{})
	tl = reloaded(t, fresh, only, Params{})
	fr := reload.Add(time.Hour)
	tl.Request(fr)
	if got := tl.NextChange(fr); !got.Equal(fr.Add(5 * time.Minute)) {
		t.Errorf("NextChange = %v, want the first request + 5m", got)
	}
}

func TestCarryEvents(t *testing.T) {
	prev := compile(t, web1(), Params{})
	prev.Request(first)
	s := web1()
	s.ScheduledEvents[0].State = "canceled"   // system-reboot, shown since the start
	s.ScheduledEvents[1].NotBefore = "96h"    // instance-stop rescheduled
	s.ScheduledEvents = s.ScheduledEvents[:2] // the history is emptied
	tl := reloaded(t, prev, s, Params{})
	sched, _ := tl.Lookup("meta-data/events/maintenance/scheduled", reload)
	hist, _ := tl.Lookup("meta-data/events/maintenance/history", reload)
	id0 := eventID("i-0123456789abcdef0", "system-reboot", 0)
	if strings.Contains(string(sched), id0) || !strings.Contains(string(hist), id0) || !strings.Contains(string(hist), "[Canceled] scheduled reboot") {
		t.Errorf("a canceled event is not in the history:\n%s\n%s", sched, hist)
	}
	if !strings.Contains(string(hist), `"NotBefore" : "8 Dec 2026 09:00:43 GMT"`) {
		t.Errorf("the canceled event lost its times:\n%s", hist)
	}
	// Rescheduled: same id, same appearance (first request + 30s), new NotBefore.
	if !strings.Contains(string(sched), `"NotBefore" : "7 Dec 2026 10:00:36 GMT"`) ||
		!strings.Contains(string(sched), eventID("i-0123456789abcdef0", "instance-stop", 0)) {
		t.Errorf("rescheduled event:\n%s", sched)
	}
	tr := tl.Transitions(reload.Add(-time.Nanosecond), reload)
	if len(tr) != 1 || tr[0].Kind != KindScheduledEvent || !strings.Contains(tr[0].Detail, id0+" canceled") {
		t.Errorf("Transitions = %v", tr)
	}
	if o := tl.Observe("meta-data/events/maintenance/history", reload); len(o) != 1 {
		t.Errorf("Observe history = %v, want the newly canceled event", o)
	}
}

func TestCarrySpotAction(t *testing.T) {
	prev := compile(t, web1(), Params{})
	prev.Request(first)
	s := web1()
	s.SpotInterruption.Action = "stop"
	tl := reloaded(t, prev, s, Params{})
	if b, _ := tl.Lookup("meta-data/spot/instance-action", reload); string(b) != `{"action":"stop","time":"2026-12-03T10:03:36Z"}` {
		t.Errorf("instance-action = %s: the notice keeps its time, takes the new action", b)
	}
	if _, ok := tl.Lookup("meta-data/spot/termination-time", reload); ok {
		t.Error("termination-time for a stop")
	}
	if tr := tl.Transitions(reload.Add(-time.Nanosecond), reload); len(tr) != 1 || tr[0].Kind != KindSpotInterruption {
		t.Errorf("Transitions = %v", tr)
	}
}

func TestCarryFirstRequest(t *testing.T) {
	prev := compile(t, web1(), Params{})
	tl := reloaded(t, prev, web1(), Params{})
	prev.Request(first) // a request served by the old timeline after the swap
	if got, ok := tl.FirstRequest(); !ok || !got.Equal(first) {
		t.Errorf("FirstRequest = %v %v: the record is shared", got, ok)
	}
	if tl.Request(first.Add(time.Second)) {
		t.Error("a second first request")
	}
}

func TestCarryRotation(t *testing.T) {
	p := Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed}
	prev := compile(t, Spec{}, p)
	prev.Request(first)
	p.IAM = rotating("6h", "30m")
	tl := reloaded(t, prev, Spec{}, p)
	s, _ := tl.Credentials(reload)
	if !s.LastUpdated.Equal(reload) || !s.Expiration.Equal(reload.Add(6*time.Hour)) {
		t.Errorf("a changed rotation restarts at the reload: %+v", s)
	}
	if old, _ := prev.Credentials(reload); old.AccessKeyID == s.AccessKeyID {
		t.Error("a restarted rotation serves the old keys")
	}
	// A fault change keeps the rotation's clock.
	p.IAM = &Credentials{Rotation: &Rotation{Lifetime: "6h", Interval: "30m"}, Fault: "detached"}
	next := compile(t, Spec{}, Params{Role: "web", IAM: p.IAM, Seed: seed, Loaded: reload.Add(time.Hour)})
	next.Carry(tl)
	n, _ := next.Credentials(reload.Add(time.Hour))
	if !n.Detached || !n.LastUpdated.Equal(reload.Add(time.Hour)) {
		t.Errorf("after a fault change: %+v", n)
	}
	tl.Carry(nil) // no-op
}
