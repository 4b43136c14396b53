package imdsclient_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/token"
	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/imdsclient"
	"github.com/imdsd/imdsd/pkg/imdstest"
	"github.com/imdsd/imdsd/pkg/server"
)

// epoch is the servers' launch time and the start of their clocks.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// requests records the server's access log as "METHOD PATH STATUS" lines.
type requests struct {
	mu    sync.Mutex
	lines []string
}

func (l *requests) Enabled(context.Context, slog.Level) bool { return true }
func (l *requests) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *requests) WithGroup(string) slog.Handler            { return l }

func (l *requests) Handle(_ context.Context, r slog.Record) error {
	var method, path, status string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "method":
			method = a.Value.String()
		case "path":
			path = a.Value.String()
		case "status":
			status = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, method+" "+path+" "+status)
	return nil
}

// count returns how many requests match prefix ("PUT /latest/api/token").
func (l *requests) count(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (l *requests) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// imds is an imdsd started in-process for a test.
type imds struct {
	srv      *server.Server
	endpoint string // host:port
	clock    *clock
	log      *requests
}

// startIMDS serves the configuration cfgJSON ("" for the seed config) on
// 127.0.0.1 with a clock the test controls.
func startIMDS(t *testing.T, cfgJSON string) *imds {
	t.Helper()
	clk := newClock()
	sealer, err := token.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	log := &requests{}
	srv, addr := imdstest.Start(t, imdstest.Config(t, cfgJSON), server.Options{
		Now:       clk.Now,
		Sealer:    sealer.WithClock(clk.Now),
		AccessLog: slog.New(log),
	})
	return &imds{srv: srv, endpoint: addr, clock: clk, log: log}
}

// newClient returns a client for endpoint that never waits between
// attempts.
func newClient(t *testing.T, opts imdsclient.Options) *imdsclient.Client {
	t.Helper()
	c, err := imdsclient.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	imdsclient.NoBackoff(c)
	return c
}

func TestGet(t *testing.T) {
	s := startIMDS(t, "")
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
	tests := []struct {
		path string
		want string
	}{
		{"meta-data/instance-id", "i-1234567890abcdef0"},
		{"/latest/meta-data/instance-id", "i-1234567890abcdef0"},
		{"latest//meta-data/./instance-id/", "i-1234567890abcdef0"},
		{"2009-04-04/meta-data/instance-id", "i-1234567890abcdef0"},
		{"meta-data/public-keys/0/openssh-key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkey1\n"},
		{"meta-data/public-keys", "0=key-0\n1=key-1"},
		{"meta-data/placement/", "availability-zone\navailability-zone-id\nregion"},
		{"", "dynamic\nmeta-data\nuser-data"},
		{"meta-data/network/interfaces/macs/02:00:00:00:00:01/mac", "02:00:00:00:00:01"},
		{"user-data", *config.Default().UserData},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := c.Get(context.Background(), tt.path)
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.path, err)
			}
			if string(got) != tt.want {
				t.Errorf("Get(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
	if n := s.log.count("PUT /latest/api/token 200"); n != 1 {
		t.Errorf("%d token requests for %d GETs, want 1 (cached):\n%s", n, len(tests), s.log)
	}
}

func TestGetNotFound(t *testing.T) {
	s := startIMDS(t, "")
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
	_, err := c.Get(context.Background(), "meta-data/nope")
	var se *imdsclient.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *StatusError", err, err)
	}
	want := "http://" + s.endpoint + "/latest/meta-data/nope"
	if se.StatusCode != 404 || se.Method != "GET" || se.URL != want || se.Token() {
		t.Errorf("got %+v, want GET %s 404", se, want)
	}
	if msg := err.Error(); msg != "GET "+want+": 404 Not Found" {
		t.Errorf("message %q", msg)
	}
}

// A token the server no longer accepts is answered 401: the client asks
// for one new token and retries once.
func TestTokenRefreshAfterExpiry(t *testing.T) {
	s := startIMDS(t, "")
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint, TokenTTL: time.Second})
	ctx := context.Background()
	if _, err := c.Get(ctx, "meta-data/instance-id"); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(1500 * time.Millisecond) // the server's token has expired; the client does not know
	got, err := c.Get(ctx, "meta-data/instance-id")
	if err != nil || string(got) != "i-1234567890abcdef0" {
		t.Fatalf("after expiry: %q, %v", got, err)
	}
	if n := s.log.count("GET /latest/meta-data/instance-id 401"); n != 1 {
		t.Errorf("%d 401s, want 1:\n%s", n, s.log)
	}
	if n := s.log.count("PUT /latest/api/token 200"); n != 2 {
		t.Errorf("%d tokens, want 2:\n%s", n, s.log)
	}
}

