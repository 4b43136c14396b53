package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int // -1: no error
		errorHas string
		check    func(*options) bool
	}{
		{"defaults", nil, -1, "", func(o *options) bool {
			return o.imdsd == "bin/imdsd" && o.duration == 3*time.Second && slices.Equal(o.clients, []int{1, 16, 256}) &&
				o.putClients == 16 && o.guests == 500 && o.idleConns == 2000 && o.jsonPath == ""
		}},
		{"all", []string{"--imdsd", "/x/imdsd", "--duration", "2s", "--clients", "2, 4", "--put-clients", "3",
			"--guests", "9", "--idle-conns", "0", "--sources", "1", "--json", "f.json"}, -1, "", func(o *options) bool {
			return o.imdsd == "/x/imdsd" && o.duration == 2*time.Second && slices.Equal(o.clients, []int{2, 4}) &&
				o.putClients == 3 && o.guests == 9 && o.idleConns == 0 && o.sources == 1 && o.jsonPath == "f.json"
		}},
		{"help", []string{"-h"}, 0, "", nil},
		{"long help", []string{"--help"}, 0, "", nil},
		{"unknown flag", []string{"--bogus"}, 2, "bogus", nil},
		{"argument", []string{"extra"}, 2, `unexpected argument "extra"`, nil},
		{"bad clients", []string{"--clients", "1,x"}, 2, "--clients 1,x", nil},
		{"zero clients", []string{"--clients", "0"}, 2, "--clients 0", nil},
		{"short duration", []string{"--duration", "1ms"}, 2, "--duration 1ms", nil},
		{"no guests", []string{"--guests", "0"}, 2, "--guests 0", nil},
		{"negative idle", []string{"--idle-conns", "-1"}, 2, "--idle-conns -1", nil},
		{"too many sources", []string{"--sources", "254"}, 2, "--sources 254", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o, err := parseFlags(append([]string{"imdsbench"}, tt.args...), &out, &errOut)
			if tt.code < 0 {
				if err != nil {
					t.Fatalf("parseFlags(%q): %v", tt.args, err)
				}
				if !tt.check(o) {
					t.Errorf("parseFlags(%q) = %+v", tt.args, *o)
				}
				return
			}
			var ue *cli.Error
			if !errors.As(err, &ue) || ue.Code != tt.code || !strings.Contains(ue.Error(), tt.errorHas) {
				t.Fatalf("parseFlags(%q) error = %#v, want exit %d with %q", tt.args, err, tt.code, tt.errorHas)
			}
			if tt.code == 0 && !strings.HasPrefix(out.String(), "usage: imdsbench") {
				t.Errorf("help printed %q, want the usage on stdout", out.String())
			}
		})
	}
}

func TestMissingIMDSD(t *testing.T) {
	err := run(context.Background(), []string{"imdsbench", "--imdsd", filepath.Join(t.TempDir(), "nope")}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "build it first") {
		t.Errorf("run with no imdsd binary: %v, want an error saying to build it first", err)
	}
}

// TestBaselineCommand runs the baseline subcommand in-process: it serves
// until its context ends, and refuses an extra argument. What it serves is
// tested in package bench.
func TestBaselineCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"imdsbench", "baseline", "--listen", "127.0.0.1:0"}, nil, &strings.Builder{})
	}()
	select {
	case err := <-errc:
		t.Fatalf("baseline returned at once: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("baseline returned %v after its context ended, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("baseline did not return after its context ended")
	}
	if err := run(context.Background(), []string{"imdsbench", "baseline", "extra"}, nil, &strings.Builder{}); err == nil {
		t.Error("baseline with an extra argument: no error")
	}
}
