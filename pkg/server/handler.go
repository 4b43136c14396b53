package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/imdsd/imdsd/internal/guestkey"
	"github.com/imdsd/imdsd/internal/imdspath"
	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/internal/ratelimit"
	"github.com/imdsd/imdsd/internal/token"
)

// Header names, in the canonical form net/http stores them under.
const (
	hdrToken = "X-Aws-Ec2-Metadata-Token"
	hdrTTL   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	hdrXFF   = "X-Forwarded-For"
)

// headerValues are the header values every response shares, made once per
// Server; net/http only reads them.
type headerValues struct {
	server, close, none, plain, octet, html []string
}

func newHeaderValues() headerValues {
	return headerValues{
		server: []string{"EC2ws"}, close: []string{"close"}, none: []string{"none"},
		plain: []string{metadata.TextPlain}, octet: []string{metadata.OctetStream}, html: []string{"text/html"},
	}
}

// contentType returns the shared header value for ct.
func (hv *headerValues) contentType(ct string) []string {
	switch ct {
	case metadata.TextPlain:
		return hv.plain
	case metadata.OctetStream:
		return hv.octet
	case "text/html":
		return hv.html
	}
	return []string{ct}
}

// Allow header values.
const (
	allowToken = "OPTIONS, PUT"
	allowMeta  = "OPTIONS, GET, HEAD"
)

// StatusClientGone is the status the access log records for a request whose
// client went away before it was answered (during an injected delay); no
// response is sent. It is nginx's "client closed request".
const StatusClientGone = 499

// bodyGrace is how long a request body the handler does not read may keep
// arriving after the response. net/http drains an unread body before it
// closes the connection, with no deadline of its own, so a client that
// announces a body and never sends it would otherwise hold the connection
// (and a client reading to EOF would hang). Draining a body that is on its
// way, rather than closing on it, spares the client a reset that could
// destroy the response.
const bodyGrace = 250 * time.Millisecond

// reply is a whole response, decided before a byte is written, so that
// every response gets the same framing and the same access log line.
type reply struct {
	status int
	ctype  string
	body   []byte
	ttl    int    // > 0: sent as X-Aws-Ec2-Metadata-Token-Ttl-Seconds
	allow  string // sent as Allow (405 and OPTIONS)
	// meta marks a metadata answer (a listing, a leaf, user-data): sent
	// with Accept-Ranges: none and, when modified is set, Last-Modified,
	// as EC2 does. The token response has neither.
	meta     bool
	modified []string // Last-Modified, made once per instance
	// unknown marks the answer to a client no guest matches while guests
	// are configured: the access log keeps such lines at level errors.
	unknown bool
}

// ServeHTTP answers one request. It never panics: a panic while deciding the
// answer becomes a 500 and a log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Now()
	rep, ok := s.answer(r)
	n := 0
	if ok {
		n = s.write(w, r, &rep)
		s.metrics.request(rep.status)
	} else {
		s.metrics.clientGone.Inc()
	}
	if r.ContentLength != 0 {
		// Not supported by every ResponseWriter (httptest's); then there
		// is no connection to hold either.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyGrace))
	}
	s.logRequest(r, &rep, n, start)
}

