package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AccessLogLevel chooses which requests the access log records.
type AccessLogLevel int

const (
	// AccessLogAll records every request. It is the zero value, so that
	// Options with only AccessLog set log every request.
	AccessLogAll AccessLogLevel = iota
	// AccessLogErrors records what an administrator acts on, and nothing
	// while all is well: refusals (every status from 400 up but 404, so
	// 401, 403 — a token PUT with X-Forwarded-For, an unknown client
	// under "deny", a disabled endpoint —, 405, 429, 5xx, malformed
	// requests), and the requests of clients no guest matches when guests
	// are configured. A 404 is not a refusal: clients probe optional keys
	// (spot/instance-action) all the time. Repeated refusals are
	// summarised: see [Options.AccessLogLevel].
	AccessLogErrors
	// AccessLogNone records nothing, as a nil AccessLog does.
	AccessLogNone
)

// ParseAccessLogLevel parses "all", "errors" or "none".
func ParseAccessLogLevel(s string) (AccessLogLevel, error) {
	switch s {
	case "all":
		return AccessLogAll, nil
	case "errors":
		return AccessLogErrors, nil
	case "none":
		return AccessLogNone, nil
	}
	return 0, errors.New("expected all, errors or none")
}

func (l AccessLogLevel) String() string {
	switch l {
	case AccessLogAll:
		return "all"
	case AccessLogErrors:
		return "errors"
	case AccessLogNone:
		return "none"
	}
	return "AccessLogLevel(?)"
}

// DefaultAccessLogBuffer is the AccessLogBuffer imdsd runs with: lines
// waiting for a slow log destination, about 1 MB at most.
const DefaultAccessLogBuffer = 4096

// Bounds of the summary of repeated refusals.
const (
	// summaryInterval is how often repeated refusals are summarised.
	summaryInterval = 10 * time.Second
	// maxSummaries bounds the table of clients and kinds being
	// summarised; refusals of further ones are folded into one count.
	maxSummaries = 4096
)

// accessEntry is one access log line, as captured on the request path:
// formatting and writing happen later, on the writer's goroutine.
type accessEntry struct {
	time     time.Time
	client   string
	method   string
	path     string
	status   int
	bytes    int
	duration time.Duration
	unknown  bool // a client no guest matches, with guests configured
	// repeated > 0 makes the line a summary: that many more refusals
	// of this kind from this client in the last interval.
	repeated int
	interval time.Duration
}

// summaryKey is a kind of refusal from one client.
type summaryKey struct {
	client  netip.Addr
	status  int
	unknown bool
}

type summaryEntry struct {
	count        int // refusals not logged on their own since the last summary
	method, path string
}

