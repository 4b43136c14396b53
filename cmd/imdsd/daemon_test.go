package main

// Tests of imdsd as a system daemon, each with the real part it meets in
// production: systemd-socket-activate and an sd_notify socket, a syslog
// receiver, the --daemon pidfile handshake rc.d relies on, and a privilege
// drop as root.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket is an sd_notify receiver: a unixgram socket the test owns.
type notifySocket struct {
	path string
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("", "imdsd-notify-") // short: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &notifySocket{path: path, conn: c}
}

// expect reads notifications until one matches re, failing after timeout.
func (n *notifySocket) expect(t *testing.T, re string, timeout time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	var seen []string
	for time.Now().Before(deadline) {
		n.conn.SetReadDeadline(deadline)
		k, err := n.conn.Read(buf)
		if err != nil {
			break
		}
		msg := string(buf[:k])
		if rx.MatchString(msg) {
			return msg
		}
		seen = append(seen, msg)
	}
	t.Fatalf("no notification matching %q within %s; got %q", re, timeout, seen)
	return ""
}

// pickPort returns a loopback port that was free a moment ago.
func pickPort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHTTP polls url until it answers at all.
func waitHTTP(t *testing.T, url string, timeout time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within %s", url, timeout)
}

// tokenFlow does PUT token + GET instance-id against base and returns the
// instance id.
func tokenFlow(t *testing.T, base string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("token PUT: %v", err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(tok) != 56 {
		t.Fatalf("token PUT: status %d body %q", resp.StatusCode, tok)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/latest/meta-data/instance-id", nil)
	req.Header.Set("X-aws-ec2-metadata-token", string(tok))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatalf("GET with token: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET with token: status %d", resp.StatusCode)
	}
	return string(body)
}

func TestSocketActivation(t *testing.T) {
	sa := need(t, "systemd-socket-activate")
	n := newNotifySocket(t)
	port := pickPort(t, "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var stderr bytes.Buffer
	cmd := exec.Command(sa, "-l", addr, "--fdname=imds",
		"-E", "NOTIFY_SOCKET="+n.path, "-E", "WATCHDOG_USEC=400000",
		imdsdBin.Path(t), "--log", "stderr", "--host", "192.0.2.1", "--port", "1")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// The first connection makes systemd-socket-activate exec imdsd on
	// the socket it holds; --host/--port name an address imdsd must not
	// try, since activation wins.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket never accepted: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.expect(t, `(?m)^READY=1$`, 10*time.Second)
	if got := tokenFlow(t, "http://"+addr); got != "i-1234567890abcdef0" {
		t.Errorf("instance-id through the activated socket = %q", got)
	}
	n.expect(t, `(?m)^WATCHDOG=1$`, 5*time.Second)

	cmd.Process.Signal(syscall.SIGHUP)
	msg := n.expect(t, `(?m)^RELOADING=1$`, 5*time.Second)
	if !regexp.MustCompile(`(?m)^MONOTONIC_USEC=[0-9]+$`).MatchString(msg) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", msg)
	}
	n.expect(t, `(?m)^READY=1$`, 5*time.Second)

	cmd.Process.Signal(syscall.SIGTERM)
	n.expect(t, `(?m)^STOPPING=1$`, 5*time.Second)
	if err := waitProc(cmd, 10*time.Second); err != nil {
		t.Fatalf("imdsd did not exit cleanly: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "socket activation") {
		t.Errorf("stderr does not mention socket activation:\n%s", stderr.String())
	}
}

// waitProc waits for cmd to exit, bounded.
func waitProc(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		cmd.Process.Kill()
		return fmt.Errorf("still running after %s", timeout)
	}
}

func TestSyslog(t *testing.T) {
	dir, err := os.MkdirTemp("", "imdsd-syslog-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "log")
	recv, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()

	port := pickPort(t, "127.0.0.1")
	cmd := exec.Command(imdsdBin.Path(t), "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--log", "syslog:unixgram:"+path, "--log-facility", "local3", "--log-tag", "imdsd-test")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, base+"/latest/meta-data/instance-id", 10*time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitProc(cmd, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	var lines []string
	buf := make([]byte, 4096)
	for {
		recv.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := recv.Read(buf)
		if err != nil {
			break
		}
		lines = append(lines, string(buf[:n]))
	}
	all := strings.Join(lines, "")
	// local3 is facility 19: notice is <157>, info <158>.
	tag := fmt.Sprintf(`imdsd-test\[%d\]: `, cmd.Process.Pid)
	for _, want := range []string{
		`<157>\S+ \S+ ` + tag + `msg=starting `,
		`<157>\S+ \S+ ` + tag + `msg=listening addr=127\.0\.0\.1:` + strconv.Itoa(port),
		`<158>\S+ \S+ ` + tag + `msg=request client=127\.0\.0\.1:\d+ method=GET path=/latest/meta-data/instance-id status=401 bytes=0`,
		`<157>\S+ \S+ ` + tag + `msg="shutting down"`,
	} {
		if !regexp.MustCompile(want).MatchString(all) {
			t.Errorf("syslog has no line matching %s; got:\n%s", want, all)
		}
	}
}

func TestDaemonPidfile(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "imdsd.pid")
	port := pickPort(t, "127.0.0.1")
	// A relative config path means the same in the detached child, and
	// still on reload.
	seed, err := os.ReadFile("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "imdsd.json"), seed, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-d", "-p", pidfile, "-c", "imdsd.json", "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--log", "stderr"}
	command := func() *exec.Cmd {
		c := exec.Command(imdsdBin.Path(t), args...)
		c.Dir = dir
		return c
	}

	out, err := command().CombinedOutput()
	if err != nil {
		t.Fatalf("imdsd -d: %v\n%s", err, out)
	}
	// The parent returned, so the child must be serving already.
	if got := tokenFlow(t, fmt.Sprintf("http://127.0.0.1:%d", port)); got != "i-1234567890" {
		t.Errorf("instance-id = %q", got)
	}
	raw, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("pidfile holds %q", raw)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	// rc.subr finds the daemon by argv[0]: it must be the command it ran.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		t.Fatalf("pid %d from the pidfile is not running: %v", pid, err)
	}
	if argv0, _, _ := strings.Cut(string(cmdline), "\x00"); argv0 != imdsdBin.Path(t) {
		t.Errorf("daemon argv[0] = %q, want %q", argv0, imdsdBin.Path(t))
	}

	changed := strings.Replace(string(seed), "i-1234567890", "i-0123456789abcdef0", 1)
	if err := os.WriteFile(filepath.Join(dir, "imdsd.json"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGHUP)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if got := tokenFlow(t, fmt.Sprintf("http://127.0.0.1:%d", port)); got == "i-0123456789abcdef0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the detached daemon did not reload its relative config path")
		}
	}

	// A second start is refused while the first holds the pidfile.
	out, err = command().CombinedOutput()
	if err == nil || !strings.Contains(string(out), "already running") {
		t.Errorf("second imdsd -d: err %v, output %q; want a refusal naming the running daemon", err, out)
	}

	syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("daemon pid %d still running 10 s after SIGTERM", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile still there after SIGTERM: %v", err)
	}
}

