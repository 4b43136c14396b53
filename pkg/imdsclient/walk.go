package imdsclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/imdsd/imdsd/internal/imdspath"
)

// Bounds on a walk, so that a service that lists without end cannot keep
// a client busy for ever. EC2's deepest path has 7 segments and a real
// instance serves a few hundred entries.
const (
	MaxDepth = 32
	MaxNodes = 100000
)

// SkipDir, returned by a [WalkFunc] for a directory, skips its contents.
var SkipDir = fs.SkipDir

// Node is one entry of the tree as [Client.Walk] visits it.
type Node struct {
	// Path is the clean path of the entry, such as
	// "meta-data/placement/region"; "" is the version's root.
	Path string
	// Dir is true for a directory.
	Dir bool
	// Value is a leaf's bytes as served, or a directory's listing. It is
	// nil when the visit reports an error.
	Value []byte
}

// WalkFunc is called by [Client.Walk] for every node: a directory before
// its contents, with the error, if any, of fetching it. When err is not nil
// the node could not be read; returning nil goes on with the rest of the
// walk. Returning [SkipDir] for a directory skips its contents; any other
// error ends the walk and is returned by Walk.
type WalkFunc func(n Node, err error) error

// Walk visits the tree at root depth first, in listing order, the way
// cloud-init crawls it: a listed name ending in "/" is a directory, any
// other name a leaf; "meta-data" and "dynamic" are directories although
// the version root lists them without a slash; and a line "N=name" in
// meta-data/public-keys stands for the leaf N/openssh-key. Nothing is
// skipped, the IAM role credentials included; a WalkFunc that wants
// cloud-init's behaviour returns SkipDir for "security-credentials".
//
// root may name a leaf, which is then the only node visited. Whether root
// is a directory is decided by a trailing slash, by the names above, or
// else by its parent's listing.
func (c *Client) Walk(ctx context.Context, root string, fn WalkFunc) error {
	p := Clean(root)
	dir, err := c.isDir(ctx, p, strings.HasSuffix(root, "/"))
	if err != nil {
		return skip(fn(Node{Path: p}, err))
	}
	w := &walker{c: c, ctx: ctx, fn: fn}
	return w.visit(p, dir, 0)
}

type walker struct {
	c     *Client
	ctx   context.Context
	fn    WalkFunc
	nodes int
}

func (w *walker) visit(p string, dir bool, depth int) error {
	if w.nodes++; w.nodes > MaxNodes {
		return fmt.Errorf("walk %s: more than %d entries", w.c.base, MaxNodes)
	}
	if depth > MaxDepth {
		return fmt.Errorf("walk %s: %s is more than %d levels deep", w.c.base, p, MaxDepth)
	}
	v, err := w.c.get(w.ctx, p, dir)
	if err != nil {
		return skip(w.fn(Node{Path: p, Dir: dir}, err))
	}
	if err := w.fn(Node{Path: p, Dir: dir, Value: v}, nil); err != nil || !dir {
		return skip(err)
	}
	for _, e := range children(p, v) {
		if err := w.visit(e.path, e.dir, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func skip(err error) error {
	if errors.Is(err, SkipDir) {
		return nil
	}
	return err
}

type child struct {
	path string
	dir  bool
}

// children parses the listing of directory p.
func children(p string, listing []byte) []child {
	_, rest := splitVersion(p)
	var out []child
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(listing), "\n") {
		name := strings.TrimSpace(line)
		dir := strings.HasSuffix(name, "/")
		name = strings.TrimSuffix(name, "/")
		if rest == "" && (name == "meta-data" || name == "dynamic") {
			dir = true
		}
		if rest == "meta-data/public-keys" && !dir {
			if n, _, ok := strings.Cut(name, "="); ok && digits(n) {
				name = n + "/openssh-key"
			}
		}
		if !validName(name) || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, child{path: join(p, name), dir: dir})
	}
	return out
}

// validName rejects what cannot be a name in a listing: nothing, "." and
// "..", and names with slashes (except the one public-keys form).
func validName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	if n, rest, ok := strings.Cut(name, "/"); ok {
		return digits(n) && rest == "openssh-key"
	}
	return true
}

// isDir decides whether the clean path p is a directory.
func (c *Client) isDir(ctx context.Context, p string, slash bool) (bool, error) {
	_, rest := splitVersion(p)
	switch rest {
	case "", "meta-data", "dynamic":
		return true, nil
	case "user-data":
		return false, nil
	}
	if slash {
		return true, nil
	}
	parent, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		parent, name = p[:i], p[i+1:]
	}
	if _, prest := splitVersion(parent); prest == "meta-data/public-keys" && digits(name) {
		return true, nil
	}
	listing, err := c.get(ctx, parent, true)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
			return false, nil // p does not exist; fetching it will say so
		}
		return false, err
	}
	for line := range strings.SplitSeq(string(listing), "\n") {
		if strings.TrimSpace(line) == name+"/" {
			return true, nil
		}
	}
	return false, nil
}

// splitVersion separates a leading API version from a clean path.
func splitVersion(p string) (version, rest string) {
	first, after, _ := strings.Cut(p, "/")
	if imdspath.IsVersion(first) {
		return first, after
	}
	return "", p
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func digits(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
