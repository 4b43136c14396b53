package metadata

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imdsd/imdsd/internal/golden"
	"github.com/imdsd/imdsd/pkg/config"
)

// Fixed times for golden files: the instance launched at launch, and the
// dump is taken at dumpAt (evaluating the time-dependent credentials).
var (
	launch = time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	dumpAt = time.Date(2024, 5, 6, 10, 20, 30, 250_000_000, time.UTC)
)

// botocoreTime is botocore's "%Y-%m-%dT%H:%M:%SZ" for Expiration.
const botocoreTime = "2006-01-02T15:04:05Z"

// parse loads a configuration given as JSON text.
func parse(t *testing.T, name, text string) *config.Instance {
	t.Helper()
	c, _, err := config.Parse(name, []byte(text))
	if err != nil {
		t.Fatalf("config %s does not load: %v", name, err)
	}
	return &c.Instance
}

// load reads testdata/<name>.json.
func load(t *testing.T, name string) *config.Instance {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, name, string(data))
}

// configs are the configurations every invariant is checked against.
func configs(t *testing.T) map[string]*config.Instance {
	t.Helper()
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf(`"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey%d key%d"`, i, i)
	}
	return map[string]*config.Instance{
		"default": &config.Default().Instance,
		"full":    load(t, "full"),
		"minimal": parse(t, "minimal", `{}`),
		"public ip and iam": parse(t, "public", `{
			"public_ipv4": "3.14.15.92",
			"region": "us-east-1",
			"iam": {"role": "r"},
			"user_data": "x"}`),
		"twelve keys":   parse(t, "keys", `{"ssh_public_keys": [`+strings.Join(many, ",")+`]}`),
		"empty tags":    parse(t, "tags", `{"tags": {}, "user_data": ""}`),
		"china":         parse(t, "cn", `{"region": "cn-north-1", "availability_zone": "cn-north-1a", "tags": {"k": "v"}}`),
		"govcloud":      parse(t, "gov", `{"region": "us-gov-west-1", "security_groups": [], "security_group_ids": []}`),
		"nasty strings": parse(t, "nasty", `{"ssh_public_keys": ["ssh-rsa AAAA a \"quoted\" \\ key"], "tags": {"q": "a\"b\\c<d> line"}}`),
	}
}

// dump renders every path of tree with its type and body at time now, in
// the order of Paths. Text bodies are shown as they are, followed by a
// newline; bodies that are not printable text are shown as a hex dump.
func dump(tree *Tree, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Last-Modified: %s\n", tree.Modified.Format(time.RFC3339Nano))
	for _, p := range tree.Paths() {
		e := tree.Lookup(p)
		body := e.Body(now)
		kind := "leaf"
		if e.Dir {
			kind = "dir"
		}
		note := ""
		if bytes.HasSuffix(body, []byte("\n")) {
			note = ", ends with newline"
		}
		fmt.Fprintf(&b, "\n=== %q %s %s, %d bytes%s\n", p, e.ContentType, kind, len(body), note)
		if printable(body) {
			b.Write(body)
			b.WriteByte('\n')
		} else {
			b.WriteString(hex.Dump(body))
		}
	}
	return b.Bytes()
}

