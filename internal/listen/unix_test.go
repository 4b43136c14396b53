package listen

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUnixModeWhateverUmask: under umask 000 the socket is still 0600, and
// it goes when closed (issue 10, item 7).
func TestUnixModeWhateverUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := Unix(path, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != UnixMode {
		t.Fatalf("socket mode %v, want a socket of mode %o", st.Mode(), UnixMode)
	}
	if got := ln.Addr().String(); got != path {
		t.Errorf("Addr() = %s, want %s", got, path)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the socket renamed into place does not answer: %v", err)
	}
	c.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the directory holds %d entries, want the socket only", len(ents))
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket still there after Close: %v", err)
	}
}

func TestUnixReplacesStaleOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	ln, err := Unix(path, -1, -1)
	if err != nil {
		t.Fatalf("a stale socket was not replaced: %v", err)
	}
	ln.Close()

	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Unix(path, -1, -1); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Fatalf("Unix over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Fatal("the regular file was replaced")
	}
}

// TestUnixCloseLeavesOthers: a file that replaced the socket is not
// removed by Close.
func TestUnixCloseLeavesOthers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := Unix(path, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	os.WriteFile(path, []byte("other"), 0o644)
	ln.Close()
	if b, _ := os.ReadFile(path); string(b) != "other" {
		t.Fatal("Close removed a file that was not its socket")
	}
}

func TestUnixOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "admin.sock")
	ln, err := Unix(path, 65534, 65534)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil || st.Uid != 65534 || st.Gid != 65534 {
		t.Fatalf("socket owner %d:%d (%v), want 65534:65534", st.Uid, st.Gid, err)
	}
	if err := ln.Removable(); err != nil {
		t.Fatalf("root cannot remove it: %v", err)
	}
}
