package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds how long a server may take to give its first answer.
const readyTimeout = 10 * time.Second

// serverSpec says how to start one of the two servers.
type serverSpec struct {
	name string
	path string
	args func(addr string) []string
	// askClose: the server keeps connections open unless the request
	// says "Connection: close".
	askClose bool
}

// proc is a running server.
type proc struct {
	name   string
	addr   string // 127.0.0.1:port
	cmd    *exec.Cmd
	done   chan struct{} // closed once the process has exited
	output *tail
	once   sync.Once
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop kills the process and waits for it; it may be called more than once.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procs is every server started, so that all are killed on the way out,
// on a signal too.
type procs struct {
	mu  sync.Mutex
	all []*proc
}

func (ps *procs) add(p *proc) {
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
}

// stopAll kills every server still running.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := slices.Clone(ps.all)
	ps.mu.Unlock()
	for _, p := range all {
		p.stop()
	}
}

// start runs spec on a free port of 127.0.0.1 and waits for its first
// answer to a token PUT, which it returns as the time since exec.
func (ps *procs) start(ctx context.Context, spec serverSpec) (*proc, time.Duration, error) {
	const attempts = 3 // the free port may be taken before the server binds it
	for attempt := 1; ; attempt++ {
		addr, err := freeAddr()
		if err != nil {
			return nil, 0, err
		}
		out := &tail{max: 4096}
		cmd := exec.Command(spec.path, spec.args(addr)...)
		cmd.Stdout, cmd.Stderr = out, out
		setParentDeathSignal(cmd)
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, 0, fmt.Errorf("starting %s: %w", spec.name, err)
		}
		p := &proc{name: spec.name, addr: addr, cmd: cmd, done: make(chan struct{}), output: out}
		ps.add(p)
		go func() {
			_ = cmd.Wait()
			close(p.done)
		}()
		t1, err := waitAnswer(ctx, addr, p.done, readyTimeout, spec.askClose)
		if err == nil {
			return p, t1.Sub(t0), nil
		}
		p.stop()
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		if attempt < attempts && strings.Contains(out.String(), "address already in use") {
			continue
		}
		return nil, 0, fmt.Errorf("%s (%s): %w%s", spec.name, strings.Join(cmd.Args, " "), err, out.indented())
	}
}

// waitAnswer polls addr with a token PUT on a fresh connection every
// millisecond until it is answered 200, and returns when. It gives up when
// done is closed (the server exited) or after timeout. close adds
// "Connection: close" to the request.
func waitAnswer(ctx context.Context, addr string, done <-chan struct{}, timeout time.Duration, close bool) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := newClient(addr, netip.Addr{})
	req := tokenRequest(addr)
	if close {
		req = askClose(req)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		st, _, err := c.do(ctx, req)
		if err == nil && st == 200 {
			return time.Now(), nil
		}
		if err == nil {
			err = fmt.Errorf("PUT %s: status %d, want 200", tokenPath, st)
		}
		last = err
		select {
		case <-done:
			return time.Time{}, errors.New("exited before answering")
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return time.Time{}, fmt.Errorf("no answer within %v: %w", timeout, last)
			}
			return time.Time{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// freeAddr returns 127.0.0.1 with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// tail keeps the last max bytes written to it: a server's output, for the
// error message when it fails.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// indented is the output as indented lines after a colon, or "".
func (t *tail) indented() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	return ":\n\t" + strings.ReplaceAll(s, "\n", "\n\t")
}

// median returns the middle value (the lower of the two middle ones).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// parseKB reads a "/proc/PID/status"-style line value "  1234 kB" as bytes.
func parseKB(v string) (int64, error) {
	v = strings.TrimSpace(v)
	v, ok := strings.CutSuffix(v, " kB")
	if !ok {
		return 0, fmt.Errorf("%q is not in kB", v)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, err
	}
	return n << 10, nil
}

// statusField returns the value of one "Name:\tvalue" line of a
// /proc/PID/status file.
func statusField(status []byte, name string) (string, bool) {
	for line := range bytes.Lines(status) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && string(k) == name {
			return string(bytes.TrimSpace(v)), true
		}
	}
	return "", false
}
