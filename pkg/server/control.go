package server

// The control API's backend (internal/control): runtime overrides, guests
// added and removed, lifecycle notices issued, all kept in the state file.
//
// One mutex (reloadMu) orders control requests and reloads. A change is
// computed on a copy of the runtime state, every guest's effective instance
// is rebuilt and checked with the configuration's rules, the state file is
// written, and only then is the new state swapped in with one atomic store:
// a request sees the old instances or the new ones, never a mix, and a
// change that cannot be written is not applied.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/mergepatch"
	"github.com/imdsd/imdsd/internal/statefile"
	"github.com/imdsd/imdsd/pkg/config"
)

// maxAddrs bounds the client addresses remembered per guest.
const maxAddrs = 16

// runtime is the Server's runtime state: what the control API changed.
type runtime struct {
	file      *statefile.File  // nil: kept in memory only
	st        *statefile.State // guarded by Server.reloadMu; replaced, never changed in place once published
	guestSeen sync.Map         // guest id -> *guestSeen
}

// guestSeen is what the hot path records about a guest: cheap, atomic.
type guestSeen struct {
	first, last atomic.Int64 // unix nanoseconds
	mu          sync.Mutex
	addrs       atomic.Pointer[[]netip.Addr]
}

// record notes a request from addr at now.
func (g *guestSeen) record(addr netip.Addr, now time.Time) {
	n := now.UnixNano()
	g.last.Store(n)
	if g.first.Load() == 0 {
		g.first.CompareAndSwap(0, n)
	}
	if p := g.addrs.Load(); p != nil && slices.Contains(*p, addr) || !addr.IsValid() {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var cur []netip.Addr
	if p := g.addrs.Load(); p != nil {
		cur = *p
	}
	if slices.Contains(cur, addr) || len(cur) >= maxAddrs {
		return
	}
	next := append(slices.Clip(cur), addr)
	g.addrs.Store(&next)
}

// seenFor returns the record of guest id, made when missing.
func (s *Server) seenFor(id string) *guestSeen {
	if v, ok := s.rt.guestSeen.Load(id); ok {
		return v.(*guestSeen)
	}
	v, _ := s.rt.guestSeen.LoadOrStore(id, new(guestSeen))
	return v.(*guestSeen)
}

// openState reads the state file at path ("" keeps the runtime state in
// memory only).
func (s *Server) openState(path string) error {
	s.rt.st = &statefile.State{Version: statefile.Version}
	if path == "" {
		return nil
	}
	f, st, err := statefile.Open(path)
	if err != nil {
		return err
	}
	s.rt.file, s.rt.st = f, st
	for id, g := range st.Guests {
		if !g.FirstRequest.IsZero() {
			s.seenFor(id).first.Store(g.FirstRequest.UnixNano())
		}
	}
	return nil
}

// guest is one guest of an effective configuration.
type guest struct {
	id    string
	entry *config.Entry    // nil for the default instance
	def   *config.Instance // the default instance's, when entry is nil
	added bool
}

func (g *guest) instance() *config.Instance {
	if g.entry != nil {
		return &g.entry.Instance
	}
	return g.def
}

// view is a configuration with the runtime state laid over it: what
// newState builds the Server's state from.
type view struct {
	cfg    *config.Config
	guests []*guest // the default first, then entries, then added guests
}

// problem is a guest whose runtime state the configuration refuses.
type problem struct {
	id  string
	err error
}

// effective lays st over cfg. A guest whose runtime state cfg refuses is
// served without it and reported.
func (s *Server) effective(cfg *config.Config, st *statefile.State) (*view, []problem) {
	v := &view{cfg: cfg}
	var probs []problem
	ids := map[string]bool{}
	for _, e := range cfg.Entries() {
		ids[e.InstanceID] = true
	}
	if !cfg.DenyUnknown() && !ids[cfg.InstanceID] {
		g := &guest{id: cfg.InstanceID, def: &cfg.Instance}
		if doc := runtimeDoc(st.Guests[g.id], g.def); doc != nil {
			in, _, err := cfg.OverrideDefault(overrideName(g.id), doc)
			if err != nil {
				probs = append(probs, problem{g.id, err})
			} else {
				g.def = in
			}
		}
		v.guests = append(v.guests, g)
	} else if !cfg.DenyUnknown() {
		v.guests = append(v.guests, &guest{def: &cfg.Instance}) // shadowed: not a target
	}
	add := func(e *config.Entry, added bool) {
		g := &guest{id: e.InstanceID, entry: e, added: added}
		if doc := runtimeDoc(st.Guests[g.id], &e.Instance); doc != nil {
			n, _, err := cfg.Override(e, overrideName(g.id), doc)
			if err != nil {
				probs = append(probs, problem{g.id, err})
			} else {
				g.entry = n
			}
		}
		v.guests = append(v.guests, g)
	}
	for _, e := range cfg.Entries() {
		add(e, false)
	}
	for _, a := range st.Added {
		e, err := s.parseAdded(cfg, a.ID, a.Document, v)
		if err != nil {
			probs = append(probs, problem{a.ID, err})
			continue
		}
		add(e, true)
	}
	return v, probs
}

func overrideName(id string) string { return "runtime overrides of " + id }

// parseAdded checks doc, a guest to add, against cfg and the guests of v.
func (s *Server) parseAdded(cfg *config.Config, id string, doc []byte, v *view) (*config.Entry, error) {
	name := "guest " + id
	if id == "" {
		name = "guest"
	}
	e, _, err := cfg.ParseEntry(name, doc)
	if err != nil {
		return nil, err
	}
	for _, g := range v.guests {
		if g.id != "" && g.id == e.InstanceID {
			return nil, control.Errorf(http.StatusConflict, "%s exists already (%s); remove it first, or patch it", e.InstanceID, origin(g))
		}
		if g.entry == nil {
			continue
		}
		for _, pf := range e.Clients {
			for _, qf := range g.entry.Clients {
				if pf.Overlaps(qf) && (!e.Local.IsValid() || !g.entry.Local.IsValid() || e.Local == g.entry.Local) {
					return nil, control.Errorf(http.StatusConflict, "%s: match %s overlaps %s of %s (%s): a client would belong to two guests", e.InstanceID, pf, qf, g.id, origin(g))
				}
			}
		}
	}
	return e, nil
}

func origin(g *guest) string {
	switch {
	case g.added:
		return "runtime"
	case g.entry != nil:
		return g.entry.Origin
	}
	return "the top level of the configuration"
}

// runtimeDoc is the document laid over a guest's configured instance: its
// overrides, then what was issued at run time. nil when there is nothing.
func runtimeDoc(g *statefile.Guest, in *config.Instance) []byte {
	if g == nil {
		return nil
	}
	doc := []byte(g.Overrides)
	if life := lifecyclePatch(g, in); life != nil {
		merged, err := mergepatch.Apply(doc, life)
		if err == nil {
			doc = merged
		}
	}
	if len(doc) == 0 || string(doc) == "{}" {
		return nil
	}
	return doc
}

// state builds the Server's state from v.
func (s *Server) stateOf(v *view) *state {
	var def *config.Instance
	var entries []*config.Entry
	ids := map[*config.Instance]string{}
	for _, g := range v.guests {
		if g.entry == nil {
			def = g.def
			ids[g.def] = g.id
		} else {
			entries = append(entries, g.entry)
			ids[&g.entry.Instance] = g.id
		}
	}
	// The load's time to the second, as EC2's bodies carry it: what
	// appears "at the start" is there from the first request on.
	loaded := s.opts.Now().Truncate(time.Second)
	lp := lifeParams{loaded: loaded, seed: s.seed, log: s.log, creds: map[*config.Instance]*statefile.Credentials{}}
	start := s.state.Load() == nil // the daemon's start: first requests from the state file
	if start {
		lp.firsts = map[*config.Instance]time.Time{}
	}
	for in, id := range ids {
		g := s.rt.st.Guests[id]
		if g == nil {
			continue
		}
		if g.Credentials != nil && g.Credentials.Generation > 0 {
			lp.creds[in] = g.Credentials
		}
		if start && !g.FirstRequest.IsZero() {
			lp.firsts[in] = g.FirstRequest
		}
	}
	st := newState(v.cfg, def, entries, s.launched, lp)
	st.view = v
	st.each(func(in *instance) {
		if id := ids[in.cfg]; id != "" {
			in.seen = s.seenFor(id)
			in.guest = id
		}
	})
	return st
}

// apply lays the runtime state over cfg for a reload: a guest whose runtime
// state cfg refuses loses it, logged with the reason.
func (s *Server) apply(cfg *config.Config) *view {
	v, probs := s.effective(cfg, s.rt.st)
	if len(probs) == 0 {
		return v
	}
	next := cloneState(s.rt.st)
	for _, p := range probs {
		s.log.Error("runtime changes dropped: the configuration makes them invalid", "guest", p.id, "err", p.err.Error())
		if g := next.Guests[p.id]; g != nil {
			next.Guests[p.id] = &statefile.Guest{FirstRequest: g.FirstRequest, Hooks: g.Hooks}
		}
		next.Added = slices.DeleteFunc(next.Added, func(a statefile.Added) bool { return a.ID == p.id })
	}
	v, probs = s.effective(cfg, next)
	for _, p := range probs {
		s.log.Error("runtime state not applied", "guest", p.id, "err", p.err.Error())
	}
	if s.rt.file != nil {
		if err := s.rt.file.Write(next); err != nil {
			s.log.Error("cannot record the dropped runtime changes; they are dropped again at the next start", "err", err)
		}
	}
	s.rt.st = next
	return v
}

// cloneState returns a deep copy of st.
func cloneState(st *statefile.State) *statefile.State {
	data, err := json.Marshal(st)
	if err != nil {
		panic("server: state does not marshal: " + err.Error())
	}
	var c statefile.State
	if err := json.Unmarshal(data, &c); err != nil {
		panic("server: state does not unmarshal: " + err.Error())
	}
	if c.Guests == nil {
		c.Guests = map[string]*statefile.Guest{}
	}
	return &c
}

// change runs f on a copy of the runtime state; when the result is valid
// for every guest and written to the state file, it is swapped in.
func (s *Server) change(ctx context.Context, f func(v *view, st *statefile.State, now time.Time) error) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	cur := s.state.Load()
	next := cloneState(s.rt.st)
	now := s.opts.Now().UTC()
	if err := f(cur.view, next, now); err != nil {
		return err
	}
	for id, g := range next.Guests {
		if g.Empty() {
			delete(next.Guests, id)
		}
	}
	v, probs := s.effective(cur.cfg, next)
	if len(probs) > 0 {
		return controlRefusal(probs)
	}
	if s.rt.file != nil {
		if err := s.rt.file.Write(next); err != nil {
			return &control.Error{Status: http.StatusInternalServerError, Message: err.Error()}
		}
	}
	s.rt.st = next
	s.swap(s.stateOf(v))
	return nil
}

