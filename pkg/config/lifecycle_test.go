package config

import (
	"testing"
)

// TestLifecycleInherited checks that the keys of an instance's life are
// inherited like the other instance keys: an entry gets what it leaves out
// from the top level, replaces what it gives (objects and lists whole), and
// drops an inherited object with null.
func TestLifecycleInherited(t *testing.T) {
	c, _, err := Parse("t.json", []byte(`{
  "market": "spot",
  "spot_interruption": {"action": "stop", "at": "2026-12-08T09:00:00Z"},
  "scheduled_events": [{"code": "system-reboot", "not_before": "72h"}],
  "iam": {"role": "web", "rotation": {"lifetime": "6h", "interval": "1h"}},
  "instances": [
    {"instance_id": "i-0000000000000000a", "match": ["10.0.0.11"]},
    {"instance_id": "i-0000000000000000b", "match": ["10.0.0.12"],
     "spot_interruption": {"after": "90s"}, "scheduled_events": [],
     "iam": {"fault": "expired"}},
    {"instance_id": "i-0000000000000000c", "match": ["10.0.0.13"],
     "market": "on-demand", "spot_interruption": null, "iam": {"rotation": null}}
  ]
}`))
	if err != nil {
		t.Fatal(err)
	}
	es := c.Entries()
	if len(es) != 3 {
		t.Fatalf("got %d entries, want 3", len(es))
	}
	a, b, o := es[0], es[1], es[2]
	if a.Market != "spot" || a.SpotInterruption == nil || a.SpotInterruption.Action != "stop" || len(a.ScheduledEvents) != 1 ||
		a.IAM.Rotation == nil || a.IAM.Rotation.Interval != "1h" {
		t.Errorf("entry a does not inherit the top level's life: %+v %+v %+v", a.Spec, a.SpotInterruption, a.IAM)
	}
	if si := b.SpotInterruption; si == nil || si.After != "90s" || si.At != "" || si.Action != "" {
		t.Errorf("entry b: spot_interruption %+v, want the entry's object whole, {after: 90s}", si)
	}
	if len(b.ScheduledEvents) != 0 || b.IAM.Fault != "expired" || b.IAM.Role != "web" || b.IAM.Rotation == nil {
		t.Errorf("entry b: events %v, iam %+v: want no events, iam merged key by key", b.ScheduledEvents, b.IAM)
	}
	if o.Market != "on-demand" || o.SpotInterruption != nil || o.IAM.Rotation != nil {
		t.Errorf("entry c: market %q, spot_interruption %+v, rotation %+v: want on-demand, none, none", o.Market, o.SpotInterruption, o.IAM.Rotation)
	}
	if c.Market != "spot" {
		t.Errorf("top level market %q, want spot", c.Market)
	}
	if d := Default(); d.Market != "on-demand" || d.SpotInterruption != nil {
		t.Errorf("built-in default: market %q, spot_interruption %+v; want on-demand and none", d.Market, d.SpotInterruption)
	}
}
