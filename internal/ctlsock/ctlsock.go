// Package ctlsock opens imdsd's Unix sockets (the control socket, and the
// admin socket of --admin unix:PATH): sockets that only the host's
// administrator can reach (mode 0600, or 0660 with a group the
// administrator names), created with that mode whatever the umask and
// without a moment where it is open to anyone else, replacing a socket a
// crashed imdsd left behind but never one another imdsd answers on, and
// removed on exit.
//
// The socket is bound inside a private directory (mode 0700) next to its
// final path, given its mode and group there, and renamed into place; the
// check for a live socket and the rename are done under a lock on the
// directory, so two daemons starting at once cannot both take the path.
package ctlsock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLive is wrapped by the error of Listen for a socket another process
// answers on.
var ErrLive = errors.New("another process (another imdsd?) answers on it")

// Off is the --control value that turns the control socket off.
const Off = "none"

// MaxPath is the longest socket path accepted: sun_path holds 104 bytes
// on FreeBSD (108 on Linux), with the terminating NUL.
const MaxPath = 103

// DefaultProbeTimeout bounds the connection attempt that tells a live
// socket from a stale one.
const DefaultProbeTimeout = time.Second

// lockTimeout bounds the wait for another imdsd starting in the same
// directory.
const lockTimeout = 5 * time.Second

// Options say who may use the socket.
type Options struct {
	// Group, when not empty, is the group (a name or a numeric id) whose
	// members may use the socket too: the socket is mode 0660 and owned by
	// that group. Empty means mode 0600: the owner (root) only.
	Group string
	// ProbeTimeout bounds the connection attempt to an existing socket;
	// zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// Owner, when set, is the user and group the socket file is given
	// (the user imdsd becomes, so that it may remove its socket): only
	// that user may connect then, and root.
	Owner *Owner
	// What names the socket in messages, "control socket" when empty;
	// Flag is the option that gives its path, "--control" when empty.
	What, Flag string
}

// Owner is a socket file's user and group ids.
type Owner struct{ UID, GID int }

// DefaultPath returns the control socket's default path: under systemd's
// runtime directory ($RUNTIME_DIRECTORY, from RuntimeDirectory=) when set,
// else the system's run directory (/var/run/imdsd/control.sock on FreeBSD,
// /run/imdsd/control.sock on Linux). getenv is os.Getenv, or a test's.
func DefaultPath(getenv func(string) string) string {
	if dir := getenv("RUNTIME_DIRECTORY"); dir != "" {
		// Several directories are separated by colons; the first is imdsd's.
		for i := 0; i < len(dir); i++ {
			if dir[i] == ':' {
				dir = dir[:i]
				break
			}
		}
		return filepath.Join(dir, "control.sock")
	}
	return filepath.Join(runDir, "imdsd", "control.sock")
}

// Listener is a control socket. Close it to remove the socket file.
type Listener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo // the socket file as created, to remove only ours
	once sync.Once
}

// Path returns the socket's path.
func (l *Listener) Path() string { return l.path }

// Addr returns the socket's address: its final path, not the private one
// it was bound at.
func (l *Listener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket file, unless it is no
// longer the one Listen created (another imdsd took the path since).
func (l *Listener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, lerr := os.Lstat(l.path); lerr == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}

// Listen creates the control socket at path. Its directory is created
// (mode 0755) when missing. An existing socket that nothing answers on is
// replaced; one that answers, or a file that is not a socket, is an error
// that names it.
func Listen(path string, o Options) (*Listener, error) {
	if o.What == "" {
		o.What = "control socket"
	}
	if o.Flag == "" {
		o.Flag = "--control"
	}
	if path == "" || path == Off {
		return nil, fmt.Errorf("%s: no path (use %q to turn the control socket off)", o.What, Off)
	}
	if len(path) > MaxPath {
		return nil, fmt.Errorf("%s %s: the path is %d bytes; a Unix socket's path holds at most %d: choose a shorter one", o.What, path, len(path), MaxPath)
	}
	gid := -1
	if o.Group != "" {
		var err error
		if gid, err = LookupGroup(o.Group); err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
		}
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = DefaultProbeTimeout
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	defer unlock()
	if err := checkFree(path, o); err != nil {
		return nil, err
	}

	priv, err := os.MkdirTemp(dir, ".imdsd-control-")
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	defer os.RemoveAll(priv)
	if err := os.Chmod(priv, 0o700); err != nil { // whatever the umask
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	tmp := filepath.Join(priv, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*Listener, error) {
		ln.Close()
		return nil, fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	mode := os.FileMode(0o600)
	if o.Owner != nil {
		if err := os.Lchown(tmp, o.Owner.UID, o.Owner.GID); err != nil {
			return fail(fmt.Errorf("giving it to %d:%d: %w", o.Owner.UID, o.Owner.GID, err))
		}
	}
	if gid >= 0 {
		if err := os.Lchown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("giving it to group %s: %w", o.Group, err))
		}
		mode = 0o660
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &Listener{UnixListener: ln, path: path, fi: fi}, nil
}

// Removable says why this process could not remove the socket file on
// exit (its directory is not writable to it), or nil when it can: after
// dropping privileges, the socket then stays behind until the next start
// replaces it.
func (l *Listener) Removable() error {
	dir := filepath.Dir(l.path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s is not writable by this user: %w", dir, err)
	}
	return nil
}

// checkFree returns nil when path does not exist or is a socket nothing
// answers on.
func checkFree(path string, o Options) error {
	timeout := o.ProbeTimeout
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", o.What, path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s %s: the path exists and is not a socket; remove it, or give %s another path", o.What, path, o.Flag)
	}
	c, err := net.DialTimeout("unix", path, timeout)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s %s: %w; stop it, or give this imdsd another %s path", o.What, path, ErrLive, o.Flag)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
		return nil // stale: left by a process that is gone
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s %s: a process holds it but does not answer within %v (another imdsd, stuck?); stop it, or give this imdsd another %s path", o.What, path, timeout, o.Flag)
	}
	return fmt.Errorf("%s %s: cannot tell whether another process uses it: %w", o.What, path, err)
}

// lockDir takes an exclusive flock(2) on dir, waiting at most lockTimeout.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(d.Fd()), syscall.LOCK_UN); d.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			d.Close()
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LookupGroup returns the id of group, a name or a number.
func LookupGroup(group string) (int, error) {
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return -1, fmt.Errorf("group %q: %w (name a group of /etc/group, or a numeric id)", group, err)
	}
	return strconv.Atoi(g.Gid)
}
