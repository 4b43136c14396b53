package control

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Target selects guests: one instance id, the guests with a tag, or all.
type Target struct {
	// All selects every guest.
	All bool
	// ID is an instance id.
	ID string
	// TagKey and TagValue select the guests whose tag TagKey is TagValue.
	TagKey, TagValue string
}

// ParseTarget parses "all", "tag:KEY=VALUE" or an instance id.
func ParseTarget(s string) (Target, error) {
	switch {
	case s == "all":
		return Target{All: true}, nil
	case strings.HasPrefix(s, "tag:"):
		k, v, ok := strings.Cut(s[len("tag:"):], "=")
		if !ok || k == "" {
			return Target{}, fmt.Errorf("target %q: expected tag:KEY=VALUE, such as tag:Name=web1", s)
		}
		return Target{TagKey: k, TagValue: v}, nil
	case s == "":
		return Target{}, errors.New("no target: expected an instance id, tag:KEY=VALUE or all")
	case !validID(s):
		return Target{}, fmt.Errorf("target %q: expected an instance id (i- and letters or digits, such as i-0123456789abcdef0), tag:KEY=VALUE or all", s)
	}
	return Target{ID: s}, nil
}

func validID(s string) bool {
	rest, ok := strings.CutPrefix(s, "i-")
	if !ok || len(rest) == 0 || len(rest) > 64 {
		return false
	}
	for _, c := range rest { // as the configuration accepts them
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// String returns the target as ParseTarget reads it.
func (t Target) String() string {
	switch {
	case t.All:
		return "all"
	case t.TagKey != "":
		return "tag:" + t.TagKey + "=" + t.TagValue
	}
	return t.ID
}

// Match reports whether the guest with id and tags is selected.
func (t Target) Match(id string, tags map[string]string) bool {
	switch {
	case t.All:
		return true
	case t.TagKey != "":
		v, ok := tags[t.TagKey]
		return ok && v == t.TagValue
	}
	return t.ID == id
}

// When is a moment given as an absolute time (RFC 3339) or as a duration
// from when the request is handled (Go syntax: "90s", "2m"). The zero
// When is "now".
type When struct {
	At time.Time
	In time.Duration
}

// ParseWhen parses an RFC 3339 time or a Go duration, not negative.
func ParseWhen(s string) (When, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return When{At: t}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return When{}, fmt.Errorf("%q is neither a time (RFC 3339, such as 2026-12-08T09:00:00Z) nor a duration (such as 90s or 2m)", s)
	}
	if d < 0 {
		return When{}, fmt.Errorf("%q: a duration from now cannot be negative; give a time (RFC 3339) for the past", s)
	}
	return When{In: d}, nil
}

// IsZero reports whether w is "now", the zero When.
func (w When) IsZero() bool { return w.At.IsZero() && w.In == 0 }

// Resolve returns the moment w names, now being now.
func (w When) Resolve(now time.Time) time.Time {
	if !w.At.IsZero() {
		return w.At
	}
	return now.Add(w.In)
}

// String returns w as ParseWhen reads it.
func (w When) String() string {
	if !w.At.IsZero() {
		return w.At.Format(time.RFC3339)
	}
	return w.In.String()
}
