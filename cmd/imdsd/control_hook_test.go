package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imdsctl spot --action hibernate --in 1s: the action falls due with the
// notice, and the host hook runs once with the action in its environment;
// after a restart it does not run again.
func TestControlHook(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "hook.out")
	c := newCtlSetup(t, "")
	c.config = writeConfig(t, seedWith(t, map[string]any{
		"state_file":     c.state,
		"tags":           map[string]string{"Name": "web1"},
		"action_command": []string{"/bin/sh", "-c", `echo "$IMDSD_INSTANCE_ID $IMDSD_ACTION $IMDSD_TIME $IMDSD_NAME" >> ` + out},
	}))
	d := c.start(t)
	res := c.mustCtl(t, "--json", "spot", "tag:Name=web1", "--action", "hibernate", "--in", "1s")
	i := strings.Index(res, `"time": "`)
	if i < 0 {
		t.Fatalf("spot: %s", res)
	}
	at := res[i+len(`"time": "`) : i+len(`"time": "`)+20]
	deadline := time.Now().Add(15 * time.Second)
	var got []byte
	for time.Now().Before(deadline) {
		if got, _ = os.ReadFile(out); len(got) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if want := seedInstanceID + " hibernate " + at + " web1\n"; string(got) != want {
		t.Fatalf("the hook wrote %q, want %q", got, want)
	}
	waitLog(t, d, "host hook done")
	d.signal(t, syscall.SIGTERM)
	d.waitExit(t, 10*time.Second)
	d = c.start(t)
	time.Sleep(500 * time.Millisecond)
	if again, _ := os.ReadFile(out); string(again) != string(got) {
		t.Errorf("after a restart the hook ran again: %q", again)
	}
	if st, _, _ := d.get(t, "/latest/meta-data/spot/instance-action", d.token(t, 60)); st != 200 {
		t.Errorf("the notice after a restart: %d", st)
	}
}

// waitLog waits for a line of imdsd's log holding s.
func waitLog(t *testing.T, d *daemonProc, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(d.stderr.String(), s) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line with %q:\n%s", s, d.stderr.String())
}

// imdsctl credentials rotate: the guest's credentials change at once,
// and a restart serves the same set.
func TestControlCredentialsRotate(t *testing.T) {
	c := newCtlSetup(t, "")
	c.config = writeConfig(t, seedWith(t, map[string]any{
		"state_file":     c.state,
		"token_key_file": filepath.Join(filepath.Dir(c.state), "token.key"),
		"iam":            map[string]any{"role": "web", "rotation": map[string]string{"lifetime": "6h", "interval": "1h"}},
	}))
	d := c.start(t)
	const path = "/latest/meta-data/iam/security-credentials/web"
	_, _, before := d.get(t, path, d.token(t, 60))
	c.mustCtl(t, "credentials", seedInstanceID, "rotate")
	_, _, after := d.get(t, path, d.token(t, 60))
	if after == before || !strings.Contains(after, `"AccessKeyId"`) {
		t.Fatalf("after rotate:\n%s\nbefore:\n%s", after, before)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d = c.start(t)
	if _, _, again := d.get(t, path, d.token(t, 60)); again != after {
		t.Errorf("after a restart:\n%s\nwant:\n%s", again, after)
	}
}

// A guest's first request is kept: after kill -9 and a restart, a notice
// counted from it has the same bytes.
func TestControlFirstRequestKept(t *testing.T) {
	c := newCtlSetup(t, "")
	c.config = writeConfig(t, seedWith(t, map[string]any{
		"state_file":        c.state,
		"market":            "spot",
		"spot_interruption": map[string]string{"action": "stop", "after": "2s"},
	}))
	d := c.start(t)
	tok := d.token(t, 60) // the first request
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(c.state); strings.Contains(string(b), "first_request") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var body string
	for time.Now().Before(deadline) {
		var st int
		if st, _, body = d.get(t, "/latest/meta-data/spot/instance-action", tok); st == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, `"action":"stop"`) {
		t.Fatalf("no notice: %q", body)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	time.Sleep(1100 * time.Millisecond) // a restart's load in another second
	d = c.start(t)
	if _, _, again := d.get(t, "/latest/meta-data/spot/instance-action", d.token(t, 60)); again != body {
		t.Errorf("after kill -9 and a restart: %q, want %q", again, body)
	}
}
