// Package controltest is a fake control.Backend for testing the control
// API and imdsctl without a running imdsd: three guests, a fixed clock,
// every change kept in memory, and the refusals a real imdsd gives (no
// such guest, a value the configuration's rules refuse, removing a
// configured guest).
package controltest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/mergepatch"
)

// Now is the fake's clock, which does not move: every time it reports is
// computed from it.
func Now() time.Time { return time.Date(2026, 3, 31, 16, 32, 24, 0, time.UTC) }

// Backend is a fake control.Backend. Its methods may be called from
// several goroutines.
type Backend struct {
	mu     sync.Mutex
	guests []*guest
	nextEv int
	// Calls records each call, "Spot tag:Role=web terminate in 2m0s".
	Calls []string
	// Fail, when set, is returned by every method (a state file that
	// cannot be written).
	Fail error
}

type guest struct {
	id, origin string
	match      []string
	addrs      []string
	first      time.Time
	base       map[string]any
	overrides  map[string]any
	issued     []string
	events     map[string]string // id -> state
}

// New returns a Backend with guests i-0aaaaaaaaaaaaaaa1 (web1) and
// i-0aaaaaaaaaaaaaaa2 (web2), both tagged Role=web, and i-0bbbbbbbbbbbbbbb1
// (db1), which has not asked anything yet.
func New() *Backend {
	mk := func(id, name, role, ip, origin string, seen bool) *guest {
		g := &guest{
			id: id, origin: origin, match: []string{ip + "/32"}, events: map[string]string{},
			base: map[string]any{
				"instance_id":   id,
				"instance_type": "t3.micro",
				"tags":          map[string]any{"Name": name, "Role": role},
				"iam": map[string]any{
					"role":              "imdsd-test",
					"access_key_id":     "ASIAEXAMPLEEXAMPLE01",
					"secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
				},
			},
		}
		if seen {
			g.addrs = []string{ip}
			g.first = Now().Add(-time.Hour)
		}
		return g
	}
	return &Backend{guests: []*guest{
		mk("i-0aaaaaaaaaaaaaaa1", "web1", "web", "10.0.0.11", "imdsd.conf:14", true),
		mk("i-0aaaaaaaaaaaaaaa2", "web2", "web", "10.0.0.12", "instances.d/web2.json", true),
		mk("i-0bbbbbbbbbbbbbbb1", "db1", "db", "10.0.0.21", "instances.d/db1.json", false),
	}}
}

func (b *Backend) call(format string, args ...any) error {
	b.Calls = append(b.Calls, fmt.Sprintf(format, args...))
	return b.Fail
}

func tags(g *guest) map[string]string {
	out := map[string]string{}
	eff := effective(g)
	if t, ok := eff["tags"].(map[string]any); ok {
		for k, v := range t {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

func effective(g *guest) map[string]any {
	if g.overrides == nil {
		return g.base
	}
	return mergepatch.Merge(g.base, g.overrides).(map[string]any)
}

func (b *Backend) match(t control.Target) ([]*guest, error) {
	var out []*guest
	for _, g := range b.guests {
		if t.Match(g.id, tags(g)) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, control.NoMatch(t)
	}
	return out, nil
}

// Guests implements control.Backend.
func (b *Backend) Guests(ctx context.Context) ([]control.Guest, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Guests"); err != nil {
		return nil, err
	}
	var out []control.Guest
	for _, g := range b.guests {
		cg := control.Guest{
			ID: g.id, Name: tags(g)["Name"], Match: g.match, Origin: g.origin, Addresses: g.addrs,
			FirstRequest: g.first, Overrides: g.overrides != nil, Issued: g.issued,
		}
		if !g.first.IsZero() {
			cg.LastRequest = Now().Add(-time.Minute)
		}
		out = append(out, cg)
	}
	return out, nil
}

func hide(m map[string]any) map[string]any {
	out := mergepatch.Merge(map[string]any{}, m).(map[string]any)
	if iam, ok := out["iam"].(map[string]any); ok {
		for _, k := range []string{"secret_access_key", "token"} {
			if _, ok := iam[k]; ok {
				iam[k] = "(hidden)"
			}
		}
	}
	return out
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Instances implements control.Backend.
func (b *Backend) Instances(ctx context.Context, t control.Target, secrets bool) ([]control.Instance, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Instances %s secrets=%v", t, secrets); err != nil {
		return nil, err
	}
	gs, err := b.match(t)
	if err != nil {
		return nil, err
	}
	var out []control.Instance
	for _, g := range gs {
		eff := effective(g)
		if !secrets {
			eff = hide(eff)
		}
		out = append(out, control.Instance{ID: g.id, Instance: raw(eff)})
	}
	return out, nil
}

// Overrides implements control.Backend.
func (b *Backend) Overrides(ctx context.Context, t control.Target) ([]control.Overrides, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Overrides %s", t); err != nil {
		return nil, err
	}
	gs, err := b.match(t)
	if err != nil {
		return nil, err
	}
	var out []control.Overrides
	for _, g := range gs {
		o := g.overrides
		if o == nil {
			o = map[string]any{}
		}
		out = append(out, control.Overrides{ID: g.id, Overrides: raw(o)})
	}
	return out, nil
}

var instanceType = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)

