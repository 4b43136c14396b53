package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/imdsd/imdsd/pkg/imdspath"
	"github.com/imdsd/imdsd/pkg/metadata"
	"github.com/imdsd/imdsd/pkg/token"
)

// Header names, in the canonical form net/http stores them under.
const (
	hdrToken = "X-Aws-Ec2-Metadata-Token"
	hdrTTL   = "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"
	hdrXFF   = "X-Forwarded-For"
)

// reply is a whole response, decided before a byte is written, so that
// every response gets the same framing and the same access log line.
type reply struct {
	status   int
	ctype    string
	body     []byte
	ttl      int       // > 0: sent as X-Aws-Ec2-Metadata-Token-Ttl-Seconds
	allow    string    // sent as Allow (405 and OPTIONS)
	modified time.Time // sent as Last-Modified when not zero
}

// ServeHTTP answers one request. It never panics: a panic while deciding the
// answer becomes a 500 and a log line.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.opts.Now()
	st := s.state.Load()
	version, rest := imdspath.Split(r.URL.Path)

	delay, forced := st.cfg.DefaultDelayMS, 0
	if version != "" {
		delay, forced = st.cfg.Fault(rest)
	}
	if delay > 0 {
		t := time.NewTimer(time.Duration(delay) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	var rep reply
	switch {
	case !st.cfg.EndpointEnabled():
		rep = errorReply(http.StatusForbidden)
	case forced != 0:
		rep = errorReply(forced)
	default:
		rep = s.decide(r, st, version, rest)
	}
	n := s.write(w, r, &rep)
	if s.opts.AccessLog != nil {
		s.opts.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("client", r.RemoteAddr),
			slog.String("method", r.Method),
			slog.String("path", r.RequestURI),
			slog.Int("status", rep.status),
			slog.Int("bytes", n),
			slog.Duration("time", s.opts.Now().Sub(start)),
		)
	}
}

// decide works out the answer to a request for an enabled endpoint.
func (s *Server) decide(r *http.Request, st *state, version, rest string) (rep reply) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic answering request", "client", r.RemoteAddr, "path", r.RequestURI, "panic", fmt.Sprint(p))
			rep = errorReply(http.StatusInternalServerError)
		}
	}()
	if rest == "api/token" && version != "" {
		return s.mint(r, version)
	}

	// Authentication comes before routing, as on EC2: with tokens required,
	// even "GET //" is 401, which is how clients detect IMDSv2.
	ttl := 0
	if tok, ok := r.Header[hdrToken]; ok {
		left, err := s.sealer.Verify(tok[0], binding(r))
		if err != nil {
			return errorReply(http.StatusUnauthorized)
		}
		ttl = int((left + time.Second - 1) / time.Second)
	} else if st.cfg.TokensRequired() {
		return errorReply(http.StatusUnauthorized)
	}

	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		return reply{status: http.StatusOK, ctype: metadata.TextPlain, allow: "OPTIONS, GET, HEAD", ttl: ttl}
	default:
		rep := errorReply(http.StatusMethodNotAllowed)
		rep.allow = "OPTIONS, GET, HEAD"
		return rep
	}

	if version == "" {
		return reply{status: http.StatusOK, ctype: metadata.TextPlain, body: metadata.VersionList(), ttl: ttl}
	}
	if !metadata.KnownVersion(version) {
		return errorReply(http.StatusNotFound)
	}
	e := st.tree.Lookup(rest)
	if e == nil {
		return errorReply(http.StatusNotFound)
	}
	return reply{
		status:   http.StatusOK,
		ctype:    e.ContentType,
		body:     e.Body(s.opts.Now()),
		ttl:      ttl,
		modified: st.tree.Modified,
	}
}

// mint answers the token path: PUT /latest/api/token.
func (s *Server) mint(r *http.Request, version string) reply {
	switch {
	case r.Method == http.MethodOptions:
		return reply{status: http.StatusOK, ctype: metadata.TextPlain, allow: "OPTIONS, PUT"}
	case r.Method != http.MethodPut:
		rep := errorReply(http.StatusMethodNotAllowed)
		rep.allow = "OPTIONS, PUT"
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
	tok := s.sealer.Mint(time.Duration(ttl)*time.Second, binding(r))
	return reply{status: http.StatusOK, ctype: metadata.TextPlain, body: []byte(tok), ttl: ttl}
}

// parseTTL accepts exactly one header value of plain decimal digits from 1
// to 21600.
func parseTTL(vals []string) (int, bool) {
	if len(vals) != 1 || len(vals[0]) == 0 || len(vals[0]) > 5 {
		return 0, false
	}
	for _, c := range vals[0] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, _ := strconv.Atoi(vals[0])
	return n, n >= 1 && n <= int(token.MaxTTL/time.Second)
}

// binding is what a token is bound to: the client's address, so that a
// token taken to another guest does not open.
func binding(r *http.Request) []byte {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return []byte(r.RemoteAddr)
	}
	return ap.Addr().Unmap().AsSlice()
}

// write sends rep with EC2's framing and returns the body bytes written.
func (s *Server) write(w http.ResponseWriter, r *http.Request, rep *reply) int {
	h := w.Header()
	h["Server"] = []string{"EC2ws"}
	h["Connection"] = []string{"close"}
	h["Content-Type"] = []string{rep.ctype}
	h["Content-Length"] = []string{strconv.Itoa(len(rep.body))}
	if rep.status == http.StatusOK && rep.ctype == metadata.TextPlain && rep.allow == "" {
		h["Accept-Ranges"] = []string{"none"}
	}
	if !rep.modified.IsZero() {
		h["Last-Modified"] = []string{rep.modified.UTC().Format(http.TimeFormat)}
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
