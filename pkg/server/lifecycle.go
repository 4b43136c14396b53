package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/imdsd/imdsd/internal/lifecycle"
	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/internal/statefile"
	"github.com/imdsd/imdsd/pkg/config"
)

// This file serves the parts of an instance that change while it runs
// (internal/lifecycle) and makes them visible to the host: one
// lifecycle.Timeline per instance, compiled at load, carried over a reload,
// asked on the requests for its paths; a goroutine that logs and counts
// the transitions as they happen.

// dynKind says how a path whose answer moves is answered.
type dynKind uint8

const (
	dynOwned      dynKind = iota + 1 // a path of lifecycle.Owns
	dynListing                       // meta-data/ or meta-data/events/: the static names and the timeline's
	dynIAMInfo                       // meta-data/iam/info
	dynCredential                    // meta-data/iam/security-credentials/ROLE
)

// seedPurpose names the secret lifecycle credentials are derived from.
const seedPurpose = "imdsd lifecycle credentials"

// lifeParams are what compiling an instance's timeline needs besides the
// instance.
type lifeParams struct {
	loaded time.Time // the load's time, from the Server's clock
	seed   []byte
	log    *slog.Logger
	// creds are the credential periods of the guests rotated at run time
	// (imdsctl credentials rotate), by their configured instance.
	creds map[*config.Instance]*statefile.Credentials
	// firsts are the guests' first requests kept in the state file, at
	// the daemon's start only (a reload carries them).
	firsts map[*config.Instance]time.Time
}

// compileLife compiles in's timeline and the table of its moving paths.
// The configuration package has checked the keys; should compiling fail
// all the same, the instance is served without a life, and that is logged.
func (in *instance) compileLife(lp lifeParams) {
	c := in.cfg
	p := lifecycle.Params{Guest: in.label, InstanceID: c.InstanceID, Loaded: lp.loaded, Seed: lp.seed}
	if c.IAM != nil {
		p.Role, p.IAM = c.IAM.Role, &c.IAM.Credentials
	}
	if rc := lp.creds[c]; rc != nil {
		p.CredentialStart, p.Generation = rc.PeriodStart, rc.Generation
	}
	p.FirstRequest = lp.firsts[c]
	tl, err := lifecycle.Compile(c.Spec, p)
	if err != nil {
		lp.log.Error("lifecycle keys not applied", "instance_id", in.label, "err", err)
		p.IAM = nil
		tl, _ = lifecycle.Compile(lifecycle.Spec{}, p)
	}
	in.tl = tl
	in.lifeFrom = tl.Loaded().Add(-time.Nanosecond)
	in.dyn = map[string]dynKind{}
	for _, path := range lifecycle.Paths() {
		in.dyn[strings.TrimSuffix(path, "/")] = dynOwned
	}
	in.listings = map[string][]string{}
	for _, d := range []string{"meta-data", "meta-data/events"} {
		if e := in.tree.Lookup(d); e != nil && e.Dir {
			in.dyn[d] = dynListing
			in.listings[d] = strings.Split(string(e.Body(lp.loaded)), "\n")
		}
	}
	if c.IAM != nil {
		in.dyn["meta-data/iam/info"] = dynIAMInfo
		in.dyn["meta-data/iam/security-credentials/"+c.IAM.Role] = dynCredential
	}
}

// carryLife takes over the timelines of old's instances, matched by
// instance id (the default instance by being the default), for the
// reload that made st.
func (st *state) carryLife(old *state) {
	if old == nil {
		return
	}
	prev := map[string]*instance{}
	old.each(func(in *instance) { prev[in.label] = in })
	st.each(func(in *instance) {
		if p := prev[in.label]; p != nil && p.tl != nil {
			in.tl.Carry(p.tl)
		}
	})
}

// requested records a guest's request at now: the first one starts the
// clocks that count from it, and the transition goroutine is told (it
// keeps the time in the state file). Past the first it is one atomic load.
func (s *Server) requested(in *instance, now time.Time) {
	if in.tl == nil {
		return
	}
	if _, ok := in.tl.FirstRequest(); ok {
		return
	}
	if in.tl.Request(now) {
		s.life.wake()
	}
}