func printable(body []byte) bool {
	if !utf8.Valid(body) {
		return false
	}
	for _, r := range string(body) {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(t *testing.T) *config.Instance
	}{
		{"default", func(*testing.T) *config.Instance { return &config.Default().Instance }},
		{"full", func(t *testing.T) *config.Instance { return load(t, "full") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dump(Build(tt.cfg(t), launch), dumpAt)
			golden.Check(t, tt.name+".golden", got)
		})
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "(no line differs)"
}

// TestExactBodies pins the bodies the reference gives byte for byte.
func TestExactBodies(t *testing.T) {
	def := Build(&config.Default().Instance, launch)
	full := Build(load(t, "full"), launch)
	tests := []struct {
		name string
		tree *Tree
		path string
		want string
	}{
		{"version listing", def, "", "dynamic\nmeta-data\nuser-data"},
		{"version listing without user-data", Build(parse(t, "nud", `{}`), launch), "", "dynamic\nmeta-data"},
		{"dynamic", def, "dynamic", "fws/\ninstance-identity/"},
		{"instance-identity", def, "dynamic/instance-identity", "document"},
		{"meta-data", def, "meta-data", "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nevents/\n" +
			"hibernation/\nhostname\ninstance-action\ninstance-id\ninstance-life-cycle\ninstance-type\n" +
			"local-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\nprofile\npublic-hostname\npublic-ipv4\n" +
			"public-keys/\nreservation-id\nsecurity-groups\nservices/"},
		{"meta-data full", full, "meta-data", "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nevents/\n" +
			"hibernation/\nhostname\niam/\ninstance-action\ninstance-id\ninstance-life-cycle\ninstance-type\n" +
			"local-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\nprofile\n" +
			"public-keys/\nreservation-id\nsecurity-groups\nservices/\ntags/"},
		{"placement", def, "meta-data/placement", "availability-zone\navailability-zone-id\nregion"},
		{"availability-zone", full, "meta-data/placement/availability-zone", "us-east-2b"},
		{"availability-zone-id", full, "meta-data/placement/availability-zone-id", "use2-az2"},
		{"region", full, "meta-data/placement/region", "us-east-2"},
		{"public-keys", def, "meta-data/public-keys", "0=key-0\n1=key-1"},
		{"public-keys full", full, "meta-data/public-keys", "0=admin@example\n1=yourkeyname,e\n2=key-2"},
		{"public-keys/0", full, "meta-data/public-keys/0", "openssh-key"},
		{"openssh-key", def, "meta-data/public-keys/1/openssh-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey2\n"},
		{"openssh-key comment", full, "meta-data/public-keys/1/openssh-key", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkeyTwo yourkeyname,e\n"},
		{"instance-id", def, "meta-data/instance-id", "i-1234567890abcdef0"},
		{"local-ipv4", full, "meta-data/local-ipv4", "172.31.44.13"},
		{"mac", full, "meta-data/mac", "0a:07:84:3d:6e:38"},
		{"macs", full, "meta-data/network/interfaces/macs", "0a:07:84:3d:6e:38/"},
		{"ami-id", full, "meta-data/ami-id", "ami-0bcc92a4e661446c1"},
		{"instance-type", full, "meta-data/instance-type", "t3.micro"},
		{"domain", full, "meta-data/services/domain", "amazonaws.com"},
		{"partition", full, "meta-data/services/partition", "aws"},
		{"security-groups", full, "meta-data/security-groups", "default\nweb-frontend\nssh-from-bastion"},
		{"iam", full, "meta-data/iam", "info\nsecurity-credentials/"},
		{"iam role listing", full, "meta-data/iam/security-credentials", "WebServerRole"},
		{"iam info", full, "meta-data/iam/info", "{\n" +
			`  "Code" : "Success",` + "\n" +
			`  "LastUpdated" : "2024-05-06T07:08:09Z",` + "\n" +
			`  "InstanceProfileArn" : "arn:aws:iam::210987654321:instance-profile/WebServerRole",` + "\n" +
			`  "InstanceProfileId" : "AIPAVMQT32F2Q43IXV2TC"` + "\n}"},
		{"credentials", full, "meta-data/iam/security-credentials/WebServerRole", "{\n" +
			`  "Code" : "Success",` + "\n" +
			`  "LastUpdated" : "2024-05-06T10:00:00Z",` + "\n" +
			`  "Type" : "AWS-HMAC",` + "\n" +
			`  "AccessKeyId" : "ASIAIOSFODNN7EXAMPLE",` + "\n" +
			`  "SecretAccessKey" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",` + "\n" +
			`  "Token" : "IQoJb3JpZ2luX2VjEXAMPLETOKEN==",` + "\n" +
			`  "Expiration" : "2024-05-06T16:00:00Z"` + "\n}"},
		{"tags", full, "meta-data/tags", "instance/"},
		{"tag keys", full, "meta-data/tags/instance", "Empty\nEnvironment\nName\naws:autoscaling:groupName"},
		{"tag", full, "meta-data/tags/instance/Name", "web-1"},
		{"empty tag", full, "meta-data/tags/instance/Empty", ""},
		{"identity document", full, "dynamic/instance-identity/document", "{\n" +
			`  "devpayProductCodes" : null,` + "\n" +
			`  "marketplaceProductCodes" : null,` + "\n" +
			`  "availabilityZone" : "us-east-2b",` + "\n" +
			`  "privateIp" : "172.31.44.13",` + "\n" +
			`  "version" : "2017-09-30",` + "\n" +
			`  "instanceId" : "i-0123456789abcdef0",` + "\n" +
			`  "billingProducts" : null,` + "\n" +
			`  "instanceType" : "t3.micro",` + "\n" +
			`  "accountId" : "210987654321",` + "\n" +
			`  "imageId" : "ami-0bcc92a4e661446c1",` + "\n" +
			`  "pendingTime" : "2024-05-06T07:08:09Z",` + "\n" +
			`  "architecture" : "arm64",` + "\n" +
			`  "kernelId" : null,` + "\n" +
			`  "ramdiskId" : null,` + "\n" +
			`  "region" : "us-east-2"` + "\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.tree.Lookup(tt.path)
			if e == nil {
				t.Fatalf("Lookup(%q) = nil", tt.path)
			}
			if got := string(e.Body(dumpAt)); got != tt.want {
				t.Errorf("body of %q =\n%q\nwant\n%q", tt.path, got, tt.want)
			}
			if e.ContentType != TextPlain {
				t.Errorf("content type of %q = %q, want %q", tt.path, e.ContentType, TextPlain)
			}
		})
	}
}

func TestUserData(t *testing.T) {
	tests := []struct {
		name, cfg string
		want      []byte // nil: not served
	}{
		{"text", `{"user_data": "#cloud-config\nhostname: a\n"}`, []byte("#cloud-config\nhostname: a\n")},
		{"binary", `{"user_data_base64": "AP8BgAo="}`, []byte{0, 0xff, 1, 0x80, '\n'}},
		{"none", `{}`, nil},
		{"empty", `{"user_data": ""}`, nil},
		{"empty base64", `{"user_data_base64": ""}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := Build(parse(t, tt.name, tt.cfg), launch)
			e := tree.Lookup("user-data")
			if tt.want == nil {
				if e != nil {
					t.Errorf("user-data served (%q), want 404", e.Body(dumpAt))
				}
				if strings.Contains(string(tree.Lookup("").Body(dumpAt)), "user-data") {
					t.Errorf("version listing %q lists user-data", tree.Lookup("").Body(dumpAt))
				}
				return
			}
			if e == nil {
				t.Fatal("user-data not served")
			}
			if got := e.Body(dumpAt); !bytes.Equal(got, tt.want) {
				t.Errorf("user-data = %q, want %q", got, tt.want)
			}
			if e.ContentType != OctetStream || e.Dir {
				t.Errorf("user-data: type %q dir %v, want %q leaf", e.ContentType, e.Dir, OctetStream)
			}
		})
	}
}

// walk crawls tree from the version's listing the way cloud-init's
// MetadataMaterializer does and returns every path it fetched. A line
// ending "/" is a directory; "N=name" is the leaf N/openssh-key; anything
// else is a leaf, except that the version listing names its directories
// without "/".
func walk(t *testing.T, tree *Tree, now time.Time) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	var visit func(p string, depth int)
	visit = func(p string, depth int) {
		if depth > 10 {
			t.Fatalf("tree deeper than 10 at %q", p)
		}
		e := tree.Lookup(p)
		if e == nil || !e.Dir {
			t.Fatalf("directory %q does not resolve to a directory", p)
		}
		seen[p] = true
		body := string(e.Body(now))
		if body == "" {
			t.Errorf("directory %q has an empty listing", p)
			return
		}
		for _, line := range strings.Split(body, "\n") {
			if name, ok := strings.CutSuffix(line, "/"); ok {
				visit(join(p, name), depth+1)
				continue
			}
			if n, _, ok := strings.Cut(line, "="); ok {
				if _, err := strconv.Atoi(n); err == nil {
					leaf := join(p, n+"/openssh-key")
					le := tree.Lookup(leaf)
					if le == nil || le.Dir {
						t.Errorf("listing %q line %q: %q does not resolve to a leaf", p, line, leaf)
						continue
					}
					seen[leaf] = true
					// ec2-metadata reads N/ for the key format.
					nd := tree.Lookup(join(p, n))
					if nd == nil || !nd.Dir || string(nd.Body(now)) != "openssh-key" {
						t.Errorf("listing %q line %q: %q is not a directory listing openssh-key", p, line, join(p, n))
						continue
					}
					seen[join(p, n)] = true
					continue
				}
			}
			child := join(p, line)
			ce := tree.Lookup(child)
			switch {
			case ce == nil:
				t.Errorf("listing %q names %q, which does not resolve", p, line)
			case ce.Dir && p == "":
				visit(child, depth+1)
			case ce.Dir:
				t.Errorf("listing %q names directory %q without a trailing /", p, line)
			default:
				seen[child] = true
			}
		}
	}
	visit("", 0)
	return seen
}

func TestInvariants(t *testing.T) {
	for name, c := range configs(t) {
		t.Run(name, func(t *testing.T) {
			tree := Build(c, launch)
			now := dumpAt
			paths := tree.Paths()
			if !sort.StringsAreSorted(paths) {
				t.Errorf("Paths() not sorted")
			}

			// Every listed name resolves, and nothing is unreachable.
			seen := walk(t, tree, now)
			for _, p := range paths {
				if !seen[p] {
					t.Errorf("path %q is in the tree but no listing leads to it", p)
				}
			}
			if len(seen) != len(paths) {
				t.Errorf("walk reached %d paths, tree has %d", len(seen), len(paths))
			}

			for _, p := range paths {
				e := tree.Lookup(p)
				body := e.Body(now)
				if p != "" {
					parent, name := "", p
					if i := strings.LastIndexByte(p, '/'); i >= 0 {
						parent, name = p[:i], p[i+1:]
					}
					if pe := tree.Lookup(parent); pe == nil || !pe.Dir {
						t.Errorf("parent %q of %q is not a directory", parent, p)
					}
					if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "\n") {
						t.Errorf("path %q has a name no client can request", p)
					}
				}
				wantType := TextPlain
				if p == "user-data" {
					wantType = OctetStream
				}
				if e.ContentType != wantType {
					t.Errorf("%q: content type %q, want %q", p, e.ContentType, wantType)
				}
				if e.Dir {
					checkListing(t, p, string(body))
					continue
				}
				if strings.HasSuffix(p, "/openssh-key") {
					if !strings.HasSuffix(string(body), "\n") || strings.HasSuffix(string(body), "\n\n") || strings.Count(string(body), "\n") != 1 {
						t.Errorf("%q = %q: want one line ending in exactly one newline", p, body)
					}
					continue
				}
				if p != "user-data" && bytes.HasSuffix(body, []byte("\n")) {
					t.Errorf("leaf %q = %q ends with a newline", p, body)
				}
			}

			checkIdentity(t, c, tree)
			checkOptional(t, c, tree)
			if c.IAM != nil {
				checkInfo(t, c, tree)
				for _, at := range clockRange() {
					checkCredentials(t, c, tree, at)
				}
			}
		})
	}
}

// checkListing checks the listing rules of §6.1.
func checkListing(t *testing.T, p, body string) {
	t.Helper()
	if strings.HasSuffix(body, "\n") || strings.HasPrefix(body, "\n") {
		t.Errorf("listing %q = %q has a leading or trailing newline", p, body)
	}
	names := strings.Split(body, "\n")
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || n == "/" || strings.TrimSpace(n) != n {
			t.Errorf("listing %q has a bad line %q", p, n)
		}
		if seen[n] || seen[strings.TrimSuffix(n, "/")] || seen[n+"/"] {
			t.Errorf("listing %q names %q twice", p, n)
		}
		seen[n] = true
	}
	if strings.HasSuffix(p, "public-keys") {
		for i, n := range names {
			if !strings.HasPrefix(n, strconv.Itoa(i)+"=") {
				t.Errorf("public-keys line %d = %q, want %d=name", i, n, i)
			}
		}
		return
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("listing %q is not sorted: %q", p, body)
	}
}

// clockRange is a set of request times: around launch, around an hour
// boundary and far later.
func clockRange() []time.Time {
	h := time.Date(2024, 5, 6, 11, 0, 0, 0, time.UTC)
	return []time.Time{
		launch.Add(-time.Hour), // a clock behind the launch time
		launch,
		launch.Add(time.Nanosecond),
		h.Add(-time.Second),
		h.Add(-time.Nanosecond),
		h,
		h.Add(time.Nanosecond),
		h.Add(time.Second),
		h.Add(59*time.Minute + 59*time.Second + 999*time.Millisecond),
		launch.Add(365 * 24 * time.Hour),
	}
}

// identity is the identity document as aws-sdk-go-v2 decodes it.
type identity struct {
	AccountID               string    `json:"accountId"`
	Architecture            string    `json:"architecture"`
	AvailabilityZone        string    `json:"availabilityZone"`
	BillingProducts         []string  `json:"billingProducts"`
	DevpayProductCodes      []string  `json:"devpayProductCodes"`
	MarketplaceProductCodes []string  `json:"marketplaceProductCodes"`
	ImageID                 string    `json:"imageId"`
	InstanceID              string    `json:"instanceId"`
	InstanceType            string    `json:"instanceType"`
	KernelID                *string   `json:"kernelId"`
	PendingTime             time.Time `json:"pendingTime"`
	PrivateIP               string    `json:"privateIp"`
	RamdiskID               *string   `json:"ramdiskId"`
	Region                  string    `json:"region"`
	Version                 string    `json:"version"`
}

// awsJSONLine is one member line of AWS's JSON layout (§6.5).
var awsJSONLine = regexp.MustCompile(`^  "[A-Za-z]+" : (null|"(?:[^"\\]|\\.)*"),?$`)

// checkAWSLayout checks body against §6.5: "{", two-space "key" : value
// lines, "}", no trailing newline.
func checkAWSLayout(t *testing.T, name, body string) {
	t.Helper()
	lines := strings.Split(body, "\n")
	if len(lines) < 3 || lines[0] != "{" || lines[len(lines)-1] != "}" {
		t.Errorf("%s is not laid out as {\\n...\\n}: %q", name, body)
		return
	}
	members := lines[1 : len(lines)-1]
	for i, l := range members {
		if !awsJSONLine.MatchString(l) || strings.HasSuffix(l, ",") != (i < len(members)-1) {
			t.Errorf("%s line %d = %q, not in AWS's layout", name, i+2, l)
		}
	}
	if !json.Valid([]byte(body)) {
		t.Errorf("%s is not valid JSON: %q", name, body)
	}
}

func leaf(t *testing.T, tree *Tree, p string) string {
	t.Helper()
	e := tree.Lookup(p)
	if e == nil || e.Dir {
		t.Fatalf("%q does not resolve to a leaf", p)
	}
	return string(e.Body(dumpAt))
}

func checkIdentity(t *testing.T, c *config.Instance, tree *Tree) {
	t.Helper()
	body := leaf(t, tree, "dynamic/instance-identity/document")
	if got := IdentityDocument(c, launch); got != body {
		t.Errorf("IdentityDocument() = %q, tree serves %q", got, body)
	}
	checkAWSLayout(t, "identity document", body)
	var doc identity
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("identity document does not decode: %v\n%s", err, body)
	}
	for _, f := range []struct{ field, got, path string }{
		{"instanceId", doc.InstanceID, "meta-data/instance-id"},
		{"region", doc.Region, "meta-data/placement/region"},
		{"availabilityZone", doc.AvailabilityZone, "meta-data/placement/availability-zone"},
		{"privateIp", doc.PrivateIP, "meta-data/local-ipv4"},
		{"imageId", doc.ImageID, "meta-data/ami-id"},
		{"instanceType", doc.InstanceType, "meta-data/instance-type"},
		{"accountId", doc.AccountID, "meta-data/network/interfaces/macs/" + c.MAC + "/owner-id"},
	} {
		if want := leaf(t, tree, f.path); f.got != want || f.got == "" {
			t.Errorf("identity document %s = %q, %s = %q", f.field, f.got, f.path, want)
		}
	}
	if doc.Architecture != c.Architecture || doc.Version != "2017-09-30" {
		t.Errorf("identity document architecture %q version %q, want %q 2017-09-30", doc.Architecture, doc.Version, c.Architecture)
	}
	if !doc.PendingTime.Equal(launch.Truncate(time.Second)) {
		t.Errorf("pendingTime = %v, want %v", doc.PendingTime, launch.Truncate(time.Second))
	}
	if !strings.Contains(body, `"pendingTime" : "`+launch.Format(botocoreTime)+`"`) {
		t.Errorf("pendingTime is not RFC 3339 to the second in UTC: %s", body)
	}
	if doc.KernelID != nil || doc.RamdiskID != nil || doc.BillingProducts != nil {
		t.Errorf("kernelId, ramdiskId, billingProducts should be null: %s", body)
	}
	if !tree.Modified.Equal(launch.Truncate(time.Second)) {
		t.Errorf("Modified = %v, want the launch time to the second %v", tree.Modified, launch.Truncate(time.Second))
	}
}

// checkOptional checks that optional parts appear exactly when configured
// (reference §4 "What is 404").
func checkOptional(t *testing.T, c *config.Instance, tree *Tree) {
	t.Helper()
	ifc := "meta-data/network/interfaces/macs/" + c.MAC + "/"
	present := func(p string) bool { return tree.Lookup(p) != nil }
	for _, o := range []struct {
		path string
		want bool
	}{
		{"meta-data/iam", c.IAM != nil},
		{"meta-data/tags/instance", len(c.Tags) > 0},
		{"meta-data/public-keys", len(c.SSHPublicKeys) > 0},
		{"meta-data/public-ipv4", c.PublicIPv4 != ""},
		{"meta-data/public-hostname", c.PublicIPv4 != ""},
		{ifc + "public-ipv4s", c.PublicIPv4 != ""},
		{ifc + "public-hostname", c.PublicIPv4 != ""},
		{ifc + "ipv4-associations/" + c.PublicIPv4, c.PublicIPv4 != ""},
		{"user-data", len(c.UserDataBytes()) > 0},
		{"meta-data/iam/security-credentials-extended", false},
		{"meta-data/spot", false},
		{"meta-data/ipv6", false},
	} {
		if got := present(o.path); got != o.want {
			t.Errorf("%q present = %v, want %v", o.path, got, o.want)
		}
	}
	if c.PublicIPv4 != "" {
		if got := leaf(t, tree, "meta-data/public-ipv4"); got != c.PublicIPv4 {
			t.Errorf("public-ipv4 = %q, want %q", got, c.PublicIPv4)
		}
		if got := leaf(t, tree, ifc+"ipv4-associations/"+c.PublicIPv4); got != c.LocalIPv4 {
			t.Errorf("ipv4-associations/%s = %q, want the private address %q", c.PublicIPv4, got, c.LocalIPv4)
		}
	}
	for k, v := range c.Tags {
		if got := leaf(t, tree, "meta-data/tags/instance/"+k); got != v {
			t.Errorf("tag %q = %q, want %q", k, got, v)
		}
	}
	for i, k := range c.PublicKeys() {
		if got := leaf(t, tree, "meta-data/public-keys/"+strconv.Itoa(i)+"/openssh-key"); got != k.Key+"\n" {
			t.Errorf("key %d = %q, want %q", i, got, k.Key+"\n")
		}
	}
	for _, f := range []struct{ path, want string }{
		{"meta-data/mac", c.MAC},
		{ifc + "mac", c.MAC},
		{ifc + "local-ipv4s", c.LocalIPv4},
		{ifc + "owner-id", c.AccountID},
		{ifc + "device-number", "0"},
		{ifc + "network-card", "0"},
		{"meta-data/local-hostname", c.LocalHostname},
		{"meta-data/hostname", c.Hostname},
		{"meta-data/security-groups", strings.Join(c.SecurityGroups, "\n")},
		{ifc + "security-group-ids", strings.Join(c.SecurityGroupIDs, "\n")},
	} {
		if got := leaf(t, tree, f.path); got != f.want {
			t.Errorf("%q = %q, want %q", f.path, got, f.want)
		}
	}
}

func checkInfo(t *testing.T, c *config.Instance, tree *Tree) {
	t.Helper()
	body := leaf(t, tree, "meta-data/iam/info")
	checkAWSLayout(t, "iam/info", body)
	var info struct {
		Code               string
		LastUpdated        time.Time
		InstanceProfileArn string
		InstanceProfileID  string
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil {
		t.Fatalf("iam/info does not decode: %v", err)
	}
	if info.Code != "Success" || info.InstanceProfileArn != c.IAM.InstanceProfileArn || info.InstanceProfileID != c.IAM.InstanceProfileID || info.LastUpdated.IsZero() {
		t.Errorf("iam/info = %+v, does not match the configuration %+v", info, c.IAM)
	}
	if got := string(tree.Lookup("meta-data/iam/security-credentials").Body(dumpAt)); got != c.IAM.Role {
		t.Errorf("iam/security-credentials/ = %q, want exactly the role %q", got, c.IAM.Role)
	}
}

// checkCredentials decodes the role's credentials at time now as botocore
// and aws-sdk-go-v2 would and checks they are usable.
func checkCredentials(t *testing.T, c *config.Instance, tree *Tree, now time.Time) {
	t.Helper()
	e := tree.Lookup("meta-data/iam/security-credentials/" + c.IAM.Role)
	if e == nil || e.Dir {
		t.Fatalf("credentials of %q do not resolve to a leaf", c.IAM.Role)
	}
	body := string(e.Body(now))
	checkAWSLayout(t, "credentials", body)
	var raw map[string]any
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("credentials at %v do not decode: %v\n%s", now, err, body)
	}
	for _, k := range []string{"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"} {
		if s, ok := raw[k].(string); !ok || s == "" {
			t.Errorf("credentials at %v: field %s = %v, want a non-empty string", now, k, raw[k])
		}
	}
	if len(raw) != 7 {
		t.Errorf("credentials at %v have %d fields, want 7: %s", now, len(raw), body)
	}
	exp, err := time.Parse(botocoreTime, raw["Expiration"].(string))
	if err != nil {
		t.Fatalf("Expiration %q does not parse as botocore's format: %v", raw["Expiration"], err)
	}
	upd, err := time.Parse(botocoreTime, raw["LastUpdated"].(string))
	if err != nil {
		t.Fatalf("LastUpdated %q does not parse: %v", raw["LastUpdated"], err)
	}
	// botocore refreshes 15 minutes before expiry and aws-sdk-go-v2 caps
	// at an hour: a credential set must be good for well over both.
	if !exp.After(now.Add(time.Hour)) {
		t.Errorf("at %v: Expiration %v is not more than an hour ahead", now, exp)
	}
	if !upd.Before(exp) {
		t.Errorf("at %v: LastUpdated %v not before Expiration %v", now, upd, exp)
	}
	if now.After(launch) && upd.After(now) {
		t.Errorf("at %v: LastUpdated %v is in the future", now, upd)
	}
	if raw["Code"] != "Success" || raw["Type"] != "AWS-HMAC" || raw["AccessKeyId"] != c.IAM.AccessKeyID ||
		raw["SecretAccessKey"] != c.IAM.SecretAccessKey || raw["Token"] != c.IAM.Token {
		t.Errorf("credentials at %v do not match the configuration: %s", now, body)
	}
}

func TestCredentialsRotate(t *testing.T) {
	tree := Build(load(t, "full"), launch)
	e := tree.Lookup("meta-data/iam/security-credentials/WebServerRole")
	h := time.Date(2024, 5, 6, 11, 0, 0, 0, time.UTC)
	before, at := e.Body(h.Add(-time.Nanosecond)), e.Body(h)
	if bytes.Equal(before, at) {
		t.Errorf("credentials did not change across the hour boundary: %s", at)
	}
	if a, b := e.Body(h), e.Body(h.Add(59*time.Minute)); !bytes.Equal(a, b) {
		t.Errorf("credentials changed within one hour:\n%s\n%s", a, b)
	}
	// Before the first boundary after launch, they date from launch.
	if got := string(e.Body(launch)); !strings.Contains(got, `"LastUpdated" : "2024-05-06T07:08:09Z"`) ||
		!strings.Contains(got, `"Expiration" : "2024-05-06T13:08:09Z"`) {
		t.Errorf("credentials at launch = %s, want LastUpdated at launch and Expiration six hours later", got)
	}
}

func TestServices(t *testing.T) {
	tests := []struct {
		region, domain, partition string
	}{
		{"us-east-2", "amazonaws.com", "aws"},
		{"antarctica-1", "amazonaws.com", "aws"},
		{"cn-north-1", "amazonaws.com.cn", "aws-cn"},
		{"cn-northwest-1", "amazonaws.com.cn", "aws-cn"},
		{"us-gov-west-1", "amazonaws.com", "aws-us-gov"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			tree := Build(parse(t, tt.region, `{"region": "`+tt.region+`"}`), launch)
			if got := leaf(t, tree, "meta-data/services/domain"); got != tt.domain {
				t.Errorf("services/domain = %q, want %q", got, tt.domain)
			}
			if got := leaf(t, tree, "meta-data/services/partition"); got != tt.partition {
				t.Errorf("services/partition = %q, want %q", got, tt.partition)
			}
		})
	}
}

func TestVersions(t *testing.T) {
	vs := Versions()
	if string(VersionList()) != strings.Join(vs, "\n") {
		t.Errorf("VersionList() and Versions() disagree")
	}
	if bytes.HasSuffix(VersionList(), []byte("\n")) {
		t.Errorf("version list ends with a newline")
	}
	if len(vs) < 2 || vs[0] != "1.0" || vs[len(vs)-1] != "latest" {
		t.Errorf("versions = %q, want 1.0 first and latest last", vs)
	}
	if !sort.StringsAreSorted(vs[:len(vs)-1]) {
		t.Errorf("dated versions are not in order: %q", vs)
	}
	// Those cloud-init probes, plus Debian ec2metadata's.
	for _, v := range []string{"2021-03-23", "2018-09-24", "2016-09-02", "2009-04-04", "latest", "1.0"} {
		if !KnownVersion(v) {
			t.Errorf("KnownVersion(%q) = false, want true", v)
		}
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if !KnownVersion(v) {
			t.Errorf("KnownVersion(%q) = false for a listed version", v)
		}
		if seen[v] {
			t.Errorf("version %q listed twice", v)
		}
		seen[v] = true
	}
	for _, v := range []string{"", "2099-01-01", "2021-03-24", "Latest", "latest/", "1.0\n2007-01-19", "api", "meta-data", "\n"} {
		if KnownVersion(v) {
			t.Errorf("KnownVersion(%q) = true, want false", v)
		}
	}
	// Callers may not corrupt the list.
	vs[0] = "x"
	VersionList()[0] = 'x'
	if Versions()[0] != "1.0" || VersionList()[0] != '1' {
		t.Errorf("modifying the returned slices changed the version list")
	}
}

func TestBuildDeterministic(t *testing.T) {
	c := load(t, "full")
	a, b := dump(Build(c, launch), dumpAt), dump(Build(c, launch), dumpAt)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of one configuration differ:\n%s", firstDiff(a, b))
	}
	if Build(c, launch).Lookup("meta-data/") != nil || Build(c, launch).Lookup("/meta-data") != nil {
		t.Errorf("Lookup accepts an unclean path; it takes imdspath.Split's rest")
	}
}

