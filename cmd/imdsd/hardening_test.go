package main

// End-to-end tests of issue 10 ("No guest can hurt another"): the loopback
// exemption from the rate limit, the pidfile and the admin socket.

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLoopbackNotThrottled: the host's own client on 127.0.0.1 is not
// rate limited by default, and the startup line says so; with
// "rate_limit": {"loopback": true} it is.
func TestLoopbackNotThrottled(t *testing.T) {
	cfg := writeConfig(t, seedWith(t, map[string]any{"http_tokens": "optional",
		"rate_limit": map[string]any{"requests_per_second": 1, "burst": 1, "action": "429"}}))
	d := startDaemon(t, "--config", cfg, "--no-access-log")
	for i := range 300 {
		if code, _, _ := do(t, http.MethodGet, d.url+"/latest/meta-data/instance-id", nil); code != http.StatusOK {
			t.Fatalf("request %d from 127.0.0.1: status %d, want 200: loopback clients are exempt by default", i, code)
		}
	}
	if !strings.Contains(d.stderr.String(), "off for loopback clients") {
		t.Errorf("the startup line does not say the rate limit is off for loopback clients:\n%s", d.stderr.String())
	}

	cfg = writeConfig(t, seedWith(t, map[string]any{"http_tokens": "optional",
		"rate_limit": map[string]any{"requests_per_second": 1, "burst": 1, "action": "429", "loopback": true}}))
	d = startDaemon(t, "--config", cfg, "--no-access-log")
	time.Sleep(1100 * time.Millisecond) // waitReady's requests took the burst
	codes := []int{}
	for range 2 {
		code, _, _ := do(t, http.MethodGet, d.url+"/latest/meta-data/instance-id", nil)
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[1] != 429 {
		t.Errorf(`with "loopback": true: statuses %v, want [200 429]`, codes)
	}
	if strings.Contains(d.stderr.String(), "off for loopback clients") {
		t.Errorf("the startup line says loopback is exempt though it is not")
	}
}
