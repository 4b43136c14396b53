// Package service runs an imdsd server as a long-lived process: it serves
// on the listeners it is given (bound already, by imdsd or by systemd), and
// the admin and control APIs on theirs, never on a metadata listener, until
// the context ends, re-reads the configuration on SIGHUP (keeping the old one
// when the new one is broken), tells systemd how it is doing (sd_notify,
// watchdog) and shuts down gracefully, letting requests in flight finish
// within a bound. Answering requests is package server's job.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/logging"
	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

// ShutdownGrace bounds how long requests in flight may take to finish once
// the service is told to stop.
const ShutdownGrace = 5 * time.Second

// Options say what to run.
type Options struct {
	// ConfigPath is the configuration file; empty means the built-in default.
	ConfigPath string
	// Config is the configuration already loaded from ConfigPath.
	Config *config.Config
	// Listeners are bound already; the service serves on all of them and
	// closes them when it stops.
	Listeners []net.Listener
	Server    server.Options
	Logger    *slog.Logger
	// Notify, if set, receives sd_notify(3) states: READY=1 once every
	// listener is served, RELOADING=1 and READY=1 around reloads,
	// STOPPING=1, and WATCHDOG=1 every Watchdog/2.
	Notify func(state string)
	// Watchdog is systemd's WatchdogSec (zero: no pings).
	Watchdog time.Duration
	// Admin, if set, serves /healthz and /metrics for the administrator.
	Admin net.Listener
	// Control, if set, serves the control API (imdsctl) for the
	// administrator; it is closed (and its socket file removed) on exit.
	Control net.Listener

	// load replaces config.Load in tests.
	load func(path string) (*config.Config, config.ErrorList, error)
}

// Run serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, o Options) error {
	srv, err := server.New(o.Config, o.Server)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	errc := make(chan error, len(o.Listeners))
	var wg sync.WaitGroup
	for _, ln := range o.Listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil {
				errc <- fmt.Errorf("serving %s: %w", ln.Addr(), err)
			}
		}()
		o.Logger.Log(ctx, logging.LevelNotice, "listening", "addr", ln.Addr().String())
	}
	var admin *http.Server
	if o.Admin != nil {
		admin = &http.Server{Handler: srv.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := admin.Serve(o.Admin); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin listener %s: %w", o.Admin.Addr(), err)
			}
		}()
		o.Logger.Log(ctx, logging.LevelNotice, "admin listener: /healthz and /metrics", "addr", o.Admin.Addr().String())
	}
	var ctl *http.Server
	if o.Control != nil {
		ctl = control.NewServer(control.NewHandler(srv.Control(), control.Options{Logger: o.Logger}))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ctl.Serve(o.Control); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("control socket %s: %w", o.Control.Addr(), err)
			}
		}()
		o.Logger.Log(ctx, logging.LevelNotice, "control socket: imdsctl", "path", o.Control.Addr().String())
	}
	notify := o.Notify
	if notify == nil {
		notify = func(string) {}
	}
	notify(daemon.SdNotifyReady)
	var tick <-chan time.Time
	if o.Watchdog > 0 {
		t := time.NewTicker(o.Watchdog / 2)
		defer t.Stop()
		tick = t.C
	}

	// A reload runs beside the loop, so that however long reading the
	// configuration takes, SIGTERM and the watchdog are still answered. A
	// SIGHUP during a reload is kept and served by one more reload after it.
	load := o.load
	if load == nil {
		load = config.Load
	}
	reloaded := make(chan struct{}, 1)
	reloading, again := false, false
	startReload := func() {
		reloading = true
		notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
		go func() {
			reload(srv, o.ConfigPath, o.Logger, load)
			reloaded <- struct{}{}
		}()
	}
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			runErr = err
			break loop
		case <-tick:
			notify(daemon.SdNotifyWatchdog)
		case <-hup:
			if reloading {
				again = true
				continue
			}
			startReload()
		case <-reloaded:
			reloading = false
			notify(daemon.SdNotifyReady)
			if again {
				again = false
				startReload()
			}
		}
	}
	notify(daemon.SdNotifyStopping)
	o.Logger.Log(ctx, logging.LevelNotice, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		o.Logger.Error("shutdown", "err", err)
	}
	if admin != nil {
		admin.Close()
	}
	if ctl != nil {
		// Requests in flight hold the control lock for milliseconds; a
		// bounded wait lets them answer.
		if err := ctl.Shutdown(sctx); err != nil {
			ctl.Close()
		}
	}
	wg.Wait()
	return runErr
}

// Reload re-reads path ("" for the built-in default) and swaps it into
// srv. A configuration that does not load is logged with every problem and
// leaves srv serving the old one. A changed key that only takes effect at
// the next start is logged once, as a warning.
func Reload(srv *server.Server, path string, log *slog.Logger) bool {
	return reload(srv, path, log, config.Load)
}

func reload(srv *server.Server, path string, log *slog.Logger, load func(string) (*config.Config, config.ErrorList, error)) bool {
	if path == "" {
		log.Log(context.Background(), logging.LevelNotice, "reload: serving the built-in default configuration")
	}
	cfg, diags, _ := load(path)
	for _, d := range diags {
		if d.Severity == config.SeverityWarning {
			log.Warn("config warning", "warning", d.Error())
		} else {
			log.Error("reload failed, still serving the previous configuration", "err", d.Error())
		}
	}
	if cfg == nil {
		return false
	}
	for _, key := range config.NeedsRestart(srv.Config(), cfg) {
		log.Warn(key+" changed: the new value takes effect at the next start; the current one stays until then",
			"file", path, "key", key)
	}
	srv.Reload(cfg)
	log.Log(context.Background(), logging.LevelNotice, "configuration reloaded", "file", nameOr(path), "guests", len(cfg.Entries()))
	return true
}

func nameOr(path string) string {
	if path == "" {
		return config.DefaultName
	}
	return path
}
