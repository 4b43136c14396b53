package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
)

// epoch is the fake clock's start: the launch time, so Last-Modified.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// lastModified is Last-Modified for a server started at epoch.
const lastModified = "Fri, 02 Jan 2026 03:04:05 GMT"

// reToken is what a token looks like on the wire.
var reToken = regexp.MustCompile(`^[A-Za-z0-9_-]{54}==$`)

// page404 is EC2's 404 page, byte for byte (339 bytes).
const page404 = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n" +
	"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n" +
	"\t\t \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n" +
	"<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n" +
	" <head>\n" +
	"  <title>404 - Not Found</title>\n" +
	" </head>\n" +
	" <body>\n" +
	"  <h1>404 - Not Found</h1>\n" +
	" </body>\n" +
	"</html>\n"

// Config snippets.
const (
	cfgRequired = `{}`
	cfgOptional = `{"http_tokens": "optional"}`
)

// fakeClock is a settable clock shared by the server and its sealer.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// records returns the JSON log records written so far.
func records(t *testing.T, b *testbin.Output) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// parseConfig parses an inline JSON configuration.
func parseConfig(t testing.TB, js string) *config.Config {
	t.Helper()
	cfg, _, err := config.Parse("test.json", []byte(js))
	if err != nil {
		t.Fatalf("config %s: %v", js, err)
	}
	return cfg
}

// testServer is a Server listening on 127.0.0.1 with a fake clock and
// JSON access and error logs.
type testServer struct {
	srv     *Server
	addr    string
	clock   *fakeClock
	access  *testbin.Output
	errlog  *testbin.Output
	entered <-chan struct{} // a request reached the handler; see handlerEntered
}

// start serves cfgJSON on a fresh 127.0.0.1 port until the test ends.
// mods adjust the Options before New.
func start(t testing.TB, cfgJSON string, mods ...func(*Options)) *testServer {
	t.Helper()
	ts := &testServer{clock: &fakeClock{t: epoch}, access: &testbin.Output{}, errlog: &testbin.Output{}}
	opts := Options{
		Logger:    slog.New(slog.NewJSONHandler(ts.errlog, nil)),
		AccessLog: slog.New(slog.NewJSONHandler(ts.access, nil)),
		Now:       ts.clock.Now,
		Version:   "test",
	}
	for _, m := range mods {
		m(&opts)
	}
	srv, err := New(parseConfig(t, cfgJSON), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ts.srv = srv
	ts.entered = handlerEntered(srv)
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
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	})
	return ts
}

// handlerEntered wraps srv's handler so that the channel it returns
// receives a value each time a request reaches the handler (where an
// injected delay starts), for tests that must act only once a request is
// in flight. It keeps the last 64 unread. Call it before Serve.
func handlerEntered(srv *Server) <-chan struct{} {
	ch := make(chan struct{}, 64)
	h := srv.fe.handler
	srv.fe.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- struct{}{}:
		default:
		}
		h.ServeHTTP(w, r)
	})
	return ch
}

// waitEntered waits until a request has reached the handler.
func waitEntered(t testing.TB, entered <-chan struct{}) {
	t.Helper()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the handler within 10s")
	}
}

// req builds a request head with a Host header and the given header lines.
func req(method, path string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: 169.254.169.254\r\n", method, path)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// tokenHdr is the header line carrying tok.
func tokenHdr(tok string) string { return "X-aws-ec2-metadata-token: " + tok }

// ttlHdr is the header line asking for a TTL.
func ttlHdr(ttl string) string { return "X-aws-ec2-metadata-token-ttl-seconds: " + ttl }

// response is a response as read off the wire.
type response struct {
	raw    []byte
	status int
	line   string   // status line
	lines  []string // header lines as sent
	header http.Header
	body   []byte
}

func (r *response) String() string { return fmt.Sprintf("%q", r.raw) }

// exchange sends raw over a new connection from 127.0.0.1 and reads until
// the server closes the connection.
func (ts *testServer) exchange(t testing.TB, raw string) *response {
	t.Helper()
	return ts.exchangeFrom(t, "", raw)
}

// exchangeFrom is exchange from local address src ("" for any).
func (ts *testServer) exchangeFrom(t testing.TB, src, raw string) *response {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", ts.addr, src, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("writing %q: %v", raw, err)
	}
	return readResponse(t, c, strings.HasPrefix(raw, "HEAD "))
}

// readResponse reads c to EOF and parses it as exactly one response.
func readResponse(t testing.TB, c net.Conn, head bool) *response {
	t.Helper()
	all, err := io.ReadAll(c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server did not close the connection; read so far %q", all)
		}
		t.Fatalf("reading: %v; read so far %q", err, all)
	}
	return parseResponse(t, all, head)
}

