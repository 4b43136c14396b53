package server

// The metadata listeners' HTTP/1.x front end.
//
// EC2 answers one request per connection and closes it, and an IMDS request
// is a head and nothing else, so the metadata listeners need little of
// net/http's server: no keep-alive, no bodies, no upgrades, no HTTP/2. What
// net/http's server costs beyond that per connection (a background read
// and its goroutine, two cancelable contexts, buffered writers, a response
// state machine) is most of what imdsd spent above a bare accept-read-
// write-close loop (issue 14). So each connection here is: read one head
// within max_header_bytes and the header timeout, parse it with net/http's
// own request reader (http.ReadRequest) plus the checks net/http's server
// adds (the same accept/refuse decision, fuzzed differentially in
// front_fuzz_test.go), hand it to ServeHTTP, write the answer in one write
// with EC2's framing, and close. A body is never read, whatever its
// framing (Content-Length or chunked): once the answer is sent, what
// arrives is drained for bodyGrace, so that closing does not reset the
// connection under the answer.
//
// Requests net/http's server would refuse before any handler saw them
// get the same status here, but with EC2's framing (Server: EC2ws, EC2's
// XHTML page, Connection: close, Content-Length). Requests without Host
// are served (FreeBSD's aws-ec2-imdsv2-get sends none): http.ReadRequest
// does not require one; net/http's server does, which internal/hostheader
// works around in front of net/http. The admin listener stays on net/http.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// writeTimeout bounds how long writing an answer may take: a client that
// does not read cannot hold its connection longer.
const writeTimeout = 10 * time.Second

// maxDrain bounds the request body bytes drained before closing, as
// net/http's server does (256 KiB).
const maxDrain = 256 << 10

// front is the state of the front end: its listeners and connections, for
// Shutdown.
// maxHeadBytes is the largest max_header_bytes the configuration accepts,
// and the bound the front end falls back to for a Server made from a
// configuration that did not come from the config package.
const maxHeadBytes = 64 << 10

type front struct {
	readHeaderTimeout time.Duration
	maxHeader         int // max_header_bytes; a head may take 4096 more, as in net/http
	// handler answers the parsed requests: the Server itself, or a
	// wrapper a test puts around it.
	handler http.Handler

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[*frontConn]struct{}
	idle      chan struct{} // closed when conns empties while closing
}

// serve accepts connections on ln until Shutdown.
func (s *Server) serveFront(ln net.Listener) error {
	f := &s.fe
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		ln.Close()
		return nil
	}
	if f.listeners == nil {
		f.listeners = map[net.Listener]struct{}{}
		f.conns = map[*frontConn]struct{}{}
	}
	f.listeners[ln] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.listeners, ln)
		f.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			f.mu.Lock()
			closing := f.closing
			f.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				// Out of descriptors (EMFILE) and the like: wait and
				// retry, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept error; retrying", "err", err, "in", backoff)
				select {
				case <-time.After(backoff):
				case <-s.stop:
				}
				continue
			}
			return err
		}
		backoff = 0
		fc := &frontConn{c: c}
		f.mu.Lock()
		if f.closing {
			f.mu.Unlock()
			c.Close()
			return nil
		}
		f.conns[fc] = struct{}{}
		f.mu.Unlock()
		go s.serveConn(fc)
	}
}

// isTemporary reports whether an accept error is worth retrying.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// shutdownFront closes the listeners and the connections still reading
// their head, and waits until ctx for those being answered.
func (s *Server) shutdownFront(ctx context.Context) error {
	f := &s.fe
	f.mu.Lock()
	f.closing = true
	for ln := range f.listeners {
		ln.Close()
	}
	for fc := range f.conns {
		if fc.state.Load() == stateReading {
			fc.c.Close()
		}
	}
	f.idle = make(chan struct{})
	if len(f.conns) == 0 {
		close(f.idle)
	}
	idle := f.idle
	f.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		for fc := range f.conns {
			fc.c.Close()
		}
		f.mu.Unlock()
		return ctx.Err()
	}
}

// Connection states, for Shutdown.
const (
	stateReading   = iota // reading the head: closed at once by Shutdown
	stateAnswering        // Shutdown waits for it
)

