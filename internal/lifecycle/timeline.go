package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Params are what a timeline needs besides its [Spec].
type Params struct {
	// Guest names the guest in transitions (syslog lines, metrics); it
	// defaults to InstanceID. It also keeps two guests that share an
	// instance id apart in the credentials they get.
	Guest string
	// InstanceID is the instance's id; event ids and credentials are
	// derived from it.
	InstanceID string
	// Role is the instance profile's role; "" when there is none.
	Role string
	// IAM is the lifecycle part of the iam object; nil for static
	// credentials that never fail.
	IAM *Credentials
	// Loaded is when the configuration was loaded: the daemon's start for
	// the first load, the reload's time after. The zero time means
	// time.Now(), the only reading of the clock in this package.
	Loaded time.Time
	// Seed is the daemon's secret from which credentials are derived. It
	// must stay the same across reloads (and restarts, for credentials
	// that survive them).
	Seed []byte
	// CredentialStart, when not zero, is when the current credential
	// period started: a rotation asked for at run time (imdsctl
	// credentials rotate). The set served from then on is made at that
	// instant (to the second), whatever the first request or the load,
	// and the sets that follow count from it. Generation counts those
	// rotations; the keys derive from it. A rotation of static keys (no
	// iam.rotation) serves generated keys, with EC2's default lifetime
	// and interval.
	CredentialStart time.Time
	Generation      int
	// FirstRequest, when not zero, is the guest's first request kept
	// from before a restart: it is recorded (as [Timeline.Request] would)
	// and the clocks counting from it, and the credential sets, count
	// from it even though it is before Loaded. Give it at a daemon's
	// start only; a reload carries the first request with
	// [Timeline.Carry], and a changed when counts from the reload.
	FirstRequest time.Time
}

// Problems is the error [Compile] returns for a spec [Check] rejects.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

// Kinds of transitions, named as the configuration keys.
const (
	KindSpotInterruption = "spot_interruption"
	KindRebalance        = "rebalance_recommendation"
	KindScheduledEvent   = "scheduled_event"
	KindAutoscaling      = "autoscaling_lifecycle"
	KindCredentials      = "credentials"
)

// Kinds lists every kind, for metrics that are exported before anything
// happened.
var Kinds = []string{KindSpotInterruption, KindRebalance, KindScheduledEvent, KindAutoscaling, KindCredentials}

// Transition is something that became visible to the guest.
type Transition struct {
	Time   time.Time
	Kind   string
	Guest  string
	Detail string // for a person: "terminate at 2026-12-08T09:02:00Z"
}

func (tr Transition) String() string {
	return stamp(tr.Time) + " " + tr.Guest + " " + tr.Kind + ": " + tr.Detail
}

// clock kinds.
const (
	clockAt = iota
	clockStart
	clockFirst
)

// clock is a resolved when: an absolute time, or a duration from an origin
// (the load) or from the guest's first request but no earlier than a floor.
type clock struct {
	kind int
	at   time.Time     // clockAt
	d    time.Duration // clockStart, clockFirst
	base time.Time     // clockStart: the origin; clockFirst: the floor
}

func newClock(w When, loaded, floor time.Time) clock {
	if w.At != "" {
		t, _ := parseTime(w.At)
		return clock{kind: clockAt, at: ceilSecond(t)}
	}
	d, _ := parseDuration(w.After)
	if w.From == "start" || w.IsZero() {
		return clock{kind: clockStart, d: d, base: loaded}
	}
	return clock{kind: clockFirst, d: d, base: floor}
}

// resolve returns the instant of the clock given the first-request time
// (Unix nanoseconds, 0 when not yet); ok is false while it waits for the
// first request.
func (c clock) resolve(first int64) (time.Time, bool) {
	switch c.kind {
	case clockAt:
		return c.at, true
	case clockStart:
		return ceilSecond(c.base.Add(c.d)), true
	}
	if first == 0 {
		return time.Time{}, false
	}
	o := time.Unix(0, first)
	if o.Before(c.base) {
		o = c.base
	}
	return ceilSecond(o.Add(c.d)), true
}