// controlRefusal turns problems into the control API's error.
func controlRefusal(probs []problem) error {
	var all []control.Problem
	for _, p := range probs {
		var ce *control.Error
		var list config.ErrorList
		switch {
		case errors.As(p.err, &ce):
			if len(probs) == 1 {
				return ce
			}
			all = append(all, control.Problem{Guest: p.id, Message: ce.Message})
		case errors.As(p.err, &list):
			all = append(all, control.FromConfig(p.id, list.Errors()).Problems...)
		default:
			all = append(all, control.Problem{Guest: p.id, Message: p.err.Error()})
		}
	}
	return control.Invalid(all...)
}

// targets returns the guests of v that t selects, or the 404.
func targets(v *view, t control.Target) ([]*guest, error) {
	var out []*guest
	for _, g := range v.guests {
		if g.id != "" && t.Match(g.id, g.instance().Tags) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil, control.NoMatch(t)
	}
	return out, nil
}

func guestState(st *statefile.State, id string) *statefile.Guest {
	if st.Guests == nil {
		st.Guests = map[string]*statefile.Guest{}
	}
	g := st.Guests[id]
	if g == nil {
		g = &statefile.Guest{}
		st.Guests[id] = g
	}
	return g
}

// each changes the runtime state of every guest of t, collecting outcomes.
func (s *Server) each(ctx context.Context, t control.Target, f func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error)) ([]control.Outcome, error) {
	var out []control.Outcome
	err := s.change(ctx, func(v *view, st *statefile.State, now time.Time) error {
		gs, err := targets(v, t)
		if err != nil {
			return err
		}
		for _, g := range gs {
			o, err := f(g, guestState(st, g.id), now)
			if err != nil {
				return err
			}
			o.ID = g.id
			out = append(out, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Control returns the control API's backend over s.
func (s *Server) Control() control.Backend { return (*backend)(s) }

// backend implements control.Backend.
type backend Server

var _ control.Backend = (*backend)(nil)

func (b *backend) s() *Server { return (*Server)(b) }

// Guests implements control.Backend.
func (b *backend) Guests(ctx context.Context) ([]control.Guest, error) {
	s := b.s()
	s.reloadMu.Lock()
	st := s.state.Load()
	rt := s.rt.st
	s.reloadMu.Unlock()
	var out []control.Guest
	for _, g := range st.view.guests {
		if g.id == "" {
			continue
		}
		in := g.instance()
		cg := control.Guest{ID: g.id, Name: in.Tags["Name"], Origin: origin(g)}
		if g.entry != nil {
			cg.Match = append(cg.Match, g.entry.Match...)
		} else {
			cg.Match = []string{"default"}
		}
		if v, ok := s.rt.guestSeen.Load(g.id); ok {
			sn := v.(*guestSeen)
			if n := sn.first.Load(); n != 0 {
				cg.FirstRequest = time.Unix(0, n).UTC()
			}
			if n := sn.last.Load(); n != 0 {
				cg.LastRequest = time.Unix(0, n).UTC()
			}
			if p := sn.addrs.Load(); p != nil {
				for _, a := range *p {
					cg.Addresses = append(cg.Addresses, a.String())
				}
			}
		}
		if rg := rt.Guests[g.id]; rg != nil {
			cg.Overrides = len(rg.Overrides) > 0
			cg.Issued = issued(rg)
		}
		out = append(out, cg)
	}
	return out, nil
}

// Instances implements control.Backend.
func (b *backend) Instances(ctx context.Context, t control.Target, secrets bool) ([]control.Instance, error) {
	st := b.s().state.Load()
	gs, err := targets(st.view, t)
	if err != nil {
		return nil, err
	}
	var out []control.Instance
	for _, g := range gs {
		in := *g.instance()
		if in.IAM != nil && !secrets {
			iam := *in.IAM
			for _, p := range []*string{&iam.SecretAccessKey, &iam.Token} {
				if *p != "" {
					*p = "(hidden)"
				}
			}
			in.IAM = &iam
		}
		data, err := json.Marshal(&in)
		if err != nil {
			return nil, err
		}
		out = append(out, control.Instance{ID: g.id, Instance: data})
	}
	return out, nil
}

// Overrides implements control.Backend.
func (b *backend) Overrides(ctx context.Context, t control.Target) ([]control.Overrides, error) {
	s := b.s()
	s.reloadMu.Lock()
	st, rt := s.state.Load(), s.rt.st
	s.reloadMu.Unlock()
	gs, err := targets(st.view, t)
	if err != nil {
		return nil, err
	}
	var out []control.Overrides
	for _, g := range gs {
		doc := json.RawMessage("{}")
		if rg := rt.Guests[g.id]; rg != nil && len(rg.Overrides) > 0 {
			doc = rg.Overrides
		}
		out = append(out, control.Overrides{ID: g.id, Overrides: doc})
	}
	return out, nil
}

func (b *backend) setOverrides(ctx context.Context, t control.Target, summary string, f func(old []byte) ([]byte, error)) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		doc, err := f(rs.Overrides)
		if err != nil {
			return control.Outcome{}, err
		}
		if len(doc) == 0 || bytes.Equal(doc, []byte("{}")) {
			doc = nil
		}
		rs.Overrides = doc
		return control.Outcome{Summary: summary}, nil
	})
}

// PatchOverrides implements control.Backend.
func (b *backend) PatchOverrides(ctx context.Context, t control.Target, patch json.RawMessage) ([]control.Outcome, error) {
	if err := object(patch, "the patch"); err != nil {
		return nil, err
	}
	return b.setOverrides(ctx, t, "overrides patched", func(old []byte) ([]byte, error) {
		doc, err := mergepatch.ApplyLimit(old, patch, mergepatch.DefaultMaxBytes)
		if errors.Is(err, mergepatch.ErrTooLarge) {
			return nil, control.Errorf(http.StatusRequestEntityTooLarge, "the overrides would be over %d bytes: %v", mergepatch.DefaultMaxBytes, err)
		}
		return doc, err
	})
}

// ReplaceOverrides implements control.Backend.
func (b *backend) ReplaceOverrides(ctx context.Context, t control.Target, doc json.RawMessage) ([]control.Outcome, error) {
	if err := object(doc, "the overrides"); err != nil {
		return nil, err
	}
	return b.setOverrides(ctx, t, "overrides replaced", func([]byte) ([]byte, error) {
		return mergepatch.Apply(nil, doc) // drops nulls, compacts
	})
}

// ResetOverrides implements control.Backend.
func (b *backend) ResetOverrides(ctx context.Context, t control.Target) ([]control.Outcome, error) {
	return b.setOverrides(ctx, t, "overrides dropped", func([]byte) ([]byte, error) { return nil, nil })
}

// object refuses a document that is not a JSON object.
func object(doc []byte, what string) error {
	v, err := mergepatch.Decode(doc)
	if err != nil {
		return control.Errorf(http.StatusBadRequest, "%s is not JSON: %v", what, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return control.Errorf(http.StatusBadRequest, "%s must be a JSON object of instance keys, such as {\"tags\": {\"Name\": \"web1\"}}", what)
	}
	return nil
}

// AddGuest implements control.Backend.
func (b *backend) AddGuest(ctx context.Context, doc json.RawMessage) (control.Outcome, error) {
	if err := object(doc, "the guest"); err != nil {
		return control.Outcome{}, err
	}
	s := b.s()
	var out control.Outcome
	err := s.change(ctx, func(v *view, st *statefile.State, now time.Time) error {
		e, err := s.parseAdded(v.cfg, "", doc, v)
		if err != nil {
			var list config.ErrorList
			if errors.As(err, &list) {
				return control.FromConfig("", list.Errors())
			}
			return err
		}
		compact, err := mergepatch.Apply(nil, doc)
		if err != nil {
			return err
		}
		st.Added = append(st.Added, statefile.Added{ID: e.InstanceID, Document: compact, Time: now})
		out = control.Outcome{ID: e.InstanceID, Summary: "added, serving " + strings.Join(e.Match, ", ")}
		return nil
	})
	return out, err
}

// RemoveGuest implements control.Backend.
func (b *backend) RemoveGuest(ctx context.Context, id string) (control.Outcome, error) {
	s := b.s()
	err := s.change(ctx, func(v *view, st *statefile.State, now time.Time) error {
		for _, g := range v.guests {
			if g.id == id && !g.added {
				return control.Errorf(http.StatusConflict, "%s is defined in %s, not added at run time; remove it there and reload imdsd", id, origin(g))
			}
		}
		i := slices.IndexFunc(st.Added, func(a statefile.Added) bool { return a.ID == id })
		if i < 0 {
			return control.NoMatch(control.Target{ID: id})
		}
		st.Added = slices.Delete(st.Added, i, i+1)
		delete(st.Guests, id)
		return nil
	})
	if err != nil {
		return control.Outcome{}, err
	}
	s.rt.guestSeen.Delete(id)
	return control.Outcome{ID: id, Summary: "removed"}, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// second rounds t up to the whole second: EC2's bodies carry seconds. What
// is issued "now" (an event, an Auto Scaling state) is rounded down
// instead, so that it shows at once.
func second(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

func detail(v any) json.RawMessage {
	data, _ := json.Marshal(v)
	return data
}

// Spot implements control.Backend: the guest becomes a spot instance (its
// market is set to spot) with the notice at the time asked.
func (b *backend) Spot(ctx context.Context, t control.Target, r control.SpotRequest) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		notice := second(r.Notice.Resolve(now))
		at := notice.Add(2 * time.Minute)
		if r.Action == "hibernate" {
			at = notice
		}
		rs.Spot = &statefile.Spot{Action: r.Action, Notice: notice, Time: at}
		return control.Outcome{
			Summary: fmt.Sprintf("spot %s: notice at %s, action at %s", r.Action, stamp(notice), stamp(at)),
			Detail:  detail(map[string]string{"action": r.Action, "notice": stamp(notice), "time": stamp(at)}),
		}, nil
	})
}

// Rebalance implements control.Backend.
func (b *backend) Rebalance(ctx context.Context, t control.Target, r control.RebalanceRequest) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		n := second(r.Notice.Resolve(now))
		rs.Rebalance = &statefile.Rebalance{Notice: n}
		return control.Outcome{Summary: "rebalance recommendation at " + stamp(n), Detail: detail(map[string]string{"noticeTime": stamp(n)})}, nil
	})
}

