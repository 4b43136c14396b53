package hostheader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testHost = "169.254.169.254:80"

func TestFix(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // "" means: unchanged
	}{
		// aws-ec2-imdsv2-get's two requests, byte for byte.
		{"no host GET //", "GET // HTTP/1.1\r\n\r\n",
			"GET // HTTP/1.1\r\nHost: " + testHost + "\r\n\r\n"},
		{"no host PUT token", "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n",
			"PUT /latest/api/token HTTP/1.1\r\nHost: " + testHost + "\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n"},
		{"no host, other headers", "GET /latest/meta-data/ HTTP/1.1\r\nX-aws-ec2-metadata-token: T\r\nAccept: */*\r\n\r\n",
			"GET /latest/meta-data/ HTTP/1.1\r\nHost: " + testHost + "\r\nX-aws-ec2-metadata-token: T\r\nAccept: */*\r\n\r\n"},
		{"header merely containing host", "GET / HTTP/1.1\r\nX-Host: a\r\nHostname: b\r\nGhost: c\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: " + testHost + "\r\nX-Host: a\r\nHostname: b\r\nGhost: c\r\n\r\n"},
		{"later HTTP/1.x", "GET / HTTP/1.5\r\n\r\n", "GET / HTTP/1.5\r\nHost: " + testHost + "\r\n\r\n"},

		{"Host present", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", ""},
		{"host lowercase", "GET / HTTP/1.1\r\nhost: a\r\n\r\n", ""},
		{"HOST uppercase", "GET / HTTP/1.1\r\nHOST: a\r\n\r\n", ""},
		{"hOsT no space", "GET / HTTP/1.1\r\nhOsT:a\r\n\r\n", ""},
		{"Host empty value", "GET / HTTP/1.1\r\nHost:\r\n\r\n", ""},
		{"Host after other headers", "GET / HTTP/1.1\r\nAccept: */*\r\nUser-Agent: x\r\nHost: a\r\n\r\n", ""},

		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", ""},
		{"HTTP/1.0 with headers", "PUT /latest/api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n", ""},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", ""},
		{"HTTP/0.9 style", "GET /\r\n\r\n", ""},
		{"lowercase version", "GET / http/1.1\r\n\r\n", ""},
		{"HTTP/1.10", "GET / HTTP/1.10\r\n\r\n", ""},

		{"leading CRLF", "\r\nGET / HTTP/1.1\r\n\r\n", "\r\nGET / HTTP/1.1\r\nHost: " + testHost + "\r\n\r\n"},
		{"leading CRLFs and LF", "\r\n\r\n\nGET / HTTP/1.1\r\nA: b\r\n\r\n",
			"\r\n\r\n\nGET / HTTP/1.1\r\nHost: " + testHost + "\r\nA: b\r\n\r\n"},
		{"leading CRLF, Host present", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ""},

		{"bare LF", "GET / HTTP/1.1\nA: b\n\n", "GET / HTTP/1.1\nHost: " + testHost + "\r\nA: b\n\n"},
		{"bare LF no headers", "GET / HTTP/1.1\n\n", "GET / HTTP/1.1\nHost: " + testHost + "\r\n\n"},
		{"bare LF, Host present", "GET / HTTP/1.1\nhost: a\n\n", ""},
		{"LF then CRLF end", "GET / HTTP/1.1\r\nA: b\n\r\n", "GET / HTTP/1.1\r\nHost: " + testHost + "\r\nA: b\n\r\n"},

		{"empty", "", ""},
		{"only CRLFs", "\r\n\r\n\r\n", ""},
		{"request line only", "GET / HTTP/1.1\r\n", ""},
		{"request line, no newline", "GET / HTTP/1.1", ""},
		{"incomplete head", "GET / HTTP/1.1\r\nA: b\r\n", ""},
		{"incomplete head, CR only", "GET / HTTP/1.1\r\nA: b\r\n\r", ""},

		{"body preserved", "PUT /latest/api/token HTTP/1.1\r\nContent-Length: 9\r\n\r\nHost: abc",
			"PUT /latest/api/token HTTP/1.1\r\nHost: " + testHost + "\r\nContent-Length: 9\r\n\r\nHost: abc"},
		{"body with CRLFs preserved", "PUT / HTTP/1.1\r\nContent-Length: 6\r\n\r\n\r\n\r\n\r\n",
			"PUT / HTTP/1.1\r\nHost: " + testHost + "\r\nContent-Length: 6\r\n\r\n\r\n\r\n\r\n"},
		{"pipelined: first head only", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
			"GET /a HTTP/1.1\r\nHost: " + testHost + "\r\n\r\nGET /b HTTP/1.1\r\n\r\n"},
		{"pipelined: Host only in second", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
			"GET /a HTTP/1.1\r\nHost: " + testHost + "\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.in
			}
			calls := 0
			in := []byte(tt.in)
			orig := bytes.Clone(in)
			got := Fix(in, func() string { calls++; return testHost })
			if string(got) != want {
				t.Errorf("Fix(%q)\n got %q\nwant %q", tt.in, got, want)
			}
			if !bytes.Equal(in, orig) {
				t.Errorf("Fix modified its input: %q, was %q", in, orig)
			}
			wantCalls := 0
			if tt.want != "" {
				wantCalls = 1
			}
			if calls != wantCalls {
				t.Errorf("host() called %d times, want %d", calls, wantCalls)
			}
		})
	}
}