// frontConn is one accepted connection, with what answering its request
// takes, in one allocation.
type frontConn struct {
	c     net.Conn
	state atomic.Int32
	ctx   connContext
	w     frontWriter
}

// done forgets fc.
func (s *Server) connDone(fc *frontConn) {
	f := &s.fe
	f.mu.Lock()
	delete(f.conns, fc)
	if f.closing && len(f.conns) == 0 && f.idle != nil {
		select {
		case <-f.idle:
		default:
			close(f.idle)
		}
	}
	f.mu.Unlock()
}

// bufPool holds read buffers of heads.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readerPool holds the bufio.Readers http.ReadRequest reads heads from.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// serveConn answers the one request of fc and closes it.
func (s *Server) serveConn(fc *frontConn) {
	c := fc.c
	defer s.connDone(fc)
	bp := bufPool.Get().(*[]byte)
	defer func() { *bp = (*bp)[:0]; bufPool.Put(bp) }()

	c.SetReadDeadline(time.Now().Add(s.fe.readHeaderTimeout))
	head, rest, err := readHead(c, bp, s.fe.maxHeader+4096)
	if err != nil {
		// Gone, timed out or reset before a whole head: nothing to
		// answer, as net/http does.
		c.Close()
		return
	}
	fc.state.Store(stateAnswering)
	if head == nil {
		s.refuse(c, http.StatusRequestHeaderFieldsTooLarge, "HTTP/1.1")
		return
	}
	br := readerPool.Get().(*bufio.Reader)
	r, status := parseRequest(head, br)
	br.Reset(nil)
	readerPool.Put(br)
	if status != 0 {
		s.refuse(c, status, "HTTP/1.1")
		return
	}
	r.RemoteAddr = c.RemoteAddr().String()
	ctx := &fc.ctx
	ctx.c, ctx.local = c, c.LocalAddr()
	r = r.WithContext(ctx)

	w := &fc.w
	w.c = c
	s.fe.handler.ServeHTTP(w, r)
	ctx.stopWatching()
	w.flush(r)
	if r.ContentLength != 0 || len(rest) > 0 || ctx.unread {
		lingerClose(c)
		return
	}
	c.Close()
}

// readHead reads until the buffer holds a whole head (up to and including
// the empty line that ends it), max bytes without one (head nil), or an
// error. rest is what was read past the head.
func readHead(c net.Conn, bp *[]byte, limit int) (head, rest []byte, err error) {
	buf := *bp
	from := 0
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		*bp = buf
		if end := headEnd(buf, from); end >= 0 {
			return buf[:end], buf[end:], nil
		}
		if len(buf) >= limit {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		from = max(0, len(buf)-3)
	}
}

// headEnd returns the index just past the empty line ending the head in
// b, or -1; from is where to resume looking. The request line is the first
// line, even empty: net/http does not skip empty lines before it.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// parseRequest reads a request head as net/http's server does, except
// that a missing Host is allowed: the usual heads with parseSimple, the
// others with parseNetHTTP. status is 0 for a request to answer, or the
// status net/http's server would have refused it with.
func parseRequest(head []byte, br *bufio.Reader) (r *http.Request, status int) {
	if r := parseSimple(head); r != nil {
		return r, 0
	}
	return parseNetHTTP(head, br)
}

// parseNetHTTP reads a request head with http.ReadRequest and makes the
// checks net/http's server makes before a handler sees a request, except
// that a missing Host is allowed.
func parseNetHTTP(head []byte, br *bufio.Reader) (r *http.Request, status int) {
	br.Reset(bytes.NewReader(head))
	r, err := http.ReadRequest(br)
	if err != nil {
		if strings.HasPrefix(err.Error(), "unsupported transfer encoding") {
			return nil, http.StatusNotImplemented
		}
		return nil, http.StatusBadRequest
	}
	if r.ProtoMajor != 1 && !(r.ProtoMajor == 2 && r.ProtoMinor == 0 && r.Method == "PRI" && r.RequestURI == "*") {
		return nil, http.StatusHTTPVersionNotSupported
	}
	// The Host header, which http.ReadRequest takes out of the map into
	// r.Host, unless the target is in absolute form (then r.Host is the
	// target's, and the header is read again, rarely).
	host := r.Host
	if r.URL.Host != "" {
		host = absoluteFormHost(head)
	}
	if !validHost(host) {
		return nil, http.StatusBadRequest
	}
	for k, vv := range r.Header {
		if !validFieldName(k) {
			return nil, http.StatusBadRequest
		}
		for _, v := range vv {
			if !validFieldValue(v) {
				return nil, http.StatusBadRequest
			}
		}
	}
	if expect := r.Header.Get("Expect"); expect != "" && !hasToken(expect, "100-continue") {
		return nil, http.StatusExpectationFailed
	}
	return r, 0
}