// newEventID makes an EventId as EC2's: "instance-event-" and 17 hex digits.
func newEventID() string {
	var b [9]byte
	rand.Read(b[:])
	return "instance-event-" + hex.EncodeToString(b[:])[:17]
}

// AddEvent implements control.Backend.
func (b *backend) AddEvent(ctx context.Context, t control.Target, r control.EventRequest) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		id := newEventID()
		if f := b.s().eventIDs; f != nil {
			id = f()
		}
		ev := statefile.Event{ID: id, Code: r.Code, Description: r.Description, State: "active",
			Issued: now.Truncate(time.Second), NotBefore: second(r.NotBefore.Resolve(now))}
		if !r.NotAfter.IsZero() {
			ev.NotAfter = second(r.NotAfter.Resolve(now))
			if ev.NotAfter.Before(ev.NotBefore) {
				return control.Outcome{}, control.Errorf(http.StatusBadRequest, "not-after %s is before not-before %s", stamp(ev.NotAfter), stamp(ev.NotBefore))
			}
		}
		rs.Events = append(rs.Events, ev)
		d := map[string]string{"id": ev.ID, "code": ev.Code, "not_before": stamp(ev.NotBefore)}
		if !ev.NotAfter.IsZero() {
			d["not_after"] = stamp(ev.NotAfter)
		}
		return control.Outcome{Summary: fmt.Sprintf("event %s %s not before %s", ev.ID, ev.Code, stamp(ev.NotBefore)), Detail: detail(d)}, nil
	})
}

