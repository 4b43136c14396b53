package server

import (
	"context"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// startLogged serves cfgJSON with the access log in opts (JSON into the
// returned buffer unless opts.AccessLog is set), the summary interval set
// to interval, until the test ends.
func startLogged(t *testing.T, cfgJSON string, opts Options, interval time.Duration) (*testServer, *testbin.Output) {
	t.Helper()
	buf := &testbin.Output{}
	if opts.AccessLog == nil {
		opts.AccessLog = slog.New(slog.NewJSONHandler(buf, nil))
	}
	ts := &testServer{clock: &fakeClock{t: epoch}, access: buf, errlog: &testbin.Output{}}
	opts.Now = ts.clock.Now
	srv, err := New(parseConfig(t, cfgJSON), opts)
	if err != nil {
		t.Fatal(err)
	}
	if srv.alog != nil && interval > 0 {
		srv.alog.interval = interval
	}
	ts.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return ts, buf
}

// statuses returns the status of every "request" line, in order.
func statuses(t *testing.T, b *testbin.Output) []string {
	var out []string
	for _, r := range records(t, b) {
		if r["msg"] == "request" {
			s := fmt.Sprint(r["status"])
			if r["unknown_client"] == true {
				s += " unknown"
			}
			out = append(out, s)
		}
	}
	return out
}

// TestAccessLogLevels checks which requests each level records: errors
// leaves out what is answered as it should be (200, 404), and keeps
// refusals and clients no guest matches.
func TestAccessLogLevels(t *testing.T) {
	requests := func(t *testing.T, ts *testServer) {
		tok := ts.mintToken(t, 60)
		for _, raw := range []string{
			req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)),                 // 200
			req("GET", "/latest/meta-data/spot/instance-action", tokenHdr(tok)),        // 404
			req("GET", "/latest/meta-data/instance-id"),                                // 401
			req("PUT", "/latest/api/token", ttlHdr("60"), "X-Forwarded-For: 10.1.1.1"), // 403
			req("POST", "/latest/meta-data/instance-id", tokenHdr(tok)),                // 405
			req("PUT", "/latest/api/token", ttlHdr("0")),                               // 400
		} {
			ts.exchange(t, raw)
		}
	}
	for _, tt := range []struct {
		level AccessLogLevel
		want  string
	}{
		{AccessLogAll, "200 200 404 401 403 405 400"}, // the first 200 is mintToken's PUT
		{AccessLogErrors, "401 403 405 400"},
		{AccessLogNone, ""},
	} {
		t.Run(tt.level.String(), func(t *testing.T) {
			ts, buf := startLogged(t, cfgRequired, Options{AccessLogLevel: tt.level}, 0)
			requests(t, ts)
			if got := strings.Join(statuses(t, buf), " "); got != tt.want {
				t.Errorf("logged %q, want %q", got, tt.want)
			}
		})
	}

	// A client no guest matches is logged, whatever its answer; a guest
	// that is answered is not.
	ts, buf := startLogged(t, guestsConfig(`"unknown_clients": "default", "http_tokens": "optional",`),
		Options{AccessLogLevel: AccessLogErrors}, 0)
	ts.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id"))
	ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id"))
	if got, want := strings.Join(statuses(t, buf), " "), "200 unknown"; got != want {
		t.Errorf("with guests, logged %q, want %q", got, want)
	}
}

// TestAccessLogSummary checks issue 10's log flood: repeated refusals of
// one kind from one client make one line, then one summary line per
// interval with their count, also counted in /metrics; a kind not repeated
// in an interval is forgotten, so its next refusal is logged at once.
func TestAccessLogSummary(t *testing.T) {
	ts, buf := startLogged(t, cfgRequired, Options{AccessLogLevel: AccessLogErrors, AccessLogBuffer: 64}, 300*time.Millisecond)
	const n = 40
	for range n {
		ts.exchange(t, req("GET", "/latest/meta-data/instance-id")) // 401
	}
	ts.exchange(t, req("POST", "/latest/meta-data/", tokenHdr(ts.mintToken(t, 60)))) // 405: another kind
	var repeated map[string]any
	waitFor(t, 5*time.Second, "the summary line", func() bool {
		for _, r := range records(t, buf) {
			if r["msg"] == "repeated" {
				repeated = r
				return true
			}
		}
		return false
	})
	if got, want := strings.Join(statuses(t, buf), " "), "401 405"; got != want {
		t.Errorf("lines of their own: %q, want %q", got, want)
	}
	if repeated["count"] != float64(n-1) || repeated["status"] != 401.0 || repeated["client"] != "127.0.0.1" ||
		repeated["path"] != "/latest/meta-data/instance-id" || repeated["interval"] == nil {
		t.Errorf("summary line %v, want client 127.0.0.1, status 401, count %d", repeated, n-1)
	}
	if got := counterValue(ts.srv.metrics.logSummarised); got != n-1 {
		t.Errorf("imdsd_access_log_summarised_total = %v, want %d", got, n-1)
	}
	// Two intervals later the kind is forgotten: a new refusal has its
	// own line again.
	time.Sleep(700 * time.Millisecond)
	ts.exchange(t, req("GET", "/latest/meta-data/instance-id"))
	waitFor(t, 5*time.Second, "the third line of its own", func() bool { return len(statuses(t, buf)) == 3 })
}

