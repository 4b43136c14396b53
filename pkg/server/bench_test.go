package server

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// discard is a ResponseWriter that keeps nothing, so that the benchmark
// measures the handler rather than a recorder.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

// BenchmarkServeHTTP is the handler alone, in process, for a leaf, a
// listing and a miss, with a token.
func BenchmarkServeHTTP(b *testing.B) {
	srv, err := New(parseConfig(b, cfgBench), Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok := srv.sealer.Mint(time.Hour, []byte{127, 0, 0, 1, 0})
	for _, bc := range []struct{ name, path string }{
		{"leaf", "/latest/meta-data/instance-id"},
		{"listing", "/latest/meta-data/"},
		{"dirty-path", "//latest//meta-data/placement/availability-zone/"},
		{"404", "/latest/meta-data/nonexistent"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", bc.path, nil)
			r.RemoteAddr = "127.0.0.1:40000"
			r.Header.Set(hdrToken, tok)
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				srv.ServeHTTP(w, r)
			}
		})
	}
}

// BenchmarkRequest is a whole request over loopback, a new connection each
// time as EC2's clients do: dial, send, read to EOF.
func BenchmarkRequest(b *testing.B) {
	ts := start(b, cfgBench, func(o *Options) { o.AccessLog = nil; o.Now = nil })
	tok := ts.srv.sealer.Mint(time.Hour, []byte{127, 0, 0, 1, 0})
	raw := []byte("GET /latest/meta-data/instance-id HTTP/1.1\r\n" + tokenHdr(tok) + "\r\n\r\n")
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(raw); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			k, err := c.Read(buf[n:])
			n += k
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
		if n < 12 || string(buf[n-12:n]) != "i-1234567890" {
			b.Fatalf("got %q", buf[:n])
		}
	}
}

// cfgBench is cfgRequired without the per-client rate limit, which would
// otherwise make one client's requests wait: benchmarks measure the work.
const cfgBench = `{"rate_limit": {"requests_per_second": 0}}`
