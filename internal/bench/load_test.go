package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

// startServer serves cfg with the package server on a loopback port and
// returns the address.
func startServer(t *testing.T, cfg *config.Config) string {
	t.Helper()
	srv, err := server.New(cfg, server.Options{})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

// startBaseline serves the baseline handler as the baseline subcommand does.
func startBaseline(t *testing.T) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(baselineHandler())
	ts.Config.SetKeepAlivesEnabled(false)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String()
}

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		ds := make([]time.Duration, len(vs))
		for i, v := range vs {
			ds[i] = time.Duration(v) * time.Millisecond
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name string
		vals []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one p50", ms(7), 50, 7 * time.Millisecond},
		{"one p99", ms(7), 99, 7 * time.Millisecond},
		{"two p50 is the lower", ms(1, 2), 50, 1 * time.Millisecond},
		{"two p99 is the higher", ms(1, 2), 99, 2 * time.Millisecond},
		{"four p50", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"four p75", ms(1, 2, 3, 4), 75, 3 * time.Millisecond},
		{"hundred p50", ms(hundred...), 50, 50 * time.Millisecond},
		{"hundred p99", ms(hundred...), 99, 99 * time.Millisecond},
		{"hundred p100", ms(hundred...), 100, 100 * time.Millisecond},
		{"hundred p0.5 is the first", ms(hundred...), 0.5, 1 * time.Millisecond},
		{"ten p99 is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.vals, tt.p); got != tt.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tt.vals, tt.p, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	in := []time.Duration{5, 1, 4, 2, 3}
	if got := median(in); got != 3 {
		t.Errorf("median(%v) = %v, want 3", in, got)
	}
	if !slices.Equal(in, []time.Duration{5, 1, 4, 2, 3}) {
		t.Errorf("median reordered its argument: %v", in)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median(nil) = %v, want 0", got)
	}
}

func TestMerge(t *testing.T) {
	a := result{n: 2, errs: 1, firstErr: fmt.Errorf("a"), elapsed: time.Second, lat: []time.Duration{3, 1}}
	b := result{n: 1, elapsed: time.Second, lat: []time.Duration{2}}
	m := merge(a, b)
	if m.n != 3 || m.errs != 1 || m.elapsed != 2*time.Second || m.firstErr == nil || m.firstErr.Error() != "a" {
		t.Errorf("merge = n %d errs %d elapsed %v first %v; want 3, 1, 2s, a", m.n, m.errs, m.elapsed, m.firstErr)
	}
	if !slices.Equal(m.lat, []time.Duration{1, 2, 3}) {
		t.Errorf("merged latencies = %v, want [1 2 3] (sorted)", m.lat)
	}
	if got := m.rate(); got != 1.5 {
		t.Errorf("rate = %v, want 1.5", got)
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		status   int
		body     string
		errorHas string
	}{
		{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", 200, "hello", ""},
		{"no length", "HTTP/1.0 401 Unauthorized\r\n\r\n", 401, "", ""},
		{"lower-case length", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi", 200, "hi", ""},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhello", 0, "", "body of 5 bytes"},
		{"no end of head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, "", "no end of head"},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", 0, "", "malformed status line"},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", 0, "", "malformed status line"},
		{"empty", "", 0, "", "no end of head"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body, err := parseResponse([]byte(tt.in))
			if tt.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errorHas) {
					t.Fatalf("parseResponse(%q) error = %v, want one containing %q", tt.in, err, tt.errorHas)
				}
				return
			}
			if err != nil || st != tt.status || string(body) != tt.body {
				t.Errorf("parseResponse(%q) = %d, %q, %v; want %d, %q, nil", tt.in, st, body, err, tt.status, tt.body)
			}
		})
	}
}

func TestRawRequest(t *testing.T) {
	got := string(rawRequest("GET", "/latest/meta-data/", "127.0.0.1:80", "X-aws-ec2-metadata-token: T"))
	want := "GET /latest/meta-data/ HTTP/1.1\r\nHost: 127.0.0.1:80\r\nUser-Agent: imdsbench\r\nAccept: */*\r\n" +
		"X-aws-ec2-metadata-token: T\r\n\r\n"
	if got != want {
		t.Errorf("rawRequest =\n%q\nwant\n%q", got, want)
	}
}

func TestSourceAddr(t *testing.T) {
	tests := []struct {
		i, n int
		want string
	}{
		{0, 1, "invalid IP"},
		{5, 0, "invalid IP"},
		{0, 16, "127.0.0.1"},
		{15, 16, "127.0.0.16"},
		{16, 16, "127.0.0.1"},
		{300, 1000, "127.0.0.47"}, // n is capped at 254
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d of %d", tt.i, tt.n), func(t *testing.T) {
			if got := sourceAddr(tt.i, tt.n).String(); got != tt.want {
				t.Errorf("sourceAddr(%d, %d) = %s, want %s", tt.i, tt.n, got, tt.want)
			}
		})
	}
}

