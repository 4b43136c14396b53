package main

// Tests of the distribution files: the rc.d script, the systemd units, the
// sample configuration, the manual pages and the Makefile's install
// target. They run the real tools (sh, shellcheck, systemd-analyze, mandoc,
// GNU make, bmake); a missing tool skips the test locally and fails it in
// CI, where .ci/run installs every one of them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
)

// repoRoot is the top of the source tree, seen from this package.
const repoRoot = "../.."

// distBin is the imdsd binary under test.
func distBin(t *testing.T) string {
	t.Helper()
	return imdsdBin.Path(t)
}

// distEnv is the environment for make and the tools: the test's own,
// without anything that would change the Makefile's defaults or confuse
// bmake with GNU make's flags (when go test runs under make test).
func distEnv(extra ...string) []string {
	drop := map[string]bool{
		"MAKEFLAGS": true, "MFLAGS": true, "MAKELEVEL": true, "MAKEOVERRIDES": true,
		"GNUMAKEFLAGS": true, "MAKE_TERMOUT": true, "MAKE_TERMERR": true, "MAKESYSPATH": true,
		"OS": true, "PREFIX": true, "DESTDIR": true, "BINDIR": true, "SBINDIR": true,
		"MANDIR": true, "SYSCONFDIR": true, "ETCDIR": true, "RCDIR": true,
		"SYSLOGDIR": true, "NEWSYSLOGDIR": true, "SYSTEMDUNITDIR": true, "INSTALL": true,
		"BINMODE": true, "MANMODE": true, "CONFMODE": true, "SCRIPTMODE": true, "GO": true,
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] && !strings.HasPrefix(k, ".MAKE") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// distRun runs a command in dir and returns its stdout, stderr and exit
// status. It fails the test if the command cannot run or takes too long.
func distRun(t *testing.T, dir string, env []string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	if cmd.Env == nil {
		cmd.Env = distEnv()
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within 60s", name, strings.Join(args, " "))
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running %s: %v", name, err)
	}
	return out.String(), errb.String(), code
}

// stubBinary is what stands in for bin/imdsd, bin/getimds and bin/imdsctl
// when make runs in a copy of the tree (make install is run with GO=true,
// so it builds nothing).
const stubBinary = "#!/bin/sh\necho stand-in for a Go binary\n"

// copyDist copies what make needs into a fresh directory, with stand-in
// binaries in bin/, so that make runs without touching the shared tree.
func copyDist(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, d := range []string{"man", "etc", "rc.d", "systemd"} {
		if err := os.CopyFS(filepath.Join(dst, d), os.DirFS(filepath.Join(repoRoot, d))); err != nil {
			t.Fatalf("copying %s: %v", d, err)
		}
	}
	mk, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dst, "Makefile"), string(mk), 0o644)
	writeFile(t, filepath.Join(dst, "bin", "imdsd"), stubBinary, 0o755)
	writeFile(t, filepath.Join(dst, "bin", "getimds"), stubBinary, 0o755)
	writeFile(t, filepath.Join(dst, "bin", "imdsctl"), stubBinary, 0o755)
	return dst
}