// TestConcurrentLookups reads every path from several goroutines at once.
// Under -race (make test) the race detector checks that a tree is safe to
// share; without it the test still checks that each concurrent answer is
// the one a lone reader gets.
func TestConcurrentLookups(t *testing.T) {
	tree := Build(load(t, "full"), launch)
	want := map[int]map[string]string{} // by minutes after dumpAt, by path
	for g := range 4 {
		for i := range 50 {
			if want[g*i] == nil {
				want[g*i] = map[string]string{}
				for _, p := range tree.Paths() {
					want[g*i][p] = string(tree.Lookup(p).Body(dumpAt.Add(time.Duration(g*i) * time.Minute)))
				}
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				for _, p := range tree.Paths() {
					got := tree.Lookup(p).Body(dumpAt.Add(time.Duration(g*i) * time.Minute))
					if string(got) != want[g*i][p] {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("%s at +%d min: %q, alone %q", p, g*i, got, want[g*i][p]))
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d concurrent answers differ from a lone reader's, first: %s", len(bad), bad[0])
	}
}

// BenchmarkLookup is the path lookup every request makes: one map access
// of a clean path.
func BenchmarkLookup(b *testing.B) {
	tree := Build(&config.Default().Instance, time.Unix(1_700_000_000, 0))
	for _, p := range []string{"meta-data/instance-id", "meta-data/network/interfaces/macs/02:00:00:00:00:01/subnet-id", "meta-data/nonexistent"} {
		b.Run(p[strings.LastIndexByte(p, '/')+1:], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				tree.Lookup(p)
			}
		})
	}
}
