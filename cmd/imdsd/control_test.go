package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/testbin"
)

var imdsctlBin = &testbin.Binary{Pkg: "../imdsctl", Name: "imdsctl"}

// ctlSetup is an imdsd with a control socket and a state file of its own.
type ctlSetup struct {
	sock, state, config string
}

func newCtlSetup(t *testing.T, configText string) *ctlSetup {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl") // short: a socket path holds 103 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &ctlSetup{sock: filepath.Join(dir, "control.sock"), state: filepath.Join(dir, "state.json")}
	if configText == "" {
		configText = seedWith(t, map[string]any{"state_file": c.state})
	}
	c.config = writeConfig(t, configText)
	return c
}

func (c *ctlSetup) start(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	return startDaemon(t, append([]string{"-c", c.config, "--control", c.sock}, args...)...)
}

// ctl runs imdsctl against the socket and returns its output and status.
func (c *ctlSetup) ctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, imdsctlBin.Path(t), append([]string{"--socket", c.sock}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), exitCode(t, err)
}

func (c *ctlSetup) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	out, code := c.ctl(t, args...)
	if code != 0 {
		t.Fatalf("imdsctl %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func instanceType(t *testing.T, d *daemonProc) string {
	t.Helper()
	st, _, body := d.get(t, "/latest/meta-data/instance-type", d.token(t, 60))
	if st != http.StatusOK {
		t.Fatalf("instance-type: %d %q", st, body)
	}
	return body
}

// A patch shows in the guest's crawl at once; a refused one changes
// nothing and says why, with the configuration's message.
func TestControlPatch(t *testing.T) {
	c := newCtlSetup(t, "")
	d := c.start(t)
	c.mustCtl(t, "patch", seedInstanceID, `{"instance_type": "m5.xlarge"}`)
	if got := instanceType(t, d); got != "m5.xlarge" {
		t.Fatalf("after the patch, instance-type = %q, want m5.xlarge", got)
	}
	out, code := c.ctl(t, "patch", seedInstanceID, `{"instance_type": "no such type", "region": "Mars"}`)
	if code != 1 || !strings.Contains(out, "instance_type") || !strings.Contains(out, "region") {
		t.Fatalf("a bad patch: exit %d, output %q; want 1 and both keys named", code, out)
	}
	if got := instanceType(t, d); got != "m5.xlarge" {
		t.Fatalf("after a refused patch, instance-type = %q, want m5.xlarge", got)
	}
	out = c.mustCtl(t, "--json", "guests")
	if !strings.Contains(out, `"127.0.0.1"`) || !strings.Contains(out, "first_request") || !strings.Contains(out, `"overrides": true`) {
		t.Errorf("guests: want the address seen, the first request and overrides:\n%s", out)
	}
	c.mustCtl(t, "reset", seedInstanceID)
	if got := instanceType(t, d); got != "a1.pinguin" {
		t.Fatalf("after reset, instance-type = %q, want the configured a1.pinguin", got)
	}
}

// What the control API changed survives kill -9; a temporary file left by
// a crash in the middle of a write is never taken for the state.
func TestControlPersistence(t *testing.T) {
	c := newCtlSetup(t, "")
	d := c.start(t)
	c.mustCtl(t, "patch", seedInstanceID, `{"instance_type": "c6i.large"}`)
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	// A crash while writing the next state: its temporary file stays.
	tmp := filepath.Join(filepath.Dir(c.state), ".state.json.tmp-123")
	if err := os.WriteFile(tmp, []byte(`{"version": 1, "guests": {"`+seedInstanceID+`": {"overr`), 0o600); err != nil {
		t.Fatal(err)
	}
	d = c.start(t)
	if got := instanceType(t, d); got != "c6i.large" {
		t.Fatalf("after kill -9 and a restart, instance-type = %q, want c6i.large", got)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the crash's temporary file is still there (%v)", err)
	}
}

// A state file imdsd cannot read stops it before binding, naming the file
// and how to move it aside; the file is left as it is.
func TestControlBadStateFile(t *testing.T) {
	c := newCtlSetup(t, "")
	os.WriteFile(c.state, []byte("{half"), 0o600)
	_, stderr, code := runImdsd(t, "-c", c.config, "--control", c.sock, "--host", "127.0.0.1", "--port", "0", "--log", "stderr")
	if code == 0 || !strings.Contains(stderr, c.state) || !strings.Contains(stderr, "mv "+c.state) {
		t.Fatalf("exit %d, stderr %q; want a failure naming %s and the mv", code, stderr, c.state)
	}
	if b, _ := os.ReadFile(c.state); string(b) != "{half" {
		t.Errorf("the state file was changed: %q", b)
	}
}

// The socket is mode 0600 (0660 with --control-group), removed on exit,
// and the control API is not served on a metadata listener.
func TestControlSocket(t *testing.T) {
	c := newCtlSetup(t, "")
	d := c.start(t, "--control-group", fmt.Sprint(os.Getgid()))
	fi, err := os.Lstat(c.sock)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: %v %v; want a socket of mode 0660", fi, err)
	}
	for _, path := range []string{"/v1/guests", "/v1/guests/" + seedInstanceID + "/instance"} {
		st, hdr, body := d.get(t, path, d.token(t, 60))
		if st != http.StatusNotFound || hdr.Get("Server") != "EC2ws" || strings.Contains(body, "guests") {
			t.Errorf("GET %s on the metadata listener: %d %q %q; want EC2's 404", path, st, hdr.Get("Server"), body)
		}
	}
	d.signal(t, syscall.SIGTERM)
	d.waitExit(t, 10*time.Second)
	if _, err := os.Lstat(c.sock); !os.IsNotExist(err) {
		t.Errorf("the socket is still there after exit (%v)", err)
	}

	c2 := newCtlSetup(t, "")
	c2.start(t)
	if fi, err := os.Lstat(c2.sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket without a group: %v %v; want mode 0600", fi, err)
	}
	// A second imdsd on the same socket is refused, naming it.
	_, stderr, code := runImdsd(t, "-c", c2.config, "--control", c2.sock, "--host", "127.0.0.1", "--port", "0", "--log", "stderr")
	if code == 0 || !strings.Contains(stderr, c2.sock) || !strings.Contains(stderr, "answers on it") {
		t.Errorf("a second imdsd on a live socket: exit %d, stderr %q", code, stderr)
	}
}

