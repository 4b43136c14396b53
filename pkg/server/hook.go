package server

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/imdsd/imdsd/internal/lifecycle"
	"github.com/imdsd/imdsd/internal/statefile"
)

// This file keeps what the lifecycle goroutine notices in the state file
// and runs the host hook (imdsd.conf(5), action_command): a guest's first
// request, recorded so that the clocks counting from it survive a restart,
// and the actions of its life that fell due. Both are found by the
// lifecycle goroutine, never on a request's path: a request only sets an
// atomic and wakes it.

// Bounds of the host hook.
const (
	// hookTimeout is how long a hook may run; then it is killed.
	hookTimeout = time.Minute
	// hookWaitDelay is how long its output may stay open after it
	// exited or was killed (a child that inherited it).
	hookWaitDelay = 5 * time.Second
	// hookOutputMax caps the output logged (stdout and stderr together).
	hookOutputMax = 4096
	// maxHooks is how many hooks run at once; the others wait their turn.
	maxHooks = 4
	// firstRequestWrites is the shortest time between two writes of the
	// state file for first requests: guests booting together make one.
	firstRequestWrites = time.Second
)

// hooks runs the host hooks.
type hooks struct {
	wg  sync.WaitGroup
	sem chan struct{}
	// lastFirst is when first requests were last written (real time).
	lastFirst time.Time
}

func newHooks() *hooks { return &hooks{sem: make(chan struct{}, maxHooks)} }

// hookRun is one run of an instance's hook for one action.
type hookRun struct {
	guest  string
	argv   []string
	action lifecycle.Action
	env    []string
}

// persist records in the state file the first requests of st's guests
// that it does not hold yet, and the actions that fell due by now for
// guests with a hook, and then starts their hooks: an action is recorded
// before its hook starts, and a hook whose record cannot be written does
// not start (it is tried again at the next look). It returns the earliest
// time after now at which it has something to do, zero for none known.
func (s *Server) persist(now time.Time) time.Time {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	st := s.state.Load()
	rt := s.rt.st
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	firsts := map[string]time.Time{}
	var runs []hookRun
	st.each(func(in *instance) {
		if in.guest == "" || in.tl == nil {
			return
		}
		rg := rt.Guests[in.guest]
		if f, ok := in.tl.FirstRequest(); ok && (rg == nil || !rg.FirstRequest.Equal(f)) {
			firsts[in.guest] = f
		}
		if len(in.cfg.ActionCommand) == 0 {
			return
		}
		for _, a := range in.tl.Actions() {
			if a.Time.After(now) {
				soonest(a.Time)
				continue
			}
			if rg != nil && slices.ContainsFunc(rg.Hooks, func(h statefile.Hook) bool { return h.Key == a.Key() }) {
				continue
			}
			runs = append(runs, hookRun{guest: in.guest, argv: in.cfg.ActionCommand, action: a, env: hookEnv(in, a)})
		}
	})
	if len(runs) == 0 && len(firsts) > 0 {
		if wait := firstRequestWrites - time.Since(s.hooks.lastFirst); wait > 0 {
			soonest(now.Add(wait)) // coalesced with the next ones
			return next
		}
	}
	if len(runs) == 0 && len(firsts) == 0 {
		return next
	}
	nst := cloneState(rt)
	for id, f := range firsts {
		guestState(nst, id).FirstRequest = f.UTC()
	}
	ran := now.UTC().Truncate(time.Second)
	for _, r := range runs {
		g := guestState(nst, r.guest)
		g.Hooks = append(g.Hooks, statefile.Hook{Key: r.action.Key(), Ran: ran})
		if n := len(g.Hooks) - statefile.MaxHooks; n > 0 {
			g.Hooks = slices.Delete(g.Hooks, 0, n)
		}
		markDone(g, r.action, ran)
	}
	if s.rt.file != nil {
		if err := s.rt.file.Write(nst); err != nil {
			if len(runs) > 0 {
				s.log.Error("cannot record the actions that fell due; their hooks do not run until it can", "err", err)
				soonest(now.Add(maxLifeWait))
			} else {
				s.log.Error("cannot record first requests", "err", err)
			}
			s.hooks.lastFirst = time.Now()
			return next
		}
	}
	s.rt.st = nst
	if len(firsts) > 0 {
		s.hooks.lastFirst = time.Now()
	}
	for _, r := range runs {
		s.startHook(r)
	}
	return next
}

