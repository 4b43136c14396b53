package main

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/golden"
)

// cloudInitVersions are the API versions cloud-init's Ec2 datasource asks
// for, newest first, with the one it falls back to last.
var cloudInitVersions = []string{"2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04"}

// maxCrawl bounds the number of requests one crawl may make.
const maxCrawl = 2000

// crawler walks an API version's tree exactly as cloud-init's
// MetadataMaterializer does (cloudinit/sources/helpers/ec2.py), with an
// IMDSv2 token, and records every body by path below the version.
type crawler struct {
	t     *testing.T
	d     *daemonProc
	token string
	ver   string
	got   map[string]string // path below the version as requested -> body
	n     int
}

// get fetches rel (below the version) and fails the test unless it is 200.
func (c *crawler) get(rel string) (string, bool) {
	c.t.Helper()
	if c.n++; c.n > maxCrawl {
		c.t.Fatalf("crawl of %s made more than %d requests; is the tree cyclic?", c.ver, maxCrawl)
	}
	path := "/" + c.ver + "/" + rel
	st, _, body := c.d.get(c.t, path, c.token)
	if st != http.StatusOK {
		c.t.Errorf("GET %s: %d, want 200 (listed entries must all be retrievable)", path, st)
		return "", false
	}
	c.got[rel] = body
	return body, true
}

// pyQuote is Python's urllib.parse.quote(s, safe="/:"), which cloud-init's
// combine_url applies to every name it appends.
func pyQuote(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			strings.IndexByte("_.-~/:", ch) >= 0:
			b.WriteByte(ch)
		default:
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// combine is cloud-init's url_helper.combine_url for one add-on.
func combine(base, addOn string) string {
	if base != "" && !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base + pyQuote(addOn)
}

// materialize is MetadataMaterializer._materialize: base is the listing's
// own path, blob its body.
func (c *crawler) materialize(base, blob string, depth int) {
	c.t.Helper()
	if depth > 16 {
		c.t.Fatalf("crawl of %s: %s is nested more than 16 deep", c.ver, base)
	}
	type leaf struct{ field, resource string }
	var children []string
	var leaves []leaf
	for _, field := range strings.Split(blob, "\n") { // splitlines
		field = strings.TrimSpace(field)
		name := strings.TrimRight(field, "/")
		if field == "" || name == "" {
			continue
		}
		if name == "security-credentials" { // "Don't materialize credentials"
			continue
		}
		if strings.HasSuffix(field, "/") {
			if !slices.Contains(children, name) {
				children = append(children, name)
			}
			continue
		}
		resource := name
		if ident, sub, ok := strings.Cut(field, "="); ok {
			if _, err := strconv.Atoi(ident); err == nil {
				resource = ident + "/openssh-key"
				name = sub
			}
		}
		leaves = append(leaves, leaf{name, resource})
	}
	for _, ch := range children {
		url := combine(base, ch)
		if !strings.HasSuffix(url, "/") {
			url += "/"
		}
		if body, ok := c.get(url); ok {
			c.materialize(url, body, depth+1)
		}
	}
	for _, l := range leaves {
		c.get(combine(base, l.resource))
	}
}

// crawl fetches what cloud-init fetches from one API version on AWS.
func crawl(t *testing.T, d *daemonProc, tok, ver string) map[string]string {
	t.Helper()
	c := &crawler{t: t, d: d, token: tok, ver: ver, got: map[string]string{}}
	c.get("user-data")
	if body, ok := c.get("meta-data/"); ok {
		c.materialize("meta-data/", body, 0)
	}
	if body, ok := c.get("dynamic/instance-identity"); ok { // no slash, as cloud-init asks
		c.materialize("dynamic/instance-identity", body, 0)
	}
	return c.got
}

// pendingTimeRE finds the identity document's launch time, which changes
// with every start.
var pendingTimeRE = regexp.MustCompile(`("pendingTime" : ")([^"]*)(")`)

// TestCloudInitCrawl walks latest and every version cloud-init uses the way
// cloud-init does and checks that every listed entry is served, that all
// versions serve the same tree, and that the seed config's tree and the
// built-in default's are as recorded in testdata/crawl-seed.golden and
// testdata/crawl-default.golden.
func TestCloudInitCrawl(t *testing.T) {
	t.Parallel()
	configs := []struct {
		name, golden string
		args         []string
	}{
		{"seed", "crawl-seed.golden", []string{"--config", "testdata/seed.json"}},
		{"built-in default", "crawl-default.golden", nil},
		{"full", "", []string{"--config", "FULL"}},
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			args := slices.Clone(cfg.args)
			if len(args) == 2 && args[1] == "FULL" {
				args[1] = writeConfig(t, seedWith(t, map[string]any{
					"instance_id":       "i-0123456789abcdef0",
					"region":            "us-east-2",
					"availability_zone": "us-east-2b",
					"ssh_public_keys":   []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey2 me@host,e", "ssh-rsa AAAAB3NzaC1yc2E= other"},
					"tags":              map[string]string{"Name": "web-1", "env:stage": "test", "empty": ""},
					"iam":               map[string]string{"role": "web"},
					"security_groups":   []string{"default", "web"},
				}))
			}
			d := startDaemon(t, append(args, "--no-access-log")...)
			tok := d.token(t, 21600)

			// cloud-init's API version detection.
			for _, v := range []struct {
				path string
				want int
			}{
				{"/2021-03-23/meta-data/instance-id", 200},
				{"/2099-01-01/meta-data/instance-id", 404},
			} {
				if st, _, _ := d.get(t, v.path, tok); st != v.want {
					t.Errorf("GET %s: %d, want %d", v.path, st, v.want)
				}
			}

			latest := crawl(t, d, tok, "latest")
			for _, ver := range cloudInitVersions {
				got := crawl(t, d, tok, ver)
				if !maps.Equal(got, latest) {
					t.Errorf("the %s tree differs from latest's:\n%s", ver, diffMaps(latest, got))
				}
			}
			for _, must := range []string{"meta-data/instance-id", "meta-data/public-keys/0/openssh-key", "dynamic/instance-identity/document", "user-data"} {
				if _, ok := latest[must]; !ok {
					t.Errorf("the crawl did not reach %s", must)
				}
			}
			if m := pendingTimeRE.FindStringSubmatch(latest["dynamic/instance-identity/document"]); m == nil {
				t.Errorf("the identity document has no pendingTime")
			} else if _, err := time.Parse(time.RFC3339, m[2]); err != nil {
				t.Errorf("pendingTime %q is not RFC 3339: %v", m[2], err)
			}
			// Subtests sharing a golden file compare with it; only the
			// seed's rewrites it under -update.
			if cfg.golden != "" && (!golden.Update() || cfg.name == "seed") {
				golden.CheckString(t, cfg.golden, renderCrawl(latest))
			}
		})
	}
}

// renderCrawl prints a crawl sorted by path, one "path\tquoted body" a
// line, with per-run values masked.
func renderCrawl(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := pendingTimeRE.ReplaceAllString(m[k], "${1}<masked>${3}")
		fmt.Fprintf(&b, "%s\t%s\n", k, strconv.Quote(v))
	}
	return b.String()
}

func diffMaps(want, got map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "  missing %s\n", k)
		} else if g != want[k] {
			fmt.Fprintf(&b, "  %s: got %q, latest has %q\n", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  extra %s\n", k)
		}
	}
	return b.String()
}
