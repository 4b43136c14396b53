// Package testbin builds the command a test runs, once per test process
// and only when a test first asks for it, so that "go test -list", or a
// -run that selects no such test, builds nothing. It is imported by tests
// only.
package testbin

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one go build.
const buildTimeout = 5 * time.Minute

// Binary is a command built from a Go package on first use.
type Binary struct {
	Pkg   string   // the package, as go build takes it: ".", "../getimds"
	Name  string   // the file name of the binary
	Flags []string // more go build flags, such as -ldflags
	Env   []string // added to the environment of go build, such as CGO_ENABLED=0
	Dir   string   // where go build runs; "" is the test's directory

	once sync.Once
	dir  string
	path string
	err  error
}

// Path returns the path of the binary, building it the first time; a
// failed build fails t, and every later test that asks.
func (b *Binary) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(b.build)
	if b.err != nil {
		t.Fatalf("building %s: %v", b.Pkg, b.err)
	}
	return b.path
}

func (b *Binary) build() {
	b.dir, b.err = os.MkdirTemp("", "testbin-")
	if b.err != nil {
		return
	}
	b.path = filepath.Join(b.dir, b.Name)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append([]string{"build", "-o", b.path}, b.Flags...)
	cmd := exec.CommandContext(ctx, "go", append(args, b.Pkg)...)
	cmd.Env = append(os.Environ(), b.Env...)
	cmd.Dir = b.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		b.err = &buildError{err: err, out: string(out)}
	}
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

// Remove deletes the binary, if it was built. TestMain calls it after
// m.Run.
func (b *Binary) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
