package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildsOnceOnFirstUse(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go build")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\ngo 1.21\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println(\"hi\") }\n"), 0o644)
	b := &Binary{Pkg: ".", Dir: dir, Name: "x", Env: []string{"CGO_ENABLED=0", "GOFLAGS="}}
	defer b.Remove()
	if b.dir != "" {
		t.Fatal("built before first use")
	}
	p := b.Path(t)
	if p2 := b.Path(t); p2 != p {
		t.Errorf("second Path %q, first %q", p2, p)
	}
	out, err := exec.Command(p).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hi") {
		t.Errorf("running the binary: %q, %v", out, err)
	}
	b.Remove()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("Remove left %s: %v", p, err)
	}
}