func writeFile(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is masked by umask
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// distMake runs make (GNU make or bmake) in dir and fails on error.
func distMake(t *testing.T, makeTool, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := distRun(t, dir, nil, makeTool, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit status %d\nstdout:\n%s\nstderr:\n%s", makeTool, strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// render renders the templates in a copy of the tree for the given
// directories and returns the copy's path.
func render(t *testing.T, vars ...string) string {
	t.Helper()
	gmake := need(t, "make")
	dir := copyDist(t)
	distMake(t, gmake, dir, append([]string{"render"}, vars...)...)
	for _, f := range []string{"build/rc.d/imdsd", "build/systemd/imdsd.service"} {
		text := readFile(t, filepath.Join(dir, f))
		if m := regexp.MustCompile(`%%[A-Z]+%%|@[A-Z]+@`).FindString(text); m != "" {
			t.Errorf("%s: placeholder %s left after rendering", f, m)
		}
	}
	return dir
}

// TestDistRCScript checks the rendered rc.d script with sh -n and
// shellcheck, as the Porter's Handbook asks.
func TestDistRCScript(t *testing.T) {
	dir := render(t, "OS=FreeBSD")
	script := filepath.Join(dir, "build/rc.d/imdsd")
	if out, errOut, code := distRun(t, dir, nil, "sh", "-n", script); code != 0 || out+errOut != "" {
		t.Errorf("sh -n: exit status %d, output:\n%s%s", code, out, errOut)
	}
	shellcheck := need(t, "shellcheck")
	// SC1091: /etc/rc.subr cannot be followed; SC2034: rc.subr reads the
	// variables the script sets.
	if out, errOut, code := distRun(t, dir, nil, shellcheck, "-s", "sh", "-e", "SC1091,SC2034", script); code != 0 || out+errOut != "" {
		t.Errorf("shellcheck: exit status %d, output:\n%s%s", code, out, errOut)
	}
	text := readFile(t, script)
	for _, want := range []string{
		"#!/bin/sh\n", "\n# PROVIDE: imdsd\n", "\n# REQUIRE: LOGIN NETWORKING\n", "\n# BEFORE: vm\n",
		"\n# KEYWORD: shutdown\n", "\n. /etc/rc.subr\n", "\nload_rc_config $name\n",
		"\nrun_rc_command \"$1\"\n", `command="/usr/local/sbin/${name}"`,
		`: "${imdsd_config=/usr/local/etc/imdsd/imdsd.conf}"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered rc.d script lacks %q", want)
		}
	}
	for _, knob := range []string{"imdsd_enable", "imdsd_config", "imdsd_user", "imdsd_flags", "imdsd_pidfile"} {
		if !regexp.MustCompile(`(?m)^# ` + knob + ` \((bool|str|path)\):`).MatchString(text) {
			t.Errorf("the header comment does not document %s", knob)
		}
	}
}

// TestDistRCKnobs runs the rc.d script against a stand-in rc.subr
// (testdata/dist/rc.subr) to check its defaults, its knobs, the command
// line it hands rc.subr and the config test before start and reload.
func TestDistRCKnobs(t *testing.T) {
	bin := distBin(t)
	etc := t.TempDir()
	writeFile(t, filepath.Join(etc, "imdsd.conf"), readFile(t, filepath.Join(repoRoot, "etc/imdsd.conf.sample")), 0o644)
	// The sample's instances_dir, laid out next to it as make install does.
	if err := os.CopyFS(filepath.Join(etc, "instances.d"), os.DirFS(filepath.Join(repoRoot, "etc/instances.d"))); err != nil {
		t.Fatalf("copying etc/instances.d: %v", err)
	}
	broken := filepath.Join(etc, "broken.conf")
	writeFile(t, broken, "{\n  \"instance_id\": \"web1\"\n}\n", 0o644)
	dir := render(t, "SBINDIR="+filepath.Dir(bin), "ETCDIR="+etc)
	stub, err := filepath.Abs("testdata/dist/rc.subr")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Replace(readFile(t, filepath.Join(dir, "build/rc.d/imdsd")), "\n. /etc/rc.subr\n", "\n. "+stub+"\n", 1)
	scriptPath := filepath.Join(dir, "imdsd.rc")
	writeFile(t, scriptPath, script, 0o755)
	conf := filepath.Join(etc, "imdsd.conf")
	command := filepath.Join(filepath.Dir(bin), "imdsd")
	// What configtest must print for the sample: imdsd -t's own line.
	okOut, okErr, ok := configOK(t, conf)
	if !ok {
		t.Fatalf("imdsd -t -c %s does not load cleanly\nstdout:\n%s\nstderr:\n%s", conf, okOut, okErr)
	}
	okLine := strings.TrimSuffix(okOut, "\n")

	tests := []struct {
		name   string
		rcconf string
		arg    string
		code   int
		want   []string // lines of output, in order
		stderr string   // substring of stderr
	}{
		{
			name: "defaults", arg: "start",
			want: []string{
				"name=imdsd", "rcvar=imdsd_enable", "command=" + command, "flags=",
				"command_args=-d -p /var/run/imdsd.pid -c " + conf + " -u nobody",
				"pidfile=/var/run/imdsd.pid", "required_files=" + conf,
				"extra_commands=configtest reload", "rc_user=<unset>",
				"Performing sanity check on imdsd configuration:", okLine, "would start",
			},
		},
		{
			name:   "knobs",
			rcconf: "imdsd_user=www\nimdsd_flags='-l 169.254.169.254:80 --no-access-log'\nimdsd_pidfile=/var/run/imds.pid\n",
			arg:    "reload",
			want: []string{
				"flags=-l 169.254.169.254:80 --no-access-log",
				"command_args=-d -p /var/run/imds.pid -c " + conf + " -u www",
				"pidfile=/var/run/imds.pid", "rc_user=<unset>", okLine, "would reload",
			},
		},
		{
			name:   "built-in config as root",
			rcconf: "imdsd_config=\nimdsd_user=\n",
			arg:    "configtest",
			want: []string{
				"command_args=-d -p /var/run/imdsd.pid", "required_files=", "rc_user=<unset>",
				config.DefaultName + ": configuration OK",
			},
		},
		{
			name:   "broken config stops reload",
			rcconf: "imdsd_config=" + broken + "\n",
			arg:    "reload", code: 1,
			want:   []string{"precmd failed"},
			stderr: "error: " + broken + ":2: instance_id: ",
		},
		{
			name:   "broken config stops start",
			rcconf: "imdsd_config=" + broken + "\n",
			arg:    "start", code: 1,
			want:   []string{"precmd failed"},
			stderr: "error: " + broken + ":2: instance_id: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcconf := filepath.Join(t.TempDir(), "rc.conf")
			writeFile(t, rcconf, tt.rcconf, 0o644)
			out, errOut, code := distRun(t, dir, distEnv("RC_CONF="+rcconf), "sh", scriptPath, tt.arg)
			if code != tt.code {
				t.Fatalf("sh imdsd %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.arg, code, tt.code, out, errOut)
			}
			lines := strings.Split(out, "\n")
			i := 0
			for _, want := range tt.want {
				for i < len(lines) && lines[i] != want {
					i++
				}
				if i == len(lines) {
					t.Errorf("output lacks the line %q (in this order)\nstdout:\n%s\nstderr:\n%s", want, out, errOut)
					break
				}
			}
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errOut)
			}
		})
	}
}

