// Package metadata builds the tree of paths an EC2 instance serves under each
// API version (meta-data, dynamic, user-data) from a configuration, and
// answers lookups in it.
//
// The tree follows what real instances serve, byte for byte where clients
// care: listings are sorted names joined by "\n" with no trailing newline
// and directories suffixed "/" (except the version's own listing, which is
// "dynamic\nmeta-data\nuser-data" as on EC2); leaves have no trailing
// newline except public-keys/N/openssh-key; public-keys/ lists "N=name";
// JSON documents use AWS's "key" : value layout. Every name a listing shows
// can be fetched.
//
// A Tree is immutable once built and safe for concurrent lookups.
package metadata

import (
	"sort"
	"strings"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
)

// Content types of the entries.
const (
	TextPlain   = "text/plain"
	OctetStream = "application/octet-stream"
)

// versionList is the body of "GET /": the API versions a current real
// instance lists, oldest first. Each serves the same tree.
const versionList = "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n" +
	"2008-02-01\n2008-09-01\n2009-04-04\n2011-01-01\n2011-05-01\n2012-01-12\n" +
	"2014-02-25\n2014-11-05\n2015-10-20\n2016-04-19\n2016-06-30\n2016-09-02\n" +
	"2018-03-28\n2018-08-17\n2018-09-24\n2019-10-01\n2020-10-27\n2021-01-03\n" +
	"2021-03-23\n2021-07-15\n2022-09-24\n2024-04-11\nlatest"

// VersionList returns the body of "GET /": the API versions, one per line.
func VersionList() []byte { return []byte(versionList) }

// Versions returns the API versions, oldest first.
func Versions() []string { return strings.Split(versionList, "\n") }

// KnownVersion reports whether v is one of [Versions].
func KnownVersion(v string) bool {
	for rest := versionList; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if line == v {
			return true
		}
	}
	return false
}

// Entry is what a path resolves to.
type Entry struct {
	// Dir is true for a directory; Body is then its listing.
	Dir         bool
	ContentType string
	body        []byte
	dynamic     func(now time.Time) []byte
}

// Body returns the entry's content at time now. Most entries are fixed;
// IAM credentials carry times that move with the clock. The slice may be
// shared between calls and goroutines: do not modify it.
func (e *Entry) Body(now time.Time) []byte {
	if e.dynamic != nil {
		return e.dynamic(now)
	}
	return e.body
}

// Tree is the content below one API version: "" is the version's own
// listing, "meta-data/instance-id" a leaf.
type Tree struct {
	paths map[string]*Entry
	// Modified is when the metadata was set; served as Last-Modified.
	Modified time.Time
}

// Lookup returns the entry at a clean path below the version (as returned by
// imdspath.Split), or nil.
func (t *Tree) Lookup(path string) *Entry { return t.paths[path] }

// Paths returns every path in the tree, sorted, for tests and tools.
func (t *Tree) Paths() []string {
	ps := make([]string, 0, len(t.paths))
	for p := range t.paths {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// dir is a directory under construction: names map to a string or []byte
// (a leaf), a func(time.Time) []byte (a leaf computed per request), or a dir.
type dir map[string]any

// listed is a dir whose listing is not its sorted names (public-keys/).
type listed struct {
	dir
	listing string
}

// Build returns the tree for c. launched is the instance's launch time,
// used for pendingTime, LastUpdated and Last-Modified; keep it across
// reloads.
func Build(c *config.Instance, launched time.Time) *Tree {
	launched = launched.UTC().Truncate(time.Second)
	t := &Tree{paths: map[string]*Entry{}, Modified: launched}
	root := dir{
		"meta-data": metaData(c, launched),
		"dynamic":   dynamic(c, launched),
	}
	// EC2 cannot hold empty user-data: giving none and giving "" both
	// mean 404, which clients read as "no user-data".
	if ud := c.UserDataBytes(); len(ud) > 0 {
		root["user-data"] = &Entry{ContentType: OctetStream, body: ud}
	}
	// The version's own listing is the one listing whose directories carry
	// no "/": "dynamic\nmeta-data\nuser-data" on a real instance.
	names := make([]string, 0, len(root))
	for name := range root {
		names = append(names, name)
	}
	sort.Strings(names)
	t.add("", listed{dir: root, listing: lines(names)})
	return t
}

func (t *Tree) add(path string, v any) {
	switch v := v.(type) {
	case dir:
		t.addDir(path, v, "")
	case listed:
		t.addDir(path, v.dir, v.listing)
	case string:
		t.paths[path] = &Entry{ContentType: TextPlain, body: []byte(v)}
	case []byte:
		t.paths[path] = &Entry{ContentType: TextPlain, body: v}
	case func(time.Time) []byte:
		t.paths[path] = &Entry{ContentType: TextPlain, dynamic: v}
	case *Entry:
		t.paths[path] = v
	default:
		panic("metadata: unexpected node type")
	}
}

func (t *Tree) addDir(path string, d dir, listing string) {
	names := make([]string, 0, len(d))
	for name, child := range d {
		switch child.(type) {
		case dir, listed:
			names = append(names, name+"/")
		default:
			names = append(names, name)
		}
		t.add(join(path, name), child)
	}
	sort.Strings(names)
	if listing == "" {
		listing = strings.Join(names, "\n")
	}
	t.paths[path] = &Entry{Dir: true, ContentType: TextPlain, body: []byte(listing)}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "/" + name
}

// lines joins values one per line, as EC2 serves multi-valued leaves.
func lines(vs []string) string { return strings.Join(vs, "\n") }