// absoluteFormHost returns the value of the Host header of head, read as
// http.ReadRequest reads it.
func absoluteFormHost(head []byte) string {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	if _, err := tp.ReadLine(); err != nil {
		return ""
	}
	h, _ := tp.ReadMIMEHeader()
	return h.Get("Host")
}

// refuse answers a request refused before ServeHTTP, with EC2's framing.
func (s *Server) refuse(c net.Conn, status int, proto string) {
	rep := errorReply(status)
	w := &frontWriter{c: c}
	s.write(w, &http.Request{Method: http.MethodGet}, &rep)
	w.flush(&http.Request{Proto: proto, ProtoMajor: 1, ProtoMinor: 1})
	s.metrics.request(status)
	if s.alog != nil && s.alog.level != AccessLogNone {
		client, _ := addrs(&http.Request{RemoteAddr: c.RemoteAddr().String()})
		s.alog.record(accessEntry{time: time.Now(), client: c.RemoteAddr().String(), status: status}, client)
	}
	lingerClose(c)
}

// lingerClose closes c after telling the client it has its answer (FIN)
// and reading what it still sends for bodyGrace, so that unread bytes do
// not make the kernel reset the connection under the answer.
func lingerClose(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(bodyGrace))
	io.CopyN(io.Discard, c, maxDrain)
	c.Close()
}

// frontWriter is the http.ResponseWriter ServeHTTP answers into: the whole
// answer is written at once by flush. [Server.write] hands it the reply
// itself (rep), which flush frames without a header map; what another
// handler writes goes through h and body.
type frontWriter struct {
	c      net.Conn
	h      http.Header
	status int
	wrote  bool
	body   []byte
	rep    reply
	hasRep bool
}

func (w *frontWriter) Header() http.Header {
	if w.h == nil {
		w.h = make(http.Header, 8)
	}
	return w.h
}

func (w *frontWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote, w.status = true, status
	}
}

func (w *frontWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	return len(p), nil
}

// SetReadDeadline is for http.ResponseController; the front end drains
// bodies with its own deadline.
func (w *frontWriter) SetReadDeadline(time.Time) error { return nil }

// headerOrder is the order of EC2's header lines (capture B of the wire
// reference); others follow, sorted.
var headerOrder = []string{hdrTTL, "Allow", "Content-Type", "Accept-Ranges", "Last-Modified", "Content-Length"}

