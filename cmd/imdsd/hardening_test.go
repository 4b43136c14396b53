package main

// End-to-end tests of issue 10 ("No guest can hurt another"): the loopback
// exemption from the rate limit, the pidfile and the admin socket.

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoopbackNotThrottled: the host's own client on 127.0.0.1 is not
// rate limited by default, and the startup line says so; with
// "rate_limit": {"loopback": true} it is.
func TestLoopbackNotThrottled(t *testing.T) {
	cfg := writeConfig(t, seedWith(t, map[string]any{"http_tokens": "optional",
		"rate_limit": map[string]any{"requests_per_second": 1, "burst": 1, "action": "429"}}))
	d := startDaemon(t, "--config", cfg, "--no-access-log")
	for i := range 300 {
		if code, _, _ := do(t, http.MethodGet, d.url+"/latest/meta-data/instance-id", nil); code != http.StatusOK {
			t.Fatalf("request %d from 127.0.0.1: status %d, want 200: loopback clients are exempt by default", i, code)
		}
	}
	if !strings.Contains(d.stderr.String(), "off for loopback clients") {
		t.Errorf("the startup line does not say the rate limit is off for loopback clients:\n%s", d.stderr.String())
	}

	cfg = writeConfig(t, seedWith(t, map[string]any{"http_tokens": "optional",
		"rate_limit": map[string]any{"requests_per_second": 1, "burst": 1, "action": "429", "loopback": true}}))
	d = startDaemon(t, "--config", cfg, "--no-access-log")
	time.Sleep(1100 * time.Millisecond) // waitReady's requests took the burst
	codes := []int{}
	for range 2 {
		code, _, _ := do(t, http.MethodGet, d.url+"/latest/meta-data/instance-id", nil)
		codes = append(codes, code)
	}
	if codes[0] != 200 || codes[1] != 429 {
		t.Errorf(`with "loopback": true: statuses %v, want [200 429]`, codes)
	}
	if strings.Contains(d.stderr.String(), "off for loopback clients") {
		t.Errorf("the startup line says loopback is exempt though it is not")
	}
}

// TestAdminSocketMode: under umask 000 the --admin socket is still 0600,
// and it is removed on exit (issue 10, item 7).
func TestAdminSocketMode(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	old := syscall.Umask(0)
	d := startDaemon(t, "--admin", "unix:"+sock)
	syscall.Umask(old)
	st, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v under umask 000, want a socket of mode 0600", st.Mode())
	}
	d.signal(t, syscall.SIGTERM)
	if code := d.waitExit(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("admin socket left behind: %v", err)
	}
}

// TestAdminSocketUser: under --user the socket goes on exit when its
// directory is the user's; where the user cannot remove it, imdsd says at
// start that it will stay behind, and the next start replaces it.
func TestAdminSocketUser(t *testing.T) {
	needRoot(t, "switching users")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		unavailable(t, "no user nobody")
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	own := filepath.Join(traversable(t), "run")
	if err := os.Mkdir(own, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(own, uid, gid); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(own, "admin.sock")
	d := startDaemon(t, "-u", "nobody", "--admin", "unix:"+sock)
	var st syscall.Stat_t
	if err := syscall.Lstat(sock, &st); err != nil || st.Mode&0o777 != 0o600 {
		t.Errorf("admin socket mode %o (%v), want 0600", st.Mode&0o777, err)
	}
	if strings.Contains(d.stderr.String(), "admin socket will stay behind") {
		t.Errorf("warned that the socket stays behind, though the user owns its directory")
	}
	d.signal(t, syscall.SIGTERM)
	d.waitExit(t, 10*time.Second)
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("admin socket in the user's directory left behind: %v", err)
	}

	rootDir := t.TempDir() // root's, 0700: nobody cannot remove from it
	sock = filepath.Join(rootDir, "admin.sock")
	d = startDaemon(t, "-u", "nobody", "--admin", "unix:"+sock)
	if !strings.Contains(d.stderr.String(), "admin socket will stay behind") {
		t.Errorf("no warning that the socket stays behind:\n%s", d.stderr.String())
	}
	d.signal(t, syscall.SIGTERM)
	d.waitExit(t, 10*time.Second)
	d = startDaemon(t, "-u", "nobody", "--admin", "unix:"+sock)
	if c, err := net.Dial("unix", sock); err != nil {
		t.Errorf("the next start did not replace the stale socket: %v", err)
	} else {
		c.Close()
	}
	d.signal(t, syscall.SIGTERM)
	d.waitExit(t, 10*time.Second)
}