// A client renews its token before it expires, without waiting for a 401.
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	s := startIMDS(t, "")
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint, TokenTTL: 10 * time.Second})
	local := newClock()
	imdsclient.SetClock(c, local.Now)
	ctx := context.Background()
	for _, step := range []time.Duration{0, 5 * time.Second, 4 * time.Second} {
		local.Advance(step)
		s.clock.Advance(step)
		if _, err := c.Get(ctx, "meta-data/instance-id"); err != nil {
			t.Fatal(err)
		}
	}
	// 0 s: new token; 5 s: cached; 9 s: within the last tenth, renewed.
	if n := s.log.count("PUT /latest/api/token 200"); n != 2 {
		t.Errorf("%d tokens, want 2:\n%s", n, s.log)
	}
	if n := s.log.count("GET /latest/meta-data/instance-id 401"); n != 0 {
		t.Errorf("%d 401s, want 0:\n%s", n, s.log)
	}
}

// The token request answered 403, 404 or 405 means IMDSv1, once decided
// for the client's life; with V2Only it is an error.
func TestFallback(t *testing.T) {
	for _, status := range []int{403, 404, 405} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			s := startIMDS(t, fmt.Sprintf(`{"http_tokens": "optional", "force_status": {"api/token": %d}}`, status))
			c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
			ctx := context.Background()
			for range 3 {
				got, err := c.Get(ctx, "meta-data/instance-id")
				if err != nil || string(got) != "i-1234567890" {
					t.Fatalf("Get = %q, %v; want the instance id", got, err)
				}
			}
			if n := s.log.count("PUT /latest/api/token"); n != 1 {
				t.Errorf("%d token requests, want 1:\n%s", n, s.log)
			}

			strict := newClient(t, imdsclient.Options{Endpoint: s.endpoint, Mode: imdsclient.V2Only})
			_, err := strict.Get(ctx, "meta-data/instance-id")
			var se *imdsclient.StatusError
			if !errors.As(err, &se) || !se.Token() || se.StatusCode != status {
				t.Fatalf("V2Only: err = %v, want the token request's %d", err, status)
			}
			if !strings.Contains(err.Error(), "/latest/meta-data/instance-id") {
				t.Errorf("message %q does not name the path", err)
			}
		})
	}
}

// Other token failures are errors even with fallback.
func TestNoFallbackOn400(t *testing.T) {
	s := startIMDS(t, `{"http_tokens": "optional", "force_status": {"api/token": 400}}`)
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
	_, err := c.Get(context.Background(), "meta-data/instance-id")
	var se *imdsclient.StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !se.Token() {
		t.Fatalf("err = %v, want the token request's 400", err)
	}
}

func TestV1Only(t *testing.T) {
	s := startIMDS(t, "")
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint, Mode: imdsclient.V1Only})
	_, err := c.Get(context.Background(), "meta-data/instance-id")
	var se *imdsclient.StatusError
	if !errors.As(err, &se) || se.StatusCode != 401 || se.Token() {
		t.Fatalf("err = %v, want GET 401", err)
	}
	if n := s.log.count("PUT"); n != 0 {
		t.Errorf("%d token requests in IMDSv1 mode:\n%s", n, s.log)
	}
	if n := s.log.count("GET"); n != 1 {
		t.Errorf("%d GETs, want 1 (no retry):\n%s", n, s.log)
	}

	opt := startIMDS(t, `{"http_tokens": "optional"}`)
	c = newClient(t, imdsclient.Options{Endpoint: opt.endpoint, Mode: imdsclient.V1Only})
	if got, err := c.Get(context.Background(), "meta-data/instance-id"); err != nil || string(got) != "i-1234567890" {
		t.Fatalf("optional tokens: %q, %v", got, err)
	}
}

