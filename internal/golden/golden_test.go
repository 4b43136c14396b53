package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct{ want, got, has string }{
		{"a\nb\nc\n", "a\nb\nx\n", "line 3 (want 4 lines, got 4):\n  a\n  b\n- c\n+ x\n"},
		{"a\n", "a\nb\n", "line 2 (want 2 lines, got 3):\n  a\n- \n+ b\n"},
		{"a", "a\nb", "- (end)\n+ b\n"},
		{"a\x1b", "a", `- "a\x1b"`},
	}
	for _, tt := range tests {
		if d := Diff(tt.want, tt.got); !strings.Contains(d, tt.has) {
			t.Errorf("Diff(%q, %q) =\n%s\nwant it to contain\n%s", tt.want, tt.got, d, tt.has)
		}
	}
}

type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Name() string                   { return "TestX/sub" }
func (r *recorder) Errorf(format string, a ...any) { r.failed = true; r.msg = format }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = true; r.msg = format }
func (r *recorder) Fatal(a ...any)                 { r.failed = true }

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	r := &recorder{TB: t}
	Check(r, "sub/x.golden", []byte("x"))
	if !r.failed {
		t.Error("a missing golden file passes")
	}
	*update = true
	r = &recorder{TB: t}
	CheckString(r, "sub/x.golden", "hello\n")
	*update = false
	if b, err := os.ReadFile(filepath.Join("testdata", "sub", "x.golden")); r.failed || err != nil || string(b) != "hello\n" {
		t.Fatalf("-update wrote %q, %v (failed %v)", b, err, r.failed)
	}
	r = &recorder{TB: t}
	CheckString(r, "sub/x.golden", "hello\n")
	if r.failed {
		t.Error("equal output fails")
	}
	r = &recorder{TB: t}
	CheckString(r, "sub/x.golden", "bye\n")
	if !r.failed || !strings.Contains(r.msg, "-update rewrites it") {
		t.Errorf("different output: failed %v, %q", r.failed, r.msg)
	}
}
