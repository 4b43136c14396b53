//go:build linux

package main

// End to end with network namespaces (issue 5, "One daemon, many guests"):
// the test builds a small network of its own and runs the real imdsd and
// the real getimds in it.
//
//	guest1 10.231.0.11 ─┐
//	guest2 10.231.0.12 ─┤ br0 in "host": 10.231.0.1/24 + 169.254.169.254/32,
//	guest4 10.231.0.14 ─┤ imdsd on 169.254.169.254:80
//	router 10.231.0.254─┘
//	router 10.232.0.1 ── guest3 10.232.0.13 (one routed hop away)
//
// Every namespace is named after a per-run prefix and removed when the test
// ends; every link lives inside one of them, so it goes with it. Nothing is
// added to the namespace the test runs in, and nothing talks to an address
// outside these namespaces.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imdsd/imdsd/internal/golden"
)

const (
	nsIMDSHost = "169.254.169.254"
	nsIMDS     = nsIMDSHost + ":80"

	// nsDefaultID is the top-level instance_id of testdata/netns/imdsd.json,
	// which guests that match no entry inherit.
	nsDefaultID = "i-0a1b2c3d4e5f60000"
	nsSeedID    = "i-1234567890" // testdata/seed.json
)

// nsGuest is one guest namespace and what imdsd should serve it.
type nsGuest struct {
	role string // guest1, ...
	ns   string // namespace name
	addr string // its IPv4 address
	mac  string // its eth0's MAC, as the test sets it
	id   string // the instance-id its instances entry gives it
}

// nsLab is the network of namespaces of one test run.
type nsLab struct {
	prefix         string
	host, router   string
	g1, g2, g3, g4 *nsGuest
	made           []string // namespaces created, in order
}