// dynamic answers a path whose body moves with the instance's timeline.
func (s *Server) dynamic(in *instance, k dynKind, rest string, ttl int) reply {
	now := s.opts.Now()
	var body []byte
	switch k {
	case dynOwned:
		b, ok := in.tl.Lookup(rest, now)
		if !ok {
			return errorReply(http.StatusNotFound)
		}
		body = b
		for _, o := range in.tl.Observe(rest, now) {
			s.metrics.readDelay.WithLabelValues(in.label, o.Kind).Set(o.Lag.Seconds())
		}
	case dynListing:
		e := in.tree.Lookup(rest)
		body = e.Body(now)
		if extra := in.tl.Listing(rest, now); len(extra) > 0 {
			names := append(slices.Clip(in.listings[rest]), extra...)
			slices.Sort(names)
			body = []byte(strings.Join(names, "\n"))
		}
	case dynIAMInfo, dynCredential:
		set, ok := in.tl.Credentials(now)
		a := in.cfg.IAM
		switch {
		case !ok:
			body = in.tree.Lookup(rest).Body(now)
		case k == dynIAMInfo:
			body = set.InfoDocument(a.InstanceProfileArn, a.InstanceProfileID)
		case set.Detached:
			return errorReply(http.StatusNotFound)
		default:
			body = set.Document(a.AccessKeyID, a.SecretAccessKey, a.Token)
		}
	}
	return reply{status: http.StatusOK, ctype: metadata.TextPlain, body: body, ttl: ttl, meta: true, modified: in.modified}
}

// Bounds of the transition goroutine.
const (
	// maxLifeWait is the longest the goroutine sleeps: it also wakes
	// after a change of the host's clock within that time.
	maxLifeWait = time.Minute
	// minLifeWait keeps a clock that does not move (a test's) from
	// spinning the goroutine.
	minLifeWait = 10 * time.Millisecond
)

// lifeLoop is the goroutine that logs and counts transitions, at the
// earliest next change of any instance's timeline.
type lifeLoop struct {
	mu      sync.Mutex
	started bool
	stopped bool
	poke    chan struct{} // buffered: a wake-up is never lost, never blocks
	done    chan struct{}
	cur     *state // the state last ticked; only the goroutine (or a test) uses it
}

func newLifeLoop() *lifeLoop {
	return &lifeLoop{poke: make(chan struct{}, 1), done: make(chan struct{})}
}

// wake makes the goroutine look again: a first request or a reload
// changed when the next transition is.
func (l *lifeLoop) wake() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// startLife runs the transition goroutine, once, unless stopped already.
func (s *Server) startLife() {
	l := s.life
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	l.started = true
	go s.runLife()
}

// stopLife stops the transition goroutine and waits for it.
func (s *Server) stopLife() {
	l := s.life
	l.mu.Lock()
	started, stopped := l.started, l.stopped
	l.stopped = true
	l.mu.Unlock()
	if started && !stopped {
		<-l.done // it returns on s.stop, closed before
	}
}

func (s *Server) runLife() {
	defer close(s.life.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.life.poke:
		}
		next := s.lifeTick(s.opts.Now())
		wait := maxLifeWait
		if !next.IsZero() {
			wait = min(max(next.Sub(s.opts.Now()), minLifeWait), maxLifeWait)
		}
		t.Stop()
		select { // drain a fire that raced the Stop
		case <-t.C:
		default:
		}
		t.Reset(wait)
	}
}

// lifeTick logs and counts what became visible up to now, in the state
// being served (and, after a reload, what became visible in the old one
// before it), and returns the earliest next change, zero for none known.
func (s *Server) lifeTick(now time.Time) time.Time {
	st := s.state.Load()
	if cur := s.life.cur; cur != nil && cur != st {
		s.transitions(cur, st.loaded)
	}
	s.life.cur = st
	s.transitions(st, now)
	next := s.persist(now)
	st = s.state.Load() // persist may have waited for a control request
	st.each(func(in *instance) {
		if in.tl == nil {
			return
		}
		if n := in.tl.NextChange(now); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	})
	return next
}

// transitions reports what became visible in st's instances since their
// last report, up to to.
func (s *Server) transitions(st *state, to time.Time) {
	st.each(func(in *instance) {
		if in.tl == nil || !to.After(in.lifeFrom) {
			return
		}
		for _, tr := range in.tl.Transitions(in.lifeFrom, to) {
			s.log.Info("lifecycle transition", "guest", tr.Guest, "kind", tr.Kind, "what", tr.Detail,
				"at", tr.Time.UTC().Format(time.RFC3339))
			s.metrics.transitions.WithLabelValues(in.label, tr.Kind).Inc()
		}
		in.lifeFrom = to
	})
}
