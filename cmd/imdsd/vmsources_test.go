package main

// The apt sources of this machine, for the VM test (vm_test.go, issue 15):
// the guest's root file system is bootstrapped from the mirror this
// machine already uses, never from one written into the test. Both of
// apt's formats are read: one-line entries in sources.list and *.list, and
// deb822 paragraphs in *.sources. This file has no build tag, so that its
// parser is tested by the normal suite.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// aptSource is one "deb" source: a URI with its suites and components.
type aptSource struct {
	file       string // where it was read, for messages
	uri        string
	suites     []string
	components []string
	signedBy   string // a keyring file, or "" (embedded keys are not kept)
}

// readAptSources reads every enabled "deb" source under root/etc/apt (root
// is "/" but for tests): sources.list, then sources.list.d/*.list and
// *.sources in name order, as apt does. Files with other names (such as
// foo.list.disabled) are ignored, as apt ignores them.
func readAptSources(root string) ([]aptSource, error) {
	dir := filepath.Join(root, "etc", "apt")
	files := []string{filepath.Join(dir, "sources.list")}
	names, err := filepath.Glob(filepath.Join(dir, "sources.list.d", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, n := range names {
		if strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources") {
			files = append(files, n)
		}
	}
	var all []aptSource
	for _, f := range files {
		fh, err := os.Open(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		// Source lists are small; a huge one is not a source list.
		var srcs []aptSource
		r := io.LimitReader(fh, 1<<20)
		if strings.HasSuffix(f, ".sources") {
			srcs, err = parseDeb822Sources(f, r)
		} else {
			srcs, err = parseOneLineSources(f, r)
		}
		fh.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, srcs...)
	}
	return all, nil
}

// parseOneLineSources reads "deb [options] uri suite [component...]"
// lines; deb-src lines, comments and blank lines are skipped.
func parseOneLineSources(file string, r io.Reader) ([]aptSource, error) {
	var out []aptSource
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		if typ != "deb" {
			continue
		}
		rest = strings.TrimSpace(rest)
		src := aptSource{file: fmt.Sprintf("%s:%d", file, n)}
		if strings.HasPrefix(rest, "[") {
			opts, after, ok := strings.Cut(rest[1:], "]")
			if !ok {
				return nil, fmt.Errorf("%s:%d: an option list [ ... ] that does not end", file, n)
			}
			for _, o := range strings.Fields(opts) {
				if k, v, ok := strings.Cut(o, "="); ok && strings.EqualFold(k, "signed-by") {
					src.signedBy = v
				}
			}
			rest = after
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			return nil, fmt.Errorf("%s:%d: a deb line needs a URI and a suite", file, n)
		}
		src.uri, src.suites, src.components = f[0], f[1:2], f[2:]
		out = append(out, src)
	}
	return out, sc.Err()
}

// parseDeb822Sources reads deb822 paragraphs (Types, URIs, Suites,
// Components, Signed-By, Enabled); a paragraph with several URIs gives one
// source per URI. A Signed-By holding the key itself (continuation lines)
// is kept as "".
func parseDeb822Sources(file string, r io.Reader) ([]aptSource, error) {
	var out []aptSource
	para := map[string]string{}
	last := ""
	flush := func() {
		defer clear(para)
		if strings.EqualFold(para["enabled"], "no") || !slices.Contains(strings.Fields(para["types"]), "deb") {
			return
		}
		signed := para["signed-by"]
		if strings.Contains(signed, "\n") || !strings.HasPrefix(signed, "/") {
			signed = ""
		}
		for _, u := range strings.Fields(para["uris"]) {
			out = append(out, aptSource{
				file:       file,
				uri:        u,
				suites:     strings.Fields(para["suites"]),
				components: strings.Fields(para["components"]),
				signedBy:   signed,
			})
		}
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			flush()
			last = ""
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				para[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("%s: %q is neither a field nor a continuation line", file, line)
			}
			last = strings.ToLower(strings.TrimSpace(k))
			para[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out, sc.Err()
}

// pickMirror chooses, among sources, the mirror to bootstrap suite from:
// the first deb source with the main component that lists suite itself,
// or else the first that lists a plain release (a suite with no "-" in
// it, such as trixie on a newer machine), whose mirror carries the other
// releases too. Security and updates archives are never picked: they hold
// no full release.
func pickMirror(sources []aptSource, suite string) (aptSource, error) {
	for _, pass := range []func(string) bool{
		func(s string) bool { return s == suite },
		func(s string) bool { return !strings.ContainsAny(s, "-/") },
	} {
		for _, src := range sources {
			if !slices.Contains(src.components, "main") {
				continue
			}
			if slices.ContainsFunc(src.suites, pass) {
				return src, nil
			}
		}
	}
	return aptSource{}, fmt.Errorf("no apt source of this machine (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources) is a Debian mirror with %s or another release and the main component; add one, or set IMDSD_VM_MIRROR", suite)
}

func TestAptSources(t *testing.T) {
	srcs, err := readAptSources("testdata/vm/aptroot")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range srcs {
		got = append(got, fmt.Sprintf("%s %v %v %q", s.uri, s.suites, s.components, s.signedBy))
	}
	want := []string{
		`http://deb.example.org/debian-security [bookworm-security] [main] "/usr/share/keyrings/example.gpg"`,
		`http://deb.example.org/debian [trixie] [main contrib] ""`,
		`http://mirror-a.example.org/debian [bookworm bookworm-updates] [main] "/usr/share/keyrings/debian-archive-keyring.gpg"`,
		`http://mirror-b.example.org/debian [bookworm bookworm-updates] [main] "/usr/share/keyrings/debian-archive-keyring.gpg"`,
		`http://inline.example.org/debian [sid] [main] ""`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("sources:\n got %q\nwant %q", got, want)
	}

	for _, tc := range []struct{ suite, want string }{
		{"bookworm", "http://mirror-a.example.org/debian"}, // lists bookworm itself
		{"bullseye", "http://deb.example.org/debian"},      // the first plain release
	} {
		m, err := pickMirror(srcs, tc.suite)
		if err != nil || m.uri != tc.want {
			t.Errorf("pickMirror(%s) = %q, %v; want %q", tc.suite, m.uri, err, tc.want)
		}
	}
	if _, err := pickMirror(srcs[:1], "bookworm"); err == nil {
		t.Errorf("pickMirror with only a security archive: no error")
	}
}
