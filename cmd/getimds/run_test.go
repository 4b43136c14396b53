package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"github.com/imdsd/imdsd/internal/testbin"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/internal/golden"
	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/imdsclient"
	"github.com/imdsd/imdsd/pkg/imdstest"
)

// The walk of the seed config, byte for byte.
func TestWalkGolden(t *testing.T) {
	_, ep := startIMDS(t, "")
	r := runCLI(t, ep)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	golden.CheckString(t, "walk.golden", r.stdout)

	r = runCLI(t, ep, "--json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("--json: exit %d, stderr %q", r.code, r.stderr)
	}
	golden.CheckString(t, "walk.json.golden", r.stdout)
}

// The seed's form, "getimds 127.0.0.1:PORT", run as a program.
func TestSeedFormBinary(t *testing.T) {
	_, ep := startIMDS(t, "")
	r := runBinary(t, nil, ep)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	golden.CheckString(t, "walk.golden", r.stdout)
}

// Every exit status, produced by the program for real; the message names
// the endpoint and the path.
func TestExitStatus(t *testing.T) {
	_, seed := startIMDS(t, "")
	_, fault := startIMDS(t, `{"force_status": {"meta-data/instance-id": 500, "meta-data/hostname": 503}}`)
	_, notoken := startIMDS(t, `{"http_tokens": "optional", "force_status": {"api/token": 404}}`)
	_, disabled := startIMDS(t, `{"http_endpoint": "disabled"}`)
	hold := imdstest.Hold(t)
	closed := imdstest.ClosedPort(t)

	tests := []struct {
		name string
		args []string
		code int
		msg  string // in stderr
	}{
		{"ok", []string{seed, "instance-id"}, 0, ""},
		{"not found", []string{seed, "nope"}, 1, "GET http://" + seed + "/latest/meta-data/nope: 404 Not Found"},
		{"usage: unknown flag", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"usage: bad ttl", []string{"--ttl", "0", seed}, 2, "--ttl 0"},
		{"usage: two endpoints", []string{"-e", seed, closed}, 2, "two endpoints"},
		{"401 with -1", []string{"-1", seed, "instance-id"}, 3, "GET http://" + seed + "/latest/meta-data/instance-id: 401 Unauthorized"},
		{"403 endpoint disabled", []string{"-1", disabled, "instance-id"}, 3, "http://" + disabled + "/latest/meta-data/instance-id: 403 Forbidden"},
		{"no token, no fallback", []string{"--no-fallback", notoken, "instance-id"}, 3, "PUT http://" + notoken + "/latest/api/token: 404 Not Found"},
		{"accepts, never answers", []string{"--timeout", "0.2", hold, "instance-id"}, 4, "GET http://" + hold + "/latest/meta-data/instance-id: no complete answer within 200ms"},
		{"closed port", []string{"--retries", "1", closed, "instance-id"}, 4, "http://" + closed + "/latest/api/token: dial tcp " + closed},
		{"5xx", []string{"--retries", "1", fault, "instance-id"}, 5, "GET http://" + fault + "/latest/meta-data/instance-id: 500 Internal Server Error"},
		{"5xx in a walk", []string{"--retries", "0", fault, "placement", "hostname"}, 5, "/latest/meta-data/hostname: 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBinary(t, nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.msg) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.msg)
			}
			if tt.code != 0 && tt.code != 2 && !strings.HasPrefix(r.stderr, "getimds: ") {
				t.Errorf("stderr %q lacks the program name", r.stderr)
			}
		})
	}
}

// With tokens optional and the token path answering 404, getimds falls
// back to IMDSv1; with --no-fallback it fails with status 3.
func TestFallback(t *testing.T) {
	_, ep := startIMDS(t, `{"http_tokens": "optional", "force_status": {"api/token": 404}}`)
	r := runCLI(t, ep, "instance-id")
	if r.code != 0 || r.stdout != "i-1234567890" || r.stderr != "" {
		t.Errorf("fallback: %+v", r)
	}
	r = runCLI(t, "--no-fallback", ep, "instance-id")
	if r.code != 3 || r.stdout != "" || !strings.Contains(r.stderr, "fallback to IMDSv1 is off") {
		t.Errorf("--no-fallback: %+v", r)
	}
	r = runCLI(t, "-v", ep, "instance-id")
	if r.code != 0 || !strings.Contains(r.stderr, "falling back to IMDSv1") {
		t.Errorf("-v does not report the fallback: %+v", r)
	}
}

