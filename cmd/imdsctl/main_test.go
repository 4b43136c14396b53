package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/imdsd/imdsd/internal/golden"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/control/controltest"
	"github.com/imdsd/imdsd/internal/ctlsock"
)

// serve starts the control API over a fake backend on a Unix socket, as
// imdsd does, and returns the socket's path.
func serve(t *testing.T, b control.Backend) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl") // short: sun_path holds 104 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := ctlsock.Listen(filepath.Join(dir, "control.sock"), ctlsock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := control.NewServer(control.NewHandler(b, control.Options{}))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Path()
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func runCLI(t *testing.T, socket, stdin string, args ...string) result {
	t.Helper()
	env := map[string]string{"IMDSCTL_SOCKET": socket}
	c := &command{stdin: strings.NewReader(stdin), getenv: func(k string) string { return env[k] }}
	var out, errb bytes.Buffer
	err := c.run(context.Background(), append([]string{"imdsctl"}, args...), &out, &errb)
	code := exit(&errb, err)
	return result{out.String(), errb.String(), code}
}

func checkGolden(t *testing.T, name string, got result, socket string) {
	t.Helper()
	text := strings.ReplaceAll(got.String(), socket, "SOCKET")
	golden.CheckString(t, name+".golden", text)
}

// TestSession runs every command against one fake imdsd, in order.
func TestSession(t *testing.T) {
	socket := serve(t, controltest.New())
	guest := filepath.Join(t.TempDir(), "batch1.json")
	os.WriteFile(guest, []byte(`{"instance_id":"i-0ccccccccccccccc1","match":["10.0.0.31"],"tags":{"Name":"batch1"}}`), 0o644)
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{"guests", "", []string{"guests"}},
		{"guests-json", "", []string{"--json", "guests"}},
		{"show", "", []string{"show", "i-0aaaaaaaaaaaaaaa1"}},
		{"show-tag-secrets", "", []string{"show", "tag:Role=web", "--secrets"}},
		{"patch", "", []string{"patch", "tag:Role=web", `{"instance_type":"m5.large"}`}},
		{"patch-stdin", `{"tags":{"Env":"ci"}}`, []string{"patch", "i-0aaaaaaaaaaaaaaa1", "-"}},
		{"patch-refused", "", []string{"patch", "all", `{"instance_type":"huge"}`}},
		{"patch-refused-json", "", []string{"patch", "all", `{"instance_type":"huge"}`, "--json"}},
		{"show-patched", "", []string{"show", "i-0aaaaaaaaaaaaaaa1"}},
		{"reset", "", []string{"reset", "i-0aaaaaaaaaaaaaaa2"}},
		{"add", "", []string{"add", guest}},
		{"add-stdin-exists", `{"instance_id":"i-0ccccccccccccccc1"}`, []string{"add", "-"}},
		{"remove", "", []string{"remove", "i-0ccccccccccccccc1"}},
		{"remove-configured", "", []string{"remove", "i-0aaaaaaaaaaaaaaa1"}},
		{"spot", "", []string{"spot", "tag:Name=web1", "--in", "2m"}},
		{"spot-stop", "", []string{"--socket", socket, "spot", "--action", "stop", "i-0aaaaaaaaaaaaaaa2"}},
		{"spot-json", "", []string{"spot", "i-0bbbbbbbbbbbbbbb1", "--action=hibernate", "--json"}},
		{"spot-nobody", "", []string{"spot", "tag:Name=web9"}},
		{"rebalance", "", []string{"rebalance", "all", "--in", "30s"}},
		{"event-add", "", []string{"event", "i-0aaaaaaaaaaaaaaa1", "add", "system-reboot", "--not-before", "2026-04-07T09:00:00Z", "--not-after", "2026-04-07T10:00:00Z", "--description", "scheduled reboot"}},
		{"event-add-stop", "", []string{"event", "i-0aaaaaaaaaaaaaaa1", "add", "instance-stop", "--not-before", "10m"}},
		{"event-cancel", "", []string{"event", "i-0aaaaaaaaaaaaaaa1", "cancel", "instance-event-00000000000000001"}},
		{"event-cancel-again", "", []string{"event", "i-0aaaaaaaaaaaaaaa1", "cancel", "instance-event-00000000000000001"}},
		{"event-complete", "", []string{"event", "i-0aaaaaaaaaaaaaaa1", "complete", "instance-event-00000000000000002"}},
		{"event-reschedule", "", []string{"event", "i-0aaaaaaaaaaaaaaa1", "reschedule", "instance-event-00000000000000002", "--not-before", "1h"}},
		{"asg", "", []string{"asg", "tag:Role=web", "Terminated"}},
		{"credentials", "", []string{"credentials", "all", "expire"}},
		{"guests-issued", "", []string{"guests"}},
		{"clear", "", []string{"clear", "all"}},
	}
	for _, tt := range tests {
		checkGolden(t, tt.name, runCLI(t, socket, tt.stdin, tt.args...), socket)
	}
}