// TestDaemonPidfileSymlink is issue 10's "ln -s victim link; imdsd -d -p
// link -u nobody": imdsd refuses the link, and the file it points to keeps
// its contents and its owner.
func TestDaemonPidfileSymlink(t *testing.T) {
	needRoot(t, "the pidfile as root, handed to --user")
	if _, err := user.Lookup("nobody"); err != nil {
		unavailable(t, "no user nobody")
	}
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	port := pickPort(t, "127.0.0.1")
	out, err := runDetached(t, "-d", "-p", link, "-u", "nobody", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--log", "stderr")
	if err == nil {
		t.Errorf("imdsd -d -p link started; output %q", out)
		if b, _ := os.ReadFile(victim); len(b) > 0 {
			if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	} else if !strings.Contains(out, "symbolic link") {
		t.Errorf("imdsd -d -p link: %v, output %q; want a refusal naming the link", err, out)
	}
	b, _ := os.ReadFile(victim)
	var st syscall.Stat_t
	if err := syscall.Stat(victim, &st); err != nil {
		t.Fatal(err)
	}
	if string(b) != "precious\n" || st.Uid != 0 {
		t.Errorf("the link's target holds %q, owner %d; want it untouched", b, st.Uid)
	}
}

// runDetached runs "imdsd -d ..." to completion, its output going to a
// file: the detached child must not hold a pipe of the test's open.
func runDetached(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(imdsdBin.Path(t), args...)
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	return string(out), err
}

// TestDaemonPidfileUser: under -u the pidfile is handed to the user through
// its descriptor, and goes on exit.
func TestDaemonPidfileUser(t *testing.T) {
	needRoot(t, "the pidfile as root, handed to --user")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		unavailable(t, "no user nobody")
	}
	dir := traversable(t)
	os.Chmod(dir, 0o777|os.ModeSticky) // nobody may remove its own file
	pidfile := filepath.Join(dir, "imdsd.pid")
	port := pickPort(t, "127.0.0.1")
	if out, err := runDetached(t, "-d", "-p", pidfile, "-u", "nobody", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--log", "stderr"); err != nil {
		t.Fatalf("imdsd -d -u nobody: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(pidfile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pidfile holds %q", b)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	var st syscall.Stat_t
	if err := syscall.Stat(pidfile, &st); err != nil || strconv.Itoa(int(st.Uid)) != nobody.Uid {
		t.Errorf("pidfile owner %d (%v), want nobody (%s)", st.Uid, err, nobody.Uid)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still running 10 s after SIGTERM", pid)
		}
	}
	if _, err := os.Lstat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile still there after exit: %v", err)
	}
}

// traversable returns a new temporary directory that every user may pass
// through (mode 0711, and so its parent).
func traversable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCheckWarnsLinkLocalMatch: imdsd -t warns about a match on a
// link-local address, which any guest on the link can send from.
func TestCheckWarnsLinkLocalMatch(t *testing.T) {
	cfg := writeConfig(t, `{"instances": [{"match": ["fe80::5054:ff:fe0a:1b31"], "instance_id": "i-0a1b2c3d4e5f60031"}]}`)
	_, stderr, code := runImdsd(t, "-t", "-c", cfg)
	if code != 0 || !strings.Contains(stderr, "match[0]: fe80::5054:ff:fe0a:1b31/128 is link-local: any guest on the link can send from it") {
		t.Errorf("imdsd -t: exit %d, stderr:\n%s", code, stderr)
	}
}
