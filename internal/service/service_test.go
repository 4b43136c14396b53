package service

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imdsd.conf")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := server.New(config.Default(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}

	write(`{"instance_id": "i-0123456789abcdef0"}`)
	if !Reload(srv, path, log) || srv.Config().InstanceID != "i-0123456789abcdef0" {
		t.Fatalf("good reload: serving %q\n%s", srv.Config().InstanceID, logs.String())
	}

	// A broken file: every problem logged with file, line and key; the
	// previous configuration keeps serving.
	write("{\n  \"instance_id\": \"i-0123456789abcdef1\",\n  \"mac\": \"zz\",\n  \"bogus\": 1\n}")
	logs.Reset()
	if Reload(srv, path, log) {
		t.Fatal("a broken configuration was accepted")
	}
	if got := srv.Config().InstanceID; got != "i-0123456789abcdef0" {
		t.Fatalf("after a failed reload serving %q, want the previous configuration", got)
	}
	for _, want := range []string{path + ":3: mac:", path + ":4: bogus: unknown key", "still serving the previous configuration"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	os.Remove(path)
	logs.Reset()
	if Reload(srv, path, log) || !strings.Contains(logs.String(), "no such file") {
		t.Errorf("missing file: %s", logs.String())
	}
	if !Reload(srv, "", log) || srv.Config().InstanceID != config.Default().InstanceID {
		t.Error("reload without a file must serve the built-in default")
	}
}

// notes collects the sd_notify states Run sends.
type notes chan string

func (n notes) notify(state string) { n <- state }

// next returns the next state, failing the test if none comes in time.
func (n notes) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-n:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no sd_notify state within 10s")
		return ""
	}
}

// expect skips watchdog pings until a state other than WATCHDOG=1 comes,
// and checks that it starts with want.
func (n notes) expect(t *testing.T, want string) {
	t.Helper()
	for {
		s := n.next(t)
		if s == "WATCHDOG=1" {
			continue
		}
		if !strings.HasPrefix(s, want) {
			t.Fatalf("sd_notify %q, want %q", s, want)
		}
		return
	}
}

// runService starts Run on a fresh loopback listener with the
// configuration at path and returns its address, its notes, the cancel
// function that stands for SIGTERM and the channel Run's result comes on.
func runService(t *testing.T, path string, watchdog time.Duration, load func(string) (*config.Config, config.ErrorList, error)) (string, notes, context.CancelFunc, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	n := make(notes, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- Run(ctx, Options{ConfigPath: path, Config: cfg, Listeners: []net.Listener{ln},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), Notify: n.notify, Watchdog: watchdog, load: load})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	return ln.Addr().String(), n, cancel, done
}

// instanceID asks the server at addr for its instance id, without a token.
func instanceID(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestRun: READY=1 once serving, WATCHDOG=1 pings, RELOADING=1 and READY=1
// around a SIGHUP reload, STOPPING=1 when the context ends (SIGTERM), and
// Run returns nil.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imdsd.conf")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"http_tokens": "optional", "instance_id": "i-0123456789abcdef0"}`)
	addr, n, cancel, done := runService(t, path, 20*time.Millisecond, nil)
	n.expect(t, "READY=1")
	if s := n.next(t); s != "WATCHDOG=1" {
		t.Fatalf("after READY=1: %q, want watchdog pings", s)
	}
	if got := instanceID(t, addr); got != "i-0123456789abcdef0" {
		t.Fatalf("serving %q", got)
	}

	write(`{"http_tokens": "optional", "instance_id": "i-0123456789abcdef1"}`)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n.expect(t, "RELOADING=1\nMONOTONIC_USEC=")
	n.expect(t, "READY=1")
	if got := instanceID(t, addr); got != "i-0123456789abcdef1" {
		t.Fatalf("after SIGHUP serving %q", got)
	}

	cancel()
	n.expect(t, "STOPPING=1")
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	done <- nil // for the cleanup
}

// TestRunStuckReload: a reload that does not finish holds up neither the
// watchdog nor the stop; a SIGHUP meanwhile is served by one reload after
// it.
func TestRunStuckReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imdsd.conf")
	if err := os.WriteFile(path, []byte(`{"http_tokens": "optional"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	release, never := make(chan struct{}), make(chan struct{})
	defer close(never)
	var loads atomic.Int32
	load := func(p string) (*config.Config, config.ErrorList, error) {
		switch loads.Add(1) {
		case 1:
			<-release // as a read that never ends once did
		case 3:
			<-never
		}
		return config.Load(p)
	}
	_, n, cancel, done := runService(t, path, 20*time.Millisecond, load)
	n.expect(t, "READY=1")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	n.expect(t, "RELOADING=1")
	syscall.Kill(os.Getpid(), syscall.SIGHUP) // kept for after the first
	for range 3 {
		if s := n.next(t); s != "WATCHDOG=1" {
			t.Fatalf("during a stuck reload: %q, want watchdog pings", s)
		}
	}
	close(release)
	n.expect(t, "READY=1")
	n.expect(t, "RELOADING=1")
	n.expect(t, "READY=1")
	if got := loads.Load(); got != 2 {
		t.Errorf("%d loads, want 2", got)
	}

	// Stuck again: the stop does not wait for it.
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	n.expect(t, "RELOADING=1")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		done <- nil
	case <-time.After(ShutdownGrace + 5*time.Second):
		t.Fatal("Run did not return while a reload was stuck")
	}
}

// TestReloadFIFO: a FIFO as the configuration fails the reload at once.
func TestReloadFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imdsd.conf")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := server.New(config.Default(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	go func() { done <- Reload(srv, path, slog.New(slog.NewTextHandler(&logs, nil))) }()
	select {
	case ok := <-done:
		if ok || !strings.Contains(logs.String(), "is a named pipe (FIFO), not read") {
			t.Errorf("Reload of a FIFO: %t\n%s", ok, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Reload of a FIFO blocked")
	}
}

// TestReloadNeedsRestart: a changed key that only takes effect at the
// next start is logged once, by name.
func TestReloadNeedsRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imdsd.conf")
	if err := os.WriteFile(path, []byte(`{"header_timeout_ms": 200, "max_header_bytes": 2048, "max_connections": 9}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	srv, err := server.New(config.Default(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !Reload(srv, path, slog.New(slog.NewTextHandler(&logs, nil))) {
		t.Fatal(logs.String())
	}
	for _, key := range []string{"header_timeout_ms", "max_header_bytes"} {
		if n := strings.Count(logs.String(), "msg=\""+key+" changed: the new value takes effect at the next start"); n != 1 {
			t.Errorf("%d warnings about %s, want 1:\n%s", n, key, logs.String())
		}
	}
	if strings.Contains(logs.String(), "max_connections changed") || strings.Contains(logs.String(), "token_key_file") {
		t.Errorf("a warning about a key a reload applies:\n%s", logs.String())
	}
}
