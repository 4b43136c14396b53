package imdsclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// walkAll walks root and returns the leaves visited, in order, with their
// values, and the nodes that reported errors.
func walkAll(t *testing.T, c *imdsclient.Client, root string, fn imdsclient.WalkFunc) (paths []string, vals map[string]string, failed []string) {
	t.Helper()
	vals = map[string]string{}
	err := c.Walk(context.Background(), root, func(n imdsclient.Node, err error) error {
		if err != nil {
			failed = append(failed, n.Path)
		} else if !n.Dir {
			paths = append(paths, n.Path)
			vals[n.Path] = string(n.Value)
		}
		if fn != nil {
			return fn(n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%q): %v", root, err)
	}
	return paths, vals, failed
}

// The walk of the whole tree visits exactly the leaves imdsd serves, with
// the values it serves, in listing (sorted) order.
func TestWalkWholeTree(t *testing.T) {
	for _, tc := range []struct{ name, cfg string }{
		{"seed", ""},
		{"iam-tags-binary", `{
			"iam": {"role": "web"},
			"tags": {"Name": "box", "aws:cloudformation:stack-name": "s"},
			"user_data_base64": "H4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA=="
		}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startIMDS(t, tc.cfg)
			c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
			paths, vals, failed := walkAll(t, c, "", nil)
			if len(failed) > 0 {
				t.Fatalf("errors at %v", failed)
			}
			tree := metadata.Build(&s.srv.Config().Instance, epoch)
			var want []string
			for _, p := range tree.Paths() {
				if !tree.Lookup(p).Dir {
					want = append(want, p)
				}
			}
			sorted := slices.Clone(paths)
			slices.Sort(sorted)
			if !slices.Equal(sorted, want) {
				t.Fatalf("leaves walked:\n%s\nwant:\n%s", strings.Join(sorted, "\n"), strings.Join(want, "\n"))
			}
			for _, p := range want {
				if got, w := vals[p], string(tree.Lookup(p).Body(epoch)); got != w {
					t.Errorf("%s = %q, want %q", p, got, w)
				}
			}
			if !slices.IsSortedFunc(paths, func(a, b string) int {
				return strings.Compare(strings.ReplaceAll(a, "/", "\x00"), strings.ReplaceAll(b, "/", "\x00"))
			}) {
				t.Errorf("not in listing order:\n%s", strings.Join(paths, "\n"))
			}
		})
	}
}

func TestWalkRoots(t *testing.T) {
	s := startIMDS(t, "")
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
	tests := []struct {
		root string
		want []string
	}{
		{"meta-data/placement", []string{"meta-data/placement/availability-zone", "meta-data/placement/availability-zone-id", "meta-data/placement/region"}},
		{"/latest/meta-data/placement/", []string{"meta-data/placement/availability-zone", "meta-data/placement/availability-zone-id", "meta-data/placement/region"}},
		{"meta-data/placement/region", []string{"meta-data/placement/region"}},
		{"meta-data/public-keys", []string{"meta-data/public-keys/0/openssh-key", "meta-data/public-keys/1/openssh-key"}},
		{"meta-data/public-keys/1", []string{"meta-data/public-keys/1/openssh-key"}},
		{"user-data", []string{"user-data"}},
		{"2009-04-04/meta-data/services", []string{"2009-04-04/meta-data/services/domain", "2009-04-04/meta-data/services/partition"}},
		{"dynamic", []string{"dynamic/fws/instance-monitoring", "dynamic/instance-identity/document"}},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			got, _, failed := walkAll(t, c, tt.root, nil)
			if len(failed) > 0 || !slices.Equal(got, tt.want) {
				t.Errorf("Walk(%q) = %q (errors at %q), want %q", tt.root, got, failed, tt.want)
			}
		})
	}

	// A root that does not exist is reported to the WalkFunc.
	_, _, failed := walkAll(t, c, "meta-data/nope", nil)
	if !slices.Equal(failed, []string{"meta-data/nope"}) {
		t.Errorf("missing root: errors at %q", failed)
	}
}

// A listed entry that cannot be read is reported and the walk goes on.
func TestWalkContinuesAfterError(t *testing.T) {
	s := startIMDS(t, `{"force_status": {"meta-data/hostname": 404, "meta-data/placement": 500}}`)
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint, Attempts: 1})
	paths, _, failed := walkAll(t, c, "meta-data", nil)
	if !slices.Equal(failed, []string{"meta-data/hostname", "meta-data/placement"}) {
		t.Errorf("errors at %q", failed)
	}
	for _, p := range []string{"meta-data/instance-id", "meta-data/services/partition"} {
		if !slices.Contains(paths, p) {
			t.Errorf("%s not visited after the errors", p)
		}
	}
	for _, p := range paths {
		if strings.HasPrefix(p, "meta-data/placement/") {
			t.Errorf("visited %s below a directory that failed", p)
		}
	}
}

func TestWalkSkipDirAndStop(t *testing.T) {
	s := startIMDS(t, `{"iam": {"role": "web"}}`)
	c := newClient(t, imdsclient.Options{Endpoint: s.endpoint})
	paths, _, _ := walkAll(t, c, "meta-data/iam", func(n imdsclient.Node, err error) error {
		if n.Dir && strings.HasSuffix(n.Path, "/security-credentials") {
			return imdsclient.SkipDir
		}
		return nil
	})
	if !slices.Equal(paths, []string{"meta-data/iam/info"}) {
		t.Errorf("with SkipDir: %q", paths)
	}

	stop := errors.New("stop")
	n := 0
	err := c.Walk(context.Background(), "", func(imdsclient.Node, error) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("Walk returned %v after %d nodes, want stop after 3", err, n)
	}
}

// A service whose listings never end cannot keep a walk going for ever.
func TestWalkBounded(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "60")
			w.Write([]byte("tok"))
			return
		}
		w.Write([]byte("a/\nleaf"))
	}))
	defer ts.Close()
	c := newClient(t, imdsclient.Options{Endpoint: ts.URL})
	err := c.Walk(context.Background(), "meta-data", func(imdsclient.Node, error) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "levels deep") {
		t.Errorf("err = %v, want the depth bound", err)
	}
}

// The listing rules: "N=name" in public-keys, "meta-data" and "dynamic"
// at the version root, names that cannot be paths are skipped.
func TestWalkListingRules(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.Write([]byte("tok"))
			return
		}
		body, ok := map[string]string{
			"/latest/":                                    "meta-data\r\nuser-data\n\n",
			"/latest/meta-data/":                          "public-keys/\n..\n.\nx/y\nkey\nkey\n",
			"/latest/meta-data/public-keys/":              "0=my key,e\n1=other",
			"/latest/meta-data/public-keys/0/openssh-key": "k0\n",
			"/latest/meta-data/public-keys/1/openssh-key": "k1\n",
			"/latest/meta-data/key":                       "v",
			"/latest/user-data":                           "u",
		}[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer ts.Close()
	c := newClient(t, imdsclient.Options{Endpoint: ts.URL})
	paths, _, failed := walkAll(t, c, "", nil)
	want := []string{"meta-data/public-keys/0/openssh-key", "meta-data/public-keys/1/openssh-key", "meta-data/key", "user-data"}
	if !slices.Equal(paths, want) || len(failed) > 0 {
		t.Errorf("walked %q (errors at %q), want %q", paths, failed, want)
	}
}