// TestDistUnits checks both systemd units with systemd-analyze, which
// prints warnings but exits 0 for unknown keys: any output is a failure.
func TestDistUnits(t *testing.T) {
	bin := distBin(t)
	analyze := need(t, "systemd-analyze")
	dir := render(t, "SBINDIR="+filepath.Dir(bin), "ETCDIR=/etc/imdsd")
	units := filepath.Join(dir, "units")
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	service := filepath.Join(units, "imdsd.service")
	socket := filepath.Join(units, "imdsd.socket")
	writeFile(t, service, readFile(t, filepath.Join(dir, "build/systemd/imdsd.service")), 0o644)
	writeFile(t, socket, readFile(t, filepath.Join(dir, "systemd/imdsd.socket")), 0o644)

	if out, errOut, code := distRun(t, units, nil, analyze, "verify", "--man=no", socket, service); code != 0 || out+errOut != "" {
		t.Errorf("systemd-analyze verify: exit status %d, want 0 and no output; output:\n%s%s", code, out, errOut)
	}
	// The exposure score is shown from 0.0 to 10.0 but the threshold is
	// on a 0 to 100 scale: 20 means 2.0.
	out, errOut, code := distRun(t, units, nil, analyze, "security", "--offline=yes", "--threshold=20", service)
	score := regexp.MustCompile(`Overall exposure level for imdsd.service: (\S+ \S+)`).FindStringSubmatch(out)
	if code != 0 || score == nil {
		t.Errorf("systemd-analyze security --threshold=20: exit status %d, want 0 and an exposure level\n%s%s", code, out, errOut)
	} else {
		t.Logf("exposure level: %s", score[1])
	}

	text := readFile(t, service)
	for _, want := range []string{
		"\nType=notify\n", "\nExecStart=" + bin + " -c /etc/imdsd/imdsd.conf\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n", "\nDynamicUser=yes\n", "\nConfigurationDirectory=imdsd\n",
		"\nWants=imdsd.socket\n", "\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n",
		"\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "\nRestart=on-failure\n",
		"\nDocumentation=man:imdsd(8)", "\nWatchdogSec=",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("imdsd.service lacks %q", strings.TrimSpace(want))
		}
	}
	if strings.Contains(text, "Requires=imdsd.socket") || regexp.MustCompile(`(?m)^ExecStart=.* -d\b`).MatchString(text) {
		t.Error("imdsd.service must run without the socket unit and never with -d")
	}
	sock := readFile(t, socket)
	for _, want := range []string{"\nListenStream=169.254.169.254:80\n", "\nFreeBind=yes\n", "\nWantedBy=sockets.target\n"} {
		if !strings.Contains(sock, want) {
			t.Errorf("imdsd.socket lacks %q", strings.TrimSpace(want))
		}
	}
}

