package lifecycle

import (
	"strings"
	"testing"
)

func spot(s Spec) Spec { s.Market = "spot"; return s }

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		key  string // "" for no problem
		msg  string // a part of the message
		warn bool
	}{
		{"zero", Spec{}, "", "", false},
		{"full", spot(Spec{
			SpotInterruption:        &SpotInterruption{Action: "stop", After: "90s"},
			RebalanceRecommendation: &RebalanceRecommendation{At: "2026-12-08T09:00:00Z"},
			ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "72h", NotAfter: "73h", ID: "instance-event-0d59937288b749b32"},
				{Code: "instance-stop", After: "1m", From: "start", NotBefore: "2026-12-08T09:00:00Z", State: "canceled"}},
			AutoscalingLifecycle: []AutoscalingTransition{{State: "InService", After: "0s"}, {State: "Warmed:Hibernated", After: "10m"}},
		}), "", "", false},
		{"market", Spec{Market: "reserved"}, "market", `"reserved" is not a market: expected "on-demand" (the default) or "spot"`, false},
		{"spot on demand", Spec{SpotInterruption: &SpotInterruption{After: "1s"}}, "spot_interruption", `is given but market is "on-demand": EC2 sends interruption notices to spot instances only; add "market": "spot"`, false},
		{"rebalance on demand", Spec{Market: "on-demand", RebalanceRecommendation: &RebalanceRecommendation{After: "1s"}}, "rebalance_recommendation", `EC2 sends rebalance recommendations to spot instances only; add "market": "spot"`, false},
		{"action", spot(Spec{SpotInterruption: &SpotInterruption{Action: "reboot", After: "1s"}}), "spot_interruption.action", `"reboot" is not a spot action: expected "terminate" (the default), "stop" or "hibernate"`, false},
		{"no when", spot(Spec{SpotInterruption: &SpotInterruption{}}), "spot_interruption", `has no time: give "at": an RFC 3339 time, such as "at": "2026-12-08T09:00:00Z", or "after": a duration, such as "after": "90s"`, false},
		{"bad at", spot(Spec{RebalanceRecommendation: &RebalanceRecommendation{At: "tomorrow"}}), "rebalance_recommendation.at", `"tomorrow" is not an RFC 3339 time: expected a date, "T", a time and a zone, such as "2026-12-08T09:00:00Z"`, false},
		{"at and after", spot(Spec{RebalanceRecommendation: &RebalanceRecommendation{At: "2026-12-08T09:00:00Z", After: "1s"}}), "rebalance_recommendation.after", "cannot be given with at: give either at", false},
		{"at and from", spot(Spec{RebalanceRecommendation: &RebalanceRecommendation{At: "2026-12-08T09:00:00Z", From: "start"}}), "rebalance_recommendation.from", "applies only to after: at is an absolute time; remove from", false},
		{"from alone", spot(Spec{RebalanceRecommendation: &RebalanceRecommendation{From: "start"}}), "rebalance_recommendation.from", `is given without after: add the duration to count, such as "after": "90s"`, false},
		{"bad from", spot(Spec{SpotInterruption: &SpotInterruption{After: "1s", From: "boot"}}), "spot_interruption.from", `"boot" is not a clock: expected "first_request" (the guest's first request, the default) or "start"`, false},
		{"bad after", spot(Spec{SpotInterruption: &SpotInterruption{After: "90"}}), "spot_interruption.after", `"90" is not a duration: expected a number and a unit (s, m, h), such as "90s" or "1h30m"`, false},
		{"negative after", spot(Spec{SpotInterruption: &SpotInterruption{After: "-5s"}}), "spot_interruption.after", `"-5s" is negative: expected a duration of zero or more, such as "90s"`, false},
		{"long after", spot(Spec{SpotInterruption: &SpotInterruption{After: "9000h"}}), "spot_interruption.after", `"9000h" is more than a year: expected at most 8784h`, false},
		{"too many events", Spec{ScheduledEvents: make([]ScheduledEvent, MaxItems+1)}, "scheduled_events", "lists 101 events: at most 100 are allowed", false},
		{"no code", Spec{ScheduledEvents: []ScheduledEvent{{NotBefore: "1h"}}}, "scheduled_events[0].code", `is missing: give the event's code, such as "code": "system-reboot"; one of instance-reboot, system-reboot, system-maintenance, instance-retirement, instance-stop`, false},
		{"bad code", Spec{ScheduledEvents: []ScheduledEvent{{Code: "reboot", NotBefore: "1h"}}}, "scheduled_events[0].code", `"reboot" is not an EC2 event code: expected one of instance-reboot`, false},
		{"description newline", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", Description: "a\nb"}}}, "scheduled_events[0].description", "holds a newline or control character: expected one line of text", false},
		{"description long", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", Description: strings.Repeat("x", 256)}}}, "scheduled_events[0].description", "is 256 characters long: expected at most 255", false},
		{"event when", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", After: "x"}}}, "scheduled_events[0].after", `"x" is not a duration`, false},
		{"no not_before", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot"}}}, "scheduled_events[0].not_before", `is missing: give when the event may start, as an RFC 3339 time such as "2026-12-08T09:00:00Z" or as a duration after the event appears such as "72h"`, false},
		{"bad not_before", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "next week"}}}, "scheduled_events[0].not_before", `"next week" is neither an RFC 3339 time nor a duration: expected a time such as "2026-12-08T09:00:00Z" or a duration after the event appears such as "72h"`, false},
		{"negative not_after", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", NotAfter: "-1h"}}}, "scheduled_events[0].not_after", `"-1h" is negative: expected a duration of zero or more after the event appears, such as "72h"`, false},
		{"long not_before", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "9000h"}}}, "scheduled_events[0].not_before", `"9000h" is more than a year`, false},
		{"window backwards", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "2h", NotAfter: "1h"}}}, "scheduled_events[0].not_after", `"1h" is before not_before "2h": the event's window must end after it starts`, false},
		{"window backwards abs", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "2026-12-08T09:00:00Z", NotAfter: "2026-12-08T08:00:00Z"}}}, "scheduled_events[0].not_after", `is before not_before`, false},
		{"window mixed", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "2026-12-08T09:00:00Z", NotAfter: "1h"}}}, "", "", false},
		{"state", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", State: "done"}}}, "scheduled_events[0].state", `"done" is not an event state: expected "active" (the default), "completed" or "canceled"`, false},
		{"bad id", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", ID: "evt-1"}}}, "scheduled_events[0].id", `"evt-1" is not an event id: expected "instance-event-" followed by letters or digits, such as instance-event-0d59937288b749b32`, false},
		{"odd id", Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", ID: "instance-event-reboot1"}}}, "scheduled_events[0].id", `is not shaped like an EC2 event id ("instance-event-" and 17 lowercase hex digits`, true},
		{"duplicate id", Spec{ScheduledEvents: []ScheduledEvent{
			{Code: "system-reboot", NotBefore: "1h", ID: "instance-event-0d59937288b749b32"},
			{Code: "system-reboot", NotBefore: "2h", ID: "instance-event-0d59937288b749b32"}}}, "scheduled_events[1].id", `"instance-event-0d59937288b749b32" is the id of scheduled_events[0] too: give each event its own id`, false},
		{"too many transitions", Spec{AutoscalingLifecycle: make([]AutoscalingTransition, MaxItems+1)}, "autoscaling_lifecycle", "lists 101 transitions: at most 100 are allowed", false},
		{"no state", Spec{AutoscalingLifecycle: []AutoscalingTransition{{After: "1s"}}}, "autoscaling_lifecycle[0].state", `is missing: give the target lifecycle state, such as "state": "Terminated"; one of InService, Terminated`, false},
		{"bad state", Spec{AutoscalingLifecycle: []AutoscalingTransition{{State: "terminated", After: "1s"}}}, "autoscaling_lifecycle[0].state", `"terminated" is not a target lifecycle state: expected one of InService, Terminated, Detached, Standby, Warmed:Hibernated, Warmed:Running, Warmed:Stopped, Warmed:Terminated (case matters)`, false},
		{"no asg when", Spec{AutoscalingLifecycle: []AutoscalingTransition{{State: "Terminated"}}}, "autoscaling_lifecycle[0]", "has no time", false},
		{"asg order", Spec{AutoscalingLifecycle: []AutoscalingTransition{{State: "InService", After: "2m"}, {State: "Terminated", After: "1m"}}}, "autoscaling_lifecycle[1]", `happens before autoscaling_lifecycle[0] ("1m" < "2m"): list the transitions in the order they happen`, false},
		{"asg order at", Spec{AutoscalingLifecycle: []AutoscalingTransition{{State: "InService", At: "2026-12-08T09:00:00Z"}, {State: "Terminated", At: "2026-12-08T08:00:00Z"}}}, "autoscaling_lifecycle[1]", `happens before autoscaling_lifecycle[0]`, false},
		{"asg order other clocks", Spec{AutoscalingLifecycle: []AutoscalingTransition{{State: "InService", After: "2m"}, {State: "Terminated", After: "1m", From: "start"}}}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := Check(tt.spec)
			if tt.key == "" {
				if len(probs) > 0 {
					t.Fatalf("Check = %v, want no problem", probs)
				}
				return
			}
			for _, p := range probs {
				if p.Key == tt.key && strings.Contains(p.Msg, tt.msg) && p.Warning == tt.warn {
					return
				}
			}
			t.Errorf("Check = %q\nwant %s: ...%s... (warning %v)", probs, tt.key, tt.msg, tt.warn)
		})
	}
}