func TestDaemonReportsFailure(t *testing.T) {
	// Something holds the port: the child cannot bind, and the parent
	// must say so and exit 1 rather than report success.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pidfile := filepath.Join(t.TempDir(), "imdsd.pid")
	cmd := exec.Command(imdsdBin.Path(t), "-d", "-p", pidfile, "--listen", ln.Addr().String(), "--log", "stderr")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit status %d (err %v), want 1; output:\n%s", code, err, out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("output does not give the reason:\n%s", out)
	}
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}

func TestUserNobody(t *testing.T) {
	needRoot(t, "binding port 80 and switching users")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	// Port 80 on a loopback address of our own: binding it needs root,
	// serving it must not.
	host := fmt.Sprintf("127.0.%d.%d", 1+os.Getpid()%200, 2+time.Now().Nanosecond()%200)
	var stderr bytes.Buffer
	cmd := exec.Command(imdsdBin.Path(t), "--listen", host+":80", "-u", "nobody", "--log", "stderr")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := "http://" + host
	waitHTTP(t, base+"/", 10*time.Second)
	if got := tokenFlow(t, base); got != "i-1234567890abcdef0" {
		t.Errorf("instance-id = %q", got)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok {
			ids[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	wantUID := strings.Repeat(nobody.Uid+" ", 4)
	wantGID := strings.Repeat(nobody.Gid+" ", 4)
	if ids["Uid"] != strings.TrimSpace(wantUID) || ids["Gid"] != strings.TrimSpace(wantGID) {
		t.Errorf("running as Uid %q Gid %q, want all %s/%s", ids["Uid"], ids["Gid"], nobody.Uid, nobody.Gid)
	}
	if ids["Groups"] != nobody.Gid {
		t.Errorf("supplementary groups %q, want only %s", ids["Groups"], nobody.Gid)
	}
	if ids["CapEff"] != "0000000000000000" {
		t.Errorf("effective capabilities %s, want none", ids["CapEff"])
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitProc(cmd, 10*time.Second); err != nil {
		t.Errorf("exit: %v\n%s", err, stderr.String())
	}
}

func TestListenBeforeAddressExists(t *testing.T) {
	// 192.0.2.0/24 is TEST-NET-1: never configured here. With IP_FREEBIND
	// imdsd binds it anyway and says what to add; nothing is sent to it.
	var stderr testbin.Output
	port := pickPort(t, "127.0.0.1")
	cmd := exec.Command(imdsdBin.Path(t), "--listen", fmt.Sprintf("192.0.2.254:%d", port), "--log", "stderr")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for !strings.Contains(stderr.String(), "msg=listening") {
		if ctx.Err() != nil {
			t.Fatalf("imdsd did not start listening:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"not configured on this host yet", "ip addr add 192.0.2.254/32 dev br0", "ifconfig bridge0 inet 192.0.2.254/32 alias"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestAdminListener(t *testing.T) {
	port, admin := pickPort(t, "127.0.0.1"), pickPort(t, "127.0.0.1")
	cmd := exec.Command(imdsdBin.Path(t), "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--admin", fmt.Sprintf("127.0.0.1:%d", admin), "--log", "stderr")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", port), 10*time.Second)
	tokenFlow(t, fmt.Sprintf("http://127.0.0.1:%d", port))

	c := &http.Client{Timeout: 5 * time.Second}
	for path, want := range map[string][]string{
		"/healthz": {"ok"},
		"/metrics": {`imdsd_requests_total{code="401"} 1`, `imdsd_tokens_issued_total 1`, `imdsd_requests_total{code="200"} 2`},
	} {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", admin, path))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, w := range want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
}

func TestIPv6Listen(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	// ::1 serves; fd00:ec2::254, EC2's IPv6 endpoint, is not configured
	// here and is bound anyway (IPV6_FREEBIND), with the hint to add it.
	var stderr testbin.Output
	cmd := exec.Command(imdsdBin.Path(t), "--listen", fmt.Sprintf("[::1]:%d", port),
		"--listen", fmt.Sprintf("[fd00:ec2::254]:%d", port), "--log", "stderr")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	base := fmt.Sprintf("http://[::1]:%d", port)
	waitHTTP(t, base+"/", 10*time.Second)
	if got := tokenFlow(t, base); got != "i-1234567890abcdef0" {
		t.Errorf("instance-id over IPv6 = %q", got)
	}
	for _, want := range []string{"msg=listening addr=[fd00:ec2::254]:", "ip -6 addr add fd00:ec2::254/128 dev br0"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestTokenKeyFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "imdsd.json")
	if err := os.WriteFile(cfg, []byte(`{"token_key_file": "token.key"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	port := pickPort(t, "127.0.0.1")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := func() *exec.Cmd {
		cmd := exec.Command(imdsdBin.Path(t), "-c", cfg, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "--log", "stderr")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitHTTP(t, base+"/", 10*time.Second)
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := waitProc(cmd, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}

	cmd := start()
	req, _ := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "600")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	stop(cmd)
	if st, err := os.Stat(filepath.Join(dir, "token.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token.key next to the config: %v (want mode 0600)", err)
	}

	cmd = start()
	defer stop(cmd)
	req, _ = http.NewRequest(http.MethodGet, base+"/latest/meta-data/instance-id", nil)
	req.Header.Set("X-aws-ec2-metadata-token", string(tok))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a token from before the restart: status %d, want 200", resp.StatusCode)
	}
}

func TestAdminLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9116", ":9116", "[::]:9116", "192.0.2.1:9116", "nonsense"} {
		cmd := exec.Command(imdsdBin.Path(t), "--host", "127.0.0.1", "--port", "0", "--admin", addr, "--log", "stderr")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), "--admin "+addr) {
			t.Errorf("--admin %s: exit %d, output %q; want 2 and a message naming it", addr, code, out)
		}
	}
}

func TestDaemonWithoutSyslog(t *testing.T) {
	for _, p := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} { // where go-syslog looks
		if st, err := os.Stat(p); err == nil && st.Mode()&os.ModeSocket != 0 {
			t.Skipf("this host has a syslog socket, %s", p)
		}
	}
	// Detached with --log auto and no syslog, imdsd would log nowhere: it
	// refuses to start, and says why.
	pidfile := filepath.Join(t.TempDir(), "imdsd.pid")
	cmd := exec.Command(imdsdBin.Path(t), "-d", "-p", pidfile, "--host", "127.0.0.1", "--port", strconv.Itoa(pickPort(t, "127.0.0.1")))
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "no syslog socket") {
		t.Fatalf("exit %d, output %q; want 1 and the reason", code, out)
	}
}