var known = []string{"instance_id", "instance_type", "tags", "iam", "hostname", "user_data", "availability_zone"}

// validate checks an effective instance as the configuration would.
func validate(id string, eff map[string]any) []control.Problem {
	var ps []control.Problem
	for _, k := range slices.Sorted(mapsKeys(eff)) {
		if !slices.Contains(known, k) {
			ps = append(ps, control.Problem{Guest: id, Where: "patch", Key: k, Message: "unknown key"})
		}
	}
	if v, _ := eff["instance_id"].(string); v != id {
		ps = append(ps, control.Problem{Guest: id, Where: "patch", Key: "instance_id", Message: "cannot be changed at run time: the instance id names the guest; add a guest instead"})
	}
	if v, ok := eff["instance_type"].(string); !ok || !instanceType.MatchString(v) {
		ps = append(ps, control.Problem{Guest: id, Where: "patch", Key: "instance_type", Message: fmt.Sprintf("%s is not an instance type: expected a family, a dot and a size, such as t3.micro", raw(eff["instance_type"]))})
	}
	return ps
}

func mapsKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// setOverrides computes each guest's new overrides with f, validates
// them all, and applies all or none.
func (b *Backend) setOverrides(t control.Target, summary string, f func(old map[string]any) map[string]any) ([]control.Outcome, error) {
	gs, err := b.match(t)
	if err != nil {
		return nil, err
	}
	next := make([]map[string]any, len(gs))
	var ps []control.Problem
	for i, g := range gs {
		next[i] = f(g.overrides)
		eff := g.base
		if next[i] != nil {
			eff = mergepatch.Merge(g.base, next[i]).(map[string]any)
		}
		ps = append(ps, validate(g.id, eff)...)
	}
	if len(ps) > 0 {
		return nil, control.Invalid(ps...)
	}
	var out []control.Outcome
	for i, g := range gs {
		g.overrides = next[i]
		if len(g.overrides) == 0 {
			g.overrides = nil
		}
		out = append(out, control.Outcome{ID: g.id, Summary: summary})
	}
	return out, nil
}

func object(doc json.RawMessage) map[string]any {
	v, _ := mergepatch.Decode(doc)
	m, _ := v.(map[string]any)
	return m
}

// PatchOverrides implements control.Backend.
func (b *Backend) PatchOverrides(ctx context.Context, t control.Target, patch json.RawMessage) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("PatchOverrides %s %s", t, patch); err != nil {
		return nil, err
	}
	p := object(patch)
	return b.setOverrides(t, "overrides patched", func(old map[string]any) map[string]any {
		return mergepatch.Merge(old, p).(map[string]any)
	})
}

