package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// writeEntry prints one leaf in the walk format of getimds(1):
//
//	PATH: VALUE       one line of text
//	PATH:             an empty value, when the next line does not start with "|"
//	PATH:             text of several lines: the value's lines split at
//	| line one        each newline, each prefixed "| " ("|" alone for an empty
//	| line two        line), so a value ending in a newline ends with "|"
//	|
//	PATH:: BASE64     anything that is not text (not UTF-8, or control
//	                  characters other than tab and newline), in base64
//
// Every form gives back the exact bytes.
func writeEntry(w *bufio.Writer, path string, v []byte) {
	w.WriteString(path)
	switch {
	case !isText(v):
		w.WriteString(":: ")
		w.WriteString(base64.StdEncoding.EncodeToString(v))
	case len(v) == 0:
		w.WriteString(":")
	case bytes.IndexByte(v, '\n') < 0:
		w.WriteString(": ")
		w.Write(v)
	default:
		w.WriteString(":")
		for line := range strings.SplitSeq(string(v), "\n") {
			w.WriteString("\n|")
			if line != "" {
				w.WriteString(" ")
				w.WriteString(line)
			}
		}
	}
	w.WriteByte('\n')
}

// badPath says why the path p, as a walk found it, cannot be printed, or
// returns nil. Names come from the server's listings: a hostile or broken
// one could send escape sequences that clear the screen, set the window
// title or the clipboard (OSC 52), or a carriage return that hides what
// came before, and a name containing ": " or ending in ":" would make the
// walk format ambiguous. So a name must be UTF-8 text with nothing but
// printable characters (no controls, no tab, no invisible formatting
// characters); in the walk format (walkFormat) it must also keep the
// format readable: no ": ", no ":" at the end of a leaf, and a top-level
// name must not start a line the format gives a meaning ("|", "@ ", "- ").
// Only the last name is judged: the walk skipped a directory whose own
// name is bad, with everything below it.
func badPath(p string, dir, walkFormat bool) error {
	parent, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		parent, name = p[:i], p[i+1:]
	}
	why := ""
	switch {
	case !printable(name):
		why = "characters that are not printable text"
	case !walkFormat:
	case strings.Contains(name, ": "):
		why = `": ", which the walk format uses to end the path`
	case !dir && strings.HasSuffix(name, ":"):
		why = `":" at the end, which the walk format would misread`
	case parent == "" && (strings.HasPrefix(name, "|") || strings.HasPrefix(name, "@ ") || strings.HasPrefix(name, "- ")):
		why = "a start the walk format gives a meaning"
	}
	if why == "" {
		return nil
	}
	where := "the root"
	if parent != "" {
		where = parent + "/"
	}
	return fmt.Errorf("the listing of %s names %s, with %s; skipped", where, strconv.Quote(name), why)
}

// printable reports whether s is valid UTF-8 made only of characters that
// print as themselves (letters, marks, numbers, punctuation, symbols and
// the ASCII space).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// isText reports whether v prints as text: valid UTF-8 with no control
// characters other than tab and newline.
func isText(v []byte) bool {
	if !utf8.Valid(v) {
		return false
	}
	for _, r := range string(v) {
		if r != '\t' && r != '\n' && unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// tree collects leaves for --json, keeping the order the walk found them.
type tree struct{ root *jnode }

type jnode struct {
	dir   bool
	names []string
	kids  map[string]*jnode
	value []byte
}

func newTree() *tree { return &tree{root: newDir()} }

func newDir() *jnode { return &jnode{dir: true, kids: map[string]*jnode{}} }

// ensure returns the directory at clean path p, creating it and its
// parents; nil if a leaf is in the way.
func (t *tree) ensure(p string) *jnode {
	n := t.root
	if p == "" {
		return n
	}
	for seg := range strings.SplitSeq(p, "/") {
		k, ok := n.kids[seg]
		if !ok {
			k = newDir()
			n.kids[seg] = k
			n.names = append(n.names, seg)
		}
		if !k.dir {
			return nil
		}
		n = k
	}
	return n
}

// add stores the leaf at clean path p.
func (t *tree) add(p string, v []byte) {
	dir, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, name = p[:i], p[i+1:]
	}
	d := t.ensure(dir)
	if d == nil || name == "" {
		return
	}
	if _, ok := d.kids[name]; !ok {
		d.names = append(d.names, name)
	}
	d.kids[name] = &jnode{value: v}
}

// write prints the tree as indented JSON: a directory is an object, a
// leaf that is UTF-8 a string, any other leaf {"base64": "..."}.
func (t *tree) write(w io.Writer) error {
	var compact, out bytes.Buffer
	t.root.encode(&compact)
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

func (n *jnode) encode(b *bytes.Buffer) {
	switch {
	case n.dir:
		b.WriteByte('{')
		for i, name := range n.names {
			if i > 0 {
				b.WriteByte(',')
			}
			quote(b, name)
			b.WriteByte(':')
			n.kids[name].encode(b)
		}
		b.WriteByte('}')
	case utf8.Valid(n.value):
		quote(b, string(n.value))
	default:
		b.WriteString(`{"base64":`)
		quote(b, base64.StdEncoding.EncodeToString(n.value))
		b.WriteByte('}')
	}
}

// quote writes s as a JSON string, leaving <, > and & as they are.
// encoding/json escapes the C0 controls; quote also escapes DEL and the C1
// controls (U+0080 to U+009F, CSI among them), which some terminals obey,
// so that no value or name sends a control sequence to a terminal. The
// escapes decode to the same string.
func quote(b *bytes.Buffer, s string) {
	var q bytes.Buffer
	enc := json.NewEncoder(&q)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	q.Truncate(q.Len() - 1)
	for _, r := range q.String() {
		if r == 0x7f || r >= 0x80 && r <= 0x9f {
			fmt.Fprintf(b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
}