// flush writes the answer to r in one write: status line, headers in
// EC2's order, Date, Server, Connection: close, body.
func (w *frontWriter) flush(r *http.Request) {
	if !w.wrote { // the client went away: no one to answer
		return
	}
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if r.ProtoAtLeast(1, 1) {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, reasonPhrase(w.status)...)
	b = append(b, "\r\n"...)
	if w.hasRep {
		b = w.rep.appendHeader(b)
	}
	seen := 0
	for _, k := range headerOrder {
		if vv, ok := w.h[k]; ok {
			seen++
			b = appendHeader(b, k, vv)
		}
	}
	if seen < len(w.h) {
		var rest []string
		for k := range w.h {
			switch k {
			case hdrTTL, "Allow", "Content-Type", "Accept-Ranges", "Last-Modified", "Content-Length", "Date", "Server", "Connection":
			default:
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		for _, k := range rest {
			b = appendHeader(b, k, w.h[k])
		}
	}
	b = append(b, "Date: "...)
	b = append(b, httpDate()...)
	b = append(b, "\r\nServer: EC2ws\r\nConnection: close\r\n\r\n"...)
	if r.Method != http.MethodHead {
		b = append(b, w.body...)
	}
	w.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	w.c.Write(b)
	*bp = b[:0]
	bufPool.Put(bp)
}

// appendHeader appends rep's header lines but Date, Server and
// Connection, in EC2's order (headerOrder), as [Server.write] puts them in
// a header map.
func (rep *reply) appendHeader(b []byte) []byte {
	if rep.ttl > 0 {
		b = append(b, hdrTTL+": "...)
		b = strconv.AppendInt(b, int64(rep.ttl), 10)
		b = append(b, "\r\n"...)
	}
	if rep.allow != "" {
		b = append(b, "Allow: "...)
		b = append(b, rep.allow...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "Content-Type: "...)
	b = append(b, rep.ctype...)
	b = append(b, "\r\n"...)
	if rep.meta {
		b = append(b, "Accept-Ranges: none\r\n"...)
		b = appendHeader(b, "Last-Modified", rep.modified)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(rep.body)), 10)
	return append(b, "\r\n"...)
}

func appendHeader(b []byte, k string, vv []string) []byte {
	for _, v := range vv {
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return b
}

// reasonPhrase is the status line's text: net/http's, except where EC2's
// differs (405 "Not Allowed", from a real answer).
func reasonPhrase(status int) string {
	if status == http.StatusMethodNotAllowed {
		return "Not Allowed"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "status code " + strconv.Itoa(status)
}

// dateCache is the Date header value of the current second.
var dateCache atomic.Pointer[struct {
	sec int64
	s   string
}]

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &struct {
		sec int64
		s   string
	}{now.Unix(), now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

// connContext is a request's context: it carries the connection and the
// local address (as net/http's does), and is done when the client goes
// away. Noticing that takes a read on the connection, so it is started
// only when someone waits on Done (an injected delay, a rate limit's
// wait).
type connContext struct {
	c     net.Conn
	local net.Addr

	once   sync.Once
	done   chan struct{}
	reader chan struct{} // closed when the watching read has returned
	gone   atomic.Bool
	unread bool // the watcher read bytes: a body or a pipelined request
}

func (x *connContext) Deadline() (time.Time, bool) { return time.Time{}, false }

func (x *connContext) Done() <-chan struct{} {
	x.once.Do(func() {
		x.done = make(chan struct{})
		x.reader = make(chan struct{})
		go x.watch()
	})
	return x.done
}

// watch reads from the connection until it fails: EOF or a reset means
// the client has gone. Bytes read (a body) are discarded.
func (x *connContext) watch() {
	defer close(x.reader)
	var b [512]byte
	for {
		n, err := x.c.Read(b[:])
		if n > 0 {
			x.unread = true
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return // stopWatching
			}
			x.gone.Store(true)
			close(x.done)
			return
		}
	}
}

// stopWatching ends the watching read, if there is one, before the answer
// is written.
func (x *connContext) stopWatching() {
	started := false
	x.once.Do(func() {}) // no watcher from now on
	if x.reader != nil {
		started = true
	}
	if started {
		x.c.SetReadDeadline(time.Now())
		<-x.reader
		x.c.SetReadDeadline(time.Time{})
	}
}

func (x *connContext) Err() error {
	if x.gone.Load() {
		return context.Canceled
	}
	return nil
}

func (x *connContext) Value(key any) any {
	switch key {
	case connKey{}:
		return x.c
	case http.LocalAddrContextKey:
		return x.local
	}
	return nil
}

// The checks net/http's server makes on a parsed head, from
// golang.org/x/net/http/httpguts (which net/http vendors).

// validHost reports whether h has only bytes a Host may have.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!$%&()*+,-.:;=[']_~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldName reports whether k is a token (RFC 9110).
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether v has no control bytes but blanks.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// hasToken reports whether token is in the list v, case-insensitively,
// as net/http decides "Expect: 100-continue".
func hasToken(v, token string) bool {
	if len(token) > len(v) || token == "" {
		return false
	}
	if v == token {
		return true
	}
	boundary := func(b byte) bool { return b == ' ' || b == ',' || b == '\t' }
	for sp := 0; sp <= len(v)-len(token); sp++ {
		if sp > 0 && !boundary(v[sp-1]) {
			continue
		}
		if end := sp + len(token); end != len(v) && !boundary(v[end]) {
			continue
		}
		if asciiEqualFold(v[sp:sp+len(token)], token) {
			return true
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only, as net/http's, on
// strings or bytes (the fast reader compares header names in place).
func asciiEqualFold[A, B ~string | ~[]byte](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
