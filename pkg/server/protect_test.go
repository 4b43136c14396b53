package server

import (
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// server started is stopped, every connection closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRateLimitRefuse(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "rate_limit": {"requests_per_second": 1, "burst": 2, "action": "503", "loopback": true}}`)
	for i, want := range []int{200, 200, 503} {
		r := ts.exchangeFrom(t, "127.0.0.3", req("GET", "/latest/meta-data/instance-id"))
		if r.status != want {
			t.Fatalf("action 503, request %d: status %d, want %d", i, r.status, want)
		}
	}

	ts = start(t, `{"http_tokens": "optional", "rate_limit": {"requests_per_second": 1, "burst": 2, "action": "429", "loopback": true}}`)
	for i, want := range []int{200, 200, 429} {
		r := ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id"))
		if r.status != want {
			t.Fatalf("request %d: status %d, want %d", i, r.status, want)
		}
	}
	// Another client has its own bucket.
	if r := ts.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id")); r.status != 200 {
		t.Fatalf("another client: status %d", r.status)
	}
	page := string(ErrorPage(429))
	expect{status: 429, ctype: "text/html", body: &page, ttl: "-"}.check(t,
		ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id")))
}

func TestRateLimitDelay(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "rate_limit": {"requests_per_second": 5, "burst": 1, "loopback": true}}`)
	ts.exchange(t, req("GET", "/latest/meta-data/instance-id"))
	begin := time.Now()
	r := ts.exchange(t, req("GET", "/latest/meta-data/instance-id"))
	if r.status != 200 {
		t.Fatalf("status %d, want 200: the default is to delay, as EC2", r.status)
	}
	if d := time.Since(begin); d < 150*time.Millisecond {
		t.Errorf("second request answered after %v; at 5/s it must wait about 200ms", d)
	}
}

func TestConnectionCapPerClient(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "max_connections_per_client": 2}`)
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}}
		c, err := d.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	// The third is closed at once; the first two wait for their request.
	idle[2].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle[2].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("third idle connection: %v, want EOF", err)
	}
	// Others are served meanwhile.
	if r := ts.exchangeFrom(t, "127.0.0.6", req("GET", "/latest/meta-data/instance-id")); r.status != 200 {
		t.Fatalf("another client: status %d", r.status)
	}
	io.WriteString(idle[0], req("GET", "/latest/meta-data/instance-id"))
	if r := readResponse(t, idle[0], false); r.status != 200 {
		t.Fatalf("held connection: status %d", r.status)
	}
}

func TestMetrics(t *testing.T) {
	ts := start(t, cfgGuestsMetrics)
	tok := string(ts.exchangeFrom(t, "127.0.0.2", req("PUT", "/latest/api/token", ttlHdr("60"))).body)
	ts.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
	ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
	ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id"))
	ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id", tokenHdr("x")))

	h := ts.srv.AdminHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok\n" {
		t.Errorf("/healthz: %d %q", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`imdsd_requests_total{code="200"} 2`,
		`imdsd_requests_total{code="401"} 3`,
		`imdsd_tokens_issued_total 1`,
		`imdsd_requests_without_token_total 1`,
		`imdsd_tokens_rejected_total{reason="invalid"} 1`,
		`imdsd_tokens_rejected_total{reason="malformed"} 1`,
		`imdsd_guest_requests_total{instance_id="i-0000000000000000a"} 2`,
		`imdsd_guest_requests_total{instance_id="default"} 3`,
		`imdsd_build_info{version="test"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

const cfgGuestsMetrics = `{"instances": [{"match": ["127.0.0.2"], "instance_id": "i-0000000000000000a"}]}`

func TestFaultsOnlyUnderKnownVersions(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "force_status": {"meta-data/instance-id": 503, "latest": 500}}`)
	for _, tt := range []struct {
		path string
		want int
	}{
		{"/latest/meta-data/instance-id", 503},
		{"/2009-04-04/meta-data/instance-id", 503},
		{"/2099-01-01/meta-data/instance-id", 404}, // not a version imdsd serves
		{"/latest/", 500},                          // "latest" names the version's own listing
		{"/", 200},                                 // the root listing is no version's
	} {
		if r := ts.exchange(t, req("GET", tt.path)); r.status != tt.want {
			t.Errorf("%s: status %d, want %d", tt.path, r.status, tt.want)
		}
	}
}

func TestGuestMetricsForgotten(t *testing.T) {
	ts := start(t, cfgGuestsMetrics)
	ts.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id"))
	ts.srv.Reload(parseConfig(t, `{}`))
	rec := httptest.NewRecorder()
	ts.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if strings.Contains(rec.Body.String(), `instance_id="i-0000000000000000a"`) {
		t.Error("/metrics still has the series of a guest the reload removed")
	}
}

func TestHeaderTimeoutFromConfig(t *testing.T) {
	// header_timeout_ms cuts off a client that sends nothing.
	ts := start(t, `{"header_timeout_ms": 200}`)
	// Timed from before the dial: the server's timer cannot start before
	// the connection exists, so a test descheduled after Dial still
	// measures at least the timeout.
	begin := time.Now()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
	if d := time.Since(begin); d < 150*time.Millisecond || d > 3*time.Second {
		t.Errorf("a silent client was cut off after %v; want about 200ms", d)
	}
}
