package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// waitPoll is how often --wait asks: once a second, as a spot handler
// that has two minutes to act can afford.
const waitPoll = time.Second

// requestTimeout is the bound on one request: --timeout, except with
// --wait, where --timeout bounds the whole wait and each request keeps
// the default.
func (o *options) requestTimeout() time.Duration {
	if o.wait {
		return imdsclient.DefaultTimeout
	}
	return o.timeout.d
}

// wait polls path every waitPoll until it answers 200, then prints its
// value. A 404 (not there yet), no answer and a server error mean "ask
// again" (each error is reported once, when it first appears); a refusal
// (401 or 403 after a fresh token) ends the wait. With --timeout the
// wait gives up after that long, with exit status 4; without, it goes on
// until interrupted.
func (r *runner) wait(ctx context.Context, path string) error {
	parent := ctx
	if r.o.timeout.set {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.o.timeout.d)
		defer cancel()
	}
	t := time.NewTicker(waitPoll)
	defer t.Stop()
	last := ""
	for {
		v, err := r.c.Get(ctx, path)
		if err == nil {
			r.out.Write(v)
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		status, notFound := isStatus(err)
		var se *imdsclient.StatusError
		if status && errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden) {
			return err
		}
		if !notFound && err.Error() != last {
			r.warnf("%v%s; waiting", err, r.hint(err))
		}
		if !notFound {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	if parent.Err() != nil { // interrupted
		return cli.Errorf(exitUnreachable, "%s: interrupted while waiting", path)
	}
	return cli.Errorf(exitUnreachable, "%s: not there after %v", path, r.o.timeout.d)
}
