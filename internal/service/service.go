// Package service runs an imdsd server as a long-lived process: it binds
// the listeners, serves until the context ends, re-reads the configuration
// on SIGHUP (keeping the old one when the new one is broken) and shuts down
// gracefully, letting requests in flight finish within a bound.
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
			notify(daemon.SdNotifyReloading + "\n" + daemon.SdNotifyMonotonicUsec())
			Reload(srv, o.ConfigPath, o.Logger)
			notify(daemon.SdNotifyReady)
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
	wg.Wait()
	return runErr
}

// Reload re-reads path and swaps it into srv. A configuration that does not
// load is logged with every problem and leaves srv serving the old one.
func Reload(srv *server.Server, path string, log *slog.Logger) bool {
	if path == "" {
		log.Log(context.Background(), logging.LevelNotice, "reload: serving the built-in default configuration")
		srv.Reload(config.Default())
		return true
	}
	cfg, warns, err := config.Load(path)
	for _, w := range warns {
		log.Warn("config warning", "warning", w.Error())
	}
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				log.Error("reload failed, still serving the previous configuration", "err", e.Error())
			}
		} else {
			log.Error("reload failed, still serving the previous configuration", "file", path, "err", err)
		}
		return false
	}
	if old := srv.Config(); old.TokenKeyFile != cfg.TokenKeyFile {
		log.Warn("token_key_file changed: the new key file is read at the next start; tokens keep the current key until then",
			"file", path, "token_key_file", cfg.TokenKeyFile)
	}
	srv.Reload(cfg)
	log.Log(context.Background(), logging.LevelNotice, "configuration reloaded", "file", path, "guests", len(cfg.Guests()))
	return true
}
