package main

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"time"

	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// snapshot is the state of the watched leaves after one round.
type snapshot struct {
	order []string
	vals  map[string]leafState
}

type leafState struct {
	val    []byte
	absent bool // answered 404
}

func (s *snapshot) set(p string, st leafState) {
	if _, ok := s.vals[p]; !ok {
		s.order = append(s.order, p)
	}
	s.vals[p] = st
}

// watch walks roots every interval until ctx is done. It prints the first
// state, then, after each round that found changes, what changed: a line
// "@ TIME", each new or changed leaf in the walk format and "- PATH" for
// each leaf gone. Errors are reported once, when they first appear, and
// never end the watch.
func (r *runner) watch(ctx context.Context, roots []string) error {
	top := map[string]bool{}
	for _, root := range roots {
		top[imdsclient.Clean(root)] = true
	}
	t := time.NewTicker(r.o.interval.d)
	defer t.Stop()
	var prev *snapshot
	seen := map[string]bool{} // errors reported in the last round
	for {
		cur, errs, err := r.round(ctx, roots, prev)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			errs = append(errs, err.Error())
		}
		now := map[string]bool{}
		for _, e := range errs {
			if !seen[e] && !now[e] {
				r.warnf("%s", e)
			}
			now[e] = true
		}
		seen = now
		if cur != nil {
			r.diff(prev, cur, top)
			r.out.Flush()
			prev = cur
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// round walks every root once, within --walk-timeout. A leaf that cannot be read keeps its
// previous state; no answer at all loses the round (nil snapshot).
func (r *runner) round(ctx context.Context, roots []string, prev *snapshot) (*snapshot, []string, error) {
	ctx, cancel := r.walkContext(ctx)
	defer cancel()
	s := &snapshot{vals: map[string]leafState{}}
	var errs, unknown []string
	for _, root := range roots {
		top := imdsclient.Clean(root)
		err := r.c.Walk(ctx, root, func(n imdsclient.Node, err error) error {
			if n.Path != top {
				if bad := badPath(n.Path, n.Dir, true); bad != nil {
					errs = append(errs, bad.Error())
					return imdsclient.SkipDir
				}
			}
			if err != nil {
				status, notFound := isStatus(err)
				switch {
				case !status:
					return err
				case notFound:
					s.set(n.Path, leafState{absent: true})
				default:
					errs = append(errs, err.Error()+r.hint(err))
					unknown = append(unknown, n.Path)
				}
				return nil
			}
			if n.Dir && r.o.noCredentials && baseName(n.Path) == "security-credentials" {
				return imdsclient.SkipDir
			}
			if !n.Dir {
				s.set(n.Path, leafState{val: n.Value})
			}
			return nil
		})
		if err != nil {
			return nil, errs, r.walkErr(ctx, err)
		}
	}
	if prev != nil {
		for _, u := range unknown {
			for _, p := range prev.order {
				if _, ok := s.vals[p]; !ok && (u == "" || p == u || strings.HasPrefix(p, u+"/")) {
					s.set(p, prev.vals[p])
				}
			}
		}
	}
	return s, errs, nil
}

// diff prints what changed from prev to cur; with no prev, the state of
// cur, including roots that are absent.
func (r *runner) diff(prev, cur *snapshot, top map[string]bool) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	old := func(p string) (leafState, bool) {
		if prev == nil {
			return leafState{}, false
		}
		st, ok := prev.vals[p]
		return st, ok
	}
	for _, p := range cur.order {
		st := cur.vals[p]
		was, had := old(p)
		switch {
		case st.absent:
			if (had && !was.absent) || (prev == nil && top[p]) {
				w.WriteString("- " + p + "\n")
			}
		case !had || was.absent || !bytes.Equal(was.val, st.val):
			writeEntry(w, p, st.val)
		}
	}
	if prev != nil {
		for _, p := range prev.order {
			if _, ok := cur.vals[p]; !ok && !prev.vals[p].absent {
				w.WriteString("- " + p + "\n")
			}
		}
	}
	w.Flush()
	if b.Len() == 0 {
		return
	}
	r.out.WriteString("@ " + time.Now().UTC().Format(time.RFC3339) + "\n")
	r.out.Write(b.Bytes())
}
