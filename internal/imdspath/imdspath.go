// Package imdspath normalises instance metadata request paths the way EC2's
// clients need: doubled slashes collapse, "." and ".." are resolved, and a
// trailing slash means nothing, so that "latest//meta-data/placement/" and
// "/latest/meta-data/placement" name the same thing and neither redirects.
package imdspath

import (
	"bytes"
	"strings"
)

// Clean returns path's segments joined by single slashes, with no leading or
// trailing slash. "." segments are dropped and ".." removes the segment
// before it (never climbing above the root). The query string, if any, must
// already be removed.
func Clean(path string) string {
	// Fast path: already clean (the common case for well-behaved clients).
	if isClean(path) {
		return strings.Trim(path, "/")
	}
	// Build the result in place: a segment is appended after a "/", and
	// ".." cuts back to the last "/". Paths of usual length need no heap
	// buffer, so the only allocation is the returned string.
	var stack [256]byte
	buf := stack[:0]
	if len(path) > len(stack) {
		buf = make([]byte, 0, len(path))
	}
	for rest, more := path, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		switch seg {
		case "", ".":
		case "..":
			buf = buf[:max(bytes.LastIndexByte(buf, '/'), 0)]
		default:
			if len(buf) > 0 {
				buf = append(buf, '/')
			}
			buf = append(buf, seg...)
		}
	}
	return string(buf)
}

// isClean reports whether path has no empty, "." or ".." segment apart from
// one leading and one trailing slash.
func isClean(path string) bool {
	p := strings.TrimPrefix(path, "/")
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return true
	}
	for {
		seg, rest, more := strings.Cut(p, "/")
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		if !more {
			return true
		}
		p = rest
	}
}

// IsVersion reports whether seg names an API version: "latest", "1.0" or a
// date such as "2021-03-23". Whether the service knows that version is a
// separate question.
func IsVersion(seg string) bool {
	if seg == "latest" || seg == "1.0" {
		return true
	}
	if len(seg) != 10 || seg[4] != '-' || seg[7] != '-' {
		return false
	}
	for i, c := range seg {
		if i == 4 || i == 7 {
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Split cleans path and separates its API version from the rest:
// "/latest//meta-data/ami-id/" gives ("latest", "meta-data/ami-id"), "/" gives
// ("", ""). A first segment that is not shaped like a version is returned as
// version anyway, for the caller to reject.
func Split(path string) (version, rest string) {
	version, rest, _ = strings.Cut(Clean(path), "/")
	return version, rest
}

// Key turns a path written in a configuration into the form fault
// injection matches on: the path below the version. "meta-data/instance-id",
// "/latest/meta-data/instance-id/" and "2021-03-23/meta-data/instance-id"
// all give "meta-data/instance-id".
func Key(path string) string {
	c := Clean(path)
	first, rest, _ := strings.Cut(c, "/")
	if IsVersion(first) {
		return rest
	}
	return c
}