// parseResponse splits raw into status line, header lines and body, and
// checks that the head uses CRLF throughout and that the body is exactly
// Content-Length bytes, with nothing after it.
func parseResponse(t testing.TB, raw []byte, head bool) *response {
	t.Helper()
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatalf("no end of head in %q", raw)
	}
	r := &response{raw: raw, header: http.Header{}, body: raw[i+4:]}
	h := string(raw[:i])
	if strings.Contains(strings.ReplaceAll(h, "\r\n", ""), "\n") || strings.Contains(strings.ReplaceAll(h, "\r\n", ""), "\r") {
		t.Errorf("head has a line ending other than CRLF: %q", h)
	}
	lines := strings.Split(h, "\r\n")
	r.line, r.lines = lines[0], lines[1:]
	f := strings.SplitN(r.line, " ", 3)
	if len(f) < 2 {
		t.Fatalf("bad status line %q", r.line)
	}
	var err error
	if r.status, err = strconv.Atoi(f[1]); err != nil {
		t.Fatalf("bad status line %q", r.line)
	}
	for _, l := range r.lines {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bad header line %q", l)
		}
		r.header.Add(k, v)
	}
	if cl := r.header.Values("Content-Length"); len(cl) == 1 && !head {
		if n, err := strconv.Atoi(cl[0]); err != nil || n != len(r.body) {
			t.Errorf("Content-Length %q but %d body bytes (body %q)", cl[0], len(r.body), r.body)
		}
	}
	if head && len(r.body) != 0 {
		t.Errorf("HEAD response has a body: %q", r.body)
	}
	return r
}

// checkFraming checks what every response of the handler carries: exactly
// one Server: EC2ws and Connection: close, a Date, a Content-Length and
// neither chunking nor compression.
func checkFraming(t testing.TB, r *response) {
	t.Helper()
	for k, want := range map[string]string{"Server": "EC2ws", "Connection": "close"} {
		got := r.header.Values(k)
		if k == "Connection" && len(got) == 0 && strings.HasPrefix(r.line, "HTTP/1.0 ") {
			// net/http drops Connection: close from answers to HTTP/1.0
			// requests, where closing is the default; the socket is
			// closed all the same (readResponse read to EOF).
			continue
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want exactly [%q]", k, got, want)
		}
	}
	if d := r.header.Get("Date"); d == "" {
		t.Error("no Date header")
	} else if _, err := http.ParseTime(d); err != nil {
		t.Errorf("Date %q: %v", d, err)
	}
	if got := r.header.Values("Content-Length"); len(got) != 1 {
		t.Errorf("Content-Length = %q, want exactly one", got)
	}
	for _, k := range []string{"Transfer-Encoding", "Content-Encoding", "Location"} {
		if v := r.header.Values(k); len(v) > 0 {
			t.Errorf("unexpected %s: %q", k, v)
		}
	}
}

// expect describes the parts of a response a test cares about.
type expect struct {
	status int
	ctype  string // "" means text/plain
	body   *string
	allow  string
	ttl    string // X-Aws-Ec2-Metadata-Token-Ttl-Seconds; "-" means absent
	meta   bool   // Accept-Ranges: none and Last-Modified present
}

func str(s string) *string { return &s }

// check checks r against e, after checkFraming.
func (e expect) check(t testing.TB, r *response) {
	t.Helper()
	checkFraming(t, r)
	if r.status != e.status {
		t.Errorf("status %d (%q), want %d", r.status, r.line, e.status)
	}
	ct := e.ctype
	if ct == "" {
		ct = "text/plain"
	}
	if got := r.header.Get("Content-Type"); got != ct {
		t.Errorf("Content-Type %q, want %q", got, ct)
	}
	if e.body != nil && string(r.body) != *e.body {
		t.Errorf("body %q, want %q", r.body, *e.body)
	}
	if got := r.header.Get("Allow"); got != e.allow {
		t.Errorf("Allow %q, want %q", got, e.allow)
	}
	switch got, ok := r.header[hdrTTL]; {
	case e.ttl == "-" && ok:
		t.Errorf("%s %q, want none", hdrTTL, got)
	case e.ttl != "-" && e.ttl != "" && (len(got) != 1 || got[0] != e.ttl):
		t.Errorf("%s %q, want %q", hdrTTL, got, e.ttl)
	}
	ar, lm := r.header.Get("Accept-Ranges"), r.header.Get("Last-Modified")
	if e.meta && (ar != "none" || lm != lastModified) {
		t.Errorf("Accept-Ranges %q, Last-Modified %q; want none, %q", ar, lm, lastModified)
	}
	if !e.meta && (ar != "" || lm != "") {
		t.Errorf("Accept-Ranges %q, Last-Modified %q; want neither", ar, lm)
	}
}

// mintToken asks the server for a token over the wire.
func (ts *testServer) mintToken(t testing.TB, ttl int) string {
	t.Helper()
	r := ts.exchange(t, req("PUT", "/latest/api/token", ttlHdr(strconv.Itoa(ttl))))
	if r.status != http.StatusOK || !reToken.Match(r.body) {
		t.Fatalf("token PUT: %v", r)
	}
	return string(r.body)
}

// httptestRecord runs one request through h in process, from httptest's
// client address 192.0.2.1.
func httptestRecord(h http.Handler, method, path string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	for _, hl := range headers {
		k, v, _ := strings.Cut(hl, ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if http.CanonicalHeaderKey(k) == "Content-Length" {
			r.ContentLength, _ = strconv.ParseInt(v, 10, 64)
			continue
		}
		r.Header.Add(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
