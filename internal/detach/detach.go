// Package detach puts imdsd in the background for rc.d(8): it re-executes
// the program as a session leader with github.com/sevlyar/go-daemon, has
// the child lock and write the pidfile (without following a symbolic
// link; see [OpenPidfile]), and makes the parent wait until the child
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
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	godaemon "github.com/sevlyar/go-daemon"
)

// IsChild reports whether this process is the detached child.
func IsChild() bool { return godaemon.WasReborn() }

// Start runs in the parent: it starts the child and waits up to timeout for
// it to report that it serves. It returns nil once the child is ready, and
// otherwise the child's own error message, such as that the pidfile is
// locked by an imdsd already running. The child opens pidfile (Reborn);
// the parent names it only in messages.
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
	// The child opens and locks the pidfile (OpenPidfile), and reports
	// here if it cannot, like any other reason it cannot start.
	ctx := &godaemon.Context{
		// The child starts where the parent ran, so that relative paths
		// on the command line mean the same; see Reborn.
		Umask: 0o022,
		Env:   append(env, "NOTIFY_SOCKET="+sock),
	}
	child, err := ctx.Reborn()
	if err != nil {
		return fmt.Errorf("starting the daemon: %w", err)
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
			// A child that fails reports why and then exits: its message
			// is in the socket already, but the two arrive here in either
			// order. Take the reason over the bare exit.
			select {
			case m := <-msgs:
				if status, ready := parse(m); !ready && strings.HasPrefix(m, "STATUS=") {
					return errors.New(status)
				}
			case <-time.After(250 * time.Millisecond):
			}
			return err
		case <-deadline.C:
			return fmt.Errorf("imdsd (pid %d, pidfile %s) did not report ready within %s; see syslog", child.Pid, pidfile, timeout)
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
	pid *Pidfile
}

// Reborn runs in the child: it opens and locks the pidfile (see
// [OpenPidfile]), writes this process's id into it and moves to "/", so as
// to hold no file system busy. The child starts in the directory the
// parent ran in: make relative paths absolute before calling Reborn.
func Reborn(pidfile string) (*Child, error) {
	ctx := &godaemon.Context{}
	if _, err := ctx.Reborn(); err != nil {
		return nil, fmt.Errorf("daemon child: %w", err)
	}
	p, err := OpenPidfile(pidfile)
	if err != nil {
		return nil, err
	}
	if err := p.Write(os.Getpid()); err != nil {
		p.Remove()
		return nil, err
	}
	if err := os.Chdir("/"); err != nil {
		p.Remove()
		return nil, err
	}
	return &Child{pid: p}, nil
}

// Chown gives the pidfile to the user imdsd is about to become, through
// its descriptor, never its path.
func (c *Child) Chown(uid, gid int) error { return c.pid.Chown(uid, gid) }

// Fail tells the waiting parent why the child cannot serve.
func Fail(err error) {
	_, _ = daemon.SdNotify(true, "STATUS="+err.Error())
}

// Release removes the pidfile, or empties it where it cannot; see
// [Pidfile.Remove].
func (c *Child) Release() error { return c.pid.Remove() }