// ChangeEvent implements control.Backend. An event of the configuration
// is changed by a record with its id, laid over it.
func (b *backend) ChangeEvent(ctx context.Context, t control.Target, r control.EventChange) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		i := slices.IndexFunc(rs.Events, func(e statefile.Event) bool { return e.ID == r.ID })
		if i < 0 {
			cfgEv, ok := configuredEvent(g, r.ID)
			if !ok {
				return control.Outcome{}, control.Errorf(http.StatusNotFound, "%s: no event %s; imdsctl show %s lists its scheduled_events", g.id, r.ID, g.id)
			}
			rs.Events = append(rs.Events, cfgEv)
			i = len(rs.Events) - 1
		}
		ev := &rs.Events[i]
		if ev.State != "" && ev.State != "active" {
			return control.Outcome{}, control.Errorf(http.StatusConflict, "%s: event %s is %s already, in the history; only an active event can be changed", g.id, r.ID, ev.State)
		}
		ev.Changed = second(now)
		switch r.Action {
		case "cancel":
			ev.State = "canceled"
		case "complete":
			ev.State = "completed"
		case "reschedule":
			ev.NotBefore = second(r.NotBefore.Resolve(now))
			if ev.State == "" {
				ev.State = "active"
			}
			ev.Done = time.Time{}
			return control.Outcome{Summary: fmt.Sprintf("event %s rescheduled: not before %s", r.ID, stamp(ev.NotBefore))}, nil
		}
		return control.Outcome{Summary: fmt.Sprintf("event %s %s", r.ID, ev.State)}, nil
	})
}

