// Package detach puts imdsd in the background for rc.d(8): it re-executes
// the program as a session leader with github.com/sevlyar/go-daemon, which
// locks and writes the pidfile, and makes the parent wait until the child
// is actually serving, so that "service imdsd start" fails with the reason
// when the child cannot bind or load its configuration.
//
// The child reports readiness with the sd_notify protocol (READY=1, or
// STATUS=<error>) on a private socket the parent names in NOTIFY_SOCKET:
// the same code path that tells systemd imdsd is ready tells the parent.
package detach

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	godaemon "github.com/sevlyar/go-daemon"
)

// IsChild reports whether this process is the detached child.
func IsChild() bool { return godaemon.WasReborn() }

// Start runs in the parent: it starts the child and waits up to timeout for
// it to report that it serves. It returns nil once the child is ready, and
// otherwise the child's own error message.
func Start(pidfile string, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "imdsd-ready-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The child may have dropped privileges before it reports: let any
	// user send to the socket; the directory's random name guards it.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("readiness socket: %w", err)
	}
	defer conn.Close()
	if err := os.Chmod(sock, 0o666); err != nil {
		return err
	}

	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	ctx := &godaemon.Context{
		PidFileName: pidfile,
		PidFilePerm: 0o644,
		// The child starts where the parent ran, so that relative paths
		// on the command line mean the same; see Reborn.
		Umask: 0o022,
		Env:   append(env, "NOTIFY_SOCKET="+sock),
	}
	child, err := ctx.Reborn()
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, godaemon.ErrWouldBlock) {
			pid, _ := godaemon.ReadPidFile(pidfile)
			return fmt.Errorf("pidfile %s is locked: imdsd is already running (pid %d)", pidfile, pid)
		}
		return fmt.Errorf("starting the daemon (pidfile %s): %w", pidfile, err)
	}

	exited := make(chan error, 1)
	go func() {
		st, err := child.Wait()
		if err == nil {
			err = fmt.Errorf("imdsd exited (%s) before it was ready; see syslog", st)
		}
		exited <- err
	}()
	msgs := make(chan string, 1)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case m := <-msgs:
			status, ready := parse(m)
			switch {
			case ready:
				return nil
			case strings.HasPrefix(m, "STATUS="):
				return errors.New(status)
			}
		case err := <-exited:
			return err
		case <-deadline.C:
			return fmt.Errorf("imdsd (pid %d) did not report ready within %s; see syslog", child.Pid, timeout)
		}
	}
}

// parse reads one notification: ready, or a failure's STATUS text.
func parse(m string) (status string, ready bool) {
	for _, line := range strings.Split(m, "\n") {
		if line == daemon.SdNotifyReady {
			return "", true
		}
	}
	// A failure is the child's whole error message, which may span lines.
	return strings.TrimPrefix(m, "STATUS="), false
}

// Child is the detached process's handle on its pidfile.
type Child struct {
	ctx     *godaemon.Context
	pidfile string
}

// Reborn runs in the child: it takes over the pidfile the parent locked,
// writes this process's id into it and moves to "/", so as to hold no file
// system busy. The child starts in the directory the parent ran in: make
// relative paths absolute before calling Reborn.
func Reborn(pidfile string) (*Child, error) {
	ctx := &godaemon.Context{PidFileName: pidfile, PidFilePerm: 0o644}
	if _, err := ctx.Reborn(); err != nil {
		return nil, fmt.Errorf("daemon child: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return nil, err
	}
	return &Child{ctx: ctx, pidfile: ctx.PidFileName}, nil
}

// Chown gives the pidfile to the user imdsd is about to become, so that it
// can still empty the file on exit if it cannot remove it.
func (c *Child) Chown(uid, gid int) error { return os.Chown(c.pidfile, uid, gid) }

// Fail tells the waiting parent why the child cannot serve.
func Fail(err error) {
	_, _ = daemon.SdNotify(true, "STATUS="+err.Error())
}

// Release removes the pidfile. After dropping privileges the directory
// (/var/run) is usually not writable; the file is then emptied instead,
// which rc.subr treats the same.
func (c *Child) Release() error {
	err := c.ctx.Release()
	if err == nil {
		return nil
	}
	if _, serr := os.Stat(c.pidfile); os.IsNotExist(serr) {
		return nil
	}
	if terr := os.Truncate(c.pidfile, 0); terr != nil {
		return fmt.Errorf("removing pidfile %s: %w", c.pidfile, err)
	}
	return nil
}