func ceilSecond(t time.Time) time.Time {
	s := t.Truncate(time.Second)
	if s.Equal(t) {
		return t.UTC()
	}
	return s.Add(time.Second).UTC()
}

// mark records the first read of a notice; shared by the timelines a
// reload carries the notice across.
type mark struct{ read atomic.Bool }

type spotItem struct {
	action  string
	when    When
	clk     clock
	seen    *mark
	carried bool // the clock comes from the timeline before a reload
}

type rebalanceItem struct {
	when    When
	clk     clock
	seen    *mark
	carried bool
}

type eventItem struct {
	code, description, state, id string
	when                         When
	clk                          clock
	notBefore                    eventTime
	notAfter                     *eventTime
	seen                         *mark
	carried                      bool
}

type asgItem struct {
	state   string
	when    When
	clk     clock
	seen    *mark
	carried bool
}

// Timeline is one guest's lifecycle, compiled from its configuration. It
// answers for times from its load on.
type Timeline struct {
	guest      string
	instanceID string
	loaded     time.Time
	first      *atomic.Int64 // Unix nanoseconds of the first request; 0 before it
	market     string

	spot      *spotItem
	rebalance *rebalanceItem
	events    []*eventItem
	asg       []*asgItem
	creds     *credItem
	extra     []Transition // made by Carry, at the reload
}