func TestUsage(t *testing.T) {
	socket := serve(t, controltest.New())
	tests := []struct {
		name string
		args []string
	}{
		{"usage-none", nil},
		{"usage-help", []string{"--help"}},
		{"usage-unknown-command", []string{"frobnicate"}},
		{"usage-unknown-flag", []string{"spot", "all", "--when", "2m"}},
		{"usage-global-flag-value", []string{"--timeout", "soon", "guests"}},
		{"usage-timeout-zero", []string{"--timeout", "0s", "guests"}},
		{"usage-missing-target", []string{"show"}},
		{"usage-extra", []string{"guests", "all"}},
		{"usage-bad-target", []string{"show", "web1"}},
		{"usage-bad-tag", []string{"reset", "tag:Name"}},
		{"usage-patch-missing", []string{"patch", "all"}},
		{"usage-patch-stdin-empty", []string{"patch", "all", "-"}},
		{"usage-add-missing-file", []string{"add", "/nonexistent/guest.json"}},
		{"usage-remove-tag", []string{"remove", "tag:Name=web1"}},
		{"usage-spot-action", []string{"spot", "all", "--action", "reboot"}},
		{"usage-spot-in", []string{"spot", "all", "--in", "soon"}},
		{"usage-spot-in-negative", []string{"spot", "all", "--in", "-1m"}},
		{"usage-flag-no-value", []string{"spot", "all", "--in"}},
		{"usage-rebalance-in", []string{"rebalance", "all", "--in", "2026-04-01T00:00:00Z"}},
		{"usage-event-verb", []string{"event", "all", "delete", "instance-event-1"}},
		{"usage-event-no-verb", []string{"event", "all"}},
		{"usage-event-code", []string{"event", "all", "add", "reboot"}},
		{"usage-event-no-code", []string{"event", "all", "add"}},
		{"usage-event-no-id", []string{"event", "all", "cancel"}},
		{"usage-event-bad-id", []string{"event", "all", "cancel", "42"}},
		{"usage-event-when", []string{"event", "all", "add", "system-reboot", "--not-before", "tuesday"}},
		{"usage-event-flag", []string{"event", "all", "cancel", "instance-event-1", "--not-before", "1h"}},
		{"usage-reschedule", []string{"event", "all", "reschedule", "instance-event-1"}},
		{"usage-asg", []string{"asg", "all", "Running"}},
		{"usage-credentials", []string{"credentials", "all", "revoke"}},
	}
	for _, tt := range tests {
		r := runCLI(t, socket, "", tt.args...)
		if r.code != exitUsage && tt.name != "usage-help" {
			t.Errorf("%s: exit %d, want %d", tt.name, r.code, exitUsage)
		}
		checkGolden(t, tt.name, r, socket)
	}
}

// TestUnreachable: no socket, a stale one, and one that never answers are
// exit status 4 with a message that says which.
func TestUnreachable(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)

	missing := filepath.Join(dir, "missing.sock")
	r := runCLI(t, missing, "", "guests")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "cannot reach imdsd at "+missing+": no such socket") {
		t.Errorf("missing socket: %v", r)
	}

	stale := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	r = runCLI(t, stale, "", "guests")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "nothing answers on it") {
		t.Errorf("stale socket: %v", r)
	}

	// A process that accepts and never answers.
	stuck := filepath.Join(dir, "stuck.sock")
	sl, err := net.Listen("unix", stuck)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	start := time.Now()
	r = runCLI(t, stuck, "", "--timeout", "200ms", "guests")
	if r.code != exitUnreachable || !strings.Contains(r.stderr, "no answer in time (--timeout)") {
		t.Errorf("stuck imdsd: %v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--timeout 200ms took %v", d)
	}
}

// TestNotImdsd: something else answering on the socket is reported with
// what it said, exit status 1.
func TestNotImdsd(t *testing.T) {
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "other.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "teapot", http.StatusTeapot)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	r := runCLI(t, path, "", "guests")
	if r.code != exitRefused || !strings.Contains(r.stderr, "imdsd answered 418 I'm a teapot: teapot") {
		t.Errorf("not imdsd: %v", r)
	}
	r = runCLI(t, path, "", "--json", "guests")
	if r.code != exitRefused || r.stdout != "teapot\n" {
		t.Errorf("not imdsd, --json: %v", r)
	}
}

func TestVersion(t *testing.T) {
	r := runCLI(t, "/nonexistent", "", "--version")
	if r.code != 0 || r.stdout != "imdsctl dev\n" {
		t.Errorf("--version: %v", r)
	}
}

func TestDefaultSocket(t *testing.T) {
	c := &command{getenv: func(k string) string {
		if k == "RUNTIME_DIRECTORY" {
			return "/run/imdsd"
		}
		return ""
	}}
	if got := c.defaultSocket(); got != "/run/imdsd/control.sock" {
		t.Errorf("default socket %s", got)
	}
}