// Values are printed byte for byte: no newline added, a newline kept.
func TestValues(t *testing.T) {
	_, ep := startIMDS(t, "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"instance-id"}, "i-1234567890abcdef0"},
		{[]string{"meta-data/instance-id"}, "i-1234567890abcdef0"},
		{[]string{"/latest/meta-data/instance-id"}, "i-1234567890abcdef0"},
		{[]string{"2009-04-04/instance-id"}, "i-1234567890abcdef0"},
		{[]string{"public-keys/0/openssh-key"}, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkey1\n"},
		{[]string{"placement"}, "availability-zone\navailability-zone-id\nregion"},
		{[]string{"placement/"}, "availability-zone\navailability-zone-id\nregion"},
		{[]string{"public-keys"}, "0=key-0\n1=key-1"},
		{[]string{"/"}, "dynamic\nmeta-data\nuser-data"},
		{[]string{"user-data"}, *config.Default().UserData},
		// Several values are separated by one newline; none follows the last.
		{[]string{"instance-id", "local-ipv4", "placement/region"}, "i-1234567890abcdef0\n10.0.0.10\nantarctica-1"},
		// Flags may follow the operands.
		{[]string{"instance-id", "--timeout", "3"}, "i-1234567890abcdef0"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runCLI(t, append([]string{ep}, tt.args...)...)
			if r.code != 0 || r.stderr != "" || r.stdout != tt.want {
				t.Errorf("got exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}

	// A missing path among several is reported; the others are printed.
	r := runCLI(t, ep, "instance-id", "nope", "local-ipv4")
	if r.code != 1 || r.stdout != "i-1234567890abcdef0\n10.0.0.10" || !strings.Contains(r.stderr, "/latest/meta-data/nope: 404") {
		t.Errorf("with a missing path: %+v", r)
	}
}

// $(getimds instance-id) is exact when run as a program too.
func TestBareKeyBinary(t *testing.T) {
	_, ep := startIMDS(t, "")
	r := runBinary(t, nil, ep, "instance-id")
	if r.code != 0 || r.stdout != "i-1234567890abcdef0" || r.stderr != "" {
		t.Errorf("%+v", r)
	}
	// The endpoint from the environment, as the AWS SDKs read it.
	r = runBinary(t, []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT=http://" + ep + "/"}, "instance-id")
	if r.code != 0 || r.stdout != "i-1234567890abcdef0" {
		t.Errorf("with AWS_EC2_METADATA_SERVICE_ENDPOINT: %+v", r)
	}
}

// A listed entry that fails does not end the walk: it is reported, the
// rest is printed, and the exit status is the entry's.
func TestWalkGoesOn(t *testing.T) {
	_, ep := startIMDS(t, `{"force_status": {"meta-data/hostname": 404}}`)
	r := runCLI(t, ep)
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if want := "getimds: GET http://" + ep + "/latest/meta-data/hostname: 404 Not Found\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	if strings.Contains(r.stdout, "meta-data/hostname:") || !strings.Contains(r.stdout, "\nmeta-data/instance-id: i-1234567890\n") ||
		!strings.HasSuffix(r.stdout, "\nmeta-data/services/partition: aws\n") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// --json parses, and every value in it is the value getimds PATH prints,
// binary user-data included.
func TestJSONRoundTrip(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00}
	cfg := `{
		"user_data_base64": "` + base64.StdEncoding.EncodeToString(gz) + `",
		"iam": {"role": "web"},
		"tags": {"Name": "<box> & \"quotes\""}
	}`
	srv, ep := startIMDS(t, cfg)
	r := runCLI(t, ep, "--json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	if !strings.HasSuffix(r.stdout, "}\n") || !strings.Contains(r.stdout, `"Name": "<box> & \"quotes\""`) {
		t.Errorf("layout: want one indented document ending in a newline, <>& unescaped")
	}
	leaves := map[string][]byte{}
	var collect func(prefix string, v any)
	collect = func(prefix string, v any) {
		switch v := v.(type) {
		case string:
			leaves[prefix] = []byte(v)
		case map[string]any:
			if b, ok := v["base64"].(string); ok && len(v) == 1 {
				raw, err := base64.StdEncoding.DecodeString(b)
				if err != nil {
					t.Errorf("%s: bad base64: %v", prefix, err)
				}
				leaves[prefix] = raw
				return
			}
			for k, c := range v {
				collect(strings.TrimPrefix(prefix+"/"+k, "/"), c)
			}
		default:
			t.Errorf("%s: unexpected %T", prefix, v)
		}
	}
	collect("", doc)

	tree := metadata.Build(&srv.Config().Instance, epoch)
	var want []string
	for _, p := range tree.Paths() {
		if !tree.Lookup(p).Dir {
			want = append(want, p)
		}
	}
	var got []string
	for p := range leaves {
		got = append(got, p)
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("leaves in JSON:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range want {
		r := runCLI(t, ep, p)
		if r.code != 0 || r.stdout != string(leaves[p]) {
			t.Errorf("%s: getimds prints %q (exit %d), JSON has %q", p, r.stdout, r.code, leaves[p])
		}
	}
	if !bytes.Equal(leaves["user-data"], gz) {
		t.Errorf("user-data = %x, want %x", leaves["user-data"], gz)
	}

	// A subtree keeps its place in the tree.
	_, seed := startIMDS(t, "")
	r = runCLI(t, seed, "--json", "placement", "instance-id")
	want1 := "{\n  \"meta-data\": {\n    \"placement\": {\n      \"availability-zone\": \"antarctica-1a\",\n" +
		"      \"availability-zone-id\": \"ant1-az1\",\n      \"region\": \"antarctica-1\"\n    },\n" +
		"    \"instance-id\": \"i-1234567890abcdef0\"\n  }\n}\n"
	if r.code != 0 || r.stdout != want1 {
		t.Errorf("--json placement instance-id:\n%s\nwant:\n%s", r.stdout, want1)
	}
}

func TestSSHKeys(t *testing.T) {
	keys := []string{
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example",
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkey1",
		"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEkey3 bob, with a comma",
	}
	js, _ := json.Marshal(keys)
	_, ep := startIMDS(t, `{"ssh_public_keys": `+string(js)+`}`)
	want := strings.Join(keys, "\n") + "\n"
	for _, args := range [][]string{{"--ssh-keys", ep}, {ep, "-k"}} {
		r := runCLI(t, args...)
		if r.code != 0 || r.stdout != want || r.stderr != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", args, r.code, r.stderr, r.stdout, want)
		}
	}
	r := runBinary(t, nil, "--ssh-keys", ep)
	if r.code != 0 || r.stdout != want {
		t.Errorf("binary: %+v", r)
	}

	// No keys at all: nothing printed, and success, so that sshd goes on.
	_, none := startIMDS(t, `{"ssh_public_keys": []}`)
	if r := runCLI(t, "--ssh-keys", none); r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("no keys: %+v", r)
	}
	// An unreachable service is a failure, so that sshd ignores the output.
	if r := runCLI(t, "--ssh-keys", "--retries", "0", imdstest.ClosedPort(t)); r.code != 4 {
		t.Errorf("unreachable: %+v", r)
	}
}

// --interval prints the state, then what changes, until interrupted.
func TestInterval(t *testing.T) {
	srv, ep := startIMDS(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testbin.Output
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"getimds", "--interval", "0.05", ep, "instance-id", "tags"}, &out, &errb)
	}()
	// A reload can land between two roots of one round, splitting a
	// change over two rounds; compare the change lines, sorted.
	stamp := regexp.MustCompile(`(?m)^@ \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n`)
	lines := func(s string) string {
		l := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		sort.Strings(l)
		return strings.Join(l, "\n")
	}
	waitFor := func(want string) {
		t.Helper()
		var got string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if got = stamp.ReplaceAllString(out.String(), ""); lines(got) == lines(want) {
				return
			}
		}
		t.Fatalf("output:\n%s\nwant (in any order):\n%s\nstderr: %s", got, want, errb.String())
	}

	want := "meta-data/instance-id: i-1234567890abcdef0\n- meta-data/tags\n"
	waitFor(want)
	if o := out.String(); !stamp.MatchString(o) || !strings.HasPrefix(o, "@ ") {
		t.Errorf("the first round does not start with a time stamp:\n%s", o)
	}
	srv.Reload(imdstest.Config(t, `{"instance_id": "i-0abc", "tags": {"Name": "box"}}`))
	want += "meta-data/instance-id: i-0abc\nmeta-data/tags/instance/Name: box\n"
	waitFor(want)
	srv.Reload(config.Default())
	want += "meta-data/instance-id: i-1234567890abcdef0\n- meta-data/tags/instance/Name\n"
	waitFor(want)

	cancel()
	select {
	case err := <-done:
		if code := cli.Status("getimds", &errb, err); code != 0 {
			t.Errorf("exit %d after interrupt, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("--interval did not stop when interrupted")
	}
	if errb.String() != "" {
		t.Errorf("stderr: %s", errb.String())
	}
}

func TestWriteEntry(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"one line", "i-1234567890", "p: i-1234567890\n"},
		{"spaces kept", "  a b  ", "p:   a b  \n"},
		{"empty", "", "p:\n"},
		{"tab is text", "a\tb", "p: a\tb\n"},
		{"lines", "a\nb", "p:\n| a\n| b\n"},
		{"trailing newline", "key\n", "p:\n| key\n|\n"},
		{"blank lines", "\na\n\n", "p:\n|\n| a\n|\n|\n"},
		{"looks like a block", "|", "p: |\n"},
		{"not UTF-8", "\x1f\x8b\x08", "p:: H4sI\n"},
		{"carriage return", "a\r\n", "p:: YQ0K\n"},
		{"escape", "\x1b[2J", "p:: G1sySg==\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			w := bufio.NewWriter(&b)
			writeEntry(w, "p", []byte(tt.value))
			w.Flush()
			if b.String() != tt.want {
				t.Errorf("writeEntry(%q) = %q, want %q", tt.value, b.String(), tt.want)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args     []string
		env      map[string]string
		endpoint string
		paths    []string
		check    func(o *options) bool
	}{
		{args: nil, endpoint: ""},
		{args: []string{"127.0.0.1:8000"}, endpoint: "127.0.0.1:8000"},
		{args: []string{"127.0.0.1"}, endpoint: "127.0.0.1"},
		{args: []string{"fd00:ec2::254", "mac"}, endpoint: "fd00:ec2::254", paths: []string{"meta-data/mac"}},
		{args: []string{"[::1]:8000", "user-data"}, endpoint: "[::1]:8000", paths: []string{"user-data"}},
		{args: []string{"http://10.0.0.1/", "dynamic/instance-identity/document"}, endpoint: "http://10.0.0.1/", paths: []string{"dynamic/instance-identity/document"}},
		{args: []string{"localhost:8000", "instance-id"}, endpoint: "localhost:8000", paths: []string{"meta-data/instance-id"}},
		{args: []string{"-e", "localhost", "127.0.0.1x"}, endpoint: "localhost", paths: []string{"meta-data/127.0.0.1x"}},
		{args: []string{"--endpoint=http://x:1", "placement/"}, endpoint: "http://x:1", paths: []string{"meta-data/placement/"}},
		{args: []string{"-6"}, endpoint: imdsclient.IPv6Endpoint},
		{args: []string{"--ipv6", "instance-id"}, endpoint: imdsclient.IPv6Endpoint, paths: []string{"meta-data/instance-id"}},
		{args: []string{"network/interfaces/macs/02:00:00:00:00:01/mac"}, paths: []string{"meta-data/network/interfaces/macs/02:00:00:00:00:01/mac"}},
		{args: []string{"latest/meta-data/", "/", "latest", "2009-04-04/instance-id", "2009-04-04"}, paths: []string{"meta-data/", "", "", "2009-04-04/meta-data/instance-id", "2009-04-04"}},
		{args: []string{"instance-id", "--json", "-t", "0.5"}, paths: []string{"meta-data/instance-id"},
			check: func(o *options) bool { return o.json && o.timeout.d == 500*time.Millisecond }},
		{args: []string{"--", "-odd"}, paths: []string{"meta-data/-odd"}},
		{args: []string{"-1", "-k"}, check: func(o *options) bool { return o.v1 && o.sshKeys }},
		{args: []string{"--ttl", "1", "--retries", "0", "--connect-timeout", "0.25", "--no-credentials"},
			check: func(o *options) bool {
				return o.ttl == 1 && o.retries == 0 && o.connectTimeout.d == 250*time.Millisecond && o.noCredentials
			}},
		{args: []string{"instance-id"}, env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://10.1.2.3:8080"},
			endpoint: "http://10.1.2.3:8080", paths: []string{"meta-data/instance-id"}},
		{args: []string{"127.0.0.1:1"}, env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://10.1.2.3:8080"},
			endpoint: "127.0.0.1:1"},
		{args: nil, env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}, endpoint: imdsclient.IPv6Endpoint},
		{args: nil, env: map[string]string{"AWS_EC2_METADATA_V1_DISABLED": "TRUE"}, check: func(o *options) bool { return o.noFallback }},
		{args: []string{"-1"}, env: map[string]string{"AWS_EC2_METADATA_V1_DISABLED": "true"}, check: func(o *options) bool { return o.v1 && !o.noFallback }},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parseArgs(append([]string{"getimds"}, tt.args...), func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if o.endpoint != tt.endpoint || !slices.Equal(o.paths, tt.paths) {
				t.Errorf("endpoint %q, paths %q; want %q, %q", o.endpoint, o.paths, tt.endpoint, tt.paths)
			}
			if tt.check != nil && !tt.check(o) {
				t.Errorf("options %+v", o)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
	}{
		{args: []string{"--bogus"}},
		{args: []string{"-6", "-e", "127.0.0.1"}},
		{args: []string{"-6", "127.0.0.1"}},
		{args: []string{"-e", "127.0.0.1", "127.0.0.2"}},
		{args: []string{"-e", "ftp://x"}},
		{args: []string{"-e", "a b"}},
		{args: []string{"--ttl", "0"}},
		{args: []string{"--ttl", "21601"}},
		{args: []string{"--ttl", "x"}},
		{args: []string{"--timeout", "0"}},
		{args: []string{"-t", "NaN"}},
		{args: []string{"--connect-timeout", "-1"}},
		{args: []string{"--interval", "0"}},
		{args: []string{"--retries", "11"}},
		{args: []string{"--ssh-keys", "--json"}},
		{args: []string{"--ssh-keys", "-i", "1"}},
		{args: []string{"--ssh-keys", "ec2-user"}},
		{args: []string{"--json", "--interval", "1"}},
		{args: []string{"-1", "--no-fallback"}},
		{args: nil, env: map[string]string{"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv5"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parseArgs(append([]string{"getimds"}, tt.args...), func(k string) string { return tt.env[k] })
			if err == nil {
				t.Fatal("accepted")
			}
			if code := exitCode(err); code != exitUsage {
				t.Errorf("exit %d for %v, want %d", code, err, exitUsage)
			}
		})
	}

	r := runCLI(t, "--bogus")
	if r.code != 2 || !strings.Contains(r.stderr, "usage: getimds") || r.stdout != "" {
		t.Errorf("usage error: %+v", r)
	}
	for _, h := range []string{"-h", "--help"} {
		r := runCLI(t, h)
		if r.code != 0 || !strings.Contains(r.stdout, "--ssh-keys") || r.stderr != "" {
			t.Errorf("%s: %+v", h, r)
		}
	}
	if r := runCLI(t, "--version"); r.code != 0 || r.stdout != "getimds dev\n" {
		t.Errorf("--version: %+v", r)
	}
}

// The walk reads the IAM role's credentials unless told not to.
func TestNoCredentials(t *testing.T) {
	_, ep := startIMDS(t, `{"iam": {"role": "web", "secret_access_key": "s3cr3t/Key+EXAMPLEEXAMPLEEXAMPLEEXAMPLE"}}`)
	for _, tc := range []struct {
		args   []string
		secret bool
	}{
		{[]string{ep}, true},
		{[]string{ep, "--json"}, true},
		{[]string{ep, "--no-credentials"}, false},
		{[]string{ep, "--json", "--no-credentials"}, false},
	} {
		r := runCLI(t, tc.args...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%q: exit %d, stderr %q", tc.args, r.code, r.stderr)
		}
		if got := strings.Contains(r.stdout, "s3cr3t/Key+"); got != tc.secret {
			t.Errorf("%q: secret printed %v, want %v", tc.args, got, tc.secret)
		}
		if !strings.Contains(r.stdout, "InstanceProfileArn") {
			t.Errorf("%q: iam/info missing", tc.args)
		}
	}
}

// An error that ends a walk is printed once, with its hint.
func TestWalkRefused(t *testing.T) {
	_, ep := startIMDS(t, "")
	r := runCLI(t, "-1", ep)
	want := "getimds: GET http://" + ep + "/latest/: 401 Unauthorized (the service requires IMDSv2 tokens; drop -1)\n"
	if r.code != 3 || r.stdout != "" || r.stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 3 and %q", r.code, r.stdout, r.stderr, want)
	}
}