// answer decides the reply to r, after any injected delay. ok is false when
// the client went away during the delay: there is no one to answer.
func (s *Server) answer(r *http.Request) (rep reply, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic answering request", "client", r.RemoteAddr, "method", r.Method,
				"path", r.RequestURI, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rep, ok = errorReply(http.StatusInternalServerError), true
			s.metrics.panics.Inc()
		}
	}()
	st := s.state.Load()
	client, local := addrs(r)
	in, why := s.clientInstance(r.Context(), st, r, client, local)
	if why != nil && in == st.def {
		s.logUnknown(r.Context(), client, why)
	}
	if in == nil {
		// unknown_clients "deny": refused as EC2 refuses a disabled
		// endpoint, which clients take as final rather than retrying.
		return errorReply(http.StatusForbidden), true
	}
	// Decided here, where the guest is known, for the access log.
	unknown := in == st.def && st.hasGuests()
	defer func() { rep.unknown = unknown }()
	if in.count != nil {
		in.count.Inc()
	}
	now := s.opts.Now()
	if in.seen != nil {
		in.seen.record(client, now)
	}
	s.requested(in, now)
	if rl := st.cfg.RateLimit; rl != nil && rl.RequestsPerSecond > 0 && client.IsValid() && !ratelimit.Exempt(client, rl.Loopback) {
		maxWait := time.Duration(0)
		if rl.Action == "delay" {
			maxWait = ratelimit.MaxWait
		}
		wait, allowed := s.limiter.Take(guestkey.Of(client, in.guestID()), ratelimit.Settings{PerSecond: rl.RequestsPerSecond, Burst: rl.Burst}, maxWait)
		switch {
		case !allowed:
			s.metrics.limited.WithLabelValues("refused").Inc()
			if rl.Action == "429" {
				return errorReply(http.StatusTooManyRequests), true
			}
			return errorReply(http.StatusServiceUnavailable), true
		case wait > 0:
			s.metrics.limited.WithLabelValues("delayed").Inc()
			if !sleep(r.Context(), s.stop, wait) {
				return reply{status: StatusClientGone}, false
			}
		}
	}
	// A fault names a path below a version (what imdspath.Key gives), and
	// applies under every version the service knows; the root listing
	// and unknown versions only get the default delay.
	version, rest := imdspath.Split(r.URL.Path)
	delay, forced := in.cfg.DefaultDelayMS, 0
	if version != "" && metadata.KnownVersion(version) {
		delay, forced = in.cfg.Fault(rest)
	}
	if delay > 0 && !sleep(r.Context(), s.stop, time.Duration(delay)*time.Millisecond) {
		return reply{status: StatusClientGone}, false
	}
	switch {
	case !in.cfg.EndpointEnabled():
		return errorReply(http.StatusForbidden), true
	case forced != 0:
		return errorReply(forced), true
	}
	return s.decide(r, st, in, client, version, rest), true
}

// sleep waits for d, or until stop is closed (the server is shutting
// down: answer now), or until ctx is done (the client went away: there is
// no one to answer), and reports whether to answer.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return true
	case <-ctx.Done():
		return false
	}
}

// decide works out the answer to a request for an enabled endpoint.
func (s *Server) decide(r *http.Request, st *state, in *instance, client netip.Addr, version, rest string) reply {
	if rest == "api/token" && version != "" {
		return s.mint(r, st, binding(client, r.RemoteAddr, in), version)
	}

	// Authentication comes before routing, as on EC2: with tokens required,
	// even "GET //" is 401, which is how clients detect IMDSv2.
	ttl := 0
	if tok, ok := r.Header[hdrToken]; ok {
		left, err := s.sealer.Verify(tok[0], binding(client, r.RemoteAddr, in))
		if err != nil {
			s.metrics.rejected.WithLabelValues(rejectReason(err)).Inc()
			return errorReply(http.StatusUnauthorized)
		}
		ttl = int((left + time.Second - 1) / time.Second)
	} else {
		s.metrics.v1.Inc()
		if in.cfg.TokensRequired() {
			return errorReply(http.StatusUnauthorized)
		}
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		return reply{status: http.StatusOK, ctype: metadata.TextPlain, allow: allowMeta, ttl: ttl}
	default:
		rep := errorReply(http.StatusMethodNotAllowed)
		rep.allow = allowMeta
		return rep
	}

	if version == "" {
		return reply{status: http.StatusOK, ctype: metadata.TextPlain, body: metadata.VersionList(),
			ttl: ttl, meta: true, modified: in.modified}
	}
	if !metadata.KnownVersion(version) {
		return errorReply(http.StatusNotFound)
	}
	if k := in.dyn[rest]; k != 0 {
		return s.dynamic(in, k, rest, ttl)
	}
	e := in.tree.Lookup(rest)
	if e == nil {
		return errorReply(http.StatusNotFound)
	}
	return reply{
		status:   http.StatusOK,
		ctype:    e.ContentType,
		body:     e.Body(s.opts.Now()),
		ttl:      ttl,
		meta:     true,
		modified: in.modified,
	}
}

