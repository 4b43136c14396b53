package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/imdstest"
	"github.com/imdsd/imdsd/pkg/server"
)

// TestWait runs getimds --wait for real against a spot instance whose
// notice comes a second after the guest's first request: it prints the
// notice once it is there; a path that never comes ends with exit status 4
// after --timeout.
func TestWait(t *testing.T) {
	_, ep := imdstest.Start(t, imdstest.Config(t, `{"market": "spot", "spot_interruption": {"after": "1s"}}`), server.Options{})
	start := time.Now()
	r := runBinary(t, nil, "--wait", "-e", ep, "spot/instance-action", "--timeout", "15")
	if r.code != 0 || r.stderr != "" || !regexp.MustCompile(`^\{"action":"terminate","time":"[0-9T:-]+Z"\}$`).MatchString(r.stdout) {
		t.Fatalf("getimds --wait: exit %d, stdout %q, stderr %q; want 0 and the notice", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("the notice came after %v, before its second", d)
	}

	start = time.Now()
	r = runBinary(t, nil, "--wait", "-e", ep, "meta-data/events/recommendations/rebalance", "--timeout", "1.5")
	if r.code != exitUnreachable || r.stdout != "" || !strings.Contains(r.stderr, "meta-data/events/recommendations/rebalance: not there after 1.5s") {
		t.Errorf("getimds --wait --timeout 1.5 on a path that never comes: exit %d, stdout %q, stderr %q; want 4 and a message", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("--timeout 1.5 took %v", d)
	}

	for _, args := range [][]string{{"--wait"}, {"--wait", "a", "b"}, {"--wait", "--json", "a"}, {"-t", "7200", "a"}} {
		if r := runCLI(t, append([]string{"-e", ep}, args...)...); r.code != exitUsage {
			t.Errorf("getimds %q: exit %d, want %d (usage)", args, r.code, exitUsage)
		}
	}
}
