package lifecycle

import (
	"testing"
	"time"
)

// TestActions checks when the host's actions fall due: the spot action
// two minutes after a terminate notice (at the notice for hibernate), an
// event at its NotBefore, none for events in the history, and none for a
// notice that waits for the first request.
func TestActions(t *testing.T) {
	tl := compile(t, web1(), Params{})
	if got := tl.Actions(); len(got) != 1 || got[0].Kind != KindScheduledEvent || got[0].Name != "system-reboot" {
		t.Fatalf("before the first request: %+v, want only the absolute system-reboot", got)
	}
	tl.Request(first)
	got := tl.Actions()
	want := []struct {
		kind, name string
		at         time.Time
	}{
		{KindSpotInterruption, "terminate", time.Date(2026, 12, 3, 10, 3, 36, 0, time.UTC)}, // 10:00:06 + 90s + 2m
		{KindScheduledEvent, "instance-stop", time.Date(2026, 12, 6, 10, 0, 36, 0, time.UTC)},
		{KindScheduledEvent, "system-reboot", time.Date(2026, 12, 8, 9, 0, 43, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("actions %+v, want %d", got, len(want))
	}
	for i, w := range want {
		if got[i].Kind != w.kind || got[i].Name != w.name || !got[i].Time.Equal(w.at) {
			t.Errorf("action %d = %+v, want %s %s at %v", i, got[i], w.kind, w.name, w.at)
		}
	}
	if got[1].EventID == "" || got[0].EventID != "" || got[1].Key() == got[2].Key() {
		t.Errorf("ids and keys: %+v", got)
	}
	h := compile(t, Spec{Market: "spot", SpotInterruption: &SpotInterruption{Action: "hibernate", At: "2026-12-03T11:00:00Z"}}, Params{})
	if a := h.Actions(); len(a) != 1 || !a[0].Time.Equal(time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)) || a[0].Key() != "spot_interruption hibernate 2026-12-03T11:00:00Z" {
		t.Errorf("hibernate: %+v, want its action at the notice", a)
	}
}

// TestCredentialsRotatedAtRunTime checks a rotation asked for at run time:
// the set served is made at the rotation's time and expires a lifetime
// after, with keys of its own; the next set comes an interval later; a
// rotation of static keys serves generated ones.
func TestCredentialsRotatedAtRunTime(t *testing.T) {
	before := compile(t, Spec{}, Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed})
	before.Request(first)
	rot := time.Date(2026, 12, 3, 10, 20, 0, 0, time.UTC)
	tl := compile(t, Spec{}, Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed, CredentialStart: rot, Generation: 1})
	tl.Carry(before)
	s, _ := tl.Credentials(rot.Add(time.Second))
	old, _ := before.Credentials(rot.Add(time.Second))
	if !s.LastUpdated.Equal(rot) || !s.Expiration.Equal(rot.Add(6*time.Hour)) || s.AccessKeyID == old.AccessKeyID || !s.Generated {
		t.Fatalf("after the rotation: %+v (before it: %+v)", s, old)
	}
	if n := tl.NextChange(rot.Add(time.Second)); !n.Equal(rot.Add(time.Hour)) {
		t.Errorf("next set at %v, want an interval after the rotation", n)
	}
	// The same parameters after a restart (another load): the same set.
	again := compile(t, Spec{}, Params{Role: "web", IAM: rotating("6h", "1h"), Seed: seed, CredentialStart: rot, Generation: 1, Loaded: rot.Add(time.Minute)})
	if s2, _ := again.Credentials(rot.Add(2 * time.Minute)); s2 != s {
		t.Errorf("after a restart: %+v, want %+v", s2, s)
	}
	static := compile(t, Spec{}, Params{Role: "web", IAM: &Credentials{}, Seed: seed, CredentialStart: rot, Generation: 2})
	if s, _ := static.Credentials(rot); !s.Generated || !s.Expiration.Equal(rot.Add(DefaultLifetime)) {
		t.Errorf("static keys rotated: %+v, want a generated set of %v", s, DefaultLifetime)
	}
}

// TestFirstRequestRestored checks a first request kept from before a
// restart: the clocks counting from it keep their times though it is
// before the load, and a Request changes nothing.
func TestFirstRequestRestored(t *testing.T) {
	tl := compile(t, web1(), Params{})
	tl.Request(first)
	restart := load.Add(time.Hour)
	again := compile(t, web1(), Params{Loaded: restart, FirstRequest: first})
	if again.Request(restart.Add(time.Second)) {
		t.Error("Request after a restored first request reported a first")
	}
	now := restart.Add(time.Minute)
	for _, p := range []string{"meta-data/spot/instance-action", "meta-data/events/maintenance/scheduled"} {
		a, _ := tl.Lookup(p, now)
		b, ok := again.Lookup(p, now)
		if !ok || string(a) != string(b) {
			t.Errorf("%s after a restart: %s, want %s", p, b, a)
		}
	}
}