func TestCheckAllAtOnce(t *testing.T) {
	probs := Check(Spec{
		Market:           "x",
		SpotInterruption: &SpotInterruption{Action: "y", After: "z"},
		ScheduledEvents:  []ScheduledEvent{{}, {Code: "q", NotBefore: "r"}},
	})
	var keys []string
	for _, p := range probs {
		keys = append(keys, p.Key)
	}
	want := "market spot_interruption spot_interruption.action spot_interruption.after " +
		"scheduled_events[0].code scheduled_events[0].not_before scheduled_events[1].code scheduled_events[1].not_before"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("keys = %s\nwant   %s", got, want)
	}
}

func TestCheckCredentials(t *testing.T) {
	rot := func(life, iv string) Credentials {
		return Credentials{Rotation: &Rotation{Lifetime: life, Interval: iv}}
	}
	tests := []struct {
		name string
		cr   Credentials
		key  string
		msg  string
		warn bool
	}{
		{"none", Credentials{}, "", "", false},
		{"ec2", rot("6h", "1h"), "", "", false},
		{"edge", rot("1h", "55m"), "rotation.interval", `"55m" serves each set until 5m before it expires: botocore refreshes on every call when less than 15 minutes are left; an interval of at most 45m (lifetime - 15m) avoids it`, true},
		{"no lifetime", rot("", "1h"), "rotation.lifetime", `is missing: give how long each set lives, such as "lifetime": "6h" (EC2's)`, false},
		{"no interval", rot("6h", ""), "rotation.interval", `is missing: give how often a new set is made, such as "interval": "1h" (EC2's)`, false},
		{"bad lifetime", rot("six hours", "1h"), "rotation.lifetime", `"six hours" is not a duration: expected a number and a unit (s, m, h), such as "6h"`, false},
		{"negative interval", rot("6h", "-1h"), "rotation.interval", `"-1h" is negative: expected 1m to 11h55m, such as "1h"`, false},
		{"short lifetime", rot("10m", "1m"), "rotation.lifetime", `"10m" is out of range: expected 15m to 12h, such as "6h"`, false},
		{"long lifetime", rot("24h", "1h"), "rotation.lifetime", `"24h" is out of range: expected 15m to 12h`, false},
		{"short interval", rot("6h", "10s"), "rotation.interval", `"10s" is out of range: expected 1m to 11h55m, such as "1h"`, false},
		{"no lead", rot("1h", "58m"), "rotation.interval", `"58m" leaves less than 5 minutes between a new set and the old one's expiry (lifetime 1h): EC2 serves a new set at least 5 minutes before the old one expires; expected at most 55m (lifetime - 5m)`, false},
		{"fault", Credentials{Fault: "broken"}, "fault", `"broken" is not a credential fault: expected "expired" (Expiration in the past), "expiring" (under 10 minutes left), "error" (Code other than Success) or "detached" (the role's credentials 404)`, false},
		{"faults", Credentials{Fault: "detached"}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probs := CheckCredentials(tt.cr)
			if tt.key == "" {
				if len(probs) > 0 {
					t.Fatalf("CheckCredentials = %v, want no problem", probs)
				}
				return
			}
			if len(probs) != 1 || probs[0].Key != tt.key || !strings.Contains(probs[0].Msg, tt.msg) || probs[0].Warning != tt.warn {
				t.Errorf("CheckCredentials = %q\nwant %s: ...%s... (warning %v)", probs, tt.key, tt.msg, tt.warn)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	_, err := Compile(Spec{Market: "x"}, Params{InstanceID: "i-1", Role: "r", IAM: &Credentials{Fault: "y"}})
	ps, ok := err.(Problems)
	if !ok || len(ps) != 2 || ps[0].Key != "market" || ps[1].Key != "iam.fault" {
		t.Fatalf("Compile error = %v, want the market and iam.fault problems", err)
	}
	if _, err := Compile(Spec{ScheduledEvents: []ScheduledEvent{{Code: "system-reboot", NotBefore: "1h", ID: "instance-event-x"}}}, Params{}); err != nil {
		t.Errorf("Compile with a warning only = %v, want no error", err)
	}
}