// TestFixAcceptedByNetHTTP checks that what Fix produces is a request
// net/http reads, with the inserted Host, and that the body survives.
func TestFixAcceptedByNetHTTP(t *testing.T) {
	tests := []struct {
		name, in, host, body string
	}{
		{"GET //", "GET // HTTP/1.1\r\n\r\n", testHost, ""},
		{"bare LF", "GET / HTTP/1.1\nA: b\n\n", testHost, ""},
		{"PUT with body", "PUT /latest/api/token HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", testHost, "abc"},
		{"Host kept", "GET / HTTP/1.1\r\nhost: example\r\n\r\n", "example", ""},
		{"IPv6 host", "GET / HTTP/1.1\r\n\r\n", "[fd00:ec2::254]:80", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := Fix([]byte(tt.in), func() string { return tt.host })
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(out)))
			if err != nil {
				t.Fatalf("http.ReadRequest(%q): %v", out, err)
			}
			if req.Host != tt.host {
				t.Errorf("Host = %q, want %q", req.Host, tt.host)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil || string(body) != tt.body {
				t.Errorf("body = %q, %v; want %q", body, err, tt.body)
			}
		})
	}
}

// TestScannerResumes feeds heads one byte at a time and in uneven pieces and
// checks that the resuming scanner finds the same end as a whole-buffer scan.
func TestScannerResumes(t *testing.T) {
	heads := []string{
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\n\n",
		"\r\n\r\nGET / HTTP/1.1\r\nA: b\r\n\r\nbody",
		"GET / HTTP/1.1\r\nA: b\n\r\n",
		"GET / HTTP/1.1\r\nA: b\r\n\r",
		"\n\n\n",
		"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n",
	}
	for _, h := range heads {
		want := headEnd([]byte(h))
		for step := 1; step <= len(h); step++ {
			var sc scanner
			got := -1
			for n := step; ; n += step {
				if n > len(h) {
					n = len(h)
				}
				if got = sc.end([]byte(h[:n])); got >= 0 || n == len(h) {
					break
				}
			}
			if got != want {
				t.Errorf("%q in pieces of %d: end %d, whole-buffer end %d", h, step, got, want)
			}
		}
	}
}

// chunkWrite writes s to w in pieces of n bytes, flushing each with a
// write of its own.
func chunkWrite(w io.Writer, s string, n int) error {
	for len(s) > 0 {
		k := min(n, len(s))
		if _, err := w.Write([]byte(s[:k])); err != nil {
			return err
		}
		s = s[k:]
	}
	return nil
}