// TestAccessLogSummaryBounded checks that the table of kinds being
// summarised stays bounded, whatever the number of clients: refusals of
// further ones are folded into one "others" count.
func TestAccessLogSummaryBounded(t *testing.T) {
	buf := &testbin.Output{}
	a := newAccessLog(Options{AccessLog: slog.New(slog.NewJSONHandler(buf, nil)), AccessLogLevel: AccessLogErrors}, newMetrics("test"))
	const extra = 100
	for i := range maxSummaries + extra {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		for range 2 {
			a.record(accessEntry{client: addr.String() + ":1", status: 429}, addr)
		}
	}
	if len(a.table) != maxSummaries {
		t.Errorf("%d kinds in the table, want at most %d", len(a.table), maxSummaries)
	}
	if n := len(statuses(t, buf)); n != maxSummaries {
		t.Errorf("%d lines of their own, want %d", n, maxSummaries)
	}
	buf2 := &testbin.Output{}
	a.h = slog.NewJSONHandler(buf2, nil)
	a.summarise()
	recs := records(t, buf2)
	if len(recs) != maxSummaries+1 {
		t.Fatalf("%d summary lines, want %d", len(recs), maxSummaries+1)
	}
	others := 0
	for _, r := range recs {
		if r["client"] == "others" {
			others++
			if r["count"] != float64(2*extra) {
				t.Errorf("others: %v, want count %d", r, 2*extra)
			}
		}
	}
	if others != 1 {
		t.Errorf("%d \"others\" lines, want 1", others)
	}
}

// blockingHandler is a log destination that never returns until released,
// as a syslog socket nobody reads would.
type blockingHandler struct {
	release chan struct{}
	once    sync.Once
	entered chan struct{}
}

func (h *blockingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *blockingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *blockingHandler) WithGroup(string) slog.Handler            { return h }
func (h *blockingHandler) Handle(context.Context, slog.Record) error {
	h.once.Do(func() { close(h.entered) })
	<-h.release
	return nil
}

// TestAccessLogBlockedWriter checks that a log destination that blocks
// forever delays no answer: lines that find the buffer full are dropped
// and counted, and Shutdown does not wait for the destination past its
// deadline.
func TestAccessLogBlockedWriter(t *testing.T) {
	h := &blockingHandler{release: make(chan struct{}), entered: make(chan struct{})}
	t.Cleanup(func() { close(h.release) }) // after the server's cleanup: LIFO
	const buffer, n = 8, 100
	ts, _ := startLogged(t, cfgOptional, Options{AccessLog: slog.New(h), AccessLogBuffer: buffer}, 0)
	start := time.Now()
	for range n {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second)) // an answer delayed by the log fails here
		fmt.Fprint(c, req("GET", "/latest/meta-data/instance-id"))
		expect{status: 200, body: str("i-1234567890"), ttl: "-", meta: true}.check(t, readResponse(t, c, false))
		c.Close()
	}
	t.Logf("%d answers in %v with the log blocked", n, time.Since(start))
	<-h.entered
	// The writer holds one line, the buffer up to buffer more; the rest
	// are dropped.
	if got := counterValue(ts.srv.metrics.logDropped); got < n-buffer-1 {
		t.Errorf("imdsd_access_log_dropped_total = %v, want at least %d", got, n-buffer-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	shut := time.Now()
	ts.srv.Shutdown(ctx)
	if d := time.Since(shut); d > 2*time.Second {
		t.Errorf("Shutdown took %v with the log blocked, want about its 200ms deadline", d)
	}
}

func TestParseAccessLogLevel(t *testing.T) {
	for _, s := range []string{"all", "errors", "none"} {
		l, err := ParseAccessLogLevel(s)
		if err != nil || l.String() != s {
			t.Errorf("ParseAccessLogLevel(%q) = %v, %v", s, l, err)
		}
	}
	if _, err := ParseAccessLogLevel("info"); err == nil {
		t.Error("ParseAccessLogLevel(\"info\") succeeded")
	}
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