// mint answers the token path: PUT /latest/api/token.
func (s *Server) mint(r *http.Request, st *state, bind []byte, version string) reply {
	switch {
	case r.Method == http.MethodOptions:
		return reply{status: http.StatusOK, ctype: metadata.TextPlain, allow: allowToken}
	case r.Method != http.MethodPut:
		rep := errorReply(http.StatusMethodNotAllowed)
		rep.allow = allowToken
		return rep
	case len(r.Header[hdrXFF]) > 0:
		// A proxy forwarded this; tokens are for the instance itself.
		return errorReply(http.StatusForbidden)
	case version != "latest":
		return errorReply(http.StatusForbidden)
	}
	ttl, ok := parseTTL(r.Header[hdrTTL])
	if !ok {
		return errorReply(http.StatusBadRequest)
	}
	tok := s.sealer.Mint(time.Duration(ttl)*time.Second, bind)
	s.metrics.tokens.Inc()
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		// Like EC2's http-put-response-hop-limit: the token does not
		// reach a client more routed hops away.
		if err := setHopLimit(c, st.cfg.HopLimit()); err != nil {
			s.log.Warn("cannot set the token response's hop limit", "client", r.RemoteAddr, "err", err)
		}
	}
	return reply{status: http.StatusOK, ctype: metadata.TextPlain, body: []byte(tok), ttl: ttl}
}

// parseTTL accepts exactly one header value of plain decimal digits (no
// sign, no blanks) from 1 to 21600; leading zeros are allowed.
func parseTTL(vals []string) (int, bool) {
	if len(vals) != 1 || vals[0] == "" {
		return 0, false
	}
	for _, c := range vals[0] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v := strings.TrimLeft(vals[0], "0")
	if len(v) > 5 {
		return 0, false
	}
	n, _ := strconv.Atoi(v) // "" (all zeros) gives 0
	return n, n >= 1 && n <= int(token.MaxTTL/time.Second)
}

// binding is what a token is bound to: the client's address and the
// instance it belongs to, so that a token taken to another guest, or kept
// across a reload that gives the address to another instance, does not
// open; for a guest matched by MAC address, its MAC address too, so that
// a token does not open for another guest that took over the address.
// An instance id holds no NUL byte, so the parts cannot run together.
func binding(client netip.Addr, remote string, in *instance) []byte {
	b := make([]byte, 0, 16+1+len(in.id)+1+len(in.mac))
	if client.IsValid() {
		b = append(b, client.AsSlice()...)
	} else {
		b = append(b, remote...)
	}
	b = append(append(b, 0), in.id...)
	if in.mac != nil {
		b = append(append(b, 0), in.mac...)
	}
	return b
}

// rejectReason names a token error for the metrics.
func rejectReason(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "expired"
	case errors.Is(err, token.ErrMalformed):
		return "malformed"
	}
	return "invalid"
}

// connKey is the request context key of the connection.
type connKey struct{}

// addrs returns the client's address and the local address it connected
// to; either is invalid when unknown (a Unix socket, a test recorder).
// The client's address comes unmapped (an IPv4 client on an IPv6 socket is
// IPv4) and without a zone (a link-local client matches its guest), the one
// form every lookup keyed on it uses.
func addrs(r *http.Request) (client netip.Addr, local netip.AddrPort) {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		client = ap.Addr().Unmap().WithZone("")
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := la.(*net.TCPAddr); ok {
			local = ta.AddrPort()
		}
	}
	return client, local
}

// write sends rep with EC2's framing and returns the body bytes written.
func (s *Server) write(w http.ResponseWriter, r *http.Request, rep *reply) int {
	if fw, ok := w.(*frontWriter); ok && len(fw.h) == 0 && !fw.wrote {
		// The front end frames the reply itself, in the same order.
		fw.rep, fw.hasRep = *rep, true
		fw.WriteHeader(rep.status)
		if r.Method == http.MethodHead {
			return 0
		}
		fw.body = rep.body
		return len(rep.body)
	}
	h := w.Header()
	h["Server"] = s.hv.server
	h["Connection"] = s.hv.close
	h["Content-Type"] = s.hv.contentType(rep.ctype)
	h["Content-Length"] = []string{strconv.Itoa(len(rep.body))}
	if rep.meta {
		h["Accept-Ranges"] = s.hv.none
		if rep.modified != nil {
			h["Last-Modified"] = rep.modified
		}
	}
	if rep.ttl > 0 {
		h[hdrTTL] = []string{strconv.Itoa(rep.ttl)}
	}
	if rep.allow != "" {
		h["Allow"] = []string{rep.allow}
	}
	w.WriteHeader(rep.status)
	if r.Method == http.MethodHead || len(rep.body) == 0 {
		return 0
	}
	n, _ := w.Write(rep.body)
	return n
}
