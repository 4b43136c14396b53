package main

// End-to-end tests: TestMain builds the real imdsd binary once, and each
// test starts it on 127.0.0.1 and a free port and talks to it the way real
// clients do (curl, aws-sdk-go-v2, a cloud-init style crawler, raw sockets).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/testbin"
)

// testVersion is stamped into the test binary with -ldflags.
const testVersion = "e2e-test"

// imdsdBin is the imdsd under test, built when a test first asks for its
// Path.
var imdsdBin = &testbin.Binary{Pkg: ".", Name: "imdsd", Flags: []string{"-ldflags", "-X main.version=" + testVersion}}

// getimdsBin is cmd/getimds, for the tests that run it in a guest.
var getimdsBin = &testbin.Binary{Pkg: "../getimds", Name: "getimds"}

// unavailable skips the test because something it needs is missing here,
// except in CI (CI set), where .ci/run provides everything and a missing
// part is a failure.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this test must run, but %s", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// need returns the path of tool, or skips the test (fails it in CI) when
// it is not installed.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		unavailable(t, "%s is not installed; .ci/run installs it", tool)
	}
	return p
}

// needRoot skips the test (fails it in CI, which runs as root) unless it
// runs as root.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "%s needs root", why)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	// Every imdsd a test starts gets its own runtime and state directories
	// (childEnv), so that their default control sockets and state files
	// never meet; this one is for those started with the test's own
	// environment, one at a time.
	rt, err := os.MkdirTemp("", "imdsd-rt")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("RUNTIME_DIRECTORY", rt)
	os.Setenv("STATE_DIRECTORY", rt)
	code := m.Run()
	os.RemoveAll(rt)
	imdsdBin.Remove()
	getimdsBin.Remove()
	os.Exit(code)
}

// The seed README's values, served by testdata/seed.json and the built-in
// default.
const (
	seedInstanceID = "i-1234567890"
	seedKey0       = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkey1"
)

// tokenRE is the shape of an EC2 token: 40 bytes, base64url with padding.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{54}==$`)

// daemon is one running imdsd process.
type daemonProc struct {
	addr   string // 127.0.0.1:port
	url    string // http://127.0.0.1:port
	cmd    *exec.Cmd
	stderr *testbin.Output
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, valid once done is closed
}

// errBindRace is returned by waitReady when the port picked turned out to
// be taken by the time imdsd bound it.
var errBindRace = errors.New("port taken before imdsd bound it")

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("picking a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// startDaemon runs imdsd with args plus --log stderr, --access-log all (the
// tests read every answer from the log; args may override it) and a free
// port on 127.0.0.1, waits until it answers and arranges for it to be
// killed when the test ends. A lost race for the port is retried.
func startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	const attempts = 5
	var last string
	for range attempts {
		port := freePort(t)
		full := append([]string{"--log", "stderr", "--access-log", "all", "--host", "127.0.0.1", "--port", strconv.Itoa(port)}, args...)
		d := launch(t, port, full)
		err := d.waitReady(15 * time.Second)
		if err == nil {
			return d
		}
		if !errors.Is(err, errBindRace) {
			t.Fatalf("imdsd %s: %v\nstderr:\n%s", strings.Join(full, " "), err, d.stderr.String())
		}
		last = d.stderr.String()
	}
	t.Fatalf("imdsd did not get a free port in %d attempts; last stderr:\n%s", attempts, last)
	return nil
}

// launch starts imdsd with exactly args; addr is where it is expected to
// listen.
func launch(t *testing.T, port int, args []string) *daemonProc {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	d := &daemonProc{
		addr:   addr,
		url:    "http://" + addr,
		cmd:    exec.Command(imdsdBin.Path(t), args...),
		stderr: &testbin.Output{},
		done:   make(chan struct{}),
	}
	d.cmd.Env = childEnv()
	d.cmd.Stdout = io.Discard
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", imdsdBin.Path(t), err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("imdsd %s stderr:\n%s", strings.Join(args, " "), d.stderr.String())
		}
	})
	return d
}

// waitReady polls until the daemon answers an HTTP request as EC2ws does
// and has logged that it listens on its address (so that the answer is
// not from another process that won the port), or it exits, or the
// deadline passes.
func (d *daemonProc) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			if strings.Contains(d.stderr.String(), "address already in use") {
				return errBindRace
			}
			return fmt.Errorf("exited before answering (%v)", d.err)
		default:
		}
		if resp, err := client.Get(d.url + "/"); err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "EC2ws" && d.listening() {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer on %s within %v, or no log line saying it listens there", d.addr, timeout)
}