// markDone sets Done on the issued record of the action, if it has one.
func markDone(g *statefile.Guest, a lifecycle.Action, ran time.Time) {
	switch a.Kind {
	case lifecycle.KindSpotInterruption:
		if sp := g.Spot; sp != nil && sp.Action == a.Name && sp.Time.Equal(a.Time) {
			sp.Done = ran
		}
	case lifecycle.KindScheduledEvent:
		for i := range g.Events {
			if g.Events[i].ID == a.EventID {
				g.Events[i].Done = ran
			}
		}
	}
}

// hookEnv is the hook's environment: imdsd's, and the action's.
func hookEnv(in *instance, a lifecycle.Action) []string {
	env := append(os.Environ(),
		"IMDSD_INSTANCE_ID="+in.guest,
		"IMDSD_KIND="+a.Kind,
		"IMDSD_ACTION="+a.Name,
		"IMDSD_TIME="+stamp(a.Time),
	)
	if n := in.cfg.Tags["Name"]; n != "" {
		env = append(env, "IMDSD_NAME="+n)
	}
	if a.EventID != "" {
		env = append(env, "IMDSD_EVENT_ID="+a.EventID, "IMDSD_EVENT_CODE="+a.Name)
	}
	return env
}

// startHook runs r in a goroutine of its own, at most maxHooks at once,
// and logs how it ended. Shutdown waits for the hooks running.
func (s *Server) startHook(r hookRun) {
	s.log.Info("action due: running the host hook", "guest", r.guest, "kind", r.action.Kind, "action", r.action.Name,
		"event_id", r.action.EventID, "at", stamp(r.action.Time), "command", r.argv)
	s.hooks.wg.Add(1)
	go func() {
		defer s.hooks.wg.Done()
		s.hooks.sem <- struct{}{}
		defer func() { <-s.hooks.sem }()
		start := time.Now()
		out, err := runHook(r)
		attrs := []any{"guest", r.guest, "kind", r.action.Kind, "action", r.action.Name, "event_id", r.action.EventID,
			"at", stamp(r.action.Time), "duration", time.Since(start).Round(time.Millisecond).String(), "output", out}
		var ee *exec.ExitError
		switch {
		case err == nil:
			s.metrics.hooks.WithLabelValues("ok").Inc()
			s.log.Info("host hook done", append(attrs, "exit_status", 0)...)
		case errors.As(err, &ee):
			s.metrics.hooks.WithLabelValues("failed").Inc()
			s.log.Error("host hook failed", append(attrs, "exit_status", ee.ExitCode(), "err", err.Error())...)
		default:
			s.metrics.hooks.WithLabelValues("failed").Inc()
			s.log.Error("host hook failed", append(attrs, "err", err.Error())...)
		}
	}()
}

// runHook runs r's command, time-limited, and returns its output, capped.
func runHook(r hookRun) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.argv[0], r.argv[1:]...)
	cmd.Env = r.env
	cmd.Dir = "/"
	cmd.WaitDelay = hookWaitDelay
	out := &capped{max: hookOutputMax}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ctx.Err() != nil && err != nil {
		err = errors.Join(err, errors.New("killed after "+hookTimeout.String()))
	}
	return out.String(), err
}

// capped keeps the first max bytes written to it.
type capped struct {
	mu   sync.Mutex
	max  int
	b    bytes.Buffer
	more bool
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.b.Len(); room < len(p) {
		c.b.Write(p[:max(room, 0)])
		c.more = true
	} else {
		c.b.Write(p)
	}
	return len(p), nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.b.String()
	if c.more {
		s += "…(cut)"
	}
	return s
}

// waitHooks waits for the hooks running, until ctx is done.
func (s *Server) waitHooks(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.hooks.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("shutting down with host hooks still running")
	}
}