// nsRun runs ip (or any command) with a bounded time and returns its
// combined output.
func nsRun(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ip runs ip with args and fails the test if it fails.
func (lab *nsLab) ip(t *testing.T, args ...string) {
	t.Helper()
	if _, err := nsRun("ip", args...); err != nil {
		t.Fatalf("building the test network: %v", err)
	}
}

// newNSLab creates the namespaces, links and addresses drawn above and
// arranges for their removal. It skips the test where namespaces cannot be
// made, except in CI (CI set), where that is a failure.
func newNSLab(t *testing.T) *nsLab {
	t.Helper()
	lab := newNamespaces(t, "T")
	prefix := lab.prefix
	lab.router = prefix + "-router"
	guest := func(n int, addr string) *nsGuest {
		return &nsGuest{
			role: fmt.Sprintf("guest%d", n),
			ns:   fmt.Sprintf("%s-g%d", prefix, n),
			addr: addr,
			mac:  fmt.Sprintf("02:00:00:00:01:%d", 10+n),
			id:   fmt.Sprintf("i-0a1b2c3d4e5f600%d", 10+n),
		}
	}
	lab.g1 = guest(1, "10.231.0.11")
	lab.g2 = guest(2, "10.231.0.12")
	lab.g3 = guest(3, "10.232.0.13")
	lab.g4 = guest(4, "10.231.0.14")
	lab.add(t, lab.router, lab.g1.ns, lab.g2.ns, lab.g3.ns, lab.g4.ns)

	// The host: a bridge holding the metadata address, a route back to
	// the routed guest.
	h := lab.host
	lab.ip(t, "-n", h, "link", "add", "br0", "type", "bridge")
	lab.ip(t, "-n", h, "link", "set", "br0", "up")
	lab.ip(t, "-n", h, "addr", "add", "10.231.0.1/24", "dev", "br0")
	lab.ip(t, "-n", h, "addr", "add", nsIMDSHost+"/32", "dev", "br0")

	// Guests on the bridge: the metadata address is on-link, as on EC2.
	for i, g := range []*nsGuest{lab.g1, lab.g2, lab.g4} {
		port := fmt.Sprintf("vg%d", i)
		lab.ip(t, "-n", h, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", g.ns)
		lab.ip(t, "-n", h, "link", "set", port, "master", "br0", "up")
		lab.ip(t, "-n", g.ns, "link", "set", "eth0", "address", g.mac)
		lab.ip(t, "-n", g.ns, "link", "set", "eth0", "up")
		lab.ip(t, "-n", g.ns, "addr", "add", g.addr+"/24", "dev", "eth0")
		lab.ip(t, "-n", g.ns, "route", "add", nsIMDSHost+"/32", "dev", "eth0")
	}

	// The router, on the bridge and on a link of its own to guest3. RFC
	// 3927 says routers must not forward 169.254/16, but Linux does when
	// the route is explicit, so guest3 reaches 169.254.169.254 through it.
	r := lab.router
	lab.ip(t, "-n", h, "link", "add", "vr", "type", "veth", "peer", "name", "eth0", "netns", r)
	lab.ip(t, "-n", h, "link", "set", "vr", "master", "br0", "up")
	lab.ip(t, "-n", r, "link", "set", "eth0", "up")
	lab.ip(t, "-n", r, "addr", "add", "10.231.0.254/24", "dev", "eth0")
	lab.ip(t, "-n", r, "route", "add", nsIMDSHost+"/32", "dev", "eth0")
	lab.ip(t, "-n", r, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", lab.g3.ns)
	lab.ip(t, "-n", r, "link", "set", "eth1", "up")
	lab.ip(t, "-n", r, "addr", "add", "10.232.0.1/24", "dev", "eth1")
	if _, err := nsRun("ip", "netns", "exec", r, "sh", "-c", "echo 1 >/proc/sys/net/ipv4/ip_forward"); err != nil {
		t.Fatalf("turning on forwarding in the router namespace: %v", err)
	}
	g3 := lab.g3
	lab.ip(t, "-n", g3.ns, "link", "set", "eth0", "address", g3.mac)
	lab.ip(t, "-n", g3.ns, "link", "set", "eth0", "up")
	lab.ip(t, "-n", g3.ns, "addr", "add", g3.addr+"/24", "dev", "eth0")
	lab.ip(t, "-n", g3.ns, "route", "add", "default", "via", "10.232.0.1")
	lab.ip(t, "-n", h, "route", "add", "10.232.0.0/24", "via", "10.231.0.254")
	return lab
}

// newNamespaces makes the host namespace of a lab, prefix + "-host", with
// a prefix of its own per test ("imds" + tag + the pid), after removing
// what a crashed run with the same prefix left, and removes every
// namespace the lab makes when the test ends. It skips (fails in CI) when
// namespaces cannot be made here.
func newNamespaces(t *testing.T, tag string) *nsLab {
	t.Helper()
	needRoot(t, "making network namespaces (run it as root: go test -run NetNS ./cmd/imdsd/)")
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "there is no ip command (Debian: apt-get install iproute2): %v", err)
	}
	prefix := fmt.Sprintf("imds%s%d", tag, os.Getpid()%1000)
	lab := &nsLab{prefix: prefix, host: prefix + "-host"}
	lab.removeLeftovers(t)
	t.Cleanup(func() { lab.remove(t) })
	// The first namespace decides whether namespaces can be made at all.
	if _, err := nsRun("ip", "netns", "add", lab.host); err != nil {
		unavailable(t, "a network namespace cannot be made here: %v", err)
	}
	lab.made = append(lab.made, lab.host)
	lab.ip(t, "-n", lab.host, "link", "set", "lo", "up")
	return lab
}

// add makes the namespaces names, each with its loopback up.
func (lab *nsLab) add(t *testing.T, names ...string) {
	t.Helper()
	for _, ns := range names {
		lab.ip(t, "netns", "add", ns)
		lab.made = append(lab.made, ns)
		lab.ip(t, "-n", ns, "link", "set", "lo", "up")
	}
}

// removeLeftovers deletes namespaces with this run's prefix left by a run
// that crashed.
func (lab *nsLab) removeLeftovers(t *testing.T) {
	t.Helper()
	out, err := nsRun("ip", "netns", "list")
	if err != nil {
		return // no namespaces at all; newNSLab finds out why
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], lab.prefix+"-") {
			if _, err := nsRun("ip", "netns", "del", f[0]); err != nil {
				t.Logf("removing the leftover namespace %s: %v", f[0], err)
			}
		}
	}
}

// remove deletes every namespace the lab made; the veth pairs and the
// bridge inside them go with them.
func (lab *nsLab) remove(t *testing.T) {
	for i := len(lab.made) - 1; i >= 0; i-- {
		if _, err := nsRun("ip", "netns", "del", lab.made[i]); err != nil {
			t.Errorf("removing the test namespace %s: %v", lab.made[i], err)
		}
	}
}