// TestConnPipe reads requests through a Conn over net.Pipe, written in many
// small writes, and checks what net/http's request reader makes of them.
func TestConnPipe(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		chunk    int
		wantHost string
		wantBody string
		wantRest string // bytes after the first request
	}{
		{"GET // byte by byte", "GET // HTTP/1.1\r\n\r\n", 1, "localhost", "", ""},
		{"PUT token in 3s", "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n", 3, "localhost", "", ""},
		{"Host given", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 2, "a", "", ""},
		{"HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", 1, "", "", ""},
		{"body split", "PUT / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", 4, "localhost", "0123456789", ""},
		{"pipelined", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 5, "localhost", "", "GET /b HTTP/1.1\r\n\r\n"},
		{"one write", "GET / HTTP/1.1\r\nA: b\r\n\r\n", 1 << 20, "localhost", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			c := &Conn{Conn: server}
			defer c.Close()
			werr := make(chan error, 1)
			go func() {
				err := chunkWrite(client, tt.in, tt.chunk)
				client.Close()
				werr <- err
			}()
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				t.Fatalf("ReadRequest: %v", err)
			}
			if req.Host != tt.wantHost {
				t.Errorf("Host = %q, want %q", req.Host, tt.wantHost)
			}
			body, err := io.ReadAll(req.Body)
			if err != nil || string(body) != tt.wantBody {
				t.Errorf("body = %q, %v; want %q", body, err, tt.wantBody)
			}
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != tt.wantRest {
				t.Errorf("rest = %q, %v; want %q", rest, err, tt.wantRest)
			}
			if err := <-werr; err != nil {
				t.Errorf("writing: %v", err)
			}
		})
	}
}

// TestConnLongHead checks that a head longer than MaxHead with no end is
// passed on unchanged, for net/http to refuse.
func TestConnLongHead(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	c := &Conn{Conn: server}
	defer c.Close()
	in := "GET /" + strings.Repeat("a", MaxHead) + " HTTP/1.1\r\n"
	go func() {
		chunkWrite(client, in, 4096)
		client.Close()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if string(got) != in {
		t.Errorf("read %d bytes, want the %d written, unchanged", len(got), len(in))
	}
}

// step is one scripted read: data returned together with err.
type step struct {
	data string
	err  error
}

// errConn is a net.Conn whose reads return scripted data and errors.
type errConn struct {
	net.Conn
	reads []step
}

func (c *errConn) Read(p []byte) (int, error) {
	if len(c.reads) == 0 {
		return 0, io.EOF
	}
	r := c.reads[0]
	c.reads = c.reads[1:]
	return copy(p, r.data), r.err
}

func (c *errConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(169, 254, 169, 254), Port: 80}
}

// TestConnReadError checks that data read together with an error is
// returned first, fixed, and the error after it, once.
func TestConnReadError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		reads   []step
		want    string
		wantErr error
	}{
		{"head then EOF", []step{{"GET // HTTP/1.1\r\n\r\n", io.EOF}}, "GET // HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\n", io.EOF},
		{"head in pieces", []step{{"GET // HT", nil}, {"TP/1.1\r", nil}, {"\n\r", nil}, {"\nrest", nil}}, "GET // HTTP/1.1\r\nHost: 169.254.169.254:80\r\n\r\nrest", io.EOF},
		{"partial head then error", []step{{"GET // HT", nil}, {"TP/1.1\r\n", boom}}, "GET // HTTP/1.1\r\n", boom},
		{"nothing then error", []step{{"", boom}}, "", boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Conn{Conn: &errConn{reads: tt.reads}}
			var got []byte
			var err error
			buf := make([]byte, 7)
			for i := 0; i < 100; i++ {
				var n int
				n, err = c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("read %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
			if n, err := c.Read(buf); n != 0 || err != io.EOF {
				t.Errorf("read after the error: %d, %v; want 0, EOF from the connection", n, err)
			}
		})
	}
}