func TestBaselineHandler(t *testing.T) {
	tests := []struct {
		name, method, path, token string
		status                    int
		body                      string
	}{
		{"token", http.MethodPut, "/latest/api/token", "", 200, baselineToken},
		{"get with the token", http.MethodGet, "/latest/meta-data/instance-id", baselineToken, 200, baselineValue},
		{"any path with the token", http.MethodGet, "/anything", baselineToken, 200, baselineValue},
		{"get without a token", http.MethodGet, "/latest/meta-data/instance-id", "", 401, ""},
		{"get with another token", http.MethodGet, "/latest/meta-data/instance-id", "AQAEA" + strings.Repeat("x", 51), 401, ""},
		{"put elsewhere", http.MethodPut, "/latest/meta-data/", "", 404, "404 page not found\n"},
		{"post", http.MethodPost, "/latest/api/token", "", 405, ""},
	}
	h := baselineHandler()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.token != "" {
				r.Header.Set("X-aws-ec2-metadata-token", tt.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Errorf("%s %s: %d %q, want %d %q", tt.method, tt.path, w.Code, w.Body.String(), tt.status, tt.body)
			}
		})
	}
	if len(baselineToken) != 56 || !strings.HasPrefix(baselineToken, "AQAEA") {
		t.Errorf("baselineToken %q: %d characters, want 56 starting AQAEA like an EC2 token", baselineToken, len(baselineToken))
	}
}

// TestServeBaseline runs the baseline in-process and checks it closes
// every connection, as imdsd does.
func TestServeBaseline(t *testing.T) {
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ServeBaseline(ctx, addr) }()
	if _, err := waitAnswer(context.Background(), addr, nil, 5*time.Second, false); err != nil {
		cancel()
		t.Fatalf("baseline never answered: %v (run: %v)", err, <-errc)
	}
	c := newClient(addr, netip.Addr{})
	tok, err := mintToken(ctx, c, addr)
	if err != nil || tok != baselineToken {
		t.Errorf("token = %q, %v; want %q", tok, err, baselineToken)
	}
	st, body, err := c.do(ctx, getRequest(addr, "/latest/meta-data/instance-id", tok))
	if err != nil || st != 200 || string(body) != baselineValue {
		t.Errorf("GET = %d %q %v; want 200 %q", st, body, err, baselineValue)
	}
	if !strings.Contains(string(c.buf), "\r\nConnection: close\r\n") {
		t.Errorf("response has no Connection: close:\n%s", c.buf)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("baseline returned %v after its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("baseline did not return after its context ended")
	}
}

// TestRunLoad drives the real server and the baseline for a moment each and
// checks that every request counted and succeeded; it asserts no speed.
func TestRunLoad(t *testing.T) {
	servers := []struct {
		name string
		addr string
	}{
		{"imdsd", startServer(t, config.Default())},
		{"baseline", startBaseline(t)},
	}
	b := &bench{o: &Options{Sources: 1}}
	for _, s := range servers {
		p := &proc{name: s.name, addr: s.addr}
		for _, load := range []struct {
			name string
			spec loadSpec
		}{
			{"GET", b.getLoad(p, 2, 200*time.Millisecond)},
			{"PUT", b.putLoad(p, 2, 200*time.Millisecond)},
		} {
			t.Run(s.name+" "+load.name, func(t *testing.T) {
				r, err := runLoad(context.Background(), s.addr, load.spec)
				if err != nil {
					t.Fatalf("runLoad: %v", err)
				}
				if r.n == 0 || r.errs != 0 {
					t.Errorf("%d answered, %d failed (first: %v); want some and none", r.n, r.errs, r.firstErr)
				}
				if len(r.lat) != r.n || !slices.IsSorted(r.lat) {
					t.Errorf("%d latencies for %d answers, sorted %v; want one each, sorted", len(r.lat), r.n, slices.IsSorted(r.lat))
				}
				if r.elapsed < 200*time.Millisecond {
					t.Errorf("elapsed %v, want at least the 200ms duration", r.elapsed)
				}
			})
		}
	}
}

// TestRunLoadCountsFailures checks that a wrong answer is counted as a
// failure, not a success: the baseline refuses imdsd's requests without
// its token.
func TestRunLoadCountsFailures(t *testing.T) {
	addr := startBaseline(t)
	r, err := runLoad(context.Background(), addr, loadSpec{clients: 2, duration: 50 * time.Millisecond,
		prepare: func(context.Context, *client) ([]byte, error) {
			return getRequest(addr, "/latest/meta-data/instance-id", "wrong"), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if r.n != 0 || r.errs == 0 || r.firstErr == nil || !strings.Contains(r.firstErr.Error(), "status 401") {
		t.Errorf("%d answered, %d failed, first %v; want 0, some, status 401", r.n, r.errs, r.firstErr)
	}
}

func TestHoldIdle(t *testing.T) {
	addr := startServer(t, config.Default())
	conns, err := holdIdle(context.Background(), addr, 20, netip.Addr{})
	if err != nil {
		t.Fatalf("holdIdle: %v", err)
	}
	defer closeAll(conns)
	if len(conns) != 20 {
		t.Fatalf("%d connections, want 20", len(conns))
	}
	// The held connections get no answer: their request head is unfinished.
	_ = conns[0].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := conns[0].Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("idle connection read %d bytes, %v; want a timeout with nothing", n, err)
	}
	// Other clients still get theirs.
	if _, err := mintToken(context.Background(), newClient(addr, netip.Addr{}), addr); err != nil {
		t.Errorf("token beside idle connections: %v", err)
	}
}
