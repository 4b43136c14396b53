package bench

import (
	"bytes"
	"context"
	"github.com/imdsd/imdsd/internal/testbin"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// baselineSpec runs the test binary as the baseline (see TestMain).
func baselineSpec(t *testing.T) serverSpec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return serverSpec{name: "baseline", path: self, args: func(addr string) []string {
		return []string{"baseline", "--listen", addr}
	}}
}

func TestStartAndStop(t *testing.T) {
	ps := &procs{}
	defer ps.stopAll()
	p, first, err := ps.start(context.Background(), baselineSpec(t))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if first <= 0 || first > readyTimeout {
		t.Errorf("first answer after %v, want within (0, %v]", first, readyTimeout)
	}
	if !strings.HasPrefix(p.addr, "127.0.0.1:") {
		t.Errorf("address %s, want one on 127.0.0.1", p.addr)
	}
	if runtime.GOOS == "linux" {
		now, peak, err := rss(p.pid())
		if err != nil || now <= 0 || peak < now {
			t.Errorf("rss = %d, %d, %v; want now > 0 and peak >= now", now, peak, err)
		}
		if n := openFiles(p.pid()); n < 1 {
			t.Errorf("openFiles = %d, want at least the listener", n)
		}
	}
	ps.stopAll()
	if !p.exited() {
		t.Error("the server still runs after stopAll")
	}
	p.stop() // a second stop is harmless
}

func TestStartFails(t *testing.T) {
	spec := baselineSpec(t)
	spec.args = func(string) []string { return []string{"-test.run=^$"} } // exits at once
	ps := &procs{}
	defer ps.stopAll()
	if _, _, err := ps.start(context.Background(), spec); err == nil || !strings.Contains(err.Error(), "exited before answering") {
		t.Errorf("start of a program that exits: %v, want exited before answering", err)
	}
}

// TestInterrupt cancels a run under load, as SIGINT does, and checks that it
// ends soon and leaves no child process behind.
func TestInterrupt(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds child processes in /proc")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeIMDSDEnv, "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var errOut testbin.Output
	errc := make(chan error, 1)
	go func() {
		o := testOptions(self)
		o.Duration, o.Clients = time.Minute, []int{4}
		errc <- Run(ctx, o, &bytes.Buffer{}, &errOut)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errOut.String(), "token GET") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no load within 30 s; stderr:\n%s", errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // under load
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("run = %v, want interrupted", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return within 15 s of the interrupt")
	}
	if kids := children(t); kids != "" {
		t.Errorf("child processes left: %s", kids)
	}
}

// children lists the child processes of the test, from /proc.
func children(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		all = append(all, strings.Fields(string(b))...)
	}
	return strings.Join(all, " ")
}
