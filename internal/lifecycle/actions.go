package lifecycle

import (
	"sort"
	"time"
)

// Action is something the host is to do to the guest at a time: the spot
// interruption's action, or a scheduled event's start. A daemon runs its
// host hook (imdsd.conf(5), action_command) for each action once due.
type Action struct {
	// Kind is [KindSpotInterruption] or [KindScheduledEvent].
	Kind string
	// Name is the spot action (terminate, stop, hibernate) or the event's
	// code (system-reboot, instance-stop, …).
	Name string
	// EventID is the event's EventId; empty for a spot action.
	EventID string
	// Time is when the action falls due: the spot notice's action time
	// (the notice and two minutes for terminate and stop, the notice for
	// hibernate), or the later of an event's appearance and its
	// NotBefore.
	Time time.Time
}

// Key names the action and its time, so that a daemon that records which
// actions it ran can tell a rescheduled or reissued one (another time,
// another key) from one already done.
func (a Action) Key() string {
	k := a.Kind + " " + a.Name
	if a.EventID != "" {
		k += " " + a.EventID
	}
	return k + " " + stamp(a.Time)
}

// Actions returns the timeline's actions whose time is known, in time
// order: the spot action once its notice's clock is known, the active
// scheduled events. Canceled and completed events have none. Times may be
// past or future; the caller decides what is due.
func (t *Timeline) Actions() []Action {
	first := t.first.Load()
	var out []Action
	if t.spot != nil {
		if n, ok := t.spot.clk.resolve(first); ok {
			_, at, _ := t.spotAt(first, n)
			out = append(out, Action{Kind: KindSpotInterruption, Name: t.spot.action, Time: at})
		}
	}
	for _, e := range t.events {
		if e.state != "active" {
			continue
		}
		appear, ok := e.clk.resolve(first)
		if !ok {
			continue
		}
		due := e.notBefore.from(appear)
		if due.Before(appear) {
			due = appear
		}
		out = append(out, Action{Kind: KindScheduledEvent, Name: e.code, EventID: e.id, Time: due})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}