// listening reports whether the daemon logged that it listens on d.addr.
func (d *daemonProc) listening() bool {
	for _, l := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(l, "listening") && strings.Contains(l, d.addr) {
			return true
		}
	}
	return false
}

// childEnv is the environment without variables that would make imdsd
// think systemd started it (socket activation, readiness notification).
// Each call gives the process runtime and state directories of its own
// (RUNTIME_DIRECTORY, STATE_DIRECTORY), below the test run's.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") && !strings.HasPrefix(kv, "WATCHDOG_") &&
			!strings.HasPrefix(kv, "RUNTIME_DIRECTORY=") && !strings.HasPrefix(kv, "STATE_DIRECTORY=") {
			env = append(env, kv)
		}
	}
	dir, err := os.MkdirTemp(os.Getenv("RUNTIME_DIRECTORY"), "d")
	if err != nil {
		panic(err)
	}
	return append(env, "RUNTIME_DIRECTORY="+dir, "STATE_DIRECTORY="+dir)
}

// signal sends sig to the daemon.
func (d *daemonProc) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v to imdsd: %v", sig, err)
	}
}

// waitExit waits up to timeout for the daemon to exit and returns its exit
// status.
func (d *daemonProc) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(timeout):
		t.Fatalf("imdsd did not exit within %v", timeout)
	}
	return exitCode(t, d.err)
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("imdsd was killed by %v", ws.Signal())
		}
		return ee.ExitCode()
	}
	t.Fatalf("running imdsd: %v", err)
	return -1
}

// runImdsd runs imdsd to completion (for -t, --version and the like).
func runImdsd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, imdsdBin.Path(t), args...)
	cmd.Env = childEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("imdsd %s did not finish within 20s", strings.Join(args, " "))
	}
	return out.String(), errb.String(), exitCode(t, err)
}

// writeConfig writes text to a fresh file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "imdsd.json")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedWith returns testdata/seed.json with keys replaced (nil deletes).
func seedWith(t *testing.T, changes map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/seed.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("testdata/seed.json: %v", err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

var httpClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// do sends one request and returns the status, headers and body.
func do(t *testing.T, method, url string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// token PUTs /latest/api/token and returns the token.
func (d *daemonProc) token(t *testing.T, ttl int) string {
	t.Helper()
	st, _, body := do(t, http.MethodPut, d.url+"/latest/api/token",
		map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": strconv.Itoa(ttl)})
	if st != http.StatusOK || !tokenRE.MatchString(body) {
		t.Fatalf("PUT /latest/api/token (ttl %d): got %d %q, want 200 and a 56-character token", ttl, st, body)
	}
	return body
}

// get GETs path with tok (none if empty).
func (d *daemonProc) get(t *testing.T, path, tok string) (int, http.Header, string) {
	t.Helper()
	hdr := map[string]string{}
	if tok != "" {
		hdr["X-aws-ec2-metadata-token"] = tok
	}
	return do(t, http.MethodGet, d.url+path, hdr)
}

// rawResponse is a response as aws-ec2-imdsv2-get sees it: everything up
// to EOF, split at the first blank line.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// rawExchange writes req on a fresh connection and reads until the server
// closes it, as aws-ec2-imdsv2-get does.
func rawExchange(t *testing.T, addr, req string) rawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("writing %q: %v", req, err)
	}
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %q: reading to EOF: %v (the server must close the connection after one response); read %q", req, err, all)
	}
	head, body, ok := strings.Cut(string(all), "\r\n\r\n")
	if !ok {
		t.Fatalf("after %q: no blank line ending the head in %q", req, all)
	}
	lines := strings.Split(head, "\r\n")
	f := strings.Fields(lines[0])
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		t.Fatalf("after %q: bad status line %q", req, lines[0])
	}
	st, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("after %q: bad status line %q", req, lines[0])
	}
	r := rawResponse{status: st, header: http.Header{}, body: body}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("after %q: bad header line %q", req, l)
		}
		r.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return r
}

