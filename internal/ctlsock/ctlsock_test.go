package ctlsock

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// shortDir returns a temporary directory with a path short enough for
// sockets (t.TempDir's can be over sun_path's 104 bytes).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func listen(t *testing.T, path string, o Options) *Listener {
	t.Helper()
	ln, err := Listen(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func serveOnce(ln net.Listener) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
}

func TestModeWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := shortDir(t)
	path := filepath.Join(dir, "run", "control.sock")
	ln := listen(t, path, Options{})
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket of mode 0600", fi.Mode())
	}
	if ln.Addr().String() != path || ln.Path() != path {
		t.Errorf("Addr %v, Path %s; want %s", ln.Addr(), ln.Path(), path)
	}
	// Nothing but the socket is left in its directory.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %v", ents)
	}
	serveOnce(ln)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
		t.Errorf("read %q, %v", buf, err)
	}
	c.Close()
}

func TestGroup(t *testing.T) {
	gid := os.Getegid()
	for _, group := range []string{strconv.Itoa(gid), groupName(t, gid)} {
		path := filepath.Join(shortDir(t), "c.sock")
		listen(t, path, Options{Group: group})
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o660 || int(st.Gid) != gid {
			t.Errorf("group %s: mode %v gid %d, want 0660 and %d", group, fi.Mode().Perm(), st.Gid, gid)
		}
	}
	_, err := Listen(filepath.Join(shortDir(t), "c.sock"), Options{Group: "no-such-group-imdsd"})
	if err == nil || !strings.Contains(err.Error(), `group "no-such-group-imdsd"`) {
		t.Errorf("unknown group: %v", err)
	}
}

func groupName(t *testing.T, gid int) string {
	data, err := os.ReadFile("/etc/group")
	if err != nil {
		t.Skip("no /etc/group")
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) > 2 && f[2] == strconv.Itoa(gid) {
			return f[0]
		}
	}
	t.Skipf("gid %d has no name", gid)
	return ""
}

func TestStaleReplaced(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	// A crashed imdsd: the socket file stays, nothing listens on it.
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatal("stale socket not there:", err)
	}
	ln := listen(t, path, Options{})
	serveOnce(ln)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the new socket does not answer: %v", err)
	}
	c.Close()
}

func TestLiveRefused(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	ln := listen(t, path, Options{})
	serveOnce(ln)
	_, err := Listen(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "control socket "+path+": another process (another imdsd?) answers on it") {
		t.Fatalf("second Listen: %v", err)
	}
	// The first one still has its socket.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the first socket was taken: %v", err)
	}
	c.Close()
}

func TestNotASocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	os.WriteFile(path, []byte("precious"), 0o644)
	_, err := Listen(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Fatalf("Listen: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "precious" {
		t.Error("the file was touched")
	}
}

func TestRemovedOnClose(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	ln, err := Listen(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	ln.Close() // twice is harmless

	// A socket that is no longer ours (another imdsd took the path after
	// this one stopped answering) is left alone.
	ln, err = Listen(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	other := listen(t, path, Options{})
	ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Close removed another listener's socket: %v", err)
	}
	other.Close()
}

func TestConcurrentStarts(t *testing.T) {
	path := filepath.Join(shortDir(t), "control.sock")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok []*Listener
	var errs []error
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ln, err := Listen(path, Options{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			serveOnce(ln)
			ok = append(ok, ln)
		}()
	}
	wg.Wait()
	for _, ln := range ok {
		defer ln.Close()
	}
	if len(ok) != 1 {
		t.Fatalf("%d of 4 simultaneous starts got the socket; errors: %v", len(ok), errs)
	}
}

func TestBadPaths(t *testing.T) {
	long := "/tmp/" + strings.Repeat("x", 120) + "/c.sock"
	for _, tt := range []struct{ path, want string }{
		{"", "no path"},
		{"none", "no path"},
		{long, "a Unix socket's path holds at most 103"},
	} {
		if _, err := Listen(tt.path, Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Listen(%q): %v, want %q", tt.path, err, tt.want)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	want := "/run/imdsd/control.sock"
	if runtime.GOOS != "linux" {
		want = "/var/run/imdsd/control.sock"
	}
	if got := DefaultPath(getenv); got != want {
		t.Errorf("DefaultPath = %s, want %s", got, want)
	}
	env["RUNTIME_DIRECTORY"] = "/run/imdsd:/run/other"
	if got := DefaultPath(getenv); got != "/run/imdsd/control.sock" {
		t.Errorf("under systemd: %s", got)
	}
}

// The admin socket (--admin unix:PATH) is given to the user imdsd becomes.
func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	path := filepath.Join(shortDir(t), "admin.sock")
	ln, err := Listen(path, Options{Owner: &Owner{UID: 65534, GID: 65534}, What: "admin socket", Flag: "--admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil || st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o777 != 0o600 {
		t.Fatalf("socket %d:%d mode %o (%v), want 65534:65534 mode 600", st.Uid, st.Gid, st.Mode&0o777, err)
	}
	if err := ln.Removable(); err != nil {
		t.Fatalf("root cannot remove it: %v", err)
	}
}

func TestMessagesNameTheSocket(t *testing.T) {
	path := filepath.Join(shortDir(t), "admin.sock")
	os.WriteFile(path, []byte("x"), 0o600)
	_, err := Listen(path, Options{What: "admin socket", Flag: "--admin"})
	if err == nil || !strings.Contains(err.Error(), "admin socket "+path) || !strings.Contains(err.Error(), "give --admin another path") {
		t.Fatalf("err = %v, want one naming the admin socket and --admin", err)
	}
}
