// Package server answers EC2 instance metadata requests over HTTP for a
// configuration: it picks the instance a client gets, speaks IMDSv2, frames
// every response the way EC2 does and protects itself from clients that
// take too much (connection caps, header limits, rate limits). It is the
// part of imdsd that another Go program embeds; running it as a daemon
// (signals, reloads from a file, systemd) is not its job.
//
// Create a Server with [New], hand it one or more listeners with
// [Server.Serve], swap its configuration with [Server.Reload] and stop it
// with [Server.Shutdown]. Tokens stay valid across reloads because the
// sealing key belongs to the Server, not to the configuration. See the
// package's example.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imdsd/imdsd/internal/connlimit"
	"github.com/imdsd/imdsd/internal/guestkey"
	"github.com/imdsd/imdsd/internal/lifecycle"
	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/internal/ratelimit"
	"github.com/imdsd/imdsd/internal/token"
	"github.com/imdsd/imdsd/pkg/config"
)

// Options are a Server's settings that are not instance metadata.
type Options struct {
	// Logger receives errors and lifecycle events. Nil discards them.
	Logger *slog.Logger
	// AccessLog receives one line per request, or per request that
	// AccessLogLevel chooses. Nil turns access logging off.
	AccessLog *slog.Logger
	// AccessLogLevel chooses which requests AccessLog records: all of
	// them (the zero value), only refusals and unknown clients, or none.
	// With AccessLogErrors, a refusal of the same kind (status) from the
	// same client is logged once, and its repeats within the next 10
	// seconds are summarised in one "repeated" line with their count.
	AccessLogLevel AccessLogLevel
	// AccessLogBuffer, when above 0, is how many access log lines may wait
	// for AccessLog's handler, which a goroutine of the Server then
	// feeds: a slow or blocked log destination never delays an answer,
	// and lines that find the buffer full are dropped and counted
	// (imdsd_access_log_dropped_total). Zero calls the handler on the
	// request's goroutine, for handlers that never block (in memory).
	// imdsd uses DefaultAccessLogBuffer.
	AccessLogBuffer int
	// Sealer mints and checks tokens. Nil means a fresh random key.
	Sealer *token.Sealer
	// Now is the clock for token lifetimes, IAM credential times and the
	// launch time. When set, it replaces the Sealer's clock too, so that
	// one clock decides everything. Nil means time.Now. Injected delays
	// and network deadlines always use real time.
	Now func() time.Time
	// Version is reported by the imdsd_build_info metric.
	Version string
	// StateFile keeps what the control API ([Server.Control]) changes, so
	// that it survives a restart; New reads it and refuses one it cannot
	// (a *statefile.Error). Empty keeps the changes in memory only.
	StateFile string
	// MACResolver finds the MAC addresses of clients, for configurations
	// whose entries match guests by MAC address. Nil means the host's
	// neighbour table (ARP and NDP entries), read through a cache that
	// keeps answers for NeighbourTTL, drops one as soon as the kernel
	// reports its entry changed, and lasts until Shutdown. It is not used
	// by a configuration that matches by address alone.
	MACResolver MACResolver
}

// Server answers metadata requests. Its methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	sealer   *token.Sealer
	launched time.Time
	state    atomic.Pointer[state]
	fe       front         // the metadata listeners' HTTP/1.x front end (front.go)
	stop     chan struct{} // closed by Shutdown: injected delays end
	stopOnce sync.Once
	metrics  *metrics
	alog     *accessLog // nil: no access log
	limiter  *ratelimit.Limiter
	hv       headerValues
	reloadMu sync.Mutex      // orders reloads and control requests
	labels   map[string]bool // the instance_id labels being served
	rt       runtime         // what the control API changed (control.go)
	macs     MACResolver     // for entries matching by MAC address (mac.go)
	unknown  unknownLog      // rate-limits the lines about unknown MAC addresses
	seed     []byte          // lifecycle credentials are derived from it (lifecycle.go)
	life     *lifeLoop       // logs and counts lifecycle transitions (lifecycle.go)
	hooks    *hooks          // runs the host hooks (hook.go)
	eventIDs func() string   // tests: the ids of events added over the control API; nil: random
}

// Words: a guest is a client (a VM, a jail) and is known by its source
// address; an instance is the metadata a guest is served. Each entry of the
// configuration serves one instance to the guests it matches; the default
// instance serves the others.

// state is everything a configuration determines, swapped as one on reload.
type state struct {
	cfg  *config.Config // the top level: service settings
	view *view          // the guests, with their runtime state (control.go)
	def  *instance      // what guests no entry matches get; nil: refused
	// Entries' instances by client address: exact addresses first, then
	// networks.
	exact map[netip.Addr][]*instance
	nets  []*instance
	mac   *macTable // entries' instances by MAC address; nil: none match by MAC (mac.go)
	// loaded is when the configuration was loaded, by the Server's clock.
	loaded time.Time
}