// manPages returns the manual pages in the tree.
func manPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(repoRoot, "man", "*.[158]"))
	if err != nil {
		t.Fatal(err)
	}
	return pages
}

// TestDistManLint checks every page with mandoc at warning level (style
// messages such as "referenced manual not found" depend on the host).
func TestDistManLint(t *testing.T) {
	mandoc := need(t, "mandoc")
	pages := manPages(t)
	for _, want := range []string{"imdsd.8", "imdsd.conf.5"} {
		if !containsBase(pages, want) {
			t.Errorf("man/%s is missing", want)
		}
	}
	for _, p := range pages {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if out, errOut, code := distRun(t, ".", nil, mandoc, "-Tlint", "-Wwarning", p); code != 0 || out+errOut != "" {
				t.Errorf("mandoc -Tlint -Wwarning: exit status %d, output:\n%s%s", code, out, errOut)
			}
			if _, errOut, code := distRun(t, ".", nil, mandoc, "-Tutf8", "-Wwarning", p); code != 0 {
				t.Errorf("mandoc -Tutf8: exit status %d\n%s", code, errOut)
			}
		})
	}
}

func containsBase(paths []string, base string) bool {
	for _, p := range paths {
		if filepath.Base(p) == base {
			return true
		}
	}
	return false
}

// TestDistManFlags checks that imdsd(8) documents exactly the options of
// imdsd --help: each one has an entry in the options list, and no entry
// names an option that does not exist.
func TestDistManFlags(t *testing.T) {
	out, errOut, code := distRun(t, ".", nil, distBin(t), "--help")
	if code != 0 {
		t.Fatalf("imdsd --help: exit status %d\n%s", code, errOut)
	}
	// Option lines start with blanks and the option names: "  -c, --config
	// file   text" or "      --host addr   text".
	flags := map[string]bool{}
	names := regexp.MustCompile(`--?([a-z][a-z-]*)`)
	for _, m := range regexp.MustCompile(`(?m)^[ \t]+((?:--?[a-z][a-z-]*(?:, *| |$))+)`).FindAllStringSubmatch(out, -1) {
		for _, n := range names.FindAllStringSubmatch(m[1], -1) {
			flags[n[1]] = true
		}
	}
	if len(flags) < 10 {
		t.Fatalf("found only %d options in imdsd --help:\n%s", len(flags), out)
	}
	page := readFile(t, filepath.Join(repoRoot, "man/imdsd.8"))
	// Options list entries, such as ".It Fl c Ar file , Fl -config Ar file".
	documented := map[string]bool{}
	inOptions := false
	for _, line := range strings.Split(page, "\n") {
		switch {
		case strings.HasPrefix(line, ".Sh "):
			inOptions = line == ".Sh DESCRIPTION"
		case inOptions && strings.HasPrefix(line, ".It Fl "):
			for _, m := range regexp.MustCompile(`(?:^\.It|,) Fl -?([a-z][a-z-]*)`).FindAllStringSubmatch(line, -1) {
				documented[m[1]] = true
			}
		}
	}
	for _, f := range sortedSet(flags) {
		if !documented[f] {
			dashes := "--"
			if len(f) == 1 {
				dashes = "-"
			}
			t.Errorf("imdsd --help has %s%s, but imdsd(8) has no .It entry for it", dashes, f)
		}
	}
	for _, f := range sortedSet(documented) {
		if !flags[f] {
			t.Errorf("imdsd(8) documents -%s, which imdsd --help does not list", f)
		}
	}
}