// SetASG implements control.Backend.
func (b *backend) SetASG(ctx context.Context, t control.Target, state string) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		rs.ASG = &statefile.ASG{State: state, Since: now.Truncate(time.Second)}
		return control.Outcome{Summary: "autoscaling target-lifecycle-state " + state + " from " + stamp(rs.ASG.Since)}, nil
	})
}

// Credentials implements control.Backend.
func (b *backend) Credentials(ctx context.Context, t control.Target, action string) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		in := g.instance()
		if in.IAM == nil || in.IAM.Role == "" {
			return control.Outcome{}, control.Errorf(http.StatusConflict, "%s has no iam role: credentials %s needs one (imdsctl patch %s '{\"iam\":{\"role\":\"NAME\"}}' first)", g.id, action, g.id)
		}
		c := rs.Credentials
		if c == nil {
			c = &statefile.Credentials{}
		}
		c.Changed = second(now)
		switch action {
		case "rotate":
			c.Generation++
			c.PeriodStart = now.Truncate(time.Second) // made now: served at once
		case "ok":
			c.Fault = ""
		default:
			c.Fault = map[string]string{"expire": "expired", "expiring": "expiring", "error": "error", "detach": "detached"}[action]
		}
		rs.Credentials = c
		if c.Fault == "" && c.Generation == 0 {
			rs.Credentials = nil
		}
		return control.Outcome{Summary: "credentials " + action}, nil
	})
}

