package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/statefile"
)

// hookConfig is a spot instance whose hibernate action falls due 10 s
// after epoch, with an event due at 20 s and one canceled, and a hook
// that appends its environment to out.
func hookConfig(out string, command ...string) string {
	if command == nil {
		command = []string{"/bin/sh", "-c", `echo "$IMDSD_INSTANCE_ID|$IMDSD_KIND|$IMDSD_ACTION|$IMDSD_TIME|$IMDSD_EVENT_ID|$IMDSD_EVENT_CODE|$IMDSD_NAME" >> ` + out}
	}
	cmd, _ := json.Marshal(command)
	return fmt.Sprintf(`{"instance_id": "i-0aaaaaaaaaaaaaaa1", "http_tokens": "optional", "tags": {"Name": "web1"},
 "market": "spot", "spot_interruption": {"action": "hibernate", "at": "2026-01-02T03:04:15Z"},
 "scheduled_events": [
  {"code": "system-reboot", "not_before": "2026-01-02T03:04:25Z", "id": "instance-event-0123456789abcdef0"},
  {"code": "instance-stop", "not_before": "2026-01-02T03:04:25Z", "state": "canceled"}],
 "action_command": %s}`, cmd)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// The hook runs once per action that falls due, with the action in its
// environment; the actions are in the state file before it runs, and a
// restart does not run them again.
func TestHookRunsOnce(t *testing.T) {
	dir := t.TempDir()
	out, state := filepath.Join(dir, "out"), filepath.Join(dir, "state.json")
	cfg := hookConfig(out)
	ts := start(t, cfg, func(o *Options) { o.StateFile = state })
	ts.srv.life.wake()
	time.Sleep(50 * time.Millisecond)
	if l := readLines(t, out); l != nil {
		t.Fatalf("the hook ran before any action was due: %q", l)
	}
	ts.clock.Set(epoch.Add(10 * time.Second))
	ts.srv.life.wake()
	waitFor(t, 5*time.Second, "the spot action's hook", func() bool { return len(readLines(t, out)) == 1 })
	ts.clock.Set(epoch.Add(time.Minute))
	for range 5 {
		ts.srv.life.wake()
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, 5*time.Second, "the event's hook", func() bool { return len(readLines(t, out)) >= 2 })
	time.Sleep(100 * time.Millisecond)
	want := []string{
		"i-0aaaaaaaaaaaaaaa1|spot_interruption|hibernate|2026-01-02T03:04:15Z|||web1",
		"i-0aaaaaaaaaaaaaaa1|scheduled_event|system-reboot|2026-01-02T03:04:25Z|instance-event-0123456789abcdef0|system-reboot|web1",
	}
	if got := readLines(t, out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("hook runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, st, err := statefile.Open(state)
	if err != nil {
		t.Fatal(err)
	}
	if g := st.Guests["i-0aaaaaaaaaaaaaaa1"]; g == nil || len(g.Hooks) != 2 {
		t.Fatalf("state file: %+v, want the two actions recorded", g)
	}
	waitFor(t, 5*time.Second, "the hooks' log lines", func() bool { return strings.Count(ts.errlog.String(), `"msg":"host hook done"`) == 2 })

	// A restart with the same state file: nothing runs again.
	ts2 := start(t, cfg, func(o *Options) { o.StateFile = state })
	ts2.clock.Set(epoch.Add(2 * time.Minute))
	ts2.srv.life.wake()
	time.Sleep(200 * time.Millisecond)
	if got := readLines(t, out); len(got) != 2 {
		t.Fatalf("after a restart the hook ran again: %q", got)
	}
}

// An action issued over the control API runs the hook too; an action
// already past when imdsd starts runs once.
func TestHookIssued(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cfg := strings.Replace(hookConfig(out), `"spot_interruption": {"action": "hibernate", "at": "2026-01-02T03:04:15Z"}`, `"spot_interruption": null`, 1)
	cfg = strings.Replace(cfg, `"2026-01-02T03:04:25Z", "id"`, `"2025-01-02T03:04:25Z", "id"`, 1) // past at start
	ts := start(t, cfg, func(o *Options) { o.StateFile = filepath.Join(dir, "state.json") })
	ts.srv.life.wake()
	waitFor(t, 5*time.Second, "the past event's hook", func() bool { return len(readLines(t, out)) == 1 })
	if _, err := ts.srv.Control().Spot(context.Background(), all, control.SpotRequest{Action: "terminate"}); err != nil {
		t.Fatal(err)
	}
	ts.clock.Set(epoch.Add(2*time.Minute + time.Second))
	ts.srv.life.wake()
	waitFor(t, 5*time.Second, "the issued spot action's hook", func() bool { return len(readLines(t, out)) == 2 })
	if got := readLines(t, out)[1]; got != "i-0aaaaaaaaaaaaaaa1|spot_interruption|terminate|2026-01-02T03:06:05Z|||web1" {
		t.Errorf("issued spot action: %q", got)
	}
	_, st, _ := statefile.Open(filepath.Join(dir, "state.json"))
	if sp := st.Guests["i-0aaaaaaaaaaaaaaa1"].Spot; sp == nil || sp.Done.IsZero() {
		t.Errorf("the issued spot record has no Done: %+v", sp)
	}
}

// A failing hook is logged with its exit status and output (capped), and
// the server goes on serving.
func TestHookFails(t *testing.T) {
	dir := t.TempDir()
	cfg := hookConfig("", "/bin/sh", "-c", `echo "no such vm: $IMDSD_NAME" >&2; head -c 10000 /dev/zero | tr '\0' x; exit 3`)
	ts := start(t, cfg, func(o *Options) { o.StateFile = filepath.Join(dir, "state.json") })
	ts.clock.Set(epoch.Add(10 * time.Second))
	ts.srv.life.wake()
	waitFor(t, 5*time.Second, "the failure's log line", func() bool { return strings.Contains(ts.errlog.String(), `"msg":"host hook failed"`) })
	var line map[string]any
	for _, rec := range records(t, ts.errlog) {
		if rec["msg"] == "host hook failed" {
			line = rec
		}
	}
	o, _ := line["output"].(string)
	if line["exit_status"] != float64(3) || !strings.HasPrefix(o, "no such vm: web1\n") || len(o) > hookOutputMax+20 || line["action"] != "hibernate" {
		t.Errorf("log line %v: want exit status 3, the output capped", line)
	}
	if r := ts.exchange(t, req("GET", "/latest/meta-data/spot/instance-action")); r.status != http.StatusOK {
		t.Errorf("after a failing hook: %v, want the notice served", r)
	}
	// Not a program at all: logged, not fatal.
	cfg = hookConfig("", "/nonexistent/vm", "stop")
	ts = start(t, cfg)
	ts.clock.Set(epoch.Add(10 * time.Second))
	ts.srv.life.wake()
	waitFor(t, 5*time.Second, "the failure's log line", func() bool {
		return strings.Contains(ts.errlog.String(), "/nonexistent/vm") && strings.Contains(ts.errlog.String(), `"msg":"host hook failed"`)
	})
}
