//go:build linux

package main

// Issue 10, item 1, with network namespaces: a guest sending from 16
// link-local addresses (what a filter allowing fe80::/10 lets through)
// and from its own address holds every connection it can get, and another
// guest is still served.
//
//	guest1 fd00:ec2::11 ─┐
//	guest2 fd00:ec2::12 ─┤ br0 in "host": fd00:ec2::254/64,
//	  + fe80::100..10f   │ imdsd on [fd00:ec2::254]:80
//
// Namespaces are named after a per-run prefix and removed when the test
// ends, as in netns_test.go.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const fairIMDS = "[fd00:ec2::254]:80"

// nsDialFrom connects to addr from local (an address of eth0) inside
// network namespace ns; see nsDial.
func nsDialFrom(ns, local, addr string, timeout time.Duration) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in ns
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: err}
			return
		}
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local), Zone: "eth0"}}
		c, err := d.Dial("tcp", addr)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// fairGet asks for the instance id from local in ns; status 0 when the
// connection was closed without an answer.
func fairGet(ns, local string) (int, string, error) {
	c, err := nsDialFrom(ns, local, fairIMDS, 3*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: [fd00:ec2::254]\r\nConnection: close\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b), nil
}

func TestNetNSFairnessLinkLocal(t *testing.T) {
	lab := newNamespaces(t, "F")
	prefix := lab.prefix
	g1, g2 := prefix+"-g1", prefix+"-g2"
	lab.add(t, g1, g2)
	h := lab.host
	lab.ip(t, "-n", h, "link", "add", "br0", "type", "bridge")
	lab.ip(t, "-n", h, "link", "set", "br0", "up")
	lab.ip(t, "-n", h, "addr", "add", "fd00:ec2::254/64", "dev", "br0", "nodad")
	for i, g := range []struct{ ns, addr string }{{g1, "fd00:ec2::11"}, {g2, "fd00:ec2::12"}} {
		port := fmt.Sprintf("vg%d", i)
		lab.ip(t, "-n", h, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", g.ns)
		lab.ip(t, "-n", h, "link", "set", port, "master", "br0", "up")
		lab.ip(t, "-n", g.ns, "link", "set", "eth0", "up")
		lab.ip(t, "-n", g.ns, "addr", "add", g.addr+"/64", "dev", "eth0", "nodad")
	}
	var spoofed []string
	for i := range 16 {
		a := fmt.Sprintf("fe80::1%02x", i)
		lab.ip(t, "-n", g2, "addr", "add", a+"/64", "dev", "eth0", "nodad")
		spoofed = append(spoofed, a)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "imdsd.json")
	if err := os.WriteFile(cfg, []byte(`{
  "http_tokens": "optional",
  "max_connections": 64,
  "max_connections_per_client": 32,
  "header_timeout_ms": 60000,
  "instances": [
    {"match": ["fd00:ec2::11"], "instance_id": "i-0a1b2c3d4e5f60011"},
    {"match": ["fd00:ec2::12"], "instance_id": "i-0a1b2c3d4e5f60012"}
  ]
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	d := nsRunIMDS(t, imdsdBin.Path(t), h, "--config", cfg, "--listen", fairIMDS, "--log", "stderr", "--no-access-log")
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d.running(t)
		if code, _, err := fairGet(g1, "fd00:ec2::11"); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("imdsd did not answer guest1 within 15s")
		}
	}

	// guest2 opens all it can, from its 16 link-local addresses and its
	// own, and sends nothing.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for _, src := range append(spoofed, "fd00:ec2::12") {
		for range 24 {
			c, err := nsDialFrom(g2, src, fairIMDS, 3*time.Second)
			if err != nil {
				t.Fatalf("guest2 connecting from %s: %v", src, err)
			}
			held = append(held, c)
		}
	}
	time.Sleep(500 * time.Millisecond) // imdsd accepts, or closes, them all
	open := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(5 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			open++
		}
	}
	t.Logf("guest2 holds %d of its %d connections (max_connections 64)", open, len(held))
	if open >= 64 {
		t.Errorf("guest2 holds %d connections: every one of max_connections", open)
	}

	// guest1 is served all the same.
	for i := range 5 {
		code, body, err := fairGet(g1, "fd00:ec2::11")
		if err != nil || code != 200 || body != "i-0a1b2c3d4e5f60011" {
			t.Fatalf("guest1 request %d while guest2 holds %d connections: %d %q %v", i, open, code, body, err)
		}
	}
	if !strings.Contains(d.stderr.String(), "listening") {
		t.Errorf("imdsd logged no listening line")
	}
}