// ReplaceOverrides implements control.Backend.
func (b *Backend) ReplaceOverrides(ctx context.Context, t control.Target, doc json.RawMessage) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("ReplaceOverrides %s %s", t, doc); err != nil {
		return nil, err
	}
	d := object(doc)
	return b.setOverrides(t, "overrides replaced", func(map[string]any) map[string]any {
		return mergepatch.Merge(nil, d).(map[string]any)
	})
}

// ResetOverrides implements control.Backend.
func (b *Backend) ResetOverrides(ctx context.Context, t control.Target) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("ResetOverrides %s", t); err != nil {
		return nil, err
	}
	return b.setOverrides(t, "overrides dropped", func(map[string]any) map[string]any { return nil })
}

// AddGuest implements control.Backend.
func (b *Backend) AddGuest(ctx context.Context, doc json.RawMessage) (control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("AddGuest %s", doc); err != nil {
		return control.Outcome{}, err
	}
	d := object(doc)
	id, _ := d["instance_id"].(string)
	if id == "" {
		return control.Outcome{}, control.Invalid(control.Problem{Where: "guest", Key: "instance_id", Message: "missing: a guest needs its instance id, such as i-0123456789abcdef0"})
	}
	for _, g := range b.guests {
		if g.id == id {
			return control.Outcome{}, control.Errorf(http.StatusConflict, "%s exists already (%s); remove it first, or patch it", id, g.origin)
		}
	}
	base := mergepatch.Merge(map[string]any{"instance_type": "t3.micro"}, d).(map[string]any)
	delete(base, "match")
	if ps := validate(id, base); len(ps) > 0 {
		return control.Outcome{}, control.Invalid(ps...)
	}
	var match []string
	if m, ok := d["match"].([]any); ok {
		for _, v := range m {
			match = append(match, fmt.Sprint(v))
		}
	}
	b.guests = append(b.guests, &guest{id: id, origin: "runtime", match: match, base: base, events: map[string]string{}})
	return control.Outcome{ID: id, Summary: "added"}, nil
}

// RemoveGuest implements control.Backend.
func (b *Backend) RemoveGuest(ctx context.Context, id string) (control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("RemoveGuest %s", id); err != nil {
		return control.Outcome{}, err
	}
	for i, g := range b.guests {
		if g.id != id {
			continue
		}
		if g.origin != "runtime" {
			return control.Outcome{}, control.Errorf(http.StatusConflict, "%s is defined in %s, not added at run time; remove it there and reload imdsd", id, g.origin)
		}
		b.guests = slices.Delete(b.guests, i, i+1)
		return control.Outcome{ID: id, Summary: "removed"}, nil
	}
	return control.Outcome{}, control.NoMatch(control.Target{ID: id})
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// issue records what was issued on each guest of t.
func (b *Backend) issue(t control.Target, f func(g *guest) (string, any, error)) ([]control.Outcome, error) {
	gs, err := b.match(t)
	if err != nil {
		return nil, err
	}
	var out []control.Outcome
	for _, g := range gs {
		s, detail, err := f(g)
		if err != nil {
			return nil, err
		}
		g.issued = append(g.issued, s)
		o := control.Outcome{ID: g.id, Summary: s}
		if detail != nil {
			o.Detail = raw(detail)
		}
		out = append(out, o)
	}
	return out, nil
}

// Spot implements control.Backend.
func (b *Backend) Spot(ctx context.Context, t control.Target, r control.SpotRequest) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Spot %s %s notice %s", t, r.Action, r.Notice); err != nil {
		return nil, err
	}
	notice := r.Notice.Resolve(Now())
	at := notice.Add(2 * time.Minute)
	if r.Action == "hibernate" {
		at = notice
	}
	return b.issue(t, func(*guest) (string, any, error) {
		return fmt.Sprintf("spot %s: notice at %s, action at %s", r.Action, stamp(notice), stamp(at)),
			map[string]string{"action": r.Action, "notice": stamp(notice), "time": stamp(at)}, nil
	})
}