// instance is the instance of one entry, or the default one, ready to
// serve.
type instance struct {
	cfg  *config.Instance
	tree *metadata.Tree
	// id is bound into the instance's tokens: an entry's instance id. The
	// default instance has none, so that its tokens survive a reload that
	// changes its values; an entry whose instance id changes is another
	// instance, and its old tokens no longer open.
	id       []byte
	listen   netip.AddrPort
	match    []netip.Prefix
	label    string             // the metrics' instance_id label
	modified []string           // Last-Modified of its answers
	count    prometheus.Counter // its guest_requests_total
	seen     *guestSeen         // its requests, for the guest list; nil: not a guest
	guest    string             // the guest's instance id; "" for the default instance shadowed by an entry
	// entry is the entry of an instance that matches by MAC address;
	// mac, the client's MAC address, for the instance made for one client
	// matched by it (mac.go), bound into its tokens.
	entry *config.Entry
	mac   net.HardwareAddr
	// Its life (lifecycle.go): the timeline, the paths whose answers move
	// with it, the static names of the listings it adds to, and up to when
	// its transitions were reported (the transition goroutine's).
	tl       *lifecycle.Timeline
	dyn      map[string]dynKind
	listings map[string][]string
	lifeFrom time.Time
}

func newInstance(cfg *config.Instance, launched time.Time) *instance {
	tree := metadata.Build(cfg, launched)
	return &instance{cfg: cfg, tree: tree, label: "default",
		modified: []string{tree.Modified.UTC().Format(http.TimeFormat)}}
}

// newState builds the lookup tables for cfg, serving def (nil: refused) to
// unknown clients and entries to theirs: cfg's own, or with runtime state
// over them; and each instance's timeline.
func newState(cfg *config.Config, def *config.Instance, entries []*config.Entry, launched time.Time, lp lifeParams) *state {
	st := &state{cfg: cfg, exact: map[netip.Addr][]*instance{}, loaded: lp.loaded}
	if def != nil {
		st.def = newInstance(def, launched)
		st.def.compileLife(lp)
	}
	for _, e := range entries {
		in := newInstance(&e.Instance, launched)
		in.listen, in.match = e.Local, e.Clients
		in.id = []byte(e.InstanceID)
		in.label = e.InstanceID
		in.compileLife(lp)
		for _, pf := range e.Clients {
			if pf.IsSingleIP() {
				st.exact[pf.Addr()] = append(st.exact[pf.Addr()], in)
			} else {
				st.nets = append(st.nets, in)
			}
		}
		st.addMACs(e, in, launched)
	}
	return st
}

// hasGuests reports whether any entry of the configuration matches
// clients, so that a client matching none is an unknown one.
func (st *state) hasGuests() bool { return len(st.exact) != 0 || len(st.nets) != 0 || st.mac != nil }

// each calls f for every instance of st.
func (st *state) each(f func(*instance)) {
	if st.def != nil {
		f(st.def)
	}
	seen := map[*instance]bool{}
	for _, ins := range st.exact {
		for _, in := range ins {
			if !seen[in] {
				seen[in] = true
				f(in)
			}
		}
	}
	for _, in := range st.nets {
		if !seen[in] {
			seen[in] = true
			f(in)
		}
	}
	if st.mac != nil {
		for _, ins := range st.mac.byMAC {
			for _, in := range ins {
				if !seen[in] {
					seen[in] = true
					f(in)
				}
			}
		}
	}
}

// instanceFor returns the instance serving a client at addr that connected
// to local, by address alone, or nil when the client is refused. Entries
// matching by MAC address are [Server.clientInstance]'s.
func (st *state) instanceFor(addr netip.Addr, local netip.AddrPort) *instance {
	if in := st.exactFor(addr, local); in != nil {
		return in
	}
	if in := st.netFor(addr, local); in != nil {
		return in
	}
	return st.def
}

// exactFor returns the instance whose match names addr itself, or nil.
func (st *state) exactFor(addr netip.Addr, local netip.AddrPort) *instance {
	for _, in := range st.exact[addr] {
		if in.serves(local) {
			return in
		}
	}
	return nil
}

// netFor returns the instance whose match holds a network containing
// addr, or nil.
func (st *state) netFor(addr netip.Addr, local netip.AddrPort) *instance {
	for _, in := range st.nets {
		if in.serves(local) {
			for _, pf := range in.match {
				if pf.Contains(addr) {
					return in
				}
			}
		}
	}
	return nil
}

// guestKey says whom a client at addr connecting to local counts against
// for the connection caps and the rate limit: its guest, or itself.
func (st *state) guestKey(addr netip.Addr, local netip.AddrPort) guestkey.Key {
	if in := st.instanceFor(addr, local); in != nil {
		return guestkey.Of(addr, in.guestID())
	}
	return guestkey.Of(addr, "")
}

// guestID is the instance id of a guest, "" for the default instance.
func (in *instance) guestID() string {
	if in.id == nil {
		return ""
	}
	return in.label
}

