package lifecycle

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Problem is one thing wrong with a configuration: the key, as a path
// relative to the object checked ("spot_interruption.after",
// "scheduled_events[1].not_before"), and a message a person can act on,
// with the expected form and an example. A Warning loads, but a client will
// trip on it.
type Problem struct {
	Key     string
	Msg     string
	Warning bool
}

func (p Problem) String() string { return p.Key + ": " + p.Msg }

var (
	reEventID   = regexp.MustCompile(`^instance-event-[0-9A-Za-z]{1,64}$`)
	reRealEvent = regexp.MustCompile(`^instance-event-[0-9a-f]{17}$`)
)

// MaxDescription bounds an event's description, in characters.
const MaxDescription = 255

// checker collects problems.
type checker struct{ probs []Problem }

func (c *checker) errorf(key, format string, args ...any) {
	c.probs = append(c.probs, Problem{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(key, format string, args ...any) {
	c.probs = append(c.probs, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Warning: true})
}

// Check returns every problem of s, in key order; none means [Compile]
// accepts s. Keys are relative to the instance object.
func Check(s Spec) []Problem {
	var c checker
	spot := s.Market == "spot"
	switch s.Market {
	case "", "on-demand", "spot":
	default:
		c.errorf("market", "%s is not a market: expected \"on-demand\" (the default) or \"spot\"", quote(s.Market))
	}
	market := s.Market
	if market == "" {
		market = "on-demand"
	}
	if si := s.SpotInterruption; si != nil {
		if !spot {
			c.errorf("spot_interruption", "is given but market is %s: EC2 sends interruption notices to spot instances only; add \"market\": \"spot\"", quote(market))
		}
		if si.Action != "" && !oneOf(si.Action, SpotActions) {
			c.errorf("spot_interruption.action", "%s is not a spot action: expected \"terminate\" (the default), \"stop\" or \"hibernate\"", quote(si.Action))
		}
		c.when("spot_interruption", si.When(), true)
	}
	if r := s.RebalanceRecommendation; r != nil {
		if !spot {
			c.errorf("rebalance_recommendation", "is given but market is %s: EC2 sends rebalance recommendations to spot instances only; add \"market\": \"spot\"", quote(market))
		}
		c.when("rebalance_recommendation", r.When(), true)
	}
	if n := len(s.ScheduledEvents); n > MaxItems {
		c.errorf("scheduled_events", "lists %d events: at most %d are allowed", n, MaxItems)
	}
	ids := map[string]int{}
	for i, e := range s.ScheduledEvents {
		key := "scheduled_events[" + strconv.Itoa(i) + "]"
		c.event(key, &e)
		if e.ID != "" {
			if j, dup := ids[e.ID]; dup {
				c.errorf(key+".id", "%s is the id of scheduled_events[%d] too: give each event its own id", quote(e.ID), j)
			} else {
				ids[e.ID] = i
			}
		}
	}
	if n := len(s.AutoscalingLifecycle); n > MaxItems {
		c.errorf("autoscaling_lifecycle", "lists %d transitions: at most %d are allowed", n, MaxItems)
	}
	for i, a := range s.AutoscalingLifecycle {
		key := "autoscaling_lifecycle[" + strconv.Itoa(i) + "]"
		switch {
		case a.State == "":
			c.errorf(key+".state", "is missing: give the target lifecycle state, such as \"state\": \"Terminated\"; one of %s", strings.Join(AutoscalingStates, ", "))
		case !oneOf(a.State, AutoscalingStates):
			c.errorf(key+".state", "%s is not a target lifecycle state: expected one of %s (case matters)", quote(a.State), strings.Join(AutoscalingStates, ", "))
		}
		if c.when(key, a.When(), true) && i > 0 {
			prev := s.AutoscalingLifecycle[i-1]
			if before, what := earlier(a.When(), prev.When()); before {
				c.errorf(key, "happens before autoscaling_lifecycle[%d] (%s): list the transitions in the order they happen", i-1, what)
			}
		}
	}
	return c.probs
}

// CheckCredentials returns every problem of the lifecycle keys of an iam
// object. Keys are relative to it ("rotation.interval").
func CheckCredentials(cr Credentials) []Problem {
	var c checker
	if r := cr.Rotation; r != nil {
		life, lifeOK := c.rotationDuration("rotation.lifetime", r.Lifetime, "how long each set lives, such as \"lifetime\": \"6h\" (EC2's)", MinLifetime, MaxLifetime)
		iv, ivOK := c.rotationDuration("rotation.interval", r.Interval, "how often a new set is made, such as \"interval\": \"1h\" (EC2's)", MinInterval, MaxLifetime-RotationLead)
		if lifeOK && ivOK {
			switch {
			case iv > life-RotationLead:
				c.errorf("rotation.interval", "%s leaves less than 5 minutes between a new set and the old one's expiry (lifetime %s): EC2 serves a new set at least 5 minutes before the old one expires; expected at most %s (lifetime - 5m)",
					quote(r.Interval), fmtDuration(life), fmtDuration(life-RotationLead))
			case life-iv < 15*time.Minute:
				c.warnf("rotation.interval", "%s serves each set until %s before it expires: botocore refreshes on every call when less than 15 minutes are left; an interval of at most %s (lifetime - 15m) avoids it",
					quote(r.Interval), fmtDuration(life-iv), fmtDuration(life-15*time.Minute))
			}
		}
	}
	if cr.Fault != "" && !oneOf(cr.Fault, Faults) {
		c.errorf("fault", "%s is not a credential fault: expected \"expired\" (Expiration in the past), \"expiring\" (under 10 minutes left), \"error\" (Code other than Success) or \"detached\" (the role's credentials 404)", quote(cr.Fault))
	}
	return c.probs
}

func (c *checker) rotationDuration(key, s, what string, lo, hi time.Duration) (time.Duration, bool) {
	if s == "" {
		c.errorf(key, "is missing: give %s", what)
		return 0, false
	}
	d, err := parseDuration(s)
	switch {
	case errors.Is(err, errNegative):
		c.errorf(key, "%s is negative: expected %s to %s, such as %s", quote(s), fmtDuration(lo), fmtDuration(hi), exampleFor(key))
	case err != nil:
		c.errorf(key, "%s is not a duration: expected a number and a unit (s, m, h), such as %s", quote(s), exampleFor(key))
	case d < lo || d > hi:
		c.errorf(key, "%s is out of range: expected %s to %s, such as %s", quote(s), fmtDuration(lo), fmtDuration(hi), exampleFor(key))
	default:
		return d, true
	}
	return 0, false
}

func exampleFor(key string) string {
	if strings.HasSuffix(key, "lifetime") {
		return `"6h"`
	}
	return `"1h"`
}

// when checks the when at key; required says that it must be given. It
// reports whether the when is valid and given.
func (c *checker) when(key string, w When, required bool) bool {
	if w.IsZero() {
		if required {
			c.errorf(key, "has no time: give \"at\": an RFC 3339 time, such as \"at\": \"2026-12-08T09:00:00Z\", or \"after\": a duration, such as \"after\": \"90s\" (from the guest's first request; add \"from\": \"start\" to count from imdsd's start)")
		}
		return false
	}
	ok := true
	if w.At != "" {
		if _, err := parseTime(w.At); err != nil {
			c.errorf(key+".at", "%s is not an RFC 3339 time: expected a date, \"T\", a time and a zone, such as \"2026-12-08T09:00:00Z\"", quote(w.At))
			ok = false
		}
		if w.After != "" {
			c.errorf(key+".after", "cannot be given with at: give either at (an absolute time) or after (a duration from the guest's first request or imdsd's start)")
			ok = false
		}
		if w.From != "" {
			c.errorf(key+".from", "applies only to after: at is an absolute time; remove from, or give after instead of at")
			ok = false
		}
		return ok
	}
	if w.After == "" {
		c.errorf(key+".from", "is given without after: add the duration to count, such as \"after\": \"90s\"")
		ok = false
	} else if !c.duration(key+".after", w.After, `"90s"`) {
		ok = false
	}
	switch w.From {
	case "", "first_request", "start":
	default:
		c.errorf(key+".from", "%s is not a clock: expected \"first_request\" (the guest's first request, the default) or \"start\" (imdsd's start, or the reload that set it)", quote(w.From))
		ok = false
	}
	return ok
}

// duration checks a non-negative, bounded Go duration.
func (c *checker) duration(key, s, example string) bool {
	d, err := parseDuration(s)
	switch {
	case errors.Is(err, errNegative):
		c.errorf(key, "%s is negative: expected a duration of zero or more, such as %s", quote(s), example)
	case err != nil:
		c.errorf(key, "%s is not a duration: expected a number and a unit (s, m, h), such as %s or \"1h30m\"", quote(s), example)
	case d > MaxAfter:
		c.errorf(key, "%s is more than a year: expected at most %s", quote(s), fmtDuration(MaxAfter))
	default:
		return true
	}
	return false
}

func (c *checker) event(key string, e *ScheduledEvent) {
	switch {
	case e.Code == "":
		c.errorf(key+".code", "is missing: give the event's code, such as \"code\": \"system-reboot\"; one of %s", strings.Join(EventCodes, ", "))
	case !oneOf(e.Code, EventCodes):
		c.errorf(key+".code", "%s is not an EC2 event code: expected one of %s", quote(e.Code), strings.Join(EventCodes, ", "))
	}
	switch d := e.Description; {
	case hasControl(d):
		c.errorf(key+".description", "holds a newline or control character: expected one line of text, such as \"scheduled reboot\"")
	case utf8.RuneCountInString(d) > MaxDescription:
		c.errorf(key+".description", "is %d characters long: expected at most %d", utf8.RuneCountInString(d), MaxDescription)
	}
	c.when(key, e.When(), false)
	nb, nbOK := c.eventTime(key+".not_before", e.NotBefore, true)
	na, naOK := c.eventTime(key+".not_after", e.NotAfter, false)
	if nbOK && naOK && e.NotAfter != "" && nb.abs == na.abs {
		if nb.abs && na.t.Before(nb.t) || !nb.abs && na.d < nb.d {
			c.errorf(key+".not_after", "%s is before not_before %s: the event's window must end after it starts", quote(e.NotAfter), quote(e.NotBefore))
		}
	}
	if e.State != "" && !oneOf(e.State, EventStates) {
		c.errorf(key+".state", "%s is not an event state: expected \"active\" (the default), \"completed\" or \"canceled\"", quote(e.State))
	}
	switch {
	case e.ID == "":
	case !reEventID.MatchString(e.ID):
		c.errorf(key+".id", "%s is not an event id: expected \"instance-event-\" followed by letters or digits, such as instance-event-0d59937288b749b32", quote(e.ID))
	case !reRealEvent.MatchString(e.ID):
		c.warnf(key+".id", "%s is not shaped like an EC2 event id (\"instance-event-\" and 17 lowercase hex digits, such as instance-event-0d59937288b749b32); clients that check the format may reject it", quote(e.ID))
	}
}

// eventTime is a parsed not_before or not_after: an absolute time or a
// duration after the event appears.
type eventTime struct {
	abs bool
	t   time.Time
	d   time.Duration
}

func parseEventTime(s string) (eventTime, error) {
	if t, err := parseTime(s); err == nil {
		return eventTime{abs: true, t: t}, nil
	}
	d, err := parseDuration(s)
	return eventTime{d: d}, err
}

func (c *checker) eventTime(key, s string, required bool) (eventTime, bool) {
	if s == "" {
		if required {
			c.errorf(key, "is missing: give when the event may start, as an RFC 3339 time such as \"2026-12-08T09:00:00Z\" or as a duration after the event appears such as \"72h\"")
		}
		return eventTime{}, false
	}
	et, err := parseEventTime(s)
	switch {
	case errors.Is(err, errNegative):
		c.errorf(key, "%s is negative: expected a duration of zero or more after the event appears, such as \"72h\"", quote(s))
	case err != nil:
		c.errorf(key, "%s is neither an RFC 3339 time nor a duration: expected a time such as \"2026-12-08T09:00:00Z\" or a duration after the event appears such as \"72h\"", quote(s))
	case !et.abs && et.d > MaxAfter:
		c.errorf(key, "%s is more than a year: expected at most %s", quote(s), fmtDuration(MaxAfter))
	default:
		return et, true
	}
	return et, false
}

// earlier reports whether w certainly happens before prev, which is only
// known when both are absolute or both count from the same clock, and
// describes the two.
func earlier(w, prev When) (bool, string) {
	if w.At != "" && prev.At != "" {
		a, _ := parseTime(w.At)
		b, err := parseTime(prev.At)
		return err == nil && a.Before(b), quote(w.At) + " < " + quote(prev.At)
	}
	if w.After != "" && prev.After != "" && clockOf(w) == clockOf(prev) {
		a, _ := parseDuration(w.After)
		b, err := parseDuration(prev.After)
		return err == nil && a < b, quote(w.After) + " < " + quote(prev.After)
	}
	return false, ""
}

func clockOf(w When) string {
	if w.From == "" {
		return "first_request"
	}
	return w.From
}

// hasControl reports whether s holds an ASCII control character.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// quote quotes s for a message, shortened to its first 40 characters.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) <= max {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:max])) + "..."
}

// fmtDuration writes d as a person would: "6h", "55m", "1h30m", "90s".
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
