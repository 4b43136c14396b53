package lifecycle

import (
	"errors"
	"strings"
	"time"
)

// Spec is an instance's lifecycle configuration. Field comments name the
// JSON key. Every field is a plain value with a json tag, so a strict
// decoder that binds by tag can fill it; values are checked by [Check] and
// parsed by [Compile]. The zero Spec is an on-demand instance to which
// nothing happens.
type Spec struct {
	// Market is "on-demand" (the default, also "") or "spot"; it is served
	// as meta-data/instance-life-cycle.
	Market string `json:"market"`
	// SpotInterruption is the spot interruption notice; spot only.
	SpotInterruption *SpotInterruption `json:"spot_interruption"`
	// RebalanceRecommendation is the rebalance recommendation; spot only.
	RebalanceRecommendation *RebalanceRecommendation `json:"rebalance_recommendation"`
	// ScheduledEvents are the maintenance events, in the order served.
	ScheduledEvents []ScheduledEvent `json:"scheduled_events"`
	// AutoscalingLifecycle are the target lifecycle state transitions, in
	// order.
	AutoscalingLifecycle []AutoscalingTransition `json:"autoscaling_lifecycle"`
}

// SpotInterruption is "spot_interruption": {"action": ..., <when>}.
type SpotInterruption struct {
	// Action is "terminate" (the default, also ""), "stop" or "hibernate".
	Action string `json:"action"`
	// At, After and From are when the notice appears (see [When]).
	At    string `json:"at"`
	After string `json:"after"`
	From  string `json:"from"`
}

// When returns the notice's when.
func (s *SpotInterruption) When() When { return When{s.At, s.After, s.From} }

// RebalanceRecommendation is "rebalance_recommendation": {<when>}.
type RebalanceRecommendation struct {
	At    string `json:"at"`
	After string `json:"after"`
	From  string `json:"from"`
}

// When returns the recommendation's when.
func (r *RebalanceRecommendation) When() When { return When{r.At, r.After, r.From} }

// ScheduledEvent is one entry of "scheduled_events".
type ScheduledEvent struct {
	// Code is one of [EventCodes].
	Code string `json:"code"`
	// Description defaults to EC2's wording for the code.
	Description string `json:"description"`
	// At, After and From are when the event appears; left out, at the
	// start (the load of the configuration).
	At    string `json:"at"`
	After string `json:"after"`
	From  string `json:"from"`
	// NotBefore (required) and NotAfter (optional) are RFC 3339 times or
	// durations after the event appears.
	NotBefore string `json:"not_before"`
	NotAfter  string `json:"not_after"`
	// State is "active" (the default, also ""), "completed" or "canceled".
	State string `json:"state"`
	// ID is the EventId, "instance-event-" and 17 hex digits; derived from
	// the instance id, the code and the event's rank among the events of
	// its code when left out.
	ID string `json:"id"`
}

// When returns when the event appears; the zero When means at the start.
func (e *ScheduledEvent) When() When { return When{e.At, e.After, e.From} }

// AutoscalingTransition is one entry of "autoscaling_lifecycle".
type AutoscalingTransition struct {
	// State is one of [AutoscalingStates].
	State string `json:"state"`
	At    string `json:"at"`
	After string `json:"after"`
	From  string `json:"from"`
}

// When returns when the transition happens.
func (a *AutoscalingTransition) When() When { return When{a.At, a.After, a.From} }

// Credentials is the lifecycle part of the "iam" object: rotation and
// faults of the role credentials.
type Credentials struct {
	// Rotation, when set, serves generated, rotating credentials instead of
	// the static keys.
	Rotation *Rotation `json:"rotation"`
	// Fault is "" (none), "expired", "expiring", "error" or "detached".
	Fault string `json:"fault"`
}

// Rotation is "rotation": {"lifetime": "6h", "interval": "1h"}.
type Rotation struct {
	// Lifetime is Expiration - LastUpdated of each set (Go duration).
	Lifetime string `json:"lifetime"`
	// Interval is how often a new set is made (Go duration); at most
	// Lifetime - 5m, so a new set is served at least 5 minutes before the
	// old one expires.
	Interval string `json:"interval"`
}

// When is a time in the configuration: either At (RFC 3339), or After (a Go
// duration) counted From "first_request" (the default, also "") or "start".
type When struct {
	At    string
	After string
	From  string
}

// IsZero reports whether no key of the when was given.
func (w When) IsZero() bool { return w.At == "" && w.After == "" && w.From == "" }

// Values of the keys, as EC2 names them.
var (
	// SpotActions are the actions of a spot interruption notice.
	SpotActions = []string{"terminate", "stop", "hibernate"}
	// EventCodes are the codes of scheduled events.
	EventCodes = []string{"instance-reboot", "system-reboot", "system-maintenance", "instance-retirement", "instance-stop"}
	// EventStates are the states of scheduled events.
	EventStates = []string{"active", "completed", "canceled"}
	// AutoscalingStates are the target lifecycle states.
	AutoscalingStates = []string{"InService", "Terminated", "Detached", "Standby",
		"Warmed:Hibernated", "Warmed:Running", "Warmed:Stopped", "Warmed:Terminated"}
	// Faults are the credential faults.
	Faults = []string{"expired", "expiring", "error", "detached"}
)

// eventDescriptions is EC2's wording per event code. The instance-stop and
// system-reboot texts are from captures of real instances; instance-retirement
// is the text DescribeInstanceStatus shows for degraded hardware; the others
// follow the system-reboot capture.
var eventDescriptions = map[string]string{
	"instance-reboot":     "scheduled reboot",
	"system-reboot":       "scheduled reboot",
	"system-maintenance":  "scheduled maintenance",
	"instance-retirement": "The instance is running on degraded hardware",
	"instance-stop":       "The instance is running on degraded hardware",
}

// Bounds.
const (
	// MaxAfter bounds durations of the configuration: a year.
	MaxAfter = 366 * 24 * time.Hour
	// MaxItems bounds the scheduled events and the Auto Scaling transitions.
	MaxItems = 100
	// MinLifetime and MaxLifetime bound rotation.lifetime: STS's range for
	// a role session.
	MinLifetime = 15 * time.Minute
	MaxLifetime = 12 * time.Hour
	// MinInterval bounds rotation.interval from below.
	MinInterval = time.Minute
	// RotationLead is how long before the old set expires the new one is
	// served, at least: EC2's promise.
	RotationLead = 5 * time.Minute
	// NoticeLead is the time between a terminate or stop notice and its
	// action.
	NoticeLead = 2 * time.Minute
)

// Default rotation, when no rotation is given: EC2's.
const (
	DefaultLifetime = 6 * time.Hour
	DefaultInterval = time.Hour
)

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// errNegative is returned by parseDuration for a duration below zero.
var errNegative = errors.New("negative")

// parseDuration parses a Go duration that must not be negative.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errNegative
	}
	return d, nil
}

// parseTime parses an RFC 3339 time.
func parseTime(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
}
