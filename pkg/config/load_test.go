package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadWithin runs Load(path) and fails the test if it takes longer than
// a generous bound: reading a configuration must never block.
func loadWithin(t *testing.T, path string) (*Config, ErrorList, error) {
	t.Helper()
	type result struct {
		c     *Config
		diags ErrorList
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, d, err := Load(path)
		done <- result{c, d, err}
	}()
	select {
	case r := <-done:
		return r.c, r.diags, r.err
	case <-time.After(10 * time.Second):
		t.Fatalf("Load(%s) blocked", path)
		return nil, nil, nil
	}
}

// TestOddFiles checks that only regular files are read, without blocking,
// and that a file too large is refused before it is read whole.
func TestOddFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	zero := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, []byte("{"+strings.Repeat(" ", MaxFileSize)+"}"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub.json")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, fifo + ": is a named pipe (FIFO), not read: a configuration must be a regular file"},
		{zero, zero + ": is a character device, not read: a configuration must be a regular file"},
		{sub, sub + ": is a directory, not read: a configuration must be a regular file"},
		{huge, huge + ": is larger than 4 MiB, the most imdsd reads of a configuration file"},
	} {
		c, diags, err := loadWithin(t, tt.path)
		if c != nil || err == nil || err.Error() != tt.want || diags.Error() != tt.want || diags[0].Severity != SeverityError {
			t.Errorf("Load(%s) = %v, %q, %v; want the error %q", tt.path, c, diags, err, tt.want)
		}
	}
	_, _, err := loadWithin(t, filepath.Join(dir, "missing.json"))
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != filepath.Join(dir, "missing.json")+": cannot read: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}

	// The same files in instances_dir: each refused, the others read.
	vms := filepath.Join(dir, "vms")
	if err := os.Mkdir(vms, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"fifo.json", "zero.json", "sub.json"} {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(vms, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(vms, "web.json"), []byte(`{"match": ["10.0.0.1"], "instance_id": "i-0123456789abcdef1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(dir, "imdsd.conf")
	if err := os.WriteFile(main, []byte(`{"instance_id": "i-0123456789abcdef0", "instances_dir": "vms"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = loadWithin(t, main)
	sameLines(t, "instances_dir errors", strings.Split(errText(err), "\n"), []string{
		filepath.Join(vms, "fifo.json") + ": is a named pipe (FIFO), not read: a configuration must be a regular file",
		filepath.Join(vms, "sub.json") + ": is a directory, not read: a configuration must be a regular file",
		filepath.Join(vms, "zero.json") + ": is a character device, not read: a configuration must be a regular file",
	})
}

// TestTotalSize checks that the main file and its instances_dir together
// are read up to a total: MaxTotalSize, here made small.
func TestTotalSize(t *testing.T) {
	dir := t.TempDir()
	l := &loader{budget: 3000}
	for i, want := range []string{"", ": is more than the 64 MiB imdsd reads for one configuration with its instances_dir together"} {
		path := filepath.Join(dir, strconv.Itoa(i)+".json")
		if err := os.WriteFile(path, []byte("{"+strings.Repeat(" ", 2000)+"}"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := l.read(path)
		if want == "" && err != nil || want != "" && (err == nil || err.Error() != path+want) {
			t.Errorf("read %d: %v, want %q", i, err, want)
		}
	}
}

// TestNoQuoteOfOtherFiles checks that a file that is not a configuration,
// such as a link to a secret, has nothing of it quoted in messages.
func TestNoQuoteOfOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for _, secret := range []string{"s3cret\n", `"s3cret"`, "7531\n", "ssh-ed25519 AAAA\n", "[\"s3cret\"]"} {
		path := filepath.Join(dir, "secret")
		if err := os.WriteFile(path, []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
		_, diags, err := Load(path)
		if err == nil {
			t.Fatalf("%q loaded", secret)
		}
		if msg := strings.TrimPrefix(diags.Error(), path); strings.ContainsAny(msg, `"'(`) || strings.Contains(msg, "s3") || strings.Contains(msg, "75") {
			t.Errorf("the message about a file holding %q quotes it: %s", secret, diags.Error())
		}
	}
}

// TestManyProblems checks that a file of many problems gets a bounded
// list, the last message counting what is left out, and that the
// spelling of keys past the bound is not looked into.
func TestManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("{\n")
	const n = 20000
	for i := range n {
		b.WriteString(`"instance_idd` + strings.Repeat("x", i%5) + `_` + strconv.Itoa(i) + `": 1,` + "\n")
	}
	b.WriteString(`"region": "us-east-2"` + "\n}")
	c, diags, err := Parse("t.json", []byte(b.String()))
	if c != nil || err == nil {
		t.Fatal("loaded")
	}
	if len(diags) != MaxProblems+1 {
		t.Fatalf("%d messages, want %d and one saying how many more", len(diags), MaxProblems+1)
	}
	want := "t.json: " + strconv.Itoa(n-MaxProblems) + " more problems not shown; correct the ones above and check again"
	if last := diags[len(diags)-1]; last.Error() != want || last.Severity != SeverityError {
		t.Errorf("last message %q, want %q", last, want)
	}
	if !strings.HasPrefix(diags[0].Error(), "t.json:2: instance_idd_0: unknown key") {
		t.Errorf("first message %q", diags[0])
	}
}

// BenchmarkManyUnknownKeys parses 600 KB of unknown keys, which once took
// seconds for a spelling suggestion each.
func BenchmarkManyUnknownKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := 0; sb.Len() < 600_000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"instance_idd_` + strconv.Itoa(i) + `": 1`)
	}
	sb.WriteString("}")
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Parse("t.json", data)
	}
}
