package server

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestLoopbackExemptFromRateLimit: by default the host's own clients, on
// loopback, are not throttled (issue 10, item 8); "loopback": true puts
// them under the limit.
func TestLoopbackExemptFromRateLimit(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "rate_limit": {"requests_per_second": 1, "burst": 1, "action": "429"}}`)
	for i := range 50 {
		if r := ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id")); r.status != 200 {
			t.Fatalf("request %d from loopback: status %d, want 200: loopback is exempt by default", i, r.status)
		}
	}
	ts = start(t, `{"http_tokens": "optional", "rate_limit": {"requests_per_second": 1, "burst": 1, "action": "429", "loopback": true}}`)
	for i, want := range []int{200, 429} {
		if r := ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id")); r.status != want {
			t.Fatalf("loopback included, request %d: status %d, want %d", i, r.status, want)
		}
	}
}

// TestRateLimitByGuest: a guest's addresses share one bucket; sending from
// another of them gets no more requests through (issue 10, item 1).
func TestRateLimitByGuest(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional",
		"rate_limit": {"requests_per_second": 1, "burst": 2, "action": "429", "loopback": true},
		"instances": [{"match": ["127.0.1.0/24"], "instance_id": "i-0000000000000000a"}]}`)
	for i, want := range []int{200, 200, 429, 429} {
		src := fmt.Sprintf("127.0.1.%d", 10+i)
		if r := ts.exchangeFrom(t, src, req("GET", "/latest/meta-data/instance-id")); r.status != want {
			t.Fatalf("guest request %d from %s: status %d, want %d", i, src, r.status, want)
		}
	}
	if r := ts.exchangeFrom(t, "127.0.2.1", req("GET", "/latest/meta-data/instance-id")); r.status != 200 {
		t.Fatalf("an unknown client: status %d, want 200: it has a bucket of its own", r.status)
	}
}

// TestOneGuestCannotStarveAnother is issue 10's attack over TCP: unknown
// clients from 16 addresses hold every connection they can get, and the
// guest is still served.
func TestOneGuestCannotStarveAnother(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "header_timeout_ms": 30000,
		"max_connections": 8, "max_connections_per_client": 8,
		"instances": [{"match": ["127.0.1.10"], "instance_id": "i-0000000000000000a"}]}`)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := range 16 {
		for range 4 {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 3, byte(1+i))}, Timeout: 2 * time.Second}
			c, err := d.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
	}
	// Let the server accept (or close) them all.
	time.Sleep(300 * time.Millisecond)
	open := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			open++
		}
	}
	if open == 0 || open >= 8 {
		t.Errorf("the unknown clients hold %d connections, want some but fewer than max_connections 8", open)
	}
	for i := range 2 { // the guest's reserve: 8 / (2 * 2 groups)
		if r := ts.exchangeFrom(t, "127.0.1.10", req("GET", "/latest/meta-data/instance-id")); r.status != 200 {
			t.Fatalf("guest request %d while unknown clients hold %d connections: status %d", i, open, r.status)
		}
	}
}
