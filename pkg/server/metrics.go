package server

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus counters, in a registry of its own.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	codes    [600]string // status code label values, made once
	tokens   prometheus.Counter
	v1       prometheus.Counter
	rejected *prometheus.CounterVec
	limited  *prometheus.CounterVec
	refused  *prometheus.CounterVec
	perGuest *prometheus.CounterVec
	// Lifecycle (lifecycle.go).
	transitions *prometheus.CounterVec
	readDelay   *prometheus.GaugeVec
	hooks       *prometheus.CounterVec // host hooks that ended, by result (hook.go)
	panics      prometheus.Counter
	clientGone  prometheus.Counter
	// The access log's.
	logDropped    prometheus.Counter
	logSummarised prometheus.Counter
}

func newMetrics(version string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imdsd", Name: name, Help: help}, labels)
		m.reg.MustRegister(v)
		return v
	}
	m.requests = f("requests_total", "Requests answered, by HTTP status.", "code")
	m.tokens = f("tokens_issued_total", "IMDSv2 session tokens issued.").WithLabelValues()
	m.v1 = f("requests_without_token_total", "Requests other than the token PUT that carried no token (IMDSv1 use).").WithLabelValues()
	m.rejected = f("tokens_rejected_total", "Requests whose token was refused, by reason: malformed, invalid (forged, or another guest's), expired.", "reason")
	m.limited = f("rate_limited_total", "Requests over their client's rate, by what was done: delayed or refused.", "action")
	m.refused = f("connections_refused_total", "Connections closed on accept for being over a cap: total or per_client.", "cap")
	// "guest" is the client, "instance" what it is served (see state);
	// the name is kept as imdsd(8) documents it.
	m.perGuest = f("guest_requests_total", "Requests from guests, by the instance served: an entry's instance id, or \"default\".", "instance_id")
	m.transitions = f("lifecycle_transitions_total", "Lifecycle transitions that became visible to a guest, by the instance served and kind: spot_interruption, rebalance_recommendation, scheduled_event, autoscaling_lifecycle, credentials.", "instance_id", "kind")
	m.readDelay = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "imdsd", Name: "lifecycle_notice_read_delay_seconds",
		Help: "Seconds from a notice becoming visible to the guest's first read of it, for the latest notice read, by the instance served and kind."},
		[]string{"instance_id", "kind"})
	m.reg.MustRegister(m.readDelay)
	m.hooks = f("action_hooks_total", "Host hooks (action_command) that ended, by result: ok, or failed (a non-zero exit status, killed at its time limit, or not started).", "result")
	m.hooks.WithLabelValues("ok")
	m.hooks.WithLabelValues("failed")
	m.panics = f("panics_total", "Requests whose handling panicked (answered 500).").WithLabelValues()
	m.clientGone = f("clients_gone_total", "Clients that left during an injected delay or rate-limit wait.").WithLabelValues()
	m.logDropped = f("access_log_dropped_total", "Access log lines dropped because the log destination fell behind (its buffer was full).").WithLabelValues()
	m.logSummarised = f("access_log_summarised_total", "Refusals not logged on their own line but counted in a \"repeated\" summary line of their client.").WithLabelValues()
	info := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "imdsd", Name: "build_info", Help: "Always 1; the version is a label.",
		ConstLabels: prometheus.Labels{"version": version}})
	info.Set(1)
	m.reg.MustRegister(info, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for i := range m.codes {
		m.codes[i] = strconv.Itoa(i)
	}
	return m
}

func (m *metrics) request(status int) {
	if status >= 0 && status < len(m.codes) {
		m.requests.WithLabelValues(m.codes[status]).Inc()
	}
}

// AdminHandler serves /healthz (200 "ok" while the server runs) and
// /metrics (Prometheus). Serve it on a loopback address or a Unix socket
// only: it is for the host's administrator, not for guests.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	return mux
}