// nsIfaceMAC returns the MAC of eth0 in namespace ns, as the kernel has it.
func nsIfaceMAC(t *testing.T, ns string) string {
	t.Helper()
	out, err := nsRun("ip", "-n", ns, "-j", "link", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show in %s: cannot read %q: %v", ns, out, err)
	}
	return links[0].Address
}

// nsDial connects to addr from inside network namespace ns. The socket is
// made by a goroutine locked to a thread that enters the namespace; the
// thread is left locked, so it ends with the goroutine and never runs Go
// code of anyone else in the wrong namespace.
func nsDial(ns, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- result{err: fmt.Errorf("opening network namespace %s: %w", ns, err)}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("entering network namespace %s: %w", ns, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// nsResponse is one HTTP response.
type nsResponse struct {
	status int
	header http.Header
	body   string
}

// nsRequest sends one HTTP/1.1 request from guest g to imdsd and reads the
// response. connected reports whether the TCP connection was made, so that
// "no route" and "no answer" can be told apart.
func nsRequest(g *nsGuest, method, path string, hdr map[string]string, timeout time.Duration) (resp nsResponse, connected bool, err error) {
	c, err := nsDial(g.ns, nsIMDS, timeout)
	if err != nil {
		return resp, false, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: imdsd-netns-test\r\nConnection: close\r\n", method, path, nsIMDSHost)
	if method == http.MethodPut {
		b.WriteString("Content-Length: 0\r\n")
	}
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		return resp, true, err
	}
	r, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return resp, true, err
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return resp, true, err
	}
	return nsResponse{status: r.StatusCode, header: r.Header, body: string(body)}, true, nil
}

// nsHTTP is nsRequest that fails the test when there is no response.
func nsHTTP(t *testing.T, g *nsGuest, method, path string, hdr map[string]string) nsResponse {
	t.Helper()
	resp, _, err := nsRequest(g, method, path, hdr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", g.role, method, path, err)
	}
	return resp
}

// nsToken gets a token for guest g, failing the test if it gets none.
func nsToken(t *testing.T, g *nsGuest) string {
	t.Helper()
	r := nsHTTP(t, g, http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
	if r.status != http.StatusOK || !tokenRE.MatchString(r.body) {
		t.Fatalf("%s: PUT /latest/api/token: got %d %q, want 200 and a token", g.role, r.status, r.body)
	}
	return r.body
}

// nsGetWith GETs path from guest g with token tok.
func nsGetWith(t *testing.T, g *nsGuest, path, tok string) nsResponse {
	t.Helper()
	return nsHTTP(t, g, http.MethodGet, path, map[string]string{"X-aws-ec2-metadata-token": tok})
}

// nsDaemon is imdsd running in the host namespace.
type nsDaemon struct {
	cmd    *exec.Cmd
	stderr *testbin.Output
	done   chan struct{}
	err    error
}

// nsExecIMDS starts imdsd with config in namespace ns on
// 169.254.169.254:80, logging every request, and stops it when the test ends. It does not wait for
// it to listen.
func nsExecIMDS(t *testing.T, ns, config string) *nsDaemon {
	t.Helper()
	return nsExecIMDSBin(t, imdsdBin.Path(t), ns, config)
}

// nsExecIMDSBin is nsExecIMDS with the imdsd binary bin, such as the
// release build in bin/imdsd.
func nsExecIMDSBin(t *testing.T, bin, ns, config string) *nsDaemon {
	t.Helper()
	return nsRunIMDS(t, bin, ns, "--config", config, "--listen", nsIMDS, "--log", "stderr", "--access-log", "all")
}

// nsRunIMDS starts the imdsd binary bin with args in namespace ns, and
// stops it when the test ends (logging the last lines of its stderr when
// the test failed). It does not wait for it to listen.
func nsRunIMDS(t *testing.T, bin, ns string, args ...string) *nsDaemon {
	t.Helper()
	d := &nsDaemon{
		// ip netns exec execs imdsd itself, so signals reach it directly.
		cmd:    exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...),
		stderr: &testbin.Output{},
		done:   make(chan struct{}),
	}
	d.cmd.Env = childEnv()
	d.cmd.Stdout = io.Discard
	d.cmd.Stderr = d.stderr
	// If the test process dies, imdsd dies too rather than holding the
	// namespace. The kernel sends Pdeathsig when the thread that forked
	// exits, so that thread stays locked to the goroutine that waits.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := d.cmd.Start()
		started <- err
		if err == nil {
			d.err = d.cmd.Wait()
		}
		close(d.done)
	}()
	if err := <-started; err != nil {
		t.Fatalf("starting imdsd in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("imdsd in %s %s, stderr (the last lines):\n%s", ns, strings.Join(args, " "), nsTail(d.stderr.String(), 30))
		}
	})
	return d
}

