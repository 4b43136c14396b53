package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/imdsd/imdsd/internal/testbin"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostile serves a tree whose listings name escape sequences and names
// that would break the walk format, with IMDSv1 only (the token request
// is answered 404, so getimds falls back).
func hostile(t *testing.T) string {
	t.Helper()
	tree := map[string]string{
		"/latest/": "meta-data\n|top\n- gone\n",
		"/latest/meta-data/": strings.Join([]string{
			"ok",
			"\x1b]52;c;cm0gLXJmIH4=\x07", // OSC 52: set the clipboard
			"\x1b[2J\x1b[H",              // clear the screen
			"\x1b]0;pwned\x07",           // window title
			"hidden\rforged",             // carriage return
			"csi\u009b31m",               // C1 CSI
			"bidi\u202eevil",             // right-to-left override
			"tab\there",
			"a: b", // breaks "PATH: VALUE"
			"colon:",
			"sub/",
			"c1value",
		}, "\n"),
		"/latest/meta-data/ok":       "fine",
		"/latest/meta-data/sub/":     "\x1b[31mred/\nleaf",
		"/latest/meta-data/sub/leaf": "x",
		"/latest/meta-data/c1value":  "a\u009b31mb",
		"/latest/meta-data/colon:":   "v",
		"/latest/meta-data/a: b":     "v",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.NotFound(w, r)
			return
		}
		if v, ok := tree[r.URL.Path]; ok {
			fmt.Fprint(w, v)
			return
		}
		// Every other name, the hostile ones included, answers with an
		// escape sequence of its own.
		fmt.Fprint(w, "\x1b[2Jvalue")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// controls returns the control characters in s other than newline, and
// any invalid UTF-8, quoted; "" if there are none.
func controls(s string) string {
	var bad []string
	for i, r := range s {
		if r == utf8.RuneError || r != '\n' && (r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0x202e) {
			bad = append(bad, fmt.Sprintf("%q at %d", r, i))
		}
	}
	return strings.Join(bad, ", ")
}

// A listing that names escape sequences or format-breaking names reaches
// neither the terminal nor the walk format: the names are reported, quoted,
// and skipped, and the exit status says the answer was bad.
func TestHostileNames(t *testing.T) {
	ep := hostile(t)
	r := runCLI(t, ep)
	if c := controls(r.stdout + r.stderr); c != "" {
		t.Errorf("control characters reach the terminal: %s\nstdout:\n%q\nstderr:\n%q", c, r.stdout, r.stderr)
	}
	want := "meta-data/ok: fine\nmeta-data/sub/leaf: x\nmeta-data/c1value:: YcKbMzFtYg==\n"
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.code != exitServer {
		t.Errorf("exit %d, want %d", r.code, exitServer)
	}
	for _, name := range []string{
		`"\x1b]52;c;cm0gLXJmIH4=\a"`, `"\x1b[2J\x1b[H"`, `"\x1b]0;pwned\a"`, `"hidden\rforged"`,
		`"csi\u009b31m"`, `"bidi\u202eevil"`, `"tab\there"`, `"a: b"`, `"colon:"`, `"|top"`, `"- gone"`, `"\x1b[31mred"`,
	} {
		if !strings.Contains(r.stderr, name+", with") {
			t.Errorf("stderr does not report %s:\n%s", name, r.stderr)
		}
	}

	// JSON has no walk format to break: only unprintable names are
	// skipped, and a C1 control in a value is escaped.
	r = runCLI(t, ep, "--json")
	if c := controls(r.stdout + r.stderr); c != "" {
		t.Errorf("--json: control characters reach the terminal: %s\n%q", c, r.stdout)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	md, _ := doc["meta-data"].(map[string]any)
	if md["c1value"] != "a\u009b31mb" || md["a: b"] != "v" || md["colon:"] != "v" || len(md) != 5 {
		t.Errorf("--json: meta-data %q", md)
	}
	if _, ok := doc["|top"]; !ok {
		t.Errorf("--json: the top-level name |top, harmless in JSON, is missing: %q", doc)
	}
}

// --interval prints names the same way as the walk.
func TestHostileNamesInterval(t *testing.T) {
	ep := hostile(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testbin.Output
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"getimds", "--interval", "0.05", ep}, &out, &errb) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "meta-data/ok: fine\n") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("--interval did not stop when interrupted")
	}
	if !strings.Contains(out.String(), "meta-data/ok: fine\n") {
		t.Fatalf("no first round:\n%q\nstderr: %q", out.String(), errb.String())
	}
	if c := controls(out.String() + errb.String()); c != "" {
		t.Errorf("control characters reach the terminal: %s\nstdout:\n%q\nstderr:\n%q", c, out.String(), errb.String())
	}
	if strings.Contains(out.String(), "a: b") || !strings.Contains(errb.String(), `"a: b"`) {
		t.Errorf("a name with \": \" is printed, or not reported:\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	}
}

// A tree too large to walk in time: the walk ends at --walk-timeout with
// status 4, having printed what it read, instead of running for the
// 100,000 entries times --timeout that bound it otherwise.
func TestWalkTimeout(t *testing.T) {
	var listing strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&listing, "leaf%d\n", i)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/latest/api/token":
			http.NotFound(w, r)
		case "/latest/":
			fmt.Fprint(w, "meta-data\n")
		case "/latest/meta-data/":
			fmt.Fprint(w, listing.String())
		default:
			select { // slow, but well within --timeout
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
			}
			fmt.Fprint(w, "v")
		}
	}))
	defer srv.Close()
	ep := strings.TrimPrefix(srv.URL, "http://")
	for _, args := range [][]string{{ep}, {ep, "--json"}} {
		start := time.Now()
		r := runCLI(t, append([]string{"--walk-timeout", "0.5"}, args...)...)
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%q took %v", args, took)
		}
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "did not finish within 500ms (--walk-timeout)") {
			t.Errorf("%q: exit %d, stderr %q; want %d and the timeout", args, r.code, r.stderr, exitUnreachable)
		}
	}
	if o, err := parseArgs([]string{"getimds"}, func(string) string { return "" }); err != nil || o.walkTimeout.d != 60*time.Second {
		t.Errorf("default --walk-timeout %v, %v; want 60s", o.walkTimeout.d, err)
	}
}
