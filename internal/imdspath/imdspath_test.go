package imdspath

import (
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"/", ""},
		{"//", ""},
		{"///", ""},
		{".", ""},
		{"..", ""},
		{"/..", ""},
		{"/../..", ""},
		{"../latest", "latest"},
		{"/latest", "latest"},
		{"/latest/", "latest"},
		{"latest", "latest"},
		{"/latest//meta-data/", "latest/meta-data"},
		{"//latest/meta-data/instance-id", "latest/meta-data/instance-id"},
		{"/latest//meta-data/reservation-id", "latest/meta-data/reservation-id"},
		{"latest/meta-data/../user-data", "latest/user-data"},
		{"latest/meta-data/../../..", ""},
		{"latest/meta-data/../../../latest/user-data", "latest/user-data"},
		{"./a/./b", "a/b"},
		{"./a/./b/.", "a/b"},
		{"a/b/..", "a"},
		{"a/b/../", "a"},
		{"a//b//c//", "a/b/c"},
		{"/2021-03-23/meta-data/instance-id/", "2021-03-23/meta-data/instance-id"},
		{"/latest/meta-data/placement/availability-zone/", "latest/meta-data/placement/availability-zone"},
		{"/1.0/", "1.0"},
		{"/2099-01-01/x", "2099-01-01/x"},
		{"api/token", "api/token"},
		{"/latest/api/token", "latest/api/token"},
		// Segments that only look like dots are names.
		{"/a/.../b", "a/.../b"},
		{"/a/..b/.c/", "a/..b/.c"},
		// Percent-decoding is the caller's job (net/http does it for
		// URL.Path): escapes are left alone.
		{"/latest/meta-data/%2e%2e/user-data", "latest/meta-data/%2e%2e/user-data"},
		{"/latest%2Fmeta-data", "latest%2Fmeta-data"},
		// Backslashes and other bytes are not separators.
		{`/a\b/c`, `a\b/c`},
		{"/a b/\x00/c", "a b/\x00/c"},
		{"/public-keys/0=my-key", "public-keys/0=my-key"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Clean(tt.in); got != tt.want {
				t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in, version, rest string
	}{
		{"", "", ""},
		{"/", "", ""},
		{"//", "", ""},
		{"..", "", ""},
		{"/latest", "latest", ""},
		{"/latest/", "latest", ""},
		{"/latest//meta-data/", "latest", "meta-data"},
		{"/latest//meta-data/ami-id/", "latest", "meta-data/ami-id"},
		{"latest/meta-data/../user-data", "latest", "user-data"},
		{"./a/./b", "a", "b"},
		{"/2021-03-23/meta-data/instance-id/", "2021-03-23", "meta-data/instance-id"},
		{"/1.0/", "1.0", ""},
		{"/1.0/meta-data", "1.0", "meta-data"},
		// An unknown version is still split; the caller decides.
		{"/2099-01-01/x", "2099-01-01", "x"},
		{"/nonexistent", "nonexistent", ""},
		{"api/token", "api", "token"},
		{"/latest/api/token", "latest", "api/token"},
		{"/2021-03-23/api/token", "2021-03-23", "api/token"},
		// ".." cannot climb out of the version.
		{"/latest/../2021-03-23/meta-data", "2021-03-23", "meta-data"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, r := Split(tt.in)
			if v != tt.version || r != tt.rest {
				t.Errorf("Split(%q) = (%q, %q), want (%q, %q)", tt.in, v, r, tt.version, tt.rest)
			}
		})
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"meta-data/instance-id", "meta-data/instance-id"},
		{"/latest/meta-data/instance-id/", "meta-data/instance-id"},
		{"2021-03-23/meta-data/instance-id", "meta-data/instance-id"},
		{"/1.0/meta-data/instance-id", "meta-data/instance-id"},
		{"//latest//meta-data//instance-id//", "meta-data/instance-id"},
		{"/latest/meta-data/../user-data", "user-data"},
		{"user-data", "user-data"},
		{"/latest/user-data", "user-data"},
		{"latest/api/token", "api/token"},
		{"api/token", "api/token"},
		{"/latest", ""},
		{"/latest/", ""},
		{"", ""},
		{"/", ""},
		// Unknown but version-shaped first segments are still versions.
		{"/2099-01-01/x", "x"},
		// Not version-shaped: kept whole.
		{"/Latest/meta-data", "Latest/meta-data"},
		{"/2021-3-23/meta-data", "2021-3-23/meta-data"},
		{"meta-data/latest", "meta-data/latest"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := Key(tt.in); got != tt.want {
				t.Errorf("Key(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsVersion(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"latest", true},
		{"1.0", true},
		{"2007-01-19", true},
		{"2021-03-23", true},
		{"2024-04-11", true},
		{"2099-01-01", true}, // shaped like one; whether it is known is KnownVersion's question
		{"0000-00-00", true},
		{"", false},
		{"Latest", false},
		{"LATEST", false},
		{"latest/", false},
		{"1.1", false},
		{"1", false},
		{"2021-03-2", false},
		{"2021-03-233", false},
		{"2021/03/23", false},
		{"2021-0a-23", false},
		{"20210-3-23", false},
		{"２０21-03-23", false},
		{"2021-03-2\x00", false},
		{"meta-data", false},
		{"api", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := IsVersion(tt.in); got != tt.want {
				t.Errorf("IsVersion(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanLong(t *testing.T) {
	// Longer than Clean's stack buffer.
	long := strings.Repeat("seg/", 100)
	tests := []struct {
		in, want string
	}{
		{"/" + long + "../x//", strings.Repeat("seg/", 99) + "x"},
		{"//" + long, strings.TrimSuffix(long, "/")},
		{long + strings.Repeat("../", 100) + "y", "y"},
		{long + strings.Repeat("../", 150) + "y/.", "y"},
	}
	for i, tt := range tests {
		if got := Clean(tt.in); got != tt.want {
			t.Errorf("case %d: Clean(%q) = %q, want %q", i, tt.in, got, tt.want)
		}
	}
}

// TestCleanFastPathAgrees checks the allocation-free path against the
// general one on inputs that straddle the boundary between them.
func TestCleanFastPathAgrees(t *testing.T) {
	for _, p := range []string{
		"", "/", "//", "a", "/a", "a/", "/a/", "//a", "a//", "/a//", "a/b", "a//b",
		"/./", "/.", "./", "a/.", "a/..", "/..", "a/.../b",
	} {
		if got, want := Clean(p), cleanSlow(p); got != want {
			t.Errorf("Clean(%q) = %q, general path gives %q", p, got, want)
		}
	}
}

// cleanSlow is Clean without its fast path: the specification.
func cleanSlow(path string) string {
	var segs []string
	for _, s := range strings.Split(path, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	return strings.Join(segs, "/")
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"", "/", "//", "..", "./a/./b", "/latest//meta-data/", "latest/meta-data/../user-data",
		"/2021-03-23/meta-data/instance-id/", "/1.0/", "/2099-01-01/x", "api/token",
		"/a/.../b/..", "a/b/../../..", "/%2e%2e/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c := Clean(in)
		if cc := Clean(c); cc != c {
			t.Errorf("Clean(%q) = %q, but Clean of that = %q (not idempotent)", in, c, cc)
		}
		if want := cleanSlow(in); c != want {
			t.Errorf("Clean(%q) = %q, want %q", in, c, want)
		}
		if strings.Contains(c, "//") {
			t.Errorf("Clean(%q) = %q contains //", in, c)
		}
		if strings.HasPrefix(c, "/") || strings.HasSuffix(c, "/") {
			t.Errorf("Clean(%q) = %q has a leading or trailing slash", in, c)
		}
		if c != "" {
			for _, seg := range strings.Split(c, "/") {
				if seg == "" || seg == "." || seg == ".." {
					t.Errorf("Clean(%q) = %q has segment %q", in, c, seg)
				}
			}
		}
		v, r := Split(in)
		if joined := strings.TrimSuffix(v+"/"+r, "/"); joined != c {
			t.Errorf("Split(%q) = (%q, %q), which does not rejoin to Clean = %q", in, v, r, c)
		}
		if strings.Contains(v, "/") {
			t.Errorf("Split(%q) version %q contains a slash", in, v)
		}
		if k := Key(in); !strings.HasSuffix(c, k) {
			t.Errorf("Key(%q) = %q is not a suffix of Clean = %q", in, k, c)
		}
	})
}

func BenchmarkClean(b *testing.B) {
	for _, bb := range []struct{ name, path string }{
		{"clean", "/latest/meta-data/placement/availability-zone"},
		{"unclean", "//latest//meta-data/./placement/../placement/availability-zone/"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Clean(bb.path)
			}
		})
	}
}