// serves reports whether the instance applies to connections to local.
func (in *instance) serves(local netip.AddrPort) bool {
	if !in.listen.IsValid() {
		return true
	}
	return in.listen.Addr() == local.Addr().Unmap().WithZone("") && (in.listen.Port() == 0 || in.listen.Port() == local.Port())
}

// New returns a Server for cfg. cfg must come from the config package, which
// guarantees it is complete and valid.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if cfg == nil {
		return nil, errors.New("server: no configuration")
	}
	clock := opts.Now
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// Read here once, for every connection of the Server's life: a reload
	// does not change them (see config.NeedsRestart).
	headerTimeout := time.Duration(cfg.HeaderTimeoutMS) * time.Millisecond
	if headerTimeout <= 0 {
		headerTimeout = time.Duration(config.DefaultHeaderTimeoutMS) * time.Millisecond
	}
	maxHeader := cfg.MaxHeaderBytes
	if maxHeader <= 0 || maxHeader > maxHeadBytes {
		maxHeader = maxHeadBytes
	}
	sealer := opts.Sealer
	if sealer == nil {
		var err error
		if sealer, err = token.NewRandom(); err != nil {
			return nil, fmt.Errorf("server: making the token key: %w", err)
		}
	}
	if clock != nil {
		sealer = sealer.WithClock(clock)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		sealer:   sealer,
		launched: opts.Now(),
		stop:     make(chan struct{}),
		metrics:  newMetrics(opts.Version),
		limiter:  ratelimit.New(),
		hv:       newHeaderValues(),
		seed:     sealer.Derive(seedPurpose),
		life:     newLifeLoop(),
		hooks:    newHooks(),
		macs:     opts.MACResolver,
	}
	if s.macs == nil {
		s.macs = newNeighbours(opts.Logger) // reads nothing until asked
	}
	s.alog = newAccessLog(opts, s.metrics)
	s.fe.readHeaderTimeout, s.fe.maxHeader, s.fe.handler = headerTimeout, maxHeader, s
	if err := s.openState(opts.StateFile); err != nil {
		return nil, err
	}
	s.Reload(cfg)
	return s, nil
}

// Reload swaps in a new configuration, which must not be nil. Requests
// already being answered finish with the old one; tokens issued before stay
// valid. The keys [config.NeedsRestart] names keep the values the Server
// was made with. The runtime state (see [Server.Control]) is laid over the
// new configuration; a guest's runtime changes that it makes invalid are
// dropped, and logged with the reason.
//
// Each instance's lifecycle timeline is compiled anew and takes over the
// old one's of the same instance id (see lifecycle.Timeline.Carry): the
// guest's first-request time, and what was issued under keys that did not
// change; a changed schedule applies from the reload. A control request
// swaps the state the same way.
func (s *Server) Reload(cfg *config.Config) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.swap(s.stateOf(s.apply(cfg)))
}

// swap serves st from now on. s.reloadMu is held.
func (s *Server) swap(st *state) {
	labels := map[string]bool{}
	st.each(func(in *instance) {
		in.count = s.metrics.perGuest.WithLabelValues(in.label)
		for _, k := range lifecycle.Kinds { // exported before anything happens
			s.metrics.transitions.WithLabelValues(in.label, k)
		}
		labels[in.label] = true
	})
	st.carryLife(s.state.Load())
	s.state.Store(st)
	for l := range s.labels { // a guest that is gone takes its series along
		if !labels[l] {
			s.metrics.perGuest.DeleteLabelValues(l)
			s.metrics.transitions.DeletePartialMatch(prometheus.Labels{"instance_id": l})
			s.metrics.readDelay.DeletePartialMatch(prometheus.Labels{"instance_id": l})
		}
	}
	s.labels = labels
	s.life.wake()
}

// Config returns the configuration being served.
func (s *Server) Config() *config.Config { return s.state.Load().cfg }

// Serve answers requests arriving on ln until [Server.Shutdown] is called,
// when it returns nil. It may be called for several listeners at once.
func (s *Server) Serve(ln net.Listener) error {
	s.alog.start()
	s.startLife()
	limited := connlimit.New(ln, func() connlimit.Limits {
		cfg := s.state.Load().cfg
		return connlimit.Limits{Total: cfg.MaxConnections, PerClient: cfg.MaxConnectionsPerClient, Guests: len(cfg.Entries())}
	}, func(remote netip.Addr, local netip.AddrPort) guestkey.Key {
		return s.guestKey(s.state.Load(), remote, local)
	}, func(perClient bool) {
		if perClient {
			s.metrics.refused.WithLabelValues("per_client").Inc()
		} else {
			s.metrics.refused.WithLabelValues("total").Inc()
		}
	})
	return s.serveFront(limited)
}

// Shutdown stops accepting connections and waits, until ctx is done, for
// requests in flight to finish; then it closes what remains. Requests
// waiting out an injected delay are answered at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	err := s.shutdownFront(ctx)
	s.stopLife()
	s.waitHooks(ctx)
	s.alog.shutdown(ctx)
	if n, ok := s.macs.(neighbours); ok {
		n.close() // the Server's own; one given in Options is the caller's
	}
	return err
}
