package main

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAccessLogDefault checks imdsd's default access log (--access-log
// errors): a guest answered as it should be leaves no line; its refusals
// leave one line, and their repeats one "repeated" line with the count.
func TestAccessLogDefault(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, `{"http_tokens": "required"}`)
	var d *daemonProc
	for range 5 {
		port := freePort(t)
		d = launch(t, port, []string{"--log", "stderr", "--config", cfg, "--host", "127.0.0.1", "--port", strconv.Itoa(port)})
		err := d.waitReady(15 * time.Second)
		if err == nil {
			break
		}
		if !errors.Is(err, errBindRace) {
			t.Fatalf("imdsd: %v\nstderr:\n%s", err, d.stderr.String())
		}
		d = nil
	}
	if d == nil {
		t.Fatal("imdsd did not get a free port")
	}
	tok := d.token(t, 60)
	for range 20 {
		if st, _, _ := do(t, http.MethodGet, d.url+"/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok}); st != 200 {
			t.Fatalf("GET with a token: %d, want 200", st)
		}
	}
	for range 10 {
		if st, _, _ := do(t, http.MethodGet, d.url+"/latest/meta-data/instance-id", nil); st != 401 {
			t.Fatalf("GET without a token: %d, want 401", st)
		}
	}
	d.signal(t, syscall.SIGTERM)
	if code := d.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("imdsd exited %d\n%s", code, d.stderr.String())
	}
	log := d.stderr.String()
	var own []string
	for l := range strings.SplitSeq(log, "\n") {
		if strings.Contains(l, "msg=request ") {
			own = append(own, l)
		}
	}
	// waitReady's probes are 401s too (tokens are required): one line for
	// all of them and the test's, the rest summarised.
	if len(own) != 1 || !strings.Contains(own[0], "status=401") {
		t.Errorf("request lines %q, want one, the first 401", own)
	}
	m := regexp.MustCompile(`msg=repeated client=127\.0\.0\.1 method=GET path=/latest/meta-data/instance-id status=401 count=(\d+) interval=10s`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no summary line of the 401s in:\n%s", log)
	}
	if n, _ := strconv.Atoi(m[1]); n < 9 {
		t.Errorf("summary counts %d repeats, want at least 9", n)
	}
}
