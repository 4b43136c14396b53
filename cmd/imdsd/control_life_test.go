package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imdsctl spot makes the guest's getimds --wait see EC2's notice, fixed at
// the request: the same bytes after a restart.
func TestControlSpotWait(t *testing.T) {
	c := newCtlSetup(t, "")
	d := c.start(t)
	out := c.mustCtl(t, "--json", "spot", seedInstanceID, "--in", "1s")
	if !strings.Contains(out, `"action"`) {
		t.Fatalf("spot: %s", out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, getimdsBin.Path(t), "-e", d.url, "--wait", "--timeout", "10", "meta-data/spot/instance-action")
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), `{"action":"terminate","time":"`) {
		t.Fatalf("getimds --wait: %v\n%s", err, got)
	}
	_, _, life := d.get(t, "/latest/meta-data/instance-life-cycle", d.token(t, 60))
	if life != "spot" {
		t.Errorf("instance-life-cycle %q after imdsctl spot, want spot", life)
	}
	d.signal(t, syscall.SIGTERM)
	d.waitExit(t, 10*time.Second)
	d = c.start(t)
	_, _, again := d.get(t, "/latest/meta-data/spot/instance-action", d.token(t, 60))
	if strings.TrimSpace(again) != strings.TrimSpace(string(got)) {
		t.Errorf("after a restart the notice is %q, want %q", again, got)
	}
	c.mustCtl(t, "clear", seedInstanceID)
	if st, _, _ := d.get(t, "/latest/meta-data/spot/instance-action", d.token(t, 60)); st != 404 {
		t.Errorf("after clear, spot/instance-action answers %d, want 404", st)
	}
}

// An event added then canceled moves to the history, [Canceled].
func TestControlEventCancel(t *testing.T) {
	c := newCtlSetup(t, "")
	d := c.start(t)
	out := c.mustCtl(t, "--json", "event", seedInstanceID, "add", "system-reboot", "--not-before", "1h")
	i := strings.Index(out, "instance-event-")
	if i < 0 {
		t.Fatalf("event add: %s", out)
	}
	id := out[i : i+len("instance-event-")+17]
	tok := d.token(t, 60)
	if _, _, body := d.get(t, "/latest/meta-data/events/maintenance/scheduled", tok); !strings.Contains(body, id) {
		t.Fatalf("scheduled does not list %s:\n%s", id, body)
	}
	c.mustCtl(t, "event", seedInstanceID, "cancel", id)
	if _, _, body := d.get(t, "/latest/meta-data/events/maintenance/scheduled", tok); strings.Contains(body, id) {
		t.Errorf("scheduled still lists the canceled event:\n%s", body)
	}
	if _, _, body := d.get(t, "/latest/meta-data/events/maintenance/history", tok); !strings.Contains(body, id) || !strings.Contains(body, "[Canceled] ") {
		t.Errorf("history does not hold the canceled event:\n%s", body)
	}
	if out, code := c.ctl(t, "event", seedInstanceID, "cancel", id); code != 1 || !strings.Contains(out, "history") {
		t.Errorf("canceling it twice: exit %d %q", code, out)
	}
}
