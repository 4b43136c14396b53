// Package logging builds imdsd's logger: a log/slog logger that writes to
// syslog (through github.com/hashicorp/go-syslog) or to stderr.
//
// Levels map to syslog priorities: access lines are logged at Info
// (LOG_INFO), lifecycle events at [LevelNotice] (LOG_NOTICE), problems the
// administrator should fix at Warn (LOG_WARNING) and failures at Error
// (LOG_ERR).
package logging

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	gsyslog "github.com/hashicorp/go-syslog"
)

// LevelNotice is for lifecycle events: start, listening, reload, stop.
const LevelNotice = slog.Level(2)

// Options say where to log.
type Options struct {
	// Dest is "auto", "stderr", "syslog" (the local syslog socket) or
	// "syslog:NETWORK:ADDRESS" (for example "syslog:udp:127.0.0.1:514" or
	// "syslog:unixgram:/var/run/log"). Auto means stderr when Interactive,
	// syslog otherwise, and stderr when no local syslog socket exists.
	Dest        string
	Facility    string // syslog facility, such as "daemon" or "local0"
	Tag         string // syslog tag, such as "imdsd"
	Interactive bool   // stderr is a terminal
	Stderr      io.Writer
}

// New returns the logger o describes and a function that closes its
// connection. fallback is non-empty when syslog was wanted by "auto" but
// could not be reached, and says why.
func New(o Options) (log *slog.Logger, closeFn func() error, fallback string, err error) {
	stderr := func() (*slog.Logger, func() error) {
		return slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{ReplaceAttr: levelNames})), func() error { return nil }
	}
	dest := o.Dest
	switch {
	case dest == "stderr", dest == "auto" && o.Interactive:
		log, closeFn = stderr()
		return log, closeFn, "", nil
	case dest == "auto", dest == "syslog":
		w, err := gsyslog.NewLogger(gsyslog.LOG_INFO, o.Facility, o.Tag)
		if err != nil {
			if dest == "auto" && !strings.Contains(err.Error(), "facility") {
				log, closeFn = stderr()
				return log, closeFn, err.Error(), nil
			}
			return nil, nil, "", fmt.Errorf("--log %s: %w", dest, err)
		}
		return slog.New(NewSyslogHandler(w)), w.Close, "", nil
	case strings.HasPrefix(dest, "syslog:"):
		network, addr, ok := strings.Cut(strings.TrimPrefix(dest, "syslog:"), ":")
		if !ok || addr == "" {
			return nil, nil, "", fmt.Errorf("--log %s: expected syslog:NETWORK:ADDRESS, such as syslog:udp:127.0.0.1:514", dest)
		}
		w, err := gsyslog.DialLogger(network, addr, gsyslog.LOG_INFO, o.Facility, o.Tag)
		if err != nil {
			return nil, nil, "", fmt.Errorf("--log %s: %w", dest, err)
		}
		return slog.New(NewSyslogHandler(w)), w.Close, "", nil
	}
	return nil, nil, "", fmt.Errorf("--log %s: expected auto, stderr, syslog or syslog:NETWORK:ADDRESS", dest)
}

// levelNames names LevelNotice "NOTICE" in text output.
func levelNames(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok && l == LevelNotice {
			a.Value = slog.StringValue("NOTICE")
		}
	}
	return a
}

// Priority returns the syslog priority for a slog level.
func Priority(l slog.Level) gsyslog.Priority {
	switch {
	case l >= slog.LevelError:
		return gsyslog.LOG_ERR
	case l >= slog.LevelWarn:
		return gsyslog.LOG_WARNING
	case l >= LevelNotice:
		return gsyslog.LOG_NOTICE
	case l >= slog.LevelInfo:
		return gsyslog.LOG_INFO
	}
	return gsyslog.LOG_DEBUG
}

// syslogHandler formats records as slog's text format without time and
// level (syslog records both) and writes each at its priority.
type syslogHandler struct {
	mu   *sync.Mutex
	buf  *bytes.Buffer
	text slog.Handler
	w    gsyslog.Syslogger
}

// NewSyslogHandler returns a handler writing to w.
func NewSyslogHandler(w gsyslog.Syslogger) slog.Handler {
	buf := &bytes.Buffer{}
	return &syslogHandler{
		mu:  &sync.Mutex{},
		buf: buf,
		text: slog.NewTextHandler(buf, &slog.HandlerOptions{
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
					return slog.Attr{}
				}
				return a
			},
		}),
		w: w,
	}
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *syslogHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	if err := h.text.Handle(ctx, r); err != nil {
		return err
	}
	return h.w.WriteLevel(Priority(r.Level), bytes.TrimSuffix(h.buf.Bytes(), []byte("\n")))
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.text = h.text.WithAttrs(as)
	return &c
}

func (h *syslogHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}