// TestRawSocketClient plays FreeBSD's aws-ec2-imdsv2-get: HTTP/1.1 with no
// Host header, reading to EOF.
func TestRawSocketClient(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, "--config", "testdata/seed.json")

	r := rawExchange(t, d.addr, "GET // HTTP/1.1\r\n\r\n")
	if r.status != http.StatusUnauthorized || r.body != "" || r.header.Get("Content-Length") != "0" {
		t.Errorf("GET // with no token: got %d, Content-Length %q, body %q; want 401, 0, empty", r.status, r.header.Get("Content-Length"), r.body)
	}

	r = rawExchange(t, d.addr, "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n")
	if r.status != http.StatusOK || !tokenRE.MatchString(r.body) {
		t.Fatalf("PUT /latest/api/token: got %d %q, want 200 and a token", r.status, r.body)
	}
	if cl := r.header.Get("Content-Length"); cl != "56" {
		t.Errorf("PUT /latest/api/token: Content-Length %q, want 56", cl)
	}
	if te := r.header.Get("Transfer-Encoding"); te != "" {
		t.Errorf("PUT /latest/api/token: Transfer-Encoding %q, want none", te)
	}
	if ttl := r.header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"); ttl != "1" {
		t.Errorf("PUT /latest/api/token: TTL header %q, want 1", ttl)
	}

	r = rawExchange(t, d.addr, "GET /latest/meta-data/instance-id HTTP/1.1\r\nX-aws-ec2-metadata-token: "+r.body+"\r\n\r\n")
	if r.status != http.StatusOK || r.body != seedInstanceID {
		t.Errorf("GET instance-id with the token: got %d %q, want 200 %q", r.status, r.body, seedInstanceID)
	}
	if cl := r.header.Get("Content-Length"); cl != strconv.Itoa(len(seedInstanceID)) {
		t.Errorf("GET instance-id: Content-Length %q, want %d", cl, len(seedInstanceID))
	}
}

// TestConfigErrorsAtStart: a broken configuration stops imdsd before it
// binds, naming the file, line and key of every problem.
func TestConfigErrorsAtStart(t *testing.T) {
	t.Parallel()
	// Line 3 has a bad address, line 4 an unknown key.
	path := writeConfig(t, `{
  "instance_id": "i-0123456789abcdef0",
  "local_ipv4": "10.0.0.300",
  "colour": "blue"
}
`)
	port := freePort(t)
	_, stderr, code := runImdsd(t, "--log", "stderr", "--config", path, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	for _, want := range []string{
		path + ":4: colour: unknown key",
		path + ":3: local_ipv4: ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not contain %q:\n%s", want, stderr)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Errorf("port %d is not free after imdsd refused its config: %v", port, err)
	} else {
		ln.Close()
	}
}

// goodConfig loads with neither errors nor warnings.
const goodConfig = `{
  "instance_id": "i-0123456789abcdef0",
  "region": "us-east-2",
  "availability_zone": "us-east-2b",
  "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey2 me@host"]
}
`

