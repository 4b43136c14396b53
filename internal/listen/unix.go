package listen

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// UnixMode is the mode of the Unix sockets imdsd makes (the --admin one):
// only its owner, root, may connect, whatever the umask.
const UnixMode = 0o600

// UnixListener is a Unix socket listener that removes its socket file when
// closed, if the path still names it.
type UnixListener struct {
	*net.UnixListener
	path string
	file os.FileInfo // the socket file, to know it again
}

// Unix listens on a Unix socket at path, mode [UnixMode] whatever the
// umask, owned by uid and gid when uid >= 0 (the user imdsd becomes, so
// that it can remove the socket on exit from a directory it may write to).
// A stale socket at path is replaced; any other file there is an error.
//
// There is no moment at which the socket is reachable with a wider mode:
// it is bound in a new directory of mode 0700 next to path, given its mode
// and owner there, then renamed into place.
func Unix(path string, uid, gid int) (*UnixListener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket; remove it or name another path", path)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".imdsd-sock-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	name := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // the name it was bound under goes with tmp
	fail := func(err error) (*UnixListener, error) {
		ln.Close()
		return nil, err
	}
	if err := os.Chmod(name, UnixMode); err != nil {
		return fail(err)
	}
	if uid >= 0 {
		if err := os.Lchown(name, uid, gid); err != nil {
			return fail(err)
		}
	}
	if err := os.Rename(name, path); err != nil {
		return fail(err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return &UnixListener{UnixListener: ln, path: path, file: st}, nil
}

// Addr is the socket's path, not the name it was bound under.
func (l *UnixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

// Close stops listening and removes the socket file, unless the path names
// another file by now.
func (l *UnixListener) Close() error {
	err := l.UnixListener.Close()
	if st, serr := os.Lstat(l.path); serr == nil && os.SameFile(st, l.file) {
		if rerr := os.Remove(l.path); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", l.path, rerr)
		}
	}
	return err
}

// Removable says why this process could not remove the socket file on
// exit (its directory is not writable to it), or nil when it can: after
// dropping privileges, the socket then stays behind until the next start
// replaces it.
func (l *UnixListener) Removable() error {
	dir := filepath.Dir(l.path)
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s is not writable by this user: %w", dir, err)
	}
	return nil
}