// Compile checks spec and p.IAM and compiles the guest's timeline. The
// error, when not nil, is [Problems], holding the errors [Check] and
// [CheckCredentials] give (with the iam keys prefixed "iam.").
func Compile(spec Spec, p Params) (*Timeline, error) {
	var errs Problems
	for _, pr := range Check(spec) {
		if !pr.Warning {
			errs = append(errs, pr)
		}
	}
	if p.IAM != nil {
		for _, pr := range CheckCredentials(*p.IAM) {
			if !pr.Warning {
				pr.Key = "iam." + pr.Key
				errs = append(errs, pr)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if p.Loaded.IsZero() {
		p.Loaded = time.Now()
	}
	if p.Guest == "" {
		p.Guest = p.InstanceID
	}
	floor := p.Loaded // of the clocks counting from the first request
	if f := p.FirstRequest; !f.IsZero() && f.Before(floor) {
		floor = f
	}
	t := &Timeline{
		guest:      p.Guest,
		instanceID: p.InstanceID,
		loaded:     p.Loaded,
		first:      new(atomic.Int64),
		market:     "on-demand",
	}
	if !p.FirstRequest.IsZero() {
		t.Request(p.FirstRequest)
	}
	if spec.Market == "spot" {
		t.market = "spot"
	}
	if s := spec.SpotInterruption; s != nil {
		a := s.Action
		if a == "" {
			a = "terminate"
		}
		t.spot = &spotItem{action: a, when: s.When(), clk: newClock(s.When(), p.Loaded, floor), seen: new(mark)}
	}
	if r := spec.RebalanceRecommendation; r != nil {
		t.rebalance = &rebalanceItem{when: r.When(), clk: newClock(r.When(), p.Loaded, floor), seen: new(mark)}
	}
	rank := map[string]int{}
	for _, e := range spec.ScheduledEvents {
		it := &eventItem{
			code:        e.Code,
			description: e.Description,
			state:       e.State,
			id:          e.ID,
			when:        e.When(),
			clk:         newClock(e.When(), p.Loaded, floor),
			seen:        new(mark),
		}
		if it.description == "" {
			it.description = eventDescriptions[e.Code]
		}
		if it.state == "" {
			it.state = "active"
		}
		if it.id == "" {
			it.id = eventID(p.InstanceID, e.Code, rank[e.Code])
		}
		rank[e.Code]++
		it.notBefore, _ = parseEventTime(e.NotBefore)
		if e.NotAfter != "" {
			na, _ := parseEventTime(e.NotAfter)
			it.notAfter = &na
		}
		t.events = append(t.events, it)
	}
	for _, a := range spec.AutoscalingLifecycle {
		t.asg = append(t.asg, &asgItem{state: a.State, when: a.When(), clk: newClock(a.When(), p.Loaded, floor), seen: new(mark)})
	}
	if p.Role != "" {
		t.creds = newCredItem(p)
	}
	return t, nil
}

// eventID derives a stable EventId from the instance, the code and the
// event's rank among the events of its code: "instance-event-" and 17 hex
// digits, as EC2's.
func eventID(instanceID, code string, rank int) string {
	h := sha256.Sum256([]byte("imdsd scheduled event\x00" + instanceID + "\x00" + code + "\x00" + strconv.Itoa(rank)))
	return "instance-event-" + hex.EncodeToString(h[:9])[:17]
}

// Request records the guest's first request at now and reports whether this
// call was the first (the caller then re-arms its timer: the clocks that
// count from the first request are now known). Once the time is set it is
// one atomic load.
func (t *Timeline) Request(now time.Time) bool {
	if t.first.Load() != 0 {
		return false
	}
	ns := now.UnixNano()
	if ns == 0 {
		ns = 1 // 0 means "not yet"
	}
	return t.first.CompareAndSwap(0, ns)
}

// FirstRequest returns the guest's first request time, if there was one; a
// daemon that keeps it across restarts gives it back with [Timeline.Request].
func (t *Timeline) FirstRequest() (time.Time, bool) {
	ns := t.first.Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns).UTC(), true
}

// Market returns "spot" or "on-demand", meta-data/instance-life-cycle.
func (t *Timeline) Market() string { return t.market }

// paths the package answers, below the API version. Directories are given
// without their slash.
var owned = map[string]bool{
	"meta-data/instance-life-cycle":                true,
	"meta-data/spot":                               true,
	"meta-data/spot/instance-action":               true,
	"meta-data/spot/termination-time":              true,
	"meta-data/events/recommendations":             true,
	"meta-data/events/recommendations/rebalance":   true,
	"meta-data/events/maintenance/scheduled":       true,
	"meta-data/events/maintenance/history":         true,
	"meta-data/autoscaling":                        true,
	"meta-data/autoscaling/target-lifecycle-state": true,
}

// Owns reports whether path (below the API version, with or without a
// trailing slash) is answered by [Timeline.Lookup]: when Lookup's ok is
// false, the path is a 404, whatever a static tree holds.
func Owns(path string) bool { return owned[strings.TrimSuffix(path, "/")] }

// Paths returns the paths [Owns] reports, sorted; directories end in "/".
func Paths() []string {
	var ps []string
	for p := range owned {
		switch p {
		case "meta-data/spot", "meta-data/events/recommendations", "meta-data/autoscaling":
			p += "/"
		}
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// spotAt returns the notice time and the action time, if the notice is
// visible at now.
func (t *Timeline) spotAt(first int64, now time.Time) (notice, action time.Time, ok bool) {
	if t.spot == nil {
		return
	}
	n, ok := t.spot.clk.resolve(first)
	if !ok || now.Before(n) {
		return time.Time{}, time.Time{}, false
	}
	if t.spot.action == "hibernate" {
		return n, n, true
	}
	return n, n.Add(NoticeLead), true
}

func (t *Timeline) rebalanceAt(first int64, now time.Time) (time.Time, bool) {
	if t.rebalance == nil {
		return time.Time{}, false
	}
	n, ok := t.rebalance.clk.resolve(first)
	if !ok || now.Before(n) {
		return time.Time{}, false
	}
	return n, true
}

// asgAt returns the transition in effect at now: the latest to have
// happened, the last listed among those at the same time.
func (t *Timeline) asgAt(first int64, now time.Time) (*asgItem, time.Time) {
	var cur *asgItem
	var at time.Time
	for _, a := range t.asg {
		w, ok := a.clk.resolve(first)
		if !ok || now.Before(w) {
			continue
		}
		if cur == nil || !w.Before(at) {
			cur, at = a, w
		}
	}
	return cur, at
}

// eventsAt returns the events shown at now, active or in the history.
func (t *Timeline) eventsAt(first int64, now time.Time, history bool) []renderedEvent {
	var out []renderedEvent
	for _, e := range t.events {
		appear, ok := e.clk.resolve(first)
		if !ok || now.Before(appear) {
			continue
		}
		if (e.state != "active") != history {
			continue
		}
		r := renderedEvent{
			notBefore:   e.notBefore.from(appear),
			code:        e.code,
			description: e.description,
			id:          e.id,
			state:       e.state,
		}
		if e.notAfter != nil {
			r.notAfter = e.notAfter.from(appear)
		}
		if history {
			r.description = "[" + strings.ToUpper(e.state[:1]) + e.state[1:] + "] " + r.description
		}
		out = append(out, r)
	}
	return out
}

// from resolves a not_before or not_after against the event's appearance.
func (et eventTime) from(appear time.Time) time.Time {
	if et.abs {
		return et.t
	}
	return ceilSecond(appear.Add(et.d))
}

// Lookup returns the body of path (below the API version) at now, and
// whether it exists: ok false for a path [Owns] reports is a 404. The bodies
// of directories are their listings. A body depends on now only through
// whether it exists yet: polls after a notice get the same bytes. The
// returned slice is the caller's.
func (t *Timeline) Lookup(path string, now time.Time) (body []byte, ok bool) {
	first := t.first.Load()
	switch strings.TrimSuffix(path, "/") {
	case "meta-data/instance-life-cycle":
		return []byte(t.market), true
	case "meta-data/spot/instance-action":
		if _, at, ok := t.spotAt(first, now); ok {
			return spotBody(t.spot.action, at), true
		}
	case "meta-data/spot/termination-time":
		if _, at, ok := t.spotAt(first, now); ok && t.spot.action == "terminate" {
			return []byte(stamp(at)), true
		}
	case "meta-data/events/recommendations/rebalance":
		if n, ok := t.rebalanceAt(first, now); ok {
			return rebalanceBody(n), true
		}
	case "meta-data/events/maintenance/scheduled":
		return eventsBody(t.eventsAt(first, now, false)), true
	case "meta-data/events/maintenance/history":
		return eventsBody(t.eventsAt(first, now, true)), true
	case "meta-data/autoscaling/target-lifecycle-state":
		if a, _ := t.asgAt(first, now); a != nil {
			return []byte(a.state), true
		}
	case "meta-data/spot", "meta-data/events/recommendations", "meta-data/autoscaling":
		if names := t.Listing(path, now); len(names) > 0 {
			return []byte(strings.Join(names, "\n")), true
		}
	}
	return nil, false
}

// Listing returns the names the timeline adds at now to the listing of dir
// (below the API version, with or without a trailing slash), sorted;
// directories end in "/". For meta-data it is "autoscaling/" and "spot/"
// once they have something, for meta-data/events "recommendations/" once
// the recommendation is emitted; for the directories the package owns
// (spot, events/recommendations, autoscaling) it is their whole listing.
// instance-life-cycle and events/maintenance/ are always there and belong
// to the static tree's listings.
func (t *Timeline) Listing(dir string, now time.Time) []string {
	first := t.first.Load()
	switch strings.TrimSuffix(dir, "/") {
	case "meta-data":
		var names []string
		if a, _ := t.asgAt(first, now); a != nil {
			names = append(names, "autoscaling/")
		}
		if _, _, ok := t.spotAt(first, now); ok {
			names = append(names, "spot/")
		}
		return names
	case "meta-data/events":
		if _, ok := t.rebalanceAt(first, now); ok {
			return []string{"recommendations/"}
		}
	case "meta-data/spot":
		if _, _, ok := t.spotAt(first, now); ok {
			if t.spot.action == "terminate" {
				return []string{"instance-action", "termination-time"}
			}
			return []string{"instance-action"}
		}
	case "meta-data/events/recommendations":
		if _, ok := t.rebalanceAt(first, now); ok {
			return []string{"rebalance"}
		}
	case "meta-data/autoscaling":
		if a, _ := t.asgAt(first, now); a != nil {
			return []string{"target-lifecycle-state"}
		}
	}
	return nil
}

// maxRotations bounds the credential transitions one call reports.
const maxRotations = 1000

// Transitions returns what became visible in the window (from, to], in
// time order: notices, events (and their state changes at a reload),
// Auto Scaling transitions and new credential sets. Something this load
// brought whose time is already past (an "at" in the past, a new event
// that appears at the start) becomes visible at the load and is reported
// at [Timeline.Loaded]; so the first window after a load starts just
// before it: Transitions(t.Loaded().Add(-time.Nanosecond), now).
func (t *Timeline) Transitions(from, to time.Time) []Transition {
	first := t.first.Load()
	var out []Transition
	add := func(at time.Time, carried bool, kind, detail string) {
		if !carried && at.Before(t.loaded) {
			at = t.loaded
		}
		if at.After(from) && !at.After(to) {
			out = append(out, Transition{Time: at, Kind: kind, Guest: t.guest, Detail: detail})
		}
	}
	if t.spot != nil {
		if n, ok := t.spot.clk.resolve(first); ok {
			_, at, _ := t.spotAt(first, n)
			add(n, t.spot.carried, KindSpotInterruption, t.spot.action+" at "+stamp(at))
		}
	}
	if t.rebalance != nil {
		if n, ok := t.rebalance.clk.resolve(first); ok {
			add(n, t.rebalance.carried, KindRebalance, "notice time "+stamp(n))
		}
	}
	for _, e := range t.events {
		if appear, ok := e.clk.resolve(first); ok {
			add(appear, e.carried, KindScheduledEvent, e.code+" "+e.id+" "+e.state+", not before "+stamp(e.notBefore.from(appear)))
		}
	}
	for _, a := range t.asg {
		if at, ok := a.clk.resolve(first); ok {
			add(at, a.carried, KindAutoscaling, a.state)
		}
	}
	for _, x := range t.extra {
		add(x.Time, true, x.Kind, x.Detail)
	}
	if c := t.creds; c != nil && c.rotates() && c.known(first) {
		a := c.anchor(first)
		k := int64(0)
		if from.After(a) {
			k = int64(from.Sub(a) / c.interval)
		}
		for n := 0; n < maxRotations; n, k = n+1, k+1 {
			made := a.Add(time.Duration(k) * c.interval)
			if made.After(to) {
				break
			}
			add(made, true, KindCredentials, "set "+strconv.FormatInt(k, 10)+", expires "+stamp(made.Add(c.lifetime)))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// Loaded returns the time of the load the timeline was compiled for.
func (t *Timeline) Loaded() time.Time { return t.loaded }

// NextChange returns the first instant after now at which a transition
// happens, or the zero time when none is known: a timeline waiting for the
// guest's first request has none until [Timeline.Request] reports it.
func (t *Timeline) NextChange(now time.Time) time.Time {
	first := t.first.Load()
	var next time.Time
	consider := func(at time.Time, ok bool) {
		if ok && at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	if t.spot != nil {
		consider(t.spot.clk.resolve(first))
	}
	if t.rebalance != nil {
		consider(t.rebalance.clk.resolve(first))
	}
	for _, e := range t.events {
		consider(e.clk.resolve(first))
	}
	for _, a := range t.asg {
		consider(a.clk.resolve(first))
	}
	for _, x := range t.extra {
		consider(x.Time, true)
	}
	if c := t.creds; c != nil && c.rotates() && c.known(first) {
		a := c.anchor(first)
		if !now.Before(a) {
			k := now.Sub(a)/c.interval + 1
			a = a.Add(k * c.interval)
		}
		consider(a, true)
	}
	return next
}

// Observation is a guest's first read of a notice: the figure a tester of
// a termination handler wants.
type Observation struct {
	Kind   string
	Notice time.Time     // when the notice became visible
	Lag    time.Duration // from Notice to the first read
}

// Observe records that the guest read path at now, after a 200, and returns
// the notices read for the first time: the spot notice (instance-action or
// termination-time), the rebalance recommendation, the events shown by
// scheduled or history, the Auto Scaling transition in effect. It returns
// nil on later reads.
func (t *Timeline) Observe(path string, now time.Time) []Observation {
	first := t.first.Load()
	var out []Observation
	see := func(m *mark, kind string, at time.Time) {
		if !m.read.Load() && m.read.CompareAndSwap(false, true) {
			out = append(out, Observation{Kind: kind, Notice: at, Lag: now.Sub(at)})
		}
	}
	switch strings.TrimSuffix(path, "/") {
	case "meta-data/spot/instance-action", "meta-data/spot/termination-time":
		if n, _, ok := t.spotAt(first, now); ok {
			see(t.spot.seen, KindSpotInterruption, n)
		}
	case "meta-data/events/recommendations/rebalance":
		if n, ok := t.rebalanceAt(first, now); ok {
			see(t.rebalance.seen, KindRebalance, n)
		}
	case "meta-data/events/maintenance/scheduled", "meta-data/events/maintenance/history":
		hist := strings.HasSuffix(path, "history")
		for _, e := range t.events {
			if appear, ok := e.clk.resolve(first); ok && !now.Before(appear) && (e.state != "active") == hist {
				see(e.seen, KindScheduledEvent, appear)
			}
		}
	case "meta-data/autoscaling/target-lifecycle-state":
		if a, at := t.asgAt(first, now); a != nil {
			see(a.seen, KindAutoscaling, at)
		}
	}
	return out
}

// Carry takes over from prev, the guest's timeline before a reload, what
// the reload keeps (see the package comment): the first-request record, and
// for each when that did not change, its clock and the record of its first
// read. It also records, as transitions at the reload, the state changes of
// events already shown. Carry must be called before t is used by other
// goroutines; prev may go on serving meanwhile. A nil prev is a no-op.
func (t *Timeline) Carry(prev *Timeline) {
	if prev == nil {
		return
	}
	t.first = prev.first
	first := t.first.Load()
	r := t.loaded
	if t.spot != nil && prev.spot != nil && t.spot.when == prev.spot.when {
		t.spot.clk, t.spot.seen, t.spot.carried = prev.spot.clk, prev.spot.seen, true
		_, _, was := prev.spotAt(first, r)
		if was && t.spot.action != prev.spot.action {
			_, at, _ := t.spotAt(first, r)
			t.extra = append(t.extra, Transition{Time: r, Kind: KindSpotInterruption, Guest: t.guest, Detail: t.spot.action + " at " + stamp(at) + " (changed by a reload)"})
		}
	}
	if t.rebalance != nil && prev.rebalance != nil && t.rebalance.when == prev.rebalance.when {
		t.rebalance.clk, t.rebalance.seen, t.rebalance.carried = prev.rebalance.clk, prev.rebalance.seen, true
	}
	byID := map[string]*eventItem{}
	for _, e := range prev.events {
		byID[e.id] = e
	}
	for _, e := range t.events {
		p := byID[e.id]
		if p == nil || p.when != e.when {
			continue
		}
		e.clk, e.seen, e.carried = p.clk, p.seen, true
		appear, ok := e.clk.resolve(first)
		shown := ok && !r.Before(appear)
		if shown && e.state != p.state {
			e.seen = new(mark) // it moved between scheduled and history
			t.extra = append(t.extra, Transition{Time: r, Kind: KindScheduledEvent, Guest: t.guest, Detail: e.code + " " + e.id + " " + e.state + " (changed by a reload)"})
		}
	}
	for i, a := range t.asg {
		if i < len(prev.asg) && prev.asg[i].when == a.when {
			a.clk, a.seen, a.carried = prev.asg[i].clk, prev.asg[i].seen, true
		}
	}
	if pa, _ := prev.asgAt(first, r); pa != nil {
		if na, _ := t.asgAt(first, r); na != nil && na.state != pa.state {
			t.extra = append(t.extra, Transition{Time: r, Kind: KindAutoscaling, Guest: t.guest, Detail: na.state + " (changed by a reload)"})
		}
	}
	if t.creds != nil && prev.creds != nil && t.creds.lifetime == prev.creds.lifetime && t.creds.interval == prev.creds.interval && t.creds.rotation == prev.creds.rotation &&
		t.creds.start.Equal(prev.creds.start) {
		t.creds.floor = prev.creds.floor
	}
}
