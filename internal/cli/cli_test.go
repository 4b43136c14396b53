package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"testing"
	"time"
)

func TestAliases(t *testing.T) {
	var (
		s string
		b bool
		n int
		d time.Duration
		l list
	)
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	String(fs, &s, "def", "c", "config")
	Bool(fs, &b, false, "v", "verbose")
	Int(fs, &n, 7, "n", "count")
	Duration(fs, &d, time.Second, "t", "timeout")
	Var(fs, &l, "l", "listen")
	if s != "def" || n != 7 || d != time.Second {
		t.Fatalf("defaults: %q %d %v", s, n, d)
	}
	err := fs.Parse([]string{"--config", "a", "-v", "-count", "3", "-t", "2s", "-l", "x", "--listen", "y"})
	if err != nil {
		t.Fatal(err)
	}
	if s != "a" || !b || n != 3 || d != 2*time.Second || fmt.Sprint(l) != "[x y]" {
		t.Errorf("got %q %v %d %v %v", s, b, n, d, l)
	}
	if err := fs.Parse([]string{"-c", "b"}); err != nil || s != "b" {
		t.Errorf("-c b: %q, %v", s, err)
	}
}

type list []string

func (l *list) String() string     { return fmt.Sprint(*l) }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func TestStatus(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{base, 1, "prog: boom\n"},
		{Usagef("bad %s", "flag"), 2, "prog: bad flag\n"},
		{Silent(0), 0, ""},
		{Silent(3), 3, ""},
		{fmt.Errorf("wrapped: %w", Errorf(5, "x: %w", base)), 5, "prog: wrapped: x: boom\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if code := Status("prog", &b, tt.err); code != tt.code || b.String() != tt.out {
			t.Errorf("Status(%v) = %d, %q; want %d, %q", tt.err, code, b.String(), tt.code, tt.out)
		}
	}
	if e := Errorf(4, "x: %w", base); !errors.Is(e, base) {
		t.Errorf("Errorf does not wrap")
	}
}
