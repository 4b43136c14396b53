package main

import (
	"github.com/imdsd/imdsd/internal/testbin"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMakeRunNoWarning starts imdsd as `make run` does (the built-in
// default, loopback, no state directory made by rc.d or systemd) and checks
// that it logs no warning: the first command a new user types must not
// warn about itself.
func TestMakeRunNoWarning(t *testing.T) {
	env := childEnv()
	for i, kv := range env {
		if strings.HasPrefix(kv, "STATE_DIRECTORY=") { // as on a machine where nothing made it
			env[i] = "STATE_DIRECTORY=" + filepath.Join(t.TempDir(), "missing")
		}
	}
	port := freePort(t)
	stderr := &testbin.Output{}
	cmd := exec.Command(imdsdBin.Path(t), "--log", "stderr", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env, cmd.Stderr = env, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderr.String(), "msg=listening") {
		if time.Now().After(deadline) {
			t.Fatalf("imdsd did not log that it listens within 15s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(stderr.String(), "level=WARN") {
		t.Errorf("imdsd with the built-in default warns:\n%s", stderr.String())
	}
}