// TestConfigNotRegular: imdsd -t with a FIFO, or a link to a device, as its
// configuration refuses it at once instead of waiting for a writer or
// reading forever.
func TestConfigNotRegular(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "imdsd.conf")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.conf")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, "error: " + fifo + ": is a named pipe (FIFO), not read: a configuration must be a regular file\n"},
		{zero, "error: " + zero + ": is a character device, not read: a configuration must be a regular file\n"},
	} {
		stdout, stderr, code := runImdsd(t, "-t", "--config", tt.path)
		if code != 1 || stdout != "" || stderr != tt.want {
			t.Errorf("imdsd -t -c %s: exit %d, stdout %q, stderr %q; want 1 and %q", tt.path, code, stdout, stderr, tt.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, goodConfig)
	warnOnly := writeConfig(t, `{
  "instance_id": "i-0123456789abcdef0",
  "region": "us-east-2",
  "availability_zone": "eu-west-1a"
}
`)
	broken := writeConfig(t, `{"instance_id": "x-1"}`)

	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // exact, unless stdoutHas is set
		stdoutHas  string
		stderrHas  []string
		stderrNone []string
	}{
		{name: "test good config", args: []string{"-t", "--config", good}, code: 0,
			stdout: good + ": configuration OK\n", stderrNone: []string{"warning:", "error:"}},
		{name: "test good config long flags", args: []string{"--test-config", "-c", good}, code: 0,
			stdout: good + ": configuration OK\n"},
		{name: "test config with a warning", args: []string{"-t", "--config", warnOnly}, code: 0,
			stdout:    warnOnly + ": configuration OK\n",
			stderrHas: []string{"warning: " + warnOnly + ":4: availability_zone: "}, stderrNone: []string{"error:"}},
		{name: "test broken config", args: []string{"-t", "--config", broken}, code: 1,
			stdout: "", stderrHas: []string{"error: " + broken + ":1: instance_id: "}},
		{name: "test missing config", args: []string{"-t", "--config", good + ".missing"}, code: 1,
			stdout: "", stderrHas: []string{good + ".missing"}},
		{name: "test built-in default", args: []string{"-t"}, code: 0, stdoutHas: "configuration OK",
			stderrNone: []string{"warning:", "error:"}},
		{name: "version", args: []string{"--version"}, code: 0, stdout: "imdsd " + testVersion + "\n"},
		{name: "help", args: []string{"--help"}, code: 0, stdoutHas: "usage: imdsd"},
		{name: "h", args: []string{"-h"}, code: 0, stdoutHas: "usage: imdsd"},
		{name: "unknown flag", args: []string{"--no-such-flag"}, code: 2, stdout: "",
			stderrHas: []string{"no-such-flag"}},
		{name: "stray argument", args: []string{"--config", good, "extra"}, code: 2, stdout: "",
			stderrHas: []string{`"extra"`}},
		{name: "bad port", args: []string{"--port", "70000"}, code: 2, stdout: ""},
		{name: "bad access log level", args: []string{"--access-log", "some"}, code: 2, stdout: "",
			stderrHas: []string{"access-log", "expected all, errors or none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runImdsd(t, append([]string{"--log", "stderr"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("imdsd %s: exit status %d, want %d\nstderr:\n%s", strings.Join(tt.args, " "), code, tt.code, stderr)
			}
			switch {
			case tt.stdoutHas != "":
				if !strings.Contains(stdout, tt.stdoutHas) {
					t.Errorf("stdout does not contain %q:\n%s", tt.stdoutHas, stdout)
				}
			case stdout != tt.stdout:
				t.Errorf("stdout:\n got %q\nwant %q", stdout, tt.stdout)
			}
			for _, s := range tt.stderrHas {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr does not contain %q:\n%s", s, stderr)
				}
			}
			for _, s := range tt.stderrNone {
				if strings.Contains(stderr, s) {
					t.Errorf("stderr contains %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestListenFlag: -l replaces --host and --port and may be repeated.
func TestListenFlag(t *testing.T) {
	t.Parallel()
	for attempt := 0; ; attempt++ {
		p1, p2 := freePort(t), freePort(t)
		a1 := net.JoinHostPort("127.0.0.1", strconv.Itoa(p1))
		a2 := net.JoinHostPort("127.0.0.1", strconv.Itoa(p2))
		args := []string{"--log", "stderr", "-l", a1, "--listen", a2}
		d := launch(t, p1, args)
		err := d.waitReady(15 * time.Second)
		if errors.Is(err, errBindRace) && attempt < 4 {
			continue
		}
		if err != nil {
			t.Fatalf("imdsd %s: %v", strings.Join(args, " "), err)
		}
		d2 := &daemonProc{addr: a2, url: "http://" + a2, done: d.done, stderr: d.stderr}
		if err := d2.waitReady(5 * time.Second); err != nil {
			t.Fatalf("second --listen address %s: %v", a2, err)
		}
		if st, _, _ := d2.get(t, "/latest/meta-data/instance-id", d2.token(t, 60)); st != http.StatusOK {
			t.Errorf("GET instance-id on %s: %d, want 200", a2, st)
		}
		return
	}
}

// TestReload: SIGHUP swaps the configuration in without dropping tokens; a
// broken configuration is logged and the old one kept; SIGTERM stops.
func TestReload(t *testing.T) {
	t.Parallel()
	const idA, idB = "i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"
	path := writeConfig(t, seedWith(t, map[string]any{"instance_id": idA}))
	d := startDaemon(t, "--config", path)
	tok := d.token(t, 600)
	if st, _, body := d.get(t, "/latest/meta-data/instance-id", tok); st != 200 || body != idA {
		t.Fatalf("before reload: got %d %q, want 200 %q", st, body, idA)
	}

	if err := os.WriteFile(path, []byte(seedWith(t, map[string]any{"instance_id": idB})), 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	var st int
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st, _, body = d.get(t, "/latest/meta-data/instance-id", tok); body == idB {
			break
		}
	}
	if st != 200 || body != idB {
		t.Fatalf("after SIGHUP with config B, using the token from before: got %d %q, want 200 %q", st, body, idB)
	}

	// Broken: an unknown key. The old configuration must stay.
	broken := strings.Replace(seedWith(t, map[string]any{"instance_id": "i-0cccccccccccccccc"}), "{", "{\n  \"bogus_key\": 1,", 1)
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	logged := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !logged; time.Sleep(20 * time.Millisecond) {
		logged = strings.Contains(d.stderr.String(), "bogus_key")
	}
	if !logged {
		t.Fatalf("after SIGHUP with a broken config, stderr does not name the key bogus_key:\n%s", d.stderr.String())
	}
	errLine := ""
	for _, l := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(l, "bogus_key") {
			errLine = l
			break
		}
	}
	if !strings.Contains(errLine, path) {
		t.Errorf("the reload error does not name the file %s: %q", path, errLine)
	}
	if st, _, body := d.get(t, "/latest/meta-data/instance-id", tok); st != 200 || body != idB {
		t.Errorf("after a failed reload: got %d %q, want the old config's 200 %q", st, body, idB)
	}

	d.signal(t, syscall.SIGTERM)
	if code := d.waitExit(t, 5*time.Second); code != 0 {
		t.Errorf("after SIGTERM: exit status %d, want 0", code)
	}
}

// TestSIGINTStops: SIGINT stops as SIGTERM does.
func TestSIGINTStops(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.signal(t, os.Interrupt)
	if code := d.waitExit(t, 5*time.Second); code != 0 {
		t.Errorf("after SIGINT: exit status %d, want 0", code)
	}
}

// page503 is EC2's 503 page: the third line starts with two tabs and a
// space, and the page ends in a newline (359 bytes).
const page503 = `<?xml version="1.0" encoding="iso-8859-1"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
		 "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
 <head>
  <title>503 - Service Unavailable</title>
 </head>
 <body>
  <h1>503 - Service Unavailable</h1>
 </body>
</html>
`

func TestFaultInjection(t *testing.T) {
	t.Parallel()
	if len(page503) != 359 {
		t.Fatalf("test bug: page503 is %d bytes, want 359", len(page503))
	}
	t.Run("force_status", func(t *testing.T) {
		t.Parallel()
		d := startDaemon(t, "--config", writeConfig(t, seedWith(t, map[string]any{
			"force_status": map[string]int{"meta-data/instance-id": 503},
		})))
		tok := d.token(t, 60)
		for _, p := range []string{"/latest/meta-data/instance-id", "/2021-03-23/meta-data/instance-id/"} {
			st, h, body := d.get(t, p, tok)
			if st != http.StatusServiceUnavailable || body != page503 {
				t.Errorf("GET %s: got %d %q, want 503 and EC2's 359-byte page", p, st, body)
			}
			if ct, cl := h.Get("Content-Type"), h.Get("Content-Length"); ct != "text/html" || cl != "359" {
				t.Errorf("GET %s: Content-Type %q, Content-Length %q; want text/html, 359", p, ct, cl)
			}
		}
		if st, _, body := d.get(t, "/latest/meta-data/hostname", tok); st != 200 || body != "test-vm" {
			t.Errorf("GET hostname (not forced): got %d %q, want 200 test-vm", st, body)
		}
	})
	t.Run("endpoint_delay_ms", func(t *testing.T) {
		t.Parallel()
		const delay = 300 * time.Millisecond
		d := startDaemon(t, "--config", writeConfig(t, seedWith(t, map[string]any{
			"endpoint_delay_ms": map[string]int{"/latest/meta-data/hostname": int(delay / time.Millisecond)},
		})))
		tok := d.token(t, 60)
		timed := func(path string) (int, string, time.Duration) {
			start := time.Now()
			st, _, body := d.get(t, path, tok)
			return st, body, time.Since(start)
		}
		for _, p := range []string{"/latest/meta-data/hostname", "/2021-03-23/meta-data/hostname/"} {
			st, body, took := timed(p)
			if st != 200 || body != "test-vm" {
				t.Errorf("GET %s: got %d %q, want 200 test-vm", p, st, body)
			}
			if took < delay {
				t.Errorf("GET %s took %v, want at least %v", p, took, delay)
			}
		}
		st, body, took := timed("/latest/meta-data/instance-id")
		if st != 200 || body != seedInstanceID {
			t.Errorf("GET instance-id: got %d %q, want 200 %q", st, body, seedInstanceID)
		}
		t.Logf("undelayed instance-id took %v", took)
	})
}