// TestCloseWrite checks that CloseWrite reaches a TCP connection (the
// client sees EOF while the connection stays open for reading) and reports
// ErrUnsupported for connections without one.
func TestCloseWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := Listener(ln, 0).Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	cw, ok := sc.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("accepted %T has no CloseWrite", sc)
	}
	if _, err := sc.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "bye" {
		t.Errorf("client read %q, %v; want \"bye\" then EOF", got, err)
	}
	if u, ok := sc.(interface{ Unwrap() net.Conn }); !ok {
		t.Error("accepted conn has no Unwrap")
	} else if _, ok := u.Unwrap().(*net.TCPConn); !ok {
		t.Errorf("Unwrap() = %T, want *net.TCPConn", u.Unwrap())
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := (&Conn{Conn: a}).CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CloseWrite on a pipe: %v, want ErrUnsupported", err)
	}
}

// serveEcho runs an http.Server over Listener on a TCP port of 127.0.0.1
// that answers with the request's method, path and Host, and returns its
// address.
func serveEcho(t *testing.T, readHeaderTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveEchoOn(t, ln, readHeaderTimeout)
	return ln.Addr().String()
}

func serveEchoOn(t *testing.T, ln net.Listener, readHeaderTimeout time.Duration) {
	t.Helper()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, r.Host)
		}),
		ReadHeaderTimeout: readHeaderTimeout,
	}
	go srv.Serve(Listener(ln, 0))
	t.Cleanup(func() { srv.Close() })
}

// TestListenerUnix checks a request without Host over a Unix socket, whose
// path would not do as a Host.
func TestListenerUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("no Unix sockets: %v", err)
	}
	serveEchoOn(t, ln, 5*time.Second)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET // HTTP/1.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("ReadResponse: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if got, want := fmt.Sprintf("%d %s", resp.StatusCode, body), "200 GET // localhost"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestListenerNetHTTP sends requests without Host through a real socket in
// tiny writes to a plain net/http server behind Listener.
func TestListenerNetHTTP(t *testing.T) {
	addr := serveEcho(t, 5*time.Second)
	tests := []struct {
		name, req string
		chunk     int
		want      string
	}{
		{"GET // byte by byte", "GET // HTTP/1.1\r\n\r\n", 1, "200 GET // " + addr},
		{"PUT no length", "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n", 7, "200 PUT /latest/api/token " + addr},
		{"Host given", "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 2, "200 GET /x h"},
		{"HTTP/1.0", "GET /y HTTP/1.0\r\n\r\n", 3, "200 GET /y "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetNoDelay(true)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if err := chunkWrite(c, tt.req, tt.chunk); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("ReadResponse: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if got := fmt.Sprintf("%d %s", resp.StatusCode, body); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestListenerDeadline checks that net/http's ReadHeaderTimeout still cuts
// off a client that sends nothing, or half a head, through Listener.
func TestListenerDeadline(t *testing.T) {
	addr := serveEcho(t, 100*time.Millisecond)
	for _, send := range []string{"", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nA: b"} {
		t.Run(fmt.Sprintf("%q", send), func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte(send)); err != nil {
				t.Fatal(err)
			}
			// Far longer than the timeout: if this one fires, the
			// server did not cut the client off.
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading: %v (the server should have closed the connection)", err)
			}
			if len(got) != 0 {
				t.Errorf("got %q, want the connection closed with no answer", got)
			}
		})
	}
}

// FuzzFix checks that Fix never panics and either returns its input or
// inserts exactly one "Host: ...\r\n" line right after the request line of
// a complete HTTP/1.x (x >= 1) head; and that the resuming scanner agrees
// with a whole-buffer scan however the input is split.
func FuzzFix(f *testing.F) {
	for _, s := range []string{
		"GET // HTTP/1.1\r\n\r\n",
		"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"\r\nGET / HTTP/1.1\nA: b\n\nbody",
		"GET / HTTP/1.1\r\nA: b\r\n",
		"",
		"\n",
		"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(1))
	}
	const host = "h:1"
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		orig := bytes.Clone(in)
		out := Fix(in, func() string { return host })
		if !bytes.Equal(in, orig) {
			t.Fatalf("Fix modified its input")
		}
		end := headEnd(orig)
		if !bytes.Equal(out, orig) {
			skip := 0
			for skip < len(orig) && (orig[skip] == '\r' || orig[skip] == '\n') {
				skip++
			}
			k := bytes.IndexByte(orig[skip:], '\n') + skip + 1
			if end < 0 || k <= skip {
				t.Fatalf("Fix changed %q, which has no complete head, to %q", orig, out)
			}
			want := string(orig[:k]) + "Host: " + host + "\r\n" + string(orig[k:])
			if string(out) != want {
				t.Fatalf("Fix(%q)\n got %q\nwant %q", orig, out, want)
			}
			if !needsHost(bytes.TrimRight(orig[skip:k-1], "\r")) {
				t.Fatalf("Fix inserted Host into %q, whose request line is not HTTP/1.x", orig)
			}
		}
		n := int(step)%16 + 1
		var sc scanner
		got := -1
		for i := n; ; i += n {
			i = min(i, len(orig))
			if got = sc.end(orig[:i]); got >= 0 || i == len(orig) {
				break
			}
		}
		if got != end {
			t.Fatalf("scanner in pieces of %d found end %d in %q, whole-buffer scan %d", n, got, orig, end)
		}
	})
}