// Rebalance implements control.Backend.
func (b *Backend) Rebalance(ctx context.Context, t control.Target, r control.RebalanceRequest) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Rebalance %s notice %s", t, r.Notice); err != nil {
		return nil, err
	}
	n := r.Notice.Resolve(Now())
	return b.issue(t, func(*guest) (string, any, error) {
		return "rebalance recommendation at " + stamp(n), map[string]string{"noticeTime": stamp(n)}, nil
	})
}

// AddEvent implements control.Backend.
func (b *Backend) AddEvent(ctx context.Context, t control.Target, r control.EventRequest) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("AddEvent %s %s %q not_before %s not_after %s", t, r.Code, r.Description, r.NotBefore, r.NotAfter); err != nil {
		return nil, err
	}
	return b.issue(t, func(g *guest) (string, any, error) {
		b.nextEv++
		id := fmt.Sprintf("instance-event-%017x", b.nextEv)
		g.events[id] = "active"
		d := map[string]string{"id": id, "code": r.Code, "not_before": stamp(r.NotBefore.Resolve(Now()))}
		if !r.NotAfter.IsZero() {
			d["not_after"] = stamp(r.NotAfter.Resolve(Now()))
		}
		return fmt.Sprintf("event %s %s not before %s", id, r.Code, d["not_before"]), d, nil
	})
}

// ChangeEvent implements control.Backend.
func (b *Backend) ChangeEvent(ctx context.Context, t control.Target, r control.EventChange) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("ChangeEvent %s %s %s not_before %s", t, r.Action, r.ID, r.NotBefore); err != nil {
		return nil, err
	}
	gs, err := b.match(t)
	if err != nil {
		return nil, err
	}
	for _, g := range gs { // all or none
		st, ok := g.events[r.ID]
		if !ok {
			return nil, control.Errorf(http.StatusNotFound, "%s: no event %s; imdsctl guests lists what was issued", g.id, r.ID)
		}
		if st != "active" {
			return nil, control.Errorf(http.StatusConflict, "%s: event %s is %s already, in the history; only an active event can be changed", g.id, r.ID, st)
		}
	}
	return b.issue(t, func(g *guest) (string, any, error) {
		switch r.Action {
		case "cancel":
			g.events[r.ID] = "canceled"
		case "complete":
			g.events[r.ID] = "completed"
		case "reschedule":
			return fmt.Sprintf("event %s rescheduled: not before %s", r.ID, stamp(r.NotBefore.Resolve(Now()))), nil, nil
		}
		return fmt.Sprintf("event %s %s", r.ID, g.events[r.ID]), nil, nil
	})
}

// SetASG implements control.Backend.
func (b *Backend) SetASG(ctx context.Context, t control.Target, state string) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("SetASG %s %s", t, state); err != nil {
		return nil, err
	}
	return b.issue(t, func(*guest) (string, any, error) {
		return "autoscaling target-lifecycle-state " + state, nil, nil
	})
}

// Credentials implements control.Backend.
func (b *Backend) Credentials(ctx context.Context, t control.Target, action string) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Credentials %s %s", t, action); err != nil {
		return nil, err
	}
	return b.issue(t, func(g *guest) (string, any, error) {
		if _, ok := g.base["iam"]; !ok {
			return "", nil, control.Errorf(http.StatusConflict, "%s has no iam role: credentials %s needs one (patch {\"iam\":{\"role\":…}} first)", g.id, action)
		}
		return "credentials " + action, nil, nil
	})
}

// Clear implements control.Backend.
func (b *Backend) Clear(ctx context.Context, t control.Target) ([]control.Outcome, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.call("Clear %s", t); err != nil {
		return nil, err
	}
	gs, err := b.match(t)
	if err != nil {
		return nil, err
	}
	var out []control.Outcome
	for _, g := range gs {
		n := len(g.issued)
		g.issued = nil
		out = append(out, control.Outcome{ID: g.id, Summary: fmt.Sprintf("cleared (%d issued)", n)})
	}
	return out, nil
}

var _ control.Backend = (*Backend)(nil)

// String lists the calls, one a line, for golden files.
func (b *Backend) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.Calls, "\n")
}