// accessLog is the access log's pipeline: level filter, summary of repeated
// refusals, then the line handed to the handler, on the request's
// goroutine (queue nil) or through a bounded queue drained by a goroutine
// of its own, so that a slow or blocked log destination never delays an
// answer: when the queue is full, lines are dropped and counted.
type accessLog struct {
	h          slog.Handler
	level      AccessLogLevel
	queue      chan accessEntry // nil: synchronous
	interval   time.Duration
	dropped    prometheus.Counter
	summarised prometheus.Counter

	mu       sync.Mutex
	table    map[summaryKey]*summaryEntry
	overflow int // refusals of kinds beyond maxSummaries this interval

	runMu   sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// newAccessLog returns the pipeline for opts, or nil when nothing is
// logged.
func newAccessLog(opts Options, m *metrics) *accessLog {
	if opts.AccessLog == nil || opts.AccessLogLevel == AccessLogNone {
		return nil
	}
	a := &accessLog{
		h:          opts.AccessLog.Handler(),
		level:      opts.AccessLogLevel,
		interval:   summaryInterval,
		dropped:    m.logDropped,
		summarised: m.logSummarised,
		table:      map[summaryKey]*summaryEntry{},
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if opts.AccessLogBuffer > 0 {
		a.queue = make(chan accessEntry, opts.AccessLogBuffer)
	}
	return a
}

// refusal reports whether status is one AccessLogErrors records.
func refusal(status int) bool {
	return status >= 400 && status != http.StatusNotFound && status != StatusClientGone
}

// wants reports whether the line of a request with status would be
// recorded, and whether it is marked as from an unknown client (see
// reply.unknown).
func (a *accessLog) wants(status int, unknown bool) (want, isUnknown bool) {
	if a == nil {
		return false, false
	}
	if a.level == AccessLogAll {
		return true, false
	}
	if refusal(status) {
		return true, false
	}
	return unknown, unknown
}

// record logs e, unless it is a repeat of a refusal being summarised.
// It never blocks.
func (a *accessLog) record(e accessEntry, client netip.Addr) {
	if a.level == AccessLogErrors && a.repeat(summaryKey{client, e.status, e.unknown}, &e) {
		a.summarised.Inc()
		return
	}
	a.emit(e)
}

// repeat reports whether a line of kind k was already logged this
// interval, and counts it then.
func (a *accessLog) repeat(k summaryKey, e *accessEntry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.table[k]; ok {
		s.count++
		s.method, s.path = e.method, e.path
		return true
	}
	if len(a.table) >= maxSummaries {
		a.overflow++
		return true
	}
	a.table[k] = &summaryEntry{}
	return false
}

// emit hands e to the writer, or drops it when the queue is full.
func (a *accessLog) emit(e accessEntry) {
	if a.queue == nil {
		a.write(e)
		return
	}
	select {
	case a.queue <- e:
	default:
		a.dropped.Inc()
	}
}

// summarise emits a line for every kind repeated in the last interval and
// forgets the kinds that were not: their next refusal is logged at once.
func (a *accessLog) summarise() {
	var lines []accessEntry
	now := time.Now()
	a.mu.Lock()
	for k, s := range a.table {
		if s.count == 0 {
			delete(a.table, k)
			continue
		}
		client := "-"
		if k.client.IsValid() {
			client = k.client.String()
		}
		lines = append(lines, accessEntry{time: now, client: client, method: s.method, path: s.path,
			status: k.status, unknown: k.unknown, repeated: s.count, interval: a.interval})
		s.count = 0
	}
	if a.overflow > 0 {
		lines = append(lines, accessEntry{time: now, client: "others", repeated: a.overflow, interval: a.interval})
		a.overflow = 0
	}
	a.mu.Unlock()
	for _, l := range lines {
		a.emit(l)
	}
}

// write formats e and hands it to the handler.
func (a *accessLog) write(e accessEntry) {
	var r slog.Record
	if e.repeated > 0 {
		r = slog.NewRecord(e.time, slog.LevelInfo, "repeated", 0)
		r.AddAttrs(slog.String("client", e.client))
		if e.status != 0 {
			r.AddAttrs(slog.String("method", e.method), slog.String("path", e.path), slog.Int("status", e.status))
		}
		if e.unknown {
			r.AddAttrs(slog.Bool("unknown_client", true))
		}
		r.AddAttrs(slog.Int("count", e.repeated), slog.Duration("interval", e.interval))
	} else {
		r = slog.NewRecord(e.time, slog.LevelInfo, "request", 0)
		r.AddAttrs(
			slog.String("client", e.client),
			slog.String("method", e.method),
			slog.String("path", e.path),
			slog.Int("status", e.status),
			slog.Int("bytes", e.bytes),
			slog.Duration("duration", e.duration),
		)
		if e.unknown {
			r.AddAttrs(slog.Bool("unknown_client", true))
		}
	}
	_ = a.h.Handle(context.Background(), r)
}

// start runs the writer's goroutine, once, unless stopped already. It is
// needed to drain the queue, and to summarise refusals.
func (a *accessLog) start() {
	if a == nil || (a.queue == nil && a.level != AccessLogErrors) {
		return
	}
	a.runMu.Lock()
	defer a.runMu.Unlock()
	if a.started || a.stopped {
		return
	}
	a.started = true
	go a.run()
}

func (a *accessLog) run() {
	defer close(a.done)
	var tick <-chan time.Time
	if a.level == AccessLogErrors {
		t := time.NewTicker(a.interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case e := <-a.queue:
			a.write(e)
		case <-tick:
			a.summarise()
		case <-a.stop:
			a.summarise()
			for n := len(a.queue); n > 0; n-- { // bounded: what is queued now
				a.write(<-a.queue)
			}
			return
		}
	}
}

// shutdown writes what is queued and the last summaries, and waits for
// that until ctx is done (a blocked destination is then left behind).
func (a *accessLog) shutdown(ctx context.Context) {
	if a == nil {
		return
	}
	a.runMu.Lock()
	started, stopped := a.started, a.stopped
	a.stopped = true
	a.runMu.Unlock()
	if stopped {
		return
	}
	if !started {
		if a.queue == nil && a.level == AccessLogErrors {
			a.summarise()
		}
		return
	}
	close(a.stop)
	select {
	case <-a.done:
	case <-ctx.Done():
	}
}

// logRequest records r's line in the access log, if its level wants it.
func (s *Server) logRequest(r *http.Request, rep *reply, n int, start time.Time) {
	status := rep.status
	want, unknown := s.alog.wants(status, rep.unknown)
	if !want {
		return
	}
	client, _ := addrs(r)
	s.alog.record(accessEntry{
		time:     time.Now(),
		client:   r.RemoteAddr,
		method:   r.Method,
		path:     r.RequestURI,
		status:   status,
		bytes:    n,
		duration: s.opts.Now().Sub(start),
		unknown:  unknown,
	}, client)
}