// Guests added at run time are served and survive a restart; removed, they
// are gone.
func TestControlAddRemove(t *testing.T) {
	c := newCtlSetup(t, "")
	d := c.start(t)
	guest := filepath.Join(t.TempDir(), "g.json")
	os.WriteFile(guest, []byte(`{"instance_id": "i-0aaaaaaaaaaaaaaa1", "match": ["127.0.0.2"], "instance_type": "t3.nano"}`), 0o644)
	c.mustCtl(t, "add", guest)
	_, port, _ := net.SplitHostPort(d.addr)
	get2 := func() (int, string) {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
		req, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:"+port+"/latest/api/token", nil)
		req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		tok := new(bytes.Buffer)
		tok.ReadFrom(resp.Body)
		resp.Body.Close()
		req, _ = http.NewRequest(http.MethodGet, "http://127.0.0.1:"+port+"/latest/meta-data/instance-type", nil)
		req.Header.Set("X-aws-ec2-metadata-token", tok.String())
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := new(bytes.Buffer)
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	if st, body := get2(); st != 200 || body != "t3.nano" {
		t.Fatalf("the added guest gets %d %q, want t3.nano", st, body)
	}
	if got := instanceType(t, d); got != "a1.pinguin" {
		t.Fatalf("the other guest gets %q", got)
	}
	out, code := c.ctl(t, "add", guest)
	if code != 1 || !strings.Contains(out, "exists already") {
		t.Errorf("adding it twice: exit %d %q", code, out)
	}
	out, code = c.ctl(t, "remove", seedInstanceID)
	if code != 1 || !strings.Contains(out, "not added at run time") {
		t.Errorf("removing a configured guest: exit %d %q", code, out)
	}
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
	d = c.start(t)
	_, port, _ = net.SplitHostPort(d.addr)
	if st, body := get2(); st != 200 || body != "t3.nano" {
		t.Fatalf("after a restart the added guest gets %d %q, want t3.nano", st, body)
	}
	c.mustCtl(t, "remove", "i-0aaaaaaaaaaaaaaa1")
	if st, body := get2(); body == "t3.nano" {
		t.Fatalf("after remove the guest still gets %d %q", st, body)
	}
}