func BenchmarkFix(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"no-host", "GET //latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\n\r\n"},
		{"host", "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\nX-aws-ec2-metadata-token: AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\n\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := []byte(bc.in)
			host := func() string { return testHost }
			b.ReportAllocs()
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				Fix(in, host)
			}
		})
	}
}

// TestHostFor checks that the Host inserted for each kind of local address
// is one net/http accepts.
func TestHostFor(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(169, 254, 169, 254), Port: 80}, "169.254.169.254:80"},
		{&net.TCPAddr{IP: net.ParseIP("fd00:ec2::254"), Port: 80}, "[fd00:ec2::254]:80"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "vtnet0", Port: 80}, "[fe80::1%vtnet0]:80"},
		{&net.UnixAddr{Name: "/var/run/imdsd.sock", Net: "unix"}, "localhost"},
		{&net.UnixAddr{Name: "", Net: "unix"}, "localhost"},
	}
	for _, tt := range tests {
		got := hostFor(tt.addr)
		if got != tt.want {
			t.Errorf("hostFor(%v) = %q, want %q", tt.addr, got, tt.want)
		}
		out := Fix([]byte("GET // HTTP/1.1\r\n\r\n"), func() string { return got })
		// The server side of net/http checks Host; ReadRequest does not,
		// so go through a real server.
		if !validHost(t, out) {
			t.Errorf("net/http refuses Host %q", got)
		}
	}
}

// validHost reports whether a net/http server accepts the request head.
func validHost(t *testing.T, head []byte) bool {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(&oneConnListener{c: b})
	defer srv.Close()
	a.SetDeadline(time.Now().Add(10 * time.Second))
	go a.Write(head)
	resp, err := http.ReadResponse(bufio.NewReader(a), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", head, err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// oneConnListener accepts c once, then blocks until closed.
type oneConnListener struct {
	c    net.Conn
	once sync.Once
	done chan struct{}
	mu   sync.Mutex
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	done := l.done
	l.mu.Unlock()
	var c net.Conn
	l.once.Do(func() { c = l.c })
	if c != nil {
		return c, nil
	}
	<-done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestListenerMax(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := Listener(raw, 4096)
	defer ln.Close()
	// A head longer than the limit is passed on as it is, without the
	// Host the default 64 KiB would have inserted: the server refuses it,
	// and the wrapper held no more than about the limit.
	long := "GET / HTTP/1.1\r\nX-A: " + strings.Repeat("a", 10000) + "\r\n\r\n"
	go func() {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err == nil {
			io.WriteString(c, long)
			time.Sleep(200 * time.Millisecond)
			c.Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if string(got) != long {
		t.Fatalf("got %d bytes starting %q, want the %d bytes unchanged", len(got), got[:min(len(got), 40)], len(long))
	}
}