// configKeys returns every JSON key of v's type, nested keys as
// "parent.key", by reflection over the json tags.
func configKeys(typ reflect.Type, prefix string) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	var keys []string
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && f.Type.Kind() == reflect.Struct && name == "" {
			keys = append(keys, configKeys(f.Type, prefix)...) // embedded: its keys are this object's
			continue
		}
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		keys = append(keys, prefix+name)
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem() // a list of objects: the keys of its entries
		}
		if ft.Kind() == reflect.Struct {
			keys = append(keys, configKeys(ft, prefix+name+".")...)
		}
	}
	return keys
}

// TestDistManConfKeys checks that imdsd.conf(5) has an entry for every
// configuration key, and none for a key that does not exist.
func TestDistManConfKeys(t *testing.T) {
	// A file's keys, and those only an entry has (match, listen).
	keys := append(configKeys(reflect.TypeFor[config.File](), ""), configKeys(reflect.TypeFor[config.Entry](), "")...)
	if len(keys) < 30 {
		t.Fatalf("found only %d keys in config.File and config.Entry: %v", len(keys), keys)
	}
	page := readFile(t, filepath.Join(repoRoot, "man/imdsd.conf.5"))
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\.It Ic ([a-z0-9_]+)`).FindAllStringSubmatch(page, -1) {
		documented[m[1]] = true
	}
	known := map[string]bool{}
	for _, k := range keys {
		leaf := k[strings.LastIndex(k, ".")+1:]
		known[leaf] = true
		if !documented[leaf] {
			t.Errorf("imdsd.conf(5) has no \".It Ic %s\" entry for key %s", leaf, k)
		}
	}
	for _, k := range sortedSet(documented) {
		if !known[k] {
			t.Errorf("imdsd.conf(5) documents %q, which is not a configuration key", k)
		}
	}
}

// configOK runs imdsd -t -c path and reports whether the file loads
// without a warning: imdsd prints "path: configuration OK" and, for a
// many-guest configuration, the number of guests the config package finds.
func configOK(t *testing.T, path string) (stdout, stderr string, ok bool) {
	t.Helper()
	stdout, stderr, code := distRun(t, ".", nil, distBin(t), "-t", "-c", path)
	guests := ""
	if cfg, _, err := config.Load(path); err == nil && len(cfg.Entries()) > 0 {
		guests = fmt.Sprintf(` \(%d guests?\)`, len(cfg.Entries()))
	}
	want := regexp.MustCompile(`\A` + regexp.QuoteMeta(path) + `: configuration OK` + guests + `\n\z`)
	return stdout, stderr, code == 0 && stderr == "" && want.MatchString(stdout)
}

// literalBlock is a ".Bd -literal" display of a manual page and the line
// before it.
type literalBlock struct {
	intro, text string
}

func literalBlocks(page string) []literalBlock {
	var blocks []literalBlock
	lines := strings.Split(page, "\n")
	for i := 1; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], ".Bd -literal") {
			continue
		}
		b := literalBlock{intro: lines[i-1]}
		j := i + 1
		for j < len(lines) && lines[j] != ".Ed" {
			j++
		}
		b.text = strings.Join(lines[i+1:j], "\n")
		blocks = append(blocks, b)
		i = j
	}
	return blocks
}

// TestDistManConfExamples checks that every JSON example in imdsd.conf(5)
// loads without a warning. An example introduced by ".Pa
// .../DIR/NAME.json" is a file of an instances_dir: every configuration
// example is checked with these files in DIR next to it.
func TestDistManConfExamples(t *testing.T) {
	page := readFile(t, filepath.Join(repoRoot, "man/imdsd.conf.5"))
	unescape := strings.NewReplacer(`\e`, `\`, `\&`, "", `\(dq`, `"`, `\-`, "-")
	instanceFile := regexp.MustCompile(`^\.Pa \S*?([^/\s]+/[^/\s]+\.json)(?: [,:.])?$`)
	files := map[string]string{} // DIR/NAME.json: text
	var examples []string
	for _, b := range literalBlocks(page) {
		text := unescape.Replace(b.text) + "\n"
		first := strings.TrimSpace(text)
		if !strings.HasPrefix(first, "{") && !strings.HasPrefix(first, "#") {
			continue // not a configuration file
		}
		if m := instanceFile.FindStringSubmatch(b.intro); m != nil {
			files[m[1]] = text
			continue
		}
		examples = append(examples, text)
	}
	for n, text := range examples {
		dir := t.TempDir()
		for name, f := range files {
			writeFile(t, filepath.Join(dir, name), f, 0o644)
		}
		path := filepath.Join(dir, "example.conf")
		writeFile(t, path, text, 0o644)
		if out, errOut, ok := configOK(t, path); !ok {
			t.Errorf("example %d of imdsd.conf(5) does not load cleanly\nstdout:\n%s\nstderr:\n%s\nexample:\n%s", n+1, out, errOut, text)
		}
	}
	if len(examples) < 3 {
		t.Errorf("found %d configuration examples in imdsd.conf(5), want at least 3", len(examples))
	}
}

// TestDistSample checks that etc/imdsd.conf.sample loads without a
// warning and mentions every key (in comments: user_data_base64, which
// cannot be given with user_data, and token_key_file, which would make the
// installed configuration create a key file at start).
func TestDistSample(t *testing.T) {
	sample := filepath.Join(repoRoot, "etc/imdsd.conf.sample")
	if out, errOut, ok := configOK(t, sample); !ok {
		t.Errorf("imdsd -t -c %s: want exit status 0, no warnings and %q\nstdout:\n%s\nstderr:\n%s",
			sample, sample+": configuration OK", out, errOut)
	}
	text := readFile(t, sample)
	for _, k := range configKeys(reflect.TypeOf(config.Config{}), "") {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(text, `"`+leaf+`":`) {
			t.Errorf("the sample does not use key %s", k)
		}
	}
}

// TestDistInstall runs make install and make uninstall into a staging
// directory, with GNU make and bmake, for FreeBSD and Linux, and checks
// the exact files and modes laid out and what the rendered files point to.
func TestDistInstall(t *testing.T) {
	for _, page := range []string{"getimds.1", "imdsd.conf.5", "imdsd.8", "imdsctl.8"} {
		if _, err := os.Stat(filepath.Join(repoRoot, "man", page)); err != nil {
			t.Fatalf("make install installs man/%s: %v", page, err)
		}
	}
	common := map[string]os.FileMode{
		"sbin/imdsd":                  0o755,
		"sbin/imdsctl":                0o755,
		"bin/getimds":                 0o755,
		"share/man/man1/getimds.1":    0o644,
		"share/man/man5/imdsd.conf.5": 0o644,
		"share/man/man8/imdsd.8":      0o644,
		"share/man/man8/imdsctl.8":    0o644,
	}
	layout := func(prefix, etc string, extra map[string]os.FileMode) map[string]os.FileMode {
		m := map[string]os.FileMode{
			etc + "/imdsd.conf.sample": 0o644, etc + "/imdsd.conf": 0o644,
			etc + "/instances.d/README": 0o644, // the sample's instances_dir
		}
		for f, mode := range common {
			m[prefix+"/"+f] = mode
		}
		for f, mode := range extra {
			m[f] = mode
		}
		return m
	}
	freebsd := layout("usr/local", "usr/local/etc/imdsd", map[string]os.FileMode{
		"usr/local/etc/rc.d/imdsd":                  0o755,
		"usr/local/etc/syslog.d/imdsd.conf":         0o644,
		"usr/local/etc/newsyslog.conf.d/imdsd.conf": 0o644,
	})
	linux := layout("usr/local", "etc/imdsd", map[string]os.FileMode{
		"usr/local/lib/systemd/system/imdsd.socket":  0o644,
		"usr/local/lib/systemd/system/imdsd.service": 0o644,
	})
	linuxUsr := layout("usr", "etc/imdsd", map[string]os.FileMode{
		"usr/lib/systemd/system/imdsd.socket":  0o644,
		"usr/lib/systemd/system/imdsd.service": 0o644,
	})
	tests := []struct {
		make string
		vars []string
		want map[string]os.FileMode
		// files whose rendered text must contain these lines
		rendered map[string][]string
	}{
		{"make", []string{"OS=FreeBSD"}, freebsd, map[string][]string{
			"usr/local/etc/rc.d/imdsd": {`command="/usr/local/sbin/${name}"`, `: "${imdsd_config=/usr/local/etc/imdsd/imdsd.conf}"`},
		}},
		{"bmake", []string{"OS=FreeBSD"}, freebsd, map[string][]string{
			"usr/local/etc/rc.d/imdsd": {`command="/usr/local/sbin/${name}"`, `: "${imdsd_config=/usr/local/etc/imdsd/imdsd.conf}"`},
		}},
		{"make", []string{"OS=Linux"}, linux, map[string][]string{
			"usr/local/lib/systemd/system/imdsd.service": {"ExecStart=/usr/local/sbin/imdsd -c /etc/imdsd/imdsd.conf"},
		}},
		{"bmake", []string{"OS=Linux"}, linux, map[string][]string{
			"usr/local/lib/systemd/system/imdsd.service": {"ExecStart=/usr/local/sbin/imdsd -c /etc/imdsd/imdsd.conf"},
		}},
		{"make", []string{"OS=Linux", "PREFIX=/usr"}, linuxUsr, map[string][]string{
			"usr/lib/systemd/system/imdsd.service": {"ExecStart=/usr/sbin/imdsd -c /etc/imdsd/imdsd.conf"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.make+" "+strings.Join(tt.vars, " "), func(t *testing.T) {
			tool := need(t, tt.make)
			src := copyDist(t)
			stage := t.TempDir()
			vars := append([]string{"DESTDIR=" + stage, "GO=true"}, tt.vars...)

			distMake(t, tool, src, append([]string{"install"}, vars...)...)
			checkTree(t, stage, tt.want)
			for f, lines := range tt.rendered {
				text := readFile(t, filepath.Join(stage, f))
				for _, l := range lines {
					if !strings.Contains(text, "\n"+l+"\n") {
						t.Errorf("%s lacks the line %q", f, l)
					}
				}
				if strings.Contains(text, stage) {
					t.Errorf("%s contains DESTDIR %s", f, stage)
				}
			}
			if got := readFile(t, filepath.Join(stage, pathOf(tt.want, "sbin/imdsd"))); got != stubBinary {
				t.Errorf("installed imdsd is not bin/imdsd")
			}
			// The installed configuration loads as it is laid out: the
			// instances_dir it names is there.
			if out, errOut, ok := configOK(t, filepath.Join(stage, pathOf(tt.want, "/imdsd/imdsd.conf"))); !ok {
				t.Errorf("the installed imdsd.conf does not load cleanly\nstdout:\n%s\nstderr:\n%s", out, errOut)
			}

			// A clean uninstall removes every file.
			distMake(t, tool, src, append([]string{"uninstall"}, vars...)...)
			checkTree(t, stage, nil)

			// An edited imdsd.conf survives install and uninstall.
			distMake(t, tool, src, append([]string{"install"}, vars...)...)
			conf := filepath.Join(stage, pathOf(tt.want, "/imdsd/imdsd.conf"))
			edited := readFile(t, conf) + "# edited\n"
			writeFile(t, conf, edited, 0o644)
			distMake(t, tool, src, append([]string{"install"}, vars...)...)
			if got := readFile(t, conf); got != edited {
				t.Error("make install overwrote an existing imdsd.conf")
			}
			distMake(t, tool, src, append([]string{"uninstall"}, vars...)...)
			rel, _ := filepath.Rel(stage, conf)
			checkTree(t, stage, map[string]os.FileMode{rel: 0o644})
		})
	}
}

// pathOf returns the one path of want that ends in suffix.
func pathOf(want map[string]os.FileMode, suffix string) string {
	for p := range want {
		if strings.HasSuffix(p, suffix) {
			return p
		}
	}
	return suffix
}

// checkTree compares the regular files under root, and their modes, with
// want.
func checkTree(t *testing.T, root string, want map[string]os.FileMode) {
	t.Helper()
	got := map[string]os.FileMode{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		got[rel] = info.Mode()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sortedSet(got) {
		mode, ok := want[f]
		switch {
		case !ok:
			t.Errorf("unexpected file %s (mode %v)", f, got[f])
		case got[f] != mode:
			t.Errorf("%s: mode %v, want %v", f, got[f], mode)
		}
	}
	for _, f := range sortedSet(want) {
		if _, ok := got[f]; !ok {
			t.Errorf("missing file %s", f)
		}
	}
}

// sortedSet returns the keys of m in order, for stable messages.
func sortedSet[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