// Clear implements control.Backend.
func (b *backend) Clear(ctx context.Context, t control.Target) ([]control.Outcome, error) {
	return b.s().each(ctx, t, func(g *guest, rs *statefile.Guest, now time.Time) (control.Outcome, error) {
		n := len(issued(rs))
		rs.Spot, rs.Rebalance, rs.Events, rs.ASG, rs.Credentials = nil, nil, nil, nil, nil
		return control.Outcome{Summary: fmt.Sprintf("cleared (%d issued)", n)}, nil
	})
}

// issued says for people what was issued to a guest at run time.
func issued(g *statefile.Guest) []string {
	var out []string
	if sp := g.Spot; sp != nil {
		out = append(out, fmt.Sprintf("spot %s: notice at %s, action at %s", sp.Action, stamp(sp.Notice), stamp(sp.Time)))
	}
	if r := g.Rebalance; r != nil {
		out = append(out, "rebalance recommendation at "+stamp(r.Notice))
	}
	for _, e := range g.Events {
		s := fmt.Sprintf("event %s %s %s", e.ID, e.Code, e.State)
		if !e.NotBefore.IsZero() {
			s += " not before " + stamp(e.NotBefore)
		}
		out = append(out, s)
	}
	if a := g.ASG; a != nil {
		out = append(out, "autoscaling "+a.State+" from "+stamp(a.Since))
	}
	if c := g.Credentials; c != nil {
		if c.Fault != "" {
			out = append(out, "credentials "+c.Fault)
		}
		if c.Generation > 0 {
			out = append(out, fmt.Sprintf("credentials rotated %d times, last at %s", c.Generation, stamp(c.PeriodStart)))
		}
	}
	return out
}
