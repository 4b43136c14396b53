package server

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/hostheader"
)

// clientRequests are request heads as real clients send them, the seed
// corpus of FuzzFrontEnd.
var clientRequests = []string{
	// curl, as in the wire reference's capture A.
	"PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n\r\n",
	// aws-sdk-go-v2 (feature/ec2/imds): canonical header names, gzip.
	"PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.1 md/GOOS#linux md/GOARCH#amd64 api/imds#1.16.30\r\nContent-Length: 0\r\nAmz-Sdk-Invocation-Id: 0a1b2c3d-0000-4000-8000-000000000000\r\nAmz-Sdk-Request: attempt=1; max=3\r\nX-Aws-Ec2-Metadata-Token-Ttl-Seconds: 21600\r\nAccept-Encoding: gzip\r\n\r\n",
	"GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: aws-sdk-go-v2/1.36.3\r\nAmz-Sdk-Request: attempt=1; max=3\r\nX-Aws-Ec2-Metadata-Token: AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\nAccept-Encoding: gzip\r\n\r\n",
	// botocore: lower-case token header, identity encoding.
	"PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nAccept-Encoding: identity\r\nx-aws-ec2-metadata-token-ttl-seconds: 21600\r\nUser-Agent: Botocore/1.34.0 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy\r\nContent-Length: 0\r\n\r\n",
	"GET /latest/meta-data/placement/availability-zone/ HTTP/1.1\r\nHost: 169.254.169.254\r\nAccept-Encoding: identity\r\nx-aws-ec2-metadata-token: AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\nUser-Agent: Botocore/1.34.0\r\n\r\n",
	// cloud-init (python-requests): keep-alive asked for, dated versions.
	"PUT /latest/api/token HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: Cloud-Init/23.4.4\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 0\r\n\r\n",
	"GET /2021-03-23/dynamic/instance-identity HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: Cloud-Init/23.4.4\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nX-aws-ec2-metadata-token: AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\n\r\n",
	// FreeBSD's aws-ec2-imdsv2-get: no Host, no Content-Length.
	"GET // HTTP/1.1\r\n\r\n",
	"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n",
	"GET /latest/meta-data/public-keys/0/openssh-key HTTP/1.1\r\nX-aws-ec2-metadata-token: AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\n\r\n",
	// amazon-ec2-utils' ec2-metadata (curl): "//" and no blank after the colon.
	"GET /latest//meta-data/instance-id HTTP/1.1\r\nHost: 169.254.169.254\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nX-aws-ec2-metadata-token:AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==\r\n\r\n",
	// Odd but seen or allowed: HTTP/1.0, bare LF, absolute form, bodies.
	"GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n",
	"GET /latest/meta-data/instance-id HTTP/1.1\nHost: x\n\n",
	"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\n\r\n",
	"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n",
	"PUT /latest/api/token HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
	"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\n",
	"GET / HTTP/2.0\r\n\r\n",
	"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\n\r\n",
	// What parseSimple reads itself, at its edges.
	"GET /latest/meta-data/ HTTP/1.0\r\nConnection: keep-alive\r\nHost:\r\n\r\n",
	"HEAD /latest/user-data HTTP/1.1\r\nconnection: close\r\nx-AWS-ec2-METADATA-token:  t \t\r\nX-a: 1\r\nx-a: 2\r\n\r\n",
	"OPTIONS /latest/api/token HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\nA-: \r\n\r\n",
	"GET /a/../b/./~c_d-e HTTP/1.1\r\nConnection: Keep-Alive\r\nContent-Length: 00\r\n\r\n",
}

// seen is what a handler saw of a request.
type seen struct {
	method, uri, proto string
	major, minor       int
	header             http.Header
	contentLength      int64
	te                 []string
	host               string
}

func seenOf(r *http.Request) *seen {
	return &seen{r.Method, r.RequestURI, r.Proto, r.ProtoMajor, r.ProtoMinor, r.Header, r.ContentLength, r.TransferEncoding, r.Host}
}

// netHTTP is the reference: net/http's server behind internal/hostheader,
// the path the metadata listeners took before the front end, on loopback.
// do returns the status of its answer (0: none) and, when its handler was
// called, what the handler saw.
type netHTTP struct {
	addr string
	saw  chan *seen
}