// start runs imdsd with config in the host namespace on
// 169.254.169.254:80 and waits until guest1 gets an answer from it.
func (lab *nsLab) start(t *testing.T, config string) *nsDaemon {
	t.Helper()
	d := nsExecIMDS(t, lab.host, config)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("imdsd --config %s exited before answering (%v); stderr:\n%s", config, d.err, d.stderr.String())
		default:
		}
		r, _, err := nsRequest(lab.g1, http.MethodGet, "/", nil, time.Second)
		if err == nil && r.header.Get("Server") == "EC2ws" && d.logged("listening", nsIMDS) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("imdsd --config %s: no answer from %s in guest1 within 15s (last: %v); stderr:\n%s", config, nsIMDS, err, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nsTail returns the last n lines of s.
func nsTail(s string, n int) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// logged reports whether one line of imdsd's log holds all of words.
func (d *nsDaemon) logged(words ...string) bool {
	for l := range strings.SplitSeq(d.stderr.String(), "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			return true
		}
	}
	return false
}

// stop ends imdsd (SIGTERM, then SIGKILL) and waits for it.
func (d *nsDaemon) stop(t *testing.T) {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return
	case <-time.After(5 * time.Second):
		t.Errorf("imdsd did not stop within 5s of SIGTERM; killing it")
	}
	d.cmd.Process.Kill()
	<-d.done
}

// running fails the test if imdsd has exited.
func (d *nsDaemon) running(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("imdsd exited (%v); stderr:\n%s", d.err, d.stderr.String())
	default:
	}
}

// nsBuildGetimds returns the path of cmd/getimds, built once.
func nsBuildGetimds(t *testing.T) string {
	t.Helper()
	return getimdsBin.Path(t)
}

