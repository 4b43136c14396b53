package detach

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pidfile is a pidfile held open and locked by the daemon. It is opened
// without following a symbolic link, so that a link planted where the
// pidfile goes cannot make root overwrite (or hand to --user) the file it
// points to; everything after the open (writing, chown, emptying) goes
// through the descriptor, never the path again.
type Pidfile struct {
	f    *os.File
	path string // absolute
}

// OpenPidfile opens path, creating it mode 0644 (less the umask), and
// locks it. It refuses a symbolic link and anything but a regular file
// (without blocking on a FIFO), and a pidfile another process has locked:
// that imdsd is running.
func OpenPidfile(path string) (*Pidfile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) { // FreeBSD says EMLINK
			return nil, fmt.Errorf("pidfile %s is a symbolic link: refusing to follow it; remove it, or name the file itself with --pidfile", path)
		}
		return nil, fmt.Errorf("pidfile: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pidfile: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("pidfile %s is not a regular file (%s); remove it, or name another file with --pidfile", path, st.Mode().Type())
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid := readPid(f)
			return nil, fmt.Errorf("pidfile %s is locked: imdsd is already running (pid %d)", path, pid)
		}
		return nil, fmt.Errorf("locking pidfile %s: %w", path, err)
	}
	return &Pidfile{f: f, path: abs}, nil
}

// readPid reads the pid an open pidfile holds, 0 when none.
func readPid(f *os.File) int {
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, 32))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Write replaces the pidfile's contents with pid.
func (p *Pidfile) Write(pid int) error {
	if err := p.f.Truncate(0); err != nil {
		return fmt.Errorf("pidfile %s: %w", p.path, err)
	}
	if _, err := p.f.WriteAt([]byte(strconv.Itoa(pid)+"\n"), 0); err != nil {
		return fmt.Errorf("pidfile %s: %w", p.path, err)
	}
	return p.f.Sync()
}

// Chown gives the open pidfile to uid and gid (fchown: the file opened,
// whatever the path names by now).
func (p *Pidfile) Chown(uid, gid int) error { return p.f.Chown(uid, gid) }

// Remove unlinks the pidfile, if its path still names the file opened
// (unlink never follows a link), and closes it. Where it cannot be
// removed (after dropping privileges the directory, /var/run, is usually
// not writable) it is emptied through the descriptor instead, which
// rc.subr treats the same.
func (p *Pidfile) Remove() error {
	defer p.f.Close()
	mine, err := p.f.Stat()
	if err != nil {
		return err
	}
	if there, err := os.Lstat(p.path); err == nil && os.SameFile(mine, there) {
		if err = os.Remove(p.path); err == nil {
			return nil
		}
	}
	if err := p.f.Truncate(0); err != nil {
		return fmt.Errorf("emptying pidfile %s: %w", p.path, err)
	}
	return nil
}
