package neigh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// unavailable skips a test whose tool or privilege is missing, except in
// CI (CI set), where it must run and so fails (as in cmd/imdsd).
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so this test must run, but %s", msg)
	}
	t.Skipf("skipping: %s", msg)
}

// ipCmd runs ip with args, bounded in time.
func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// inNS runs f on a thread that entered network namespace ns. The thread
// stays locked, so it ends with the goroutine and never runs other Go code
// in the wrong namespace.
func inNS(ns string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		h, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- err
			return
		}
		defer h.Close()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("entering network namespace %s: %w", ns, err)
			return
		}
		ch <- f()
	}()
	return <-ch
}

// TestNetNSLookup builds a host and a guest namespace joined by a veth
// pair whose guest end has a fixed MAC, lets the guest connect to the host
// over IPv4 and IPv6 so the host's kernel learns its MAC, and looks the
// guest up from the host's namespace.
func TestNetNSLookup(t *testing.T) {
	if os.Geteuid() != 0 {
		unavailable(t, "making network namespaces needs root (go test -run NetNS ./internal/neigh/ as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "there is no ip command (Debian: apt-get install iproute2): %v", err)
	}
	prefix := fmt.Sprintf("neighT%d", os.Getpid()%10000)
	host, guest := prefix+"-h", prefix+"-g"
	for _, ns := range []string{host, guest} {
		ipCmd("netns", "del", ns) // a leftover of a killed run
	}
	if err := ipCmd("netns", "add", host); err != nil {
		unavailable(t, "a network namespace cannot be made here: %v", err)
	}
	t.Cleanup(func() {
		for _, ns := range []string{host, guest} {
			if err := ipCmd("netns", "del", ns); err != nil {
				t.Errorf("removing the test network: %v", err)
			}
		}
	})
	const guestMAC = "02:00:00:00:77:02"
	for _, args := range [][]string{
		{"netns", "add", guest},
		{"-n", host, "link", "add", "vh", "type", "veth", "peer", "name", "eth0", "netns", guest},
		{"-n", guest, "link", "set", "eth0", "address", guestMAC},
		{"-n", host, "addr", "add", "10.77.0.1/24", "dev", "vh"},
		{"-n", host, "addr", "add", "fd77::1/64", "dev", "vh", "nodad"},
		{"-n", guest, "addr", "add", "10.77.0.2/24", "dev", "eth0"},
		{"-n", guest, "addr", "add", "fd77::2/64", "dev", "eth0", "nodad"},
		{"-n", host, "link", "set", "vh", "up"},
		{"-n", guest, "link", "set", "eth0", "up"},
		{"-n", host, "link", "set", "lo", "up"},
		// An entry set by the administrator, and one on a NOARP interface.
		{"-n", host, "neigh", "add", "10.77.0.50", "lladdr", "02:00:00:00:77:50", "dev", "vh", "nud", "permanent"},
		{"-n", host, "link", "add", "na", "type", "veth", "peer", "name", "nb"},
		{"-n", host, "link", "set", "nb", "up"},
		{"-n", host, "link", "set", "na", "arp", "off", "up"},
		{"-n", host, "addr", "add", "10.78.0.1/24", "dev", "na"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatalf("building the test network: %v", err)
		}
	}

	// The host listens; the guest connects, which makes the kernel resolve
	// it (ARP, neighbour discovery) to answer.
	var ln net.Listener
	if err := inNS(host, func() (err error) { ln, err = net.Listen("tcp", ":0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	for _, to := range []string{"10.77.0.1", "fd77::1"} {
		err := inNS(guest, func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(to, fmt.Sprint(port)), 5*time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		})
		if err != nil {
			t.Fatalf("the guest connecting to %s: %v", to, err)
		}
	}

	err := inNS(host, func() error {
		vh, err := net.InterfaceByName("vh")
		if err != nil {
			return err
		}
		// A packet to 10.78.0.9 makes a NOARP entry on na.
		if c, err := net.Dial("udp", "10.78.0.9:9"); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
		c := New(Options{})
		defer c.Close()
		for _, ip := range []string{"10.77.0.2", "fd77::2", "::ffff:10.77.0.2"} {
			e, err := c.Lookup(context.Background(), netip.MustParseAddr(ip))
			if err != nil {
				t.Errorf("Lookup(%s): %v", ip, err)
				continue
			}
			if e.MAC.String() != guestMAC || e.IfName != "vh" || e.IfIndex != vh.Index || !e.Usable() {
				t.Errorf("Lookup(%s) = %v (ifindex %d), want lladdr %s on vh (ifindex %d)", ip, e, e.IfIndex, guestMAC, vh.Index)
			}
		}
		e, err := c.Lookup(context.Background(), netip.MustParseAddr("10.77.0.50"))
		if err != nil || e.MAC.String() != "02:00:00:00:77:50" || e.State != StatePermanent {
			t.Errorf("Lookup(10.77.0.50) = %v, %v; want the permanent entry", e, err)
		}
		for ip, want := range map[string]string{
			"10.99.0.13": "no neighbour entry for 10.99.0.13: not on a directly attached network (routed?)",
			"10.77.0.1":  "no neighbour entry for 10.77.0.1: an address of this host: the client is this host itself",
			"10.77.0.9":  "no neighbour entry for 10.77.0.9: on the directly attached network 10.77.0.0/24, but the host has no entry for it (not heard from yet?)",
			"10.78.0.9":  "no neighbour entry for 10.78.0.9: the entry on na is NOARP: that interface does not resolve link-layer addresses (a tun or point-to-point link?)",
		} {
			_, err := c.Lookup(context.Background(), netip.MustParseAddr(ip))
			var nf *NotFoundError
			if !errors.As(err, &nf) || err.Error() != want {
				t.Errorf("Lookup(%s):\n got %v\nwant %s", ip, err, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNetNSWatch changes the neighbour table of a namespace as an address
// moving to another guest does, and checks that a cache keeping answers
// for an hour gives the new MAC at once: the kernel's notifications
// (Watch, in the namespace) drop the old answer.
func TestNetNSWatch(t *testing.T) {
	if os.Geteuid() != 0 {
		unavailable(t, "making network namespaces needs root (go test -run NetNS ./internal/neigh/ as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "there is no ip command (Debian: apt-get install iproute2): %v", err)
	}
	host := fmt.Sprintf("neighW%d-h", os.Getpid()%10000)
	ipCmd("netns", "del", host) // a leftover of a killed run
	if err := ipCmd("netns", "add", host); err != nil {
		unavailable(t, "a network namespace cannot be made here: %v", err)
	}
	t.Cleanup(func() {
		if err := ipCmd("netns", "del", host); err != nil {
			t.Errorf("removing the test network: %v", err)
		}
	})
	ip := func(args ...string) {
		t.Helper()
		if err := ipCmd(append([]string{"-n", host}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	ip("link", "add", "vh", "type", "veth", "peer", "name", "vp")
	ip("addr", "add", "10.77.0.1/24", "dev", "vh")
	ip("link", "set", "vp", "up")
	ip("link", "set", "vh", "up")

	var reads atomic.Int64
	c := New(Options{
		TTL: time.Hour,
		ReadTable: func() (entries []Entry, err error) {
			reads.Add(1)
			err = inNS(host, func() (err error) { entries, err = ReadTable(); return err })
			return entries, err
		},
		Watch: func(ctx context.Context, events func(Event)) error {
			return inNS(host, func() error { return Watch(ctx, events) })
		},
		WatchError: func(err error) { t.Errorf("Watch: %v", err) },
	})
	defer c.Close()

	// await waits, far less than the TTL, until addr is mac ("" for not
	// found), and says how long it took.
	await := func(addr, mac string) {
		t.Helper()
		start := time.Now()
		for {
			e, err := c.Lookup(context.Background(), netip.MustParseAddr(addr))
			got := ""
			if err == nil {
				got = e.MAC.String()
			}
			if got == mac {
				t.Logf("%s is %q after %v", addr, mac, time.Since(start).Round(time.Microsecond))
				return
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("%s is still %q (%v) after %v, want %q", addr, got, err, time.Since(start), mac)
			}
			time.Sleep(time.Millisecond)
		}
	}
	ip("neigh", "replace", "10.77.0.2", "lladdr", "02:00:00:00:77:02", "dev", "vh", "nud", "reachable")
	ip("neigh", "replace", "fe80::2", "lladdr", "02:00:00:00:77:02", "dev", "vh", "nud", "reachable")
	await("10.77.0.2", "02:00:00:00:77:02")
	await("fe80::2%vh", "02:00:00:00:77:02")
	// The watcher is running once it counted its first (Lost) event.
	for deadline := time.Now().Add(5 * time.Second); c.Stats().Events == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the watcher reported nothing")
		}
	}
	await("10.77.0.2", "02:00:00:00:77:02")
	await("fe80::2%vh", "02:00:00:00:77:02")

	// Another guest takes the addresses.
	ip("neigh", "replace", "10.77.0.2", "lladdr", "02:00:00:00:77:03", "dev", "vh", "nud", "reachable")
	ip("neigh", "replace", "fe80::2", "lladdr", "02:00:00:00:77:03", "dev", "vh", "nud", "reachable")
	await("10.77.0.2", "02:00:00:00:77:03")
	await("fe80::2%vh", "02:00:00:00:77:03")
	// It goes away.
	ip("neigh", "del", "10.77.0.2", "dev", "vh")
	await("10.77.0.2", "")
	ip("neigh", "replace", "10.77.0.2", "lladdr", "02:00:00:00:77:04", "dev", "vh", "nud", "stale")
	await("10.77.0.2", "02:00:00:00:77:04")

	s := c.Stats()
	t.Logf("%+v", s)
	if s.Dropped == 0 || s.WatchErrors != 0 {
		t.Errorf("Stats() = %+v", s)
	}
}