// nsGetimds runs getimds with args in guest g.
func nsGetimds(t *testing.T, bin string, g *nsGuest, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", g.ns, bin}, args...)...)
	for _, kv := range childEnv() {
		if !strings.HasPrefix(kv, "AWS_") { // no endpoint or profile from the caller
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: getimds %s did not finish within 30s", g.role, strings.Join(args, " "))
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		code = ee.ExitCode()
	default:
		t.Fatalf("%s: running getimds %s: %v", g.role, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// nsGetimdsValue runs "getimds PATH" in g and checks that it prints want
// byte for byte and exits 0.
func nsGetimdsValue(t *testing.T, bin string, g *nsGuest, path, want string) {
	t.Helper()
	out, errOut, code := nsGetimds(t, bin, g, path)
	if code != 0 || out != want {
		t.Errorf("%s: getimds %s: got exit %d, %q (stderr %q); want exit 0, %q", g.role, path, code, out, errOut, want)
	}
}

// nsStampRE matches the times in a walk that depend on when imdsd started.
var nsStampRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// nsCheckWalk runs plain getimds in g, checks the lines that make the guest
// itself and compares the whole walk with testdata/netns/walk-ROLE.golden.
func nsCheckWalk(t *testing.T, bin string, g *nsGuest, keys []string, userData string) {
	t.Helper()
	out, errOut, code := nsGetimds(t, bin, g)
	if code != 0 {
		t.Fatalf("%s: getimds: exit %d, want 0; stderr:\n%s", g.role, code, errOut)
	}
	mac := nsIfaceMAC(t, g.ns)
	want := []string{
		"meta-data/instance-id: " + g.id + "\n",
		"meta-data/local-ipv4: " + g.addr + "\n",
		"meta-data/mac: " + mac + "\n",
		"user-data:\n| " + strings.ReplaceAll(strings.TrimSuffix(userData, "\n"), "\n", "\n| ") + "\n|\n",
	}
	for i, k := range keys {
		want = append(want, fmt.Sprintf("meta-data/public-keys/%d/openssh-key:\n| %s\n", i, k))
	}
	var missing []string
	for _, w := range want {
		if !strings.Contains(out, w) {
			missing = append(missing, fmt.Sprintf("%q", w))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: plain getimds does not print\n\t%s\nIt printed:\n%s", g.role, strings.Join(missing, "\n\t"), out)
	}
	if strings.Contains(out, fmt.Sprintf("meta-data/public-keys/%d/", len(keys))) {
		t.Errorf("%s: plain getimds prints more than the guest's %d keys:\n%s", g.role, len(keys), out)
	}
	golden.CheckString(t, "netns/walk-"+g.role+".golden", nsStampRE.ReplaceAllString(out, "<time>"))
}

// nsConfig writes testdata/netns/imdsd.json to dir/name with instances_dir set to dir
// and the top-level keys in changes replaced, and returns its path.
func nsConfig(t *testing.T, dir, name, instancesDir string, changes map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/netns/imdsd.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("testdata/netns/imdsd.json: %v", err)
	}
	m["instances_dir"] = instancesDir
	for k, v := range changes {
		m[k] = v
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// nsDropInstance copies testdata/netns/name into dir the way an operator
// should: under a name that is not *.json, then renamed.
func nsDropInstance(t *testing.T, name, dir string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "netns", name))
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// nsTokenRefused checks that a GET by g with tok gets 401 and an empty body.
func nsTokenRefused(t *testing.T, g *nsGuest, tok, whose string) {
	t.Helper()
	if r := nsGetWith(t, g, "/latest/meta-data/instance-id", tok); r.status != http.StatusUnauthorized || r.body != "" {
		t.Errorf("%s using %s's token: got %d %q, want 401 and an empty body", g.role, whose, r.status, r.body)
	}
}

// nsTokenServes checks that a GET of instance-id by g with tok gets g's id.
func nsTokenServes(t *testing.T, g *nsGuest, tok, want string) {
	t.Helper()
	if r := nsGetWith(t, g, "/latest/meta-data/instance-id", tok); r.status != http.StatusOK || r.body != want {
		t.Errorf("%s: GET instance-id with its own token: got %d %q, want 200 %q", g.role, r.status, r.body, want)
	}
}

// TestNetNS is issue 5 end to end: one imdsd, many guests, each in a
// network namespace of its own.
func TestNetNS(t *testing.T) {
	lab := newNSLab(t)
	bin := nsBuildGetimds(t)
	g1, g2, g3, g4 := lab.g1, lab.g2, lab.g3, lab.g4

	// The network itself, with the seed configuration (no per-guest keys):
	// every guest sees the one instance, tokens are bound to the address.
	t.Run("OneInstance", func(t *testing.T) {
		seed, err := filepath.Abs("testdata/seed.json")
		if err != nil {
			t.Fatal(err)
		}
		d := lab.start(t, seed)
		defer d.stop(t)
		nsGetimdsValue(t, bin, g1, "meta-data/instance-id", nsSeedID)
		nsGetimdsValue(t, bin, g2, "meta-data/instance-id", nsSeedID)
		tok1 := nsToken(t, g1)
		nsTokenServes(t, g1, tok1, nsSeedID)
		nsTokenRefused(t, g2, tok1, "guest1")
		// guest3 reaches imdsd through the router: an answer, not a timeout.
		r, connected, err := nsRequest(g3, http.MethodGet, "/latest/meta-data/instance-id", nil, 5*time.Second)
		if err != nil || r.status != http.StatusUnauthorized {
			t.Errorf("guest3 (through the router): GET instance-id without a token: got %d, connected %v, err %v; want 401", r.status, connected, err)
		}
	})

	// Per-guest timelines: guest1 is a spot instance interrupted two
	// seconds after its own first request, guest2 is not; guest2 asks
	// first, guest1 a second later, and guest1's clock starts with its
	// own request. A reload with the same file keeps the notice.
	t.Run("Lifecycle", func(t *testing.T) {
		dir := t.TempDir()
		instDir := filepath.Join(dir, "instances.d")
		if err := os.Mkdir(instDir, 0o755); err != nil {
			t.Fatal(err)
		}
		conf := nsConfig(t, dir, "imdsd.json", instDir, map[string]any{"instances": []any{
			map[string]any{"match": []string{g1.addr}, "instance_id": g1.id, "market": "spot",
				"spot_interruption": map[string]string{"action": "terminate", "after": "2s"}},
			map[string]any{"match": []string{g2.addr}, "instance_id": g2.id},
		}})
		d := lab.start(t, conf)
		defer d.stop(t)
		start2 := time.Now()
		nsGetimdsValue(t, bin, g2, "meta-data/instance-life-cycle", "on-demand")
		time.Sleep(time.Second)
		start1 := time.Now()
		nsGetimdsValue(t, bin, g1, "meta-data/instance-life-cycle", "spot")
		out, errOut, code := nsGetimds(t, bin, g1, "--wait", "spot/instance-action", "--timeout", "15")
		m := regexp.MustCompile(`^\{"action":"terminate","time":"([0-9T:-]+Z)"\}$`).FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("guest1: getimds --wait spot/instance-action: exit %d, %q (stderr %q); want 0 and the notice", code, out, errOut)
		}
		at, _ := time.Parse(time.RFC3339, m[1])
		notice := at.Add(-2 * time.Minute)
		if notice.Before(start1.Truncate(time.Second).Add(2*time.Second)) || notice.After(start1.Add(5*time.Second)) {
			t.Errorf("guest1's notice at %v: want 2 s after its own first request (%v), not guest2's (%v)", notice, start1, start2)
		}
		// guest2 is never interrupted: --wait times out with status 4.
		if out, errOut, code := nsGetimds(t, bin, g2, "--wait", "spot/instance-action", "--timeout", "2"); code != 4 || out != "" {
			t.Errorf("guest2: getimds --wait --timeout 2: exit %d, %q (stderr %q); want 4 and nothing", code, out, errOut)
		}
		if !d.logged("lifecycle transition", "guest="+g1.id, "kind=spot_interruption") || d.logged("lifecycle transition", "guest="+g2.id) {
			t.Errorf("want one transition logged, guest1's spot notice; log:\n%s", nsTail(d.stderr.String(), 20))
		}
		d.reload(t)
		time.Sleep(500 * time.Millisecond)
		d.running(t)
		nsGetimdsValue(t, bin, g1, "meta-data/spot/instance-action", out)
		if r := nsGetWith(t, g2, "/latest/meta-data/spot/instance-action", nsToken(t, g2)); r.status != http.StatusNotFound {
			t.Errorf("guest2 after the reload: spot/instance-action %d, want 404", r.status)
		}
	})

	t.Run("ManyGuests", func(t *testing.T) {
		dir := t.TempDir()
		instDir := filepath.Join(dir, "instances.d")
		if err := os.Mkdir(instDir, 0o755); err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile("testdata/netns/instances.d/guest2.json")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(instDir, "guest2.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		d := lab.start(t, nsConfig(t, dir, "imdsd.json", instDir, nil))

		keys1 := []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIguest1 one@guest1"}
		keys2 := []string{
			"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQguest2 one@guest2",
			"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIguest2 two@guest2",
		}
		ud1 := "#cloud-config\nhostname: guest1\n"
		ud2 := "#!/bin/sh\necho guest2 > /etc/hostname\n"

		t.Run("Walk", func(t *testing.T) {
			nsCheckWalk(t, bin, g1, keys1, ud1)
			nsCheckWalk(t, bin, g2, keys2, ud2)
			nsGetimdsValue(t, bin, g1, "meta-data/instance-id", g1.id)
			nsGetimdsValue(t, bin, g2, "meta-data/instance-id", g2.id)
			nsGetimdsValue(t, bin, g2, "user-data", ud2)
			// Nested keys merge: guest1's tags add to the defaults.
			nsGetimdsValue(t, bin, g1, "meta-data/tags/instance/Env", "netns-test")
			nsGetimdsValue(t, bin, g1, "meta-data/tags/instance/Name", "guest1")
		})

		var tok1 string
		t.Run("TokenBoundToGuest", func(t *testing.T) {
			tok1 = nsToken(t, g1)
			tok2 := nsToken(t, g2)
			nsTokenServes(t, g1, tok1, g1.id)
			nsTokenServes(t, g2, tok2, g2.id)
			nsTokenRefused(t, g2, tok1, "guest1")
			nsTokenRefused(t, g1, tok2, "guest2")
		})

		t.Run("UnknownClientsDefault", func(t *testing.T) {
			nsGetimdsValue(t, bin, g4, "meta-data/instance-id", nsDefaultID)
			nsGetimdsValue(t, bin, g4, "meta-data/tags/instance/Name", "default")
		})

		t.Run("HopLimit1", func(t *testing.T) {
			// The connection is made, but the token response leaves with
			// TTL 1 and the router drops it.
			r, connected, err := nsRequest(g3, http.MethodPut, "/latest/api/token",
				map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, 2*time.Second)
			var ne net.Error
			if !connected || !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("guest3 (one hop away), token_hop_limit 1: PUT token: got %d %q, connected %v, err %v; want a connection and then no answer (timeout)", r.status, r.body, connected, err)
			}
			// Only the token response is limited: other answers arrive.
			r, _, err = nsRequest(g3, http.MethodGet, "/latest/meta-data/instance-id", nil, 5*time.Second)
			if err != nil || r.status != http.StatusUnauthorized {
				t.Errorf("guest3, token_hop_limit 1: GET without a token: got %d, err %v; want 401", r.status, err)
			}
		})

		t.Run("ReloadAddsGuest", func(t *testing.T) {
			if tok1 == "" {
				tok1 = nsToken(t, g1)
			}
			nsDropInstance(t, "guest4.json", instDir)
			d.reload(t)
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := nsGetWith(t, g4, "/latest/meta-data/instance-id", nsToken(t, g4))
				if r.status == http.StatusOK && r.body == g4.id {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("guest4 after dropping guest4.json and SIGHUP: instance-id is %d %q after 10s, want %q", r.status, r.body, g4.id)
				}
				d.running(t)
				time.Sleep(100 * time.Millisecond)
			}
			d.running(t)
			nsGetimdsValue(t, bin, g4, "meta-data/instance-id", g4.id)
			nsGetimdsValue(t, bin, g4, "user-data", "#cloud-config\nhostname: guest4\n")
			// The others are undisturbed: a token from before still
			// works, and guest2 sees what it saw.
			nsTokenServes(t, g1, tok1, g1.id)
			nsCheckWalk(t, bin, g2, keys2, ud2)
		})

		t.Run("HopLimitOnReload", func(t *testing.T) {
			// token_hop_limit is read per token: a SIGHUP that raises it
			// lets guest3, one hop away, get a token from then on.
			nsConfig(t, dir, "imdsd.json", instDir, map[string]any{"token_hop_limit": 2})
			d.reload(t)
			deadline := time.Now().Add(10 * time.Second)
			for {
				r, _, err := nsRequest(g3, http.MethodPut, "/latest/api/token",
					map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, time.Second)
				if err == nil && r.status == http.StatusOK && tokenRE.MatchString(r.body) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("guest3 after raising token_hop_limit to 2 and SIGHUP: no token within 10s (last: %d, %v)", r.status, err)
				}
				d.running(t)
			}
		})
		d.stop(t)

		// Restart with the token one more hop and unknown guests turned
		// away.
		if err := os.Remove(filepath.Join(instDir, "guest4.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		d = lab.start(t, nsConfig(t, dir, "imdsd-hop2-deny.json", instDir, map[string]any{"token_hop_limit": 2, "unknown_clients": "deny"}))

		t.Run("HopLimit2", func(t *testing.T) {
			tok3 := nsToken(t, g3)
			nsTokenServes(t, g3, tok3, g3.id)
			nsGetimdsValue(t, bin, g3, "meta-data/instance-id", g3.id)
		})

		t.Run("UnknownClientsDeny", func(t *testing.T) {
			for _, c := range []struct {
				method, path string
				hdr          map[string]string
			}{
				{http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}},
				{http.MethodGet, "/latest/meta-data/instance-id", nil},
				{http.MethodGet, "/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": strings.Repeat("A", 54) + "=="}},
				{http.MethodGet, "/", nil},
			} {
				if r := nsHTTP(t, g4, c.method, c.path, c.hdr); r.status != http.StatusForbidden || r.body != "" {
					t.Errorf("guest4 (unknown), unknown_clients deny: %s %s: got %d %q, want 403 and an empty body", c.method, c.path, r.status, r.body)
				}
			}
			if out, errOut, code := nsGetimds(t, bin, g4, "meta-data/instance-id"); code != 3 || out != "" {
				t.Errorf("guest4 (unknown), unknown_clients deny: getimds meta-data/instance-id: got exit %d, %q (stderr %q); want exit 3 and no output", code, out, errOut)
			}
			nsGetimdsValue(t, bin, g1, "meta-data/instance-id", g1.id)
		})
	})
}

// reload sends SIGHUP to imdsd.
func (d *nsDaemon) reload(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("sending SIGHUP to imdsd: %v", err)
	}
}
