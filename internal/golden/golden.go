// Package golden is the golden-file helper of every package's tests: it
// compares what a test produced with a file under testdata/ and, when the
// tests run with -update, rewrites the file instead, so that a reviewer
// sees an intended change as a diff of testdata/. It is imported by tests
// only.
package golden

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with what the tests produce")

// Update reports whether the tests run with -update.
func Update() bool { return *update }

// Check compares got with the file testdata/name (name may have
// directories, such as "netns/walk.golden"). With -update it writes got to
// the file, creating its directory, and passes.
func Check(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", filepath.FromSlash(name))
	run := strings.SplitN(t.Name(), "/", 2)[0]
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run '^%s$' -update creates it)", err, run)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -run '^%s$' -update rewrites it; review the diff):\n%s",
			path, run, Diff(string(want), string(got)))
	}
}

// CheckString is [Check] for a string.
func CheckString(t testing.TB, name, got string) {
	t.Helper()
	Check(t, name, []byte(got))
}

// Diff describes how got differs from want, line by line: the first line
// that differs, with its number and up to two lines of context before it,
// then the lines of each, quoted where they hold what a terminal would
// not show.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "first difference at line %d (want %d lines, got %d):\n", i+1, len(w), len(g))
	for k := max(0, i-2); k < i; k++ {
		fmt.Fprintf(&b, "  %s\n", show(w[k]))
	}
	if i < len(w) {
		fmt.Fprintf(&b, "- %s\n", show(w[i]))
	} else {
		b.WriteString("- (end)\n")
	}
	if i < len(g) {
		fmt.Fprintf(&b, "+ %s\n", show(g[i]))
	} else {
		b.WriteString("+ (end)\n")
	}
	return b.String()
}

// show quotes a line that holds control characters or invalid UTF-8.
func show(l string) string {
	for _, r := range l {
		if r < 0x20 && r != '\t' || r == 0x7f || r == 0xfffd {
			return fmt.Sprintf("%q", l)
		}
	}
	return l
}