func newNetHTTP(tb testing.TB) *netHTTP {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	n := &netHTTP{addr: ln.Addr().String(), saw: make(chan *seen, 1)}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case n.saw <- seenOf(r):
			default:
			}
			w.Header().Set("Content-Length", "0")
		}),
		MaxHeaderBytes:               8192,
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     log.New(io.Discard, "", 0),
	}
	srv.SetKeepAlivesEnabled(false)
	done := make(chan struct{})
	go func() { srv.Serve(hostheader.Listener(ln, 8192+4096)); close(done) }()
	tb.Cleanup(func() { srv.Close(); <-done })
	return n
}

func (n *netHTTP) do(tb testing.TB, head []byte) (int, *seen) {
	select {
	case <-n.saw: // a stale one
	default:
	}
	c, err := net.Dial("tcp", n.addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(head)
	c.(*net.TCPConn).CloseWrite() // no more: net/http must decide on these bytes
	line, err := bufio.NewReader(c).ReadString('\n')
	var s *seen
	select {
	case s = <-n.saw:
	default:
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			tb.Fatalf("net/http gave no answer to %q", head)
		}
		if s != nil {
			return 200, s
		}
		return 0, nil // closed without an answer
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		tb.Fatalf("net/http answered %q to %q", line, head)
	}
	st, _ := strconv.Atoi(f[1])
	if st == 200 && s == nil {
		tb.Fatalf("net/http answered 200 to %q without its handler", head)
	}
	return st, s
}

// checkSimple checks that parseSimple, where it reads head, gives the
// request net/http's reader (parseNetHTTP) gives, field by field.
func checkSimple(t *testing.T, head []byte) {
	t.Helper()
	got := parseSimple(head)
	if got == nil {
		return
	}
	want, status := parseNetHTTP(head, bufio.NewReader(nil))
	if status != 0 {
		t.Fatalf("%q: parseSimple reads it, net/http refuses it with %d", head, status)
	}
	if got.Body != http.NoBody || want.Body != http.NoBody {
		t.Fatalf("%q: bodies %T and %T", head, got.Body, want.Body)
	}
	g := []any{got.Method, *got.URL, got.Proto, got.ProtoMajor, got.ProtoMinor, got.Header, got.ContentLength,
		got.TransferEncoding, got.Close, got.Host, got.Trailer, got.RequestURI, got.Form, got.MultipartForm}
	w := []any{want.Method, *want.URL, want.Proto, want.ProtoMajor, want.ProtoMinor, want.Header, want.ContentLength,
		want.TransferEncoding, want.Close, want.Host, want.Trailer, want.RequestURI, want.Form, want.MultipartForm}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%q:\nparseSimple %#v\nnet/http    %#v", head, g, w)
	}
}

// TestParseSimple checks parseSimple on the seed corpus: the same request
// as net/http's reader where it reads one, and that it reads the real
// clients' heads (or the fast path would be dead code).
func TestParseSimple(t *testing.T) {
	read := 0
	for _, s := range clientRequests {
		head := []byte(s)
		checkSimple(t, head)
		if parseSimple(head) != nil {
			read++
		}
	}
	if read < 10 {
		t.Errorf("parseSimple read %d of the %d real heads", read, len(clientRequests))
	}
}

// FuzzFrontEnd checks the front end's request reading against net/http's
// server (http.ReadRequest and the checks around it, behind the Host
// fix-up) on the same bytes: the same decision (answered, or refused with
// the same status), and for answered requests the same method, target,
// protocol, headers and body framing. Only Host differs by design: the
// front end does not invent one where the client sent none.
func FuzzFrontEnd(f *testing.F) {
	for _, s := range clientRequests {
		f.Add([]byte(s))
	}
	ref := newNetHTTP(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 4096 {
			return // 431 is a matter of size: TestGolden pins it
		}
		end := headEnd(raw, 0)
		if end < 0 {
			return // both wait for the rest of the head
		}
		head := raw[:end]
		checkSimple(t, head)
		r, status := parseRequest(head, bufio.NewReader(nil))
		wantStatus, want := ref.do(t, head)
		if status == 0 {
			status = 200
		}
		if status != wantStatus {
			t.Fatalf("%q: front end %d, net/http %d", head, status, wantStatus)
		}
		if want == nil {
			return
		}
		got := seenOf(r)
		if got.host == "" {
			got.host = want.host // net/http's is the fix-up's
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfront end %+v\nnet/http  %+v", head, got, want)
		}
	})
}