func TestRetry5xx(t *testing.T) {
	s := startIMDS(t, `{"force_status": {"meta-data/instance-id": 503}}`)
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint, Attempts: 3})
	_, err := c.Get(context.Background(), "meta-data/instance-id")
	var se *imdsclient.StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 {
		t.Fatalf("err = %v, want 503", err)
	}
	if n := s.log.count("GET /latest/meta-data/instance-id 503"); n != 3 {
		t.Errorf("%d attempts, want 3:\n%s", n, s.log)
	}
	// A 404 is an answer: no retry.
	if _, err := c.Get(context.Background(), "meta-data/nope"); err == nil {
		t.Fatal("no error for a missing path")
	}
	if n := s.log.count("GET /latest/meta-data/nope"); n != 1 {
		t.Errorf("%d attempts for a 404, want 1", n)
	}
}

func TestRefused(t *testing.T) {
	addr := imdstest.ClosedPort(t)
	for _, mode := range []imdsclient.Mode{imdsclient.Auto, imdsclient.V1Only} {
		c := newClient(t, imdsclient.Options{Endpoint: addr, Mode: mode, Attempts: 3})
		_, err := c.Get(context.Background(), "meta-data/instance-id")
		var ne *imdsclient.NetError
		if !errors.As(err, &ne) {
			t.Fatalf("mode %d: err = %v (%T), want *NetError", mode, err, err)
		}
		if ne.Attempts != 3 || !errors.Is(err, syscall.ECONNREFUSED) || ne.Timeout() {
			t.Errorf("mode %d: %+v, want 3 refused attempts", mode, ne)
		}
		if !strings.Contains(err.Error(), addr) {
			t.Errorf("message %q does not name the endpoint", err)
		}
	}
}

// An endpoint that accepts and never answers costs one timeout per
// request, not a hang. In Auto mode the token request's timeout means
// IMDSv1 (the hop-limit case), whose GET then times out too.
func TestNoAnswer(t *testing.T) {
	addr := imdstest.Hold(t)
	for _, mode := range []imdsclient.Mode{imdsclient.Auto, imdsclient.V2Only, imdsclient.V1Only} {
		c := newClient(t, imdsclient.Options{Endpoint: addr, Mode: mode, Timeout: 100 * time.Millisecond})
		start := time.Now()
		_, err := c.Get(context.Background(), "meta-data/instance-id")
		var ne *imdsclient.NetError
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("mode %d: err = %v, want a timeout", mode, err)
		}
		if ne.Attempts != 1 {
			t.Errorf("mode %d: %d attempts, want 1 (timeouts are not retried)", mode, ne.Attempts)
		}
		if mode == imdsclient.Auto && ne.Method != http.MethodGet {
			t.Errorf("Auto: failed %s, want the GET after falling back", ne.Method)
		}
		if mode == imdsclient.V2Only && ne.Method != http.MethodPut {
			t.Errorf("V2Only: failed %s, want the token PUT", ne.Method)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("mode %d: took %v", mode, d)
		}
	}
}

func TestNew(t *testing.T) {
	for _, ttl := range []time.Duration{500 * time.Millisecond, 21601 * time.Second, -time.Second} {
		if _, err := imdsclient.New(imdsclient.Options{TokenTTL: ttl}); err == nil {
			t.Errorf("TokenTTL %v accepted", ttl)
		}
	}
	c, err := imdsclient.New(imdsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Endpoint(); got != imdsclient.DefaultEndpoint {
		t.Errorf("default endpoint %q", got)
	}
}

func TestURL(t *testing.T) {
	c, err := imdsclient.New(imdsclient.Options{Endpoint: "127.0.0.1:8000"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{"", "http://127.0.0.1:8000/latest/"},
		{"meta-data/instance-id", "http://127.0.0.1:8000/latest/meta-data/instance-id"},
		{"2021-03-23/meta-data", "http://127.0.0.1:8000/2021-03-23/meta-data"},
		{"meta-data/network/interfaces/macs/0a:07:84:3d:6e:38/mac", "http://127.0.0.1:8000/latest/meta-data/network/interfaces/macs/0a:07:84:3d:6e:38/mac"},
		{"meta-data/tags/instance/a b?c#d%e", "http://127.0.0.1:8000/latest/meta-data/tags/instance/a%20b%3Fc%23d%25e"},
	}
	for _, tt := range tests {
		if got := c.URL(tt.path); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"/", ""},
		{"latest", ""},
		{"/latest/", ""},
		{"latest/meta-data/", "meta-data"},
		{"//latest//meta-data/./x/../instance-id", "meta-data/instance-id"},
		{"2009-04-04/user-data", "2009-04-04/user-data"},
	}
	for _, tt := range tests {
		if got := imdsclient.Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
