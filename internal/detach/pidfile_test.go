package detach

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPidfileRefusesSymlink is issue 10's "ln -s victim link; imdsd -d -p
// link": the link is not followed, and the victim keeps its contents.
func TestPidfileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "imdsd.pid")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	_, err := OpenPidfile(link)
	if err == nil || !strings.Contains(err.Error(), "is a symbolic link") {
		t.Fatalf("OpenPidfile(link) = %v, want a refusal to follow the link", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the link's target now holds %q", b)
	}
	// A dangling link: no file is created where it points.
	gone := filepath.Join(dir, "gone")
	dangling := filepath.Join(dir, "dangling.pid")
	os.Symlink(gone, dangling)
	if _, err := OpenPidfile(dangling); err == nil {
		t.Fatal("OpenPidfile followed a dangling link")
	}
	if _, err := os.Lstat(gone); !os.IsNotExist(err) {
		t.Fatalf("a file was created at the dangling link's target: %v", err)
	}
}

// TestPidfileRefusesFIFO: a FIFO is refused at once, not waited on.
func TestPidfileRefusesFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "imdsd.pid")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := OpenPidfile(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("OpenPidfile(fifo) = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenPidfile blocked on a FIFO")
	}
}

func TestPidfileLockWriteRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "imdsd.pid")
	p, err := OpenPidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(4242); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4242\n" {
		t.Fatalf("pidfile holds %q", b)
	}
	// flock locks are per open file description: a second open is
	// refused while the first holds it.
	if _, err := OpenPidfile(path); err == nil || !strings.Contains(err.Error(), "already running (pid 4242)") {
		t.Fatalf("second OpenPidfile = %v, want already running", err)
	}
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("pidfile still there: %v", err)
	}
}

// TestPidfileRemoveLeavesOthers: if the path names another file by exit
// time (a link planted after the start), removal leaves it alone and
// empties the pidfile through its descriptor.
func TestPidfileRemoveLeavesOthers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imdsd.pid")
	p, err := OpenPidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(4242)
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious\n"), 0o600)
	os.Symlink(victim, path)
	if err := p.Remove(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the planted link was removed or replaced: %v", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the victim now holds %q", b)
	}
	if b, _ := os.ReadFile(moved); len(b) != 0 {
		t.Fatalf("the pidfile was not emptied: %q", b)
	}
}

// TestPidfileChownDescriptor: Chown changes the file opened, even when the
// path names another by then.
func TestPidfileChownDescriptor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "imdsd.pid")
	p, err := OpenPidfile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Remove()
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, nil, 0o600)
	os.Rename(path, filepath.Join(dir, "moved"))
	os.Symlink(victim, path)
	if err := p.Chown(65534, 65534); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(victim, &st); err != nil || st.Uid != 0 {
		t.Fatalf("the victim's owner is %d (%v): chown followed the path", st.Uid, err)
	}
	if err := syscall.Stat(filepath.Join(dir, "moved"), &st); err != nil || st.Uid != 65534 {
		t.Fatalf("the pidfile's owner is %d (%v), want 65534", st.Uid, err)
	}
}
