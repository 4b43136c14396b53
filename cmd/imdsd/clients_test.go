//go:build linux

package main

// End to end with real EC2 clients other than the Go SDK, as Debian 12
// packages them (wire reference §8.2, §8.3, §8.5, §8.6; checklist items
// 38-40): botocore (python3-botocore), cloud-init's Ec2 datasource
// (cloud-init), ec2-metadata (amazon-ec2-utils) and ec2metadata
// (cloud-guest-utils). These clients are the specification: where one of
// them fails, imdsd is wrong, not the client.
//
// The Python clients run under Debian's /usr/bin/python3 with drivers from
// testdata/clients/ and talk to imdsd on 127.0.0.1. The two shell-level
// tools hard-code http://169.254.169.254, so they run in a network
// namespace of their own that has that address on its loopback, with imdsd
// listening there.
//
// Each test skips when its package is missing, except in CI (CI set),
// where the packages must be installed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/golden"
)

// clientsPython is Debian's interpreter, the one the packages install
// their modules for (the first python3 on PATH may be another).
const clientsPython = "/usr/bin/python3"

// The instance testdata/clients/imdsd.json describes.
const (
	clInstanceID = "i-0c1d2e3f4a5b60001"
	clHostname   = "ip-10-0-0-10.us-east-2.compute.internal"
	clRegion     = "us-east-2"
	clZone       = "us-east-2b"
	clMAC        = "02:00:00:00:00:01"
	clKey0       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIclients one@clients"
	clKey1       = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQclients two@clients"
	clUserData   = "#cloud-config\nhostname: clients-vm\nruncmd:\n- echo hello from imdsd\n"
	clRole       = "clients-role"
	clAccessKey  = "ASIAIOSFODNN7EXAMPLE"
	clSecret     = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	clToken      = "IQoJb3JpZ2luX2VjEXAMPLETOKEN"
)

// clientMissing skips the test, or fails it when CI is set, because the
// Debian package pkg is not installed.
func clientMissing(t *testing.T, pkg, detail string) {
	t.Helper()
	unavailable(t, "%s (apt-get install -y --no-install-recommends %s)", detail, pkg)
}

// needPythonModule checks that Debian's python3 can import module, which
// package pkg provides.
func needPythonModule(t *testing.T, module, pkg string) {
	t.Helper()
	if _, err := os.Stat(clientsPython); err != nil {
		clientMissing(t, pkg, fmt.Sprintf("there is no %s", clientsPython))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, clientsPython, "-c", "import "+module)
	cmd.Env = clientEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		clientMissing(t, pkg, fmt.Sprintf("%s cannot import %s: %v: %s", clientsPython, module, err, lastLine(string(out))))
	}
}

// needCommand returns the path of tool, which package pkg provides.
func needCommand(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		clientMissing(t, pkg, fmt.Sprintf("there is no %s", tool))
	}
	return p
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// clientEnv is the environment for the clients: no proxy (botocore,
// requests, urllib and curl all honour *_proxy), no AWS_* settings from
// the caller, no user site-packages shadowing Debian's, and no byte code
// written next to system modules.
func clientEnv() []string {
	var env []string
	for _, kv := range childEnv() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasSuffix(strings.ToLower(name), "_proxy"),
			strings.HasPrefix(name, "AWS_"),
			name == "PYTHONHOME", name == "PYTHONSTARTUP", name == "PYTHONUSERBASE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONDONTWRITEBYTECODE=1", "PYTHONNOUSERSITE=1")
}

// runClient runs name with args, bounded by timeout, and returns its
// output and exit status.
func runClient(t *testing.T, timeout time.Duration, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = clientEnv()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s did not finish within %v; stderr:\n%s", name, strings.Join(args, " "), timeout, errb.String())
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		code = ee.ExitCode()
	default:
		t.Fatalf("running %s %s: %v", name, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// runPython runs the driver testdata/clients/script with Debian's python3
// and decodes the JSON it prints into out. It returns the driver's stderr
// (the client's debug log).
func runPython(t *testing.T, out any, script string, args ...string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", "clients", script))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runClient(t, 30*time.Second, clientsPython, append([]string{path}, args...)...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d; stderr:\n%s", script, strings.Join(args, " "), code, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		t.Fatalf("%s: cannot decode its output: %v\n%s\nstderr:\n%s", script, err, stdout, stderr)
	}
	return stderr
}

// clientsConfig writes testdata/clients/imdsd.json with the top-level keys
// in changes replaced and returns its path.
func clientsConfig(t *testing.T, changes map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/clients/imdsd.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("testdata/clients/imdsd.json: %v", err)
	}
	maps.Copy(m, changes)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, string(out))
}

// The access log fields of one request, as imdsd writes them with --log
// stderr (slog's text format).
var (
	accessMethodRE = regexp.MustCompile(`\bmethod=(\S+)`)
	accessPathRE   = regexp.MustCompile(`\bpath=("(?:[^"\\]|\\.)*"|\S+)`)
	accessStatusRE = regexp.MustCompile(`\bstatus=(\d+)`)
)

// accessLog returns imdsd's request log as "METHOD PATH STATUS" lines, in
// order, leaving out the readiness probe's "GET /" (no client here asks
// for /). Read it only after imdsd has exited: a request is logged after
// its response is sent, so a live log may still lack the last one.
func accessLog(t *testing.T, log string) []string {
	t.Helper()
	var lines []string
	for l := range strings.SplitSeq(log, "\n") {
		if !strings.Contains(l, "msg=request ") {
			continue
		}
		m, p, s := accessMethodRE.FindStringSubmatch(l), accessPathRE.FindStringSubmatch(l), accessStatusRE.FindStringSubmatch(l)
		if m == nil || p == nil || s == nil {
			t.Fatalf("cannot read imdsd's access log line %q", l)
		}
		if m[1] == http.MethodGet && p[1] == "/" {
			continue
		}
		lines = append(lines, m[1]+" "+p[1]+" "+s[1])
	}
	return lines
}

// waitLogged waits until imdsd has logged a request line with each of
// words, and returns the length of its log then.
func waitLogged(t *testing.T, d *daemonProc, words ...string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		log := d.stderr.String()
		all := true
		for _, w := range words {
			found := false
			for l := range strings.SplitSeq(log, "\n") {
				found = found || strings.Contains(l, "msg=request ") && strings.Contains(l, w)
			}
			all = all && found
		}
		if all {
			return len(log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("imdsd did not log requests with %q within 5s; log:\n%s", words, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stopLoopback stops a daemon started by startDaemon and returns its
// whole log.
func stopLoopback(t *testing.T, d *daemonProc) string {
	t.Helper()
	d.signal(t, syscall.SIGTERM)
	if code := d.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("imdsd exited %d after SIGTERM, want 0", code)
	}
	return d.stderr.String()
}

// clientRequest is one request as a client sent it and imdsd answered it.
type clientRequest struct {
	method, path string
	token        bool // the client sent X-aws-ec2-metadata-token
	status       int  // imdsd's answer
}

// botocoreOutput is what testdata/clients/botocore_imds.py prints.
type botocoreOutput struct {
	Credentials map[string]string `json:"credentials"`
	Region      *string           `json:"region"`
	Requests    []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Token  bool   `json:"token"`
	} `json:"requests"`
}

// botoTime is the only Expiration format botocore reads
// (InstanceMetadataFetcher._evaluate_expiration).
const botoTime = "2006-01-02T15:04:05Z"

// TestBotocore: botocore's InstanceMetadataFetcher and
// InstanceMetadataRegionFetcher (what boto3 and the AWS CLI use on EC2)
// against imdsd (checklist item 38).
func TestBotocore(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "botocore.utils", "python3-botocore")

	// The configuration is consistent (the zone is in the region), so it
	// loads without a warning, unlike the seed (see the "seed" case).
	if _, stderr, code := runImdsd(t, "-t", "--config", "testdata/clients/imdsd.json"); code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("imdsd -t --config testdata/clients/imdsd.json: exit %d, stderr %q; want 0 and no warning", code, stderr)
	}

	const (
		credsPath = "/latest/meta-data/iam/security-credentials/"
		zonePath  = "/latest/meta-data/placement/availability-zone/"
	)
	creds := map[string]string{
		"role_name":  clRole,
		"access_key": clAccessKey,
		"secret_key": clSecret,
		"token":      clToken,
	}
	// withToken is botocore's exchange when the token PUT succeeds.
	withToken := []clientRequest{
		{"PUT", "/latest/api/token", false, 200},
		{"GET", credsPath, true, 200},
		{"GET", credsPath + clRole, true, 200},
		{"PUT", "/latest/api/token", false, 200},
		{"GET", zonePath, true, 200},
	}
	tests := []struct {
		name      string
		config    string
		creds     map[string]string // without expiry_time; nil: {}
		region    string            // "": None
		exchanges []clientRequest
		v1        bool // the token PUT is refused: the test asks without one
	}{
		{name: "tokens required", config: clientsConfig(t, nil),
			creds: creds, region: clRegion, exchanges: withToken},
		{name: "tokens optional", config: clientsConfig(t, map[string]any{"http_tokens": "optional"}),
			creds: creds, region: clRegion, exchanges: withToken},
		// A 404 (or 403, 405) to the PUT makes botocore go on without a
		// token (IMDSv1), which works when tokens are optional...
		{name: "tokens optional, token PUT 404",
			config: clientsConfig(t, map[string]any{"http_tokens": "optional", "force_status": map[string]int{"api/token": 404}}),
			creds:  creds, region: clRegion, v1: true,
			exchanges: []clientRequest{
				{"PUT", "/latest/api/token", false, 404},
				{"GET", credsPath, false, 200},
				{"GET", credsPath + clRole, false, 200},
				{"PUT", "/latest/api/token", false, 404},
				{"GET", zonePath, false, 200},
			}},
		// ...and gets nothing, quietly, when they are required.
		{name: "tokens required, token PUT 404",
			config: clientsConfig(t, map[string]any{"force_status": map[string]int{"api/token": 404}}),
			exchanges: []clientRequest{
				{"PUT", "/latest/api/token", false, 404},
				{"GET", credsPath, false, 401},
				{"PUT", "/latest/api/token", false, 404},
				{"GET", zonePath, false, 401},
			}},
		// The seed has no instance profile, and its zone antarc-north-1z
		// is not in its region antarctica-1: botocore's region is the
		// zone minus its last letter, whatever the region is.
		{name: "seed", config: "testdata/seed.json",
			region: "antarc-north-1",
			exchanges: []clientRequest{
				{"PUT", "/latest/api/token", false, 200},
				{"GET", credsPath, true, 404},
				{"PUT", "/latest/api/token", false, 200},
				{"GET", zonePath, true, 200},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDaemon(t, "--config", tt.config)
			// What imdsd itself serves as the role's expiry, asked for
			// before botocore runs; mark is where botocore's part of the
			// log starts.
			wantExpiry, mark := "", 0
			if tt.creds != nil {
				dated := "/2021-03-23/meta-data/iam/security-credentials/" + clRole
				tok, logged := "", []string{"path=" + dated + " "}
				if !tt.v1 {
					tok, logged = d.token(t, 60), append(logged, "path=/latest/api/token ")
				}
				st, _, body := d.get(t, dated, tok)
				var doc struct{ Expiration string }
				if err := json.Unmarshal([]byte(body), &doc); st != 200 || err != nil {
					t.Fatalf("GET the role's credentials: got %d %q (%v), want 200 and JSON", st, body, err)
				}
				wantExpiry = doc.Expiration
				mark = waitLogged(t, d, logged...)
			}
			var out botocoreOutput
			pyLog := runPython(t, &out, "botocore_imds.py", d.url)
			defer func() {
				if t.Failed() {
					t.Logf("botocore's log:\n%s", pyLog)
				}
			}()

			if tt.creds == nil {
				if len(out.Credentials) != 0 {
					t.Errorf("retrieve_iam_role_credentials() = %v, want {}", out.Credentials)
				}
			} else {
				want := maps.Clone(tt.creds)
				want["expiry_time"] = wantExpiry
				// imdsd rotates the credentials on the hour; botocore may
				// have seen the next set if an hour began in between.
				if got, err := time.Parse(botoTime, out.Credentials["expiry_time"]); err == nil && got.Format(botoTime) != wantExpiry {
					if exp, err := time.Parse(botoTime, wantExpiry); err == nil && got.After(exp) && got.Sub(exp) <= time.Hour {
						want["expiry_time"] = got.Format(botoTime)
					}
				}
				if !maps.Equal(out.Credentials, want) {
					t.Errorf("retrieve_iam_role_credentials():\n got %v\nwant %v", out.Credentials, want)
				}
				if exp, err := time.Parse(botoTime, wantExpiry); err != nil || time.Until(exp) < time.Hour {
					t.Errorf("the role's Expiration %q: want botocore's %%Y-%%m-%%dT%%H:%%M:%%SZ at least an hour ahead (%v)", wantExpiry, err)
				}
			}
			switch {
			case tt.region == "" && out.Region != nil:
				t.Errorf("retrieve_region() = %q, want None", *out.Region)
			case tt.region != "" && (out.Region == nil || *out.Region != tt.region):
				t.Errorf("retrieve_region() = %v, want %q", ptrString(out.Region), tt.region)
			}

			var wantSent, gotSent, wantLog []string
			for _, x := range tt.exchanges {
				wantSent = append(wantSent, fmt.Sprintf("%s %s%s token=%v", x.method, d.url, x.path, x.token))
				wantLog = append(wantLog, fmt.Sprintf("%s %s %d", x.method, x.path, x.status))
			}
			for _, r := range out.Requests {
				gotSent = append(gotSent, fmt.Sprintf("%s %s token=%v", r.Method, r.URL, r.Token))
			}
			if !slices.Equal(gotSent, wantSent) {
				t.Errorf("botocore sent\n\t%s\nwant\n\t%s", strings.Join(gotSent, "\n\t"), strings.Join(wantSent, "\n\t"))
			}
			gotLog := accessLog(t, stopLoopback(t, d)[mark:])
			if !slices.Equal(gotLog, wantLog) {
				t.Errorf("imdsd answered\n\t%s\nwant\n\t%s", strings.Join(gotLog, "\n\t"), strings.Join(wantLog, "\n\t"))
			}
		})
	}
}

func ptrString(p *string) string {
	if p == nil {
		return "None"
	}
	return fmt.Sprintf("%q", *p)
}

// cloudInitOutput is what testdata/clients/cloudinit_ec2.py prints.
type cloudInitOutput struct {
	Platform         string          `json:"platform"`
	CloudName        string          `json:"cloud_name"`
	GetData          bool            `json:"get_data"`
	APIVersion       string          `json:"api_version"`
	MetadataAddress  string          `json:"metadata_address"`
	InstanceID       string          `json:"instance_id"`
	Hostname         string          `json:"hostname"`
	PublicKeys       []string        `json:"public_keys"`
	UserData         string          `json:"user_data"`
	Region           string          `json:"region"`
	AvailabilityZone string          `json:"availability_zone"`
	Metadata         map[string]any  `json:"metadata"`
	Identity         map[string]any  `json:"identity"`
	Requests         []cloudInitSent `json:"requests"`
}

type cloudInitSent struct {
	Method string  `json:"method"`
	URL    string  `json:"url"`
	Token  bool    `json:"token"`
	TTL    *string `json:"ttl"`
}

// TestCloudInit runs cloud-init's DataSourceEc2._get_data() against imdsd
// (checklist item 39), on an EC2-identified platform (IMDSv2 tokens) and
// on an unknown one (IMDSv1 only).
func TestCloudInit(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "cloudinit.sources.DataSourceEc2", "cloud-init")

	tests := []struct {
		name     string
		platform string // the driver's aws or unknown
		changes  map[string]any
		ok       bool   // _get_data() finds the datasource
		golden   string // with ok
		maxWait  string // cloud-init's url_max_wait
		logHas   string // in cloud-init's log
	}{
		{name: "aws tokens required", platform: "aws", ok: true, golden: "cloudinit-aws.golden", maxWait: "10"},
		{name: "aws tokens optional", platform: "aws", changes: map[string]any{"http_tokens": "optional"},
			ok: true, golden: "cloudinit-aws.golden", maxWait: "10"},
		{name: "unknown tokens optional", platform: "unknown", changes: map[string]any{"http_tokens": "optional"},
			ok: true, golden: "cloudinit-unknown.golden", maxWait: "10"},
		// cloud-init never asks for a token off AWS: such guests need
		// http_tokens optional (wire reference §8.2).
		{name: "unknown tokens required", platform: "unknown", maxWait: "1"},
		// A 403 to the token PUT stops cloud-init at once, without
		// falling back to IMDSv1.
		{name: "aws endpoint disabled", platform: "aws", changes: map[string]any{"http_endpoint": "disabled"},
			maxWait: "10", logHas: "HTTP endpoint is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDaemon(t, "--config", clientsConfig(t, tt.changes))
			var out cloudInitOutput
			ciLog := runPython(t, &out, "cloudinit_ec2.py", d.url, tt.platform, tt.maxWait, t.TempDir())
			log := stopLoopback(t, d)
			defer func() {
				if t.Failed() {
					t.Logf("cloud-init's log (the last lines):\n%s", nsTail(ciLog, 40))
				}
			}()
			if tt.logHas != "" && !strings.Contains(ciLog, tt.logHas) {
				t.Errorf("cloud-init's log does not say %q", tt.logHas)
			}
			if out.CloudName != tt.platform {
				t.Fatalf("cloud_name = %q, want %q (the driver's platform data did not take)", out.CloudName, tt.platform)
			}
			answered := accessLog(t, log)
			cloudInitRequests(t, tt.platform, out.Requests, answered, d.url)
			if out.GetData != tt.ok {
				t.Fatalf("_get_data() = %v, want %v", out.GetData, tt.ok)
			}
			if !tt.ok {
				return
			}

			for _, l := range answered {
				if !strings.HasSuffix(l, " 200") {
					t.Errorf("imdsd answered %q during a crawl that should only meet 200s", l)
				}
			}
			if len(out.Metadata) == 0 {
				t.Fatalf("the crawled meta-data is empty: cloud-init drops it all when one listed entry fails")
			}
			for _, f := range []struct{ name, got, want string }{
				{"api version", out.APIVersion, "2021-03-23"},
				{"metadata address", out.MetadataAddress, d.url},
				{"get_instance_id()", out.InstanceID, clInstanceID},
				{"metadata local-hostname", fmt.Sprint(out.Metadata["local-hostname"]), clHostname},
				{"get_hostname()", out.Hostname, strings.Split(clHostname, ".")[0]},
				{"userdata_raw", out.UserData, clUserData},
				{"region", out.Region, clRegion},
				{"availability_zone", out.AvailabilityZone, clZone},
			} {
				if f.got != f.want {
					t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
				}
			}
			if want := []string{clKey0, clKey1}; !slices.Equal(out.PublicKeys, want) {
				t.Errorf("get_public_ssh_keys() = %q, want %q", out.PublicKeys, want)
			}
			if tt.platform == "aws" {
				if id, _ := out.Identity["instanceId"].(string); id != clInstanceID {
					t.Errorf("identity document instanceId = %q, want %q", id, clInstanceID)
				}
			} else if len(out.Identity) != 0 {
				t.Errorf("identity = %v, want none off AWS", out.Identity)
			}

			// The whole crawl, and imdsd's view of it, against the golden.
			golden.CheckString(t, "clients/"+tt.golden, cloudInitGolden(t, out, answered, d.addr))
		})
	}
}

// cloudInitRequests checks how cloud-init used tokens: on AWS one PUT for
// a 6-hour token first, then a token on every GET; elsewhere GETs only,
// never a token. sent is the driver's record, answered imdsd's log.
func cloudInitRequests(t *testing.T, platform string, sent []cloudInitSent, answered []string, base string) {
	t.Helper()
	if len(sent) == 0 {
		t.Fatalf("cloud-init sent no request")
	}
	if len(sent) != len(answered) {
		t.Errorf("cloud-init sent %d requests, imdsd logged %d:\n\t%s", len(sent), len(answered), strings.Join(answered, "\n\t"))
	}
	for i, r := range sent {
		path := strings.TrimPrefix(r.URL, base)
		switch {
		case platform == "aws" && i == 0:
			if r.Method != http.MethodPut || path != "/latest/api/token" || r.TTL == nil || *r.TTL != "21600" {
				t.Errorf("cloud-init's first request on AWS: %s %s (TTL %v), want PUT /latest/api/token with TTL 21600", r.Method, path, ptrString(r.TTL))
			}
		case platform == "aws":
			if r.Method != http.MethodGet || !r.Token {
				t.Errorf("cloud-init request %d on AWS: %s %s token=%v, want a GET with the token", i, r.Method, path, r.Token)
			}
		default:
			if r.Method != http.MethodGet || r.Token {
				t.Errorf("cloud-init request %d off AWS: %s %s token=%v, want a GET without a token", i, r.Method, path, r.Token)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cloudInitGolden renders what cloud-init made of imdsd, and the requests
// imdsd answered, with the times and the port that change from run to run
// replaced.
func cloudInitGolden(t *testing.T, out cloudInitOutput, answered []string, addr string) string {
	t.Helper()
	view := map[string]any{
		"api_version":       out.APIVersion,
		"availability_zone": out.AvailabilityZone,
		"cloud_name":        out.CloudName,
		"hostname":          out.Hostname,
		"identity":          out.Identity,
		"instance_id":       out.InstanceID,
		"metadata":          out.Metadata,
		"metadata_address":  out.MetadataAddress,
		"public_keys":       out.PublicKeys,
		"region":            out.Region,
		"user_data":         out.UserData,
	}
	s := "## what DataSourceEc2 found\n" + mustJSON(t, view) + "\n## what imdsd answered\n" + strings.Join(answered, "\n") + "\n"
	s = strings.ReplaceAll(s, addr, "127.0.0.1:PORT")
	return nsStampRE.ReplaceAllString(s, "<time>")
}

// clientsNS makes a network namespace for one test with 169.254.169.254/32
// on its loopback, and removes it when the test ends. It skips the test
// where namespaces cannot be made, except in CI.
func clientsNS(t *testing.T, name string) string {
	t.Helper()
	why := "the client hard-codes http://169.254.169.254, so it runs in a network namespace"
	needRoot(t, why)
	if _, err := exec.LookPath("ip"); err != nil {
		unavailable(t, "%s, and there is no ip command (apt-get install iproute2): %v", why, err)
	}
	ns := fmt.Sprintf("imdsC%d-%s", os.Getpid()%1000, name)
	nsRun("ip", "netns", "del", ns) // a leftover of a crashed run, if any
	if _, err := nsRun("ip", "netns", "add", ns); err != nil {
		unavailable(t, "%s, and a network namespace cannot be made here: %v", why, err)
	}
	t.Cleanup(func() {
		if _, err := nsRun("ip", "netns", "del", ns); err != nil {
			t.Errorf("removing the test namespace %s: %v", ns, err)
		}
	})
	for _, args := range [][]string{
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "addr", "add", nsIMDSHost + "/32", "dev", "lo"},
	} {
		if _, err := nsRun("ip", args...); err != nil {
			t.Fatalf("setting up namespace %s: %v", ns, err)
		}
	}
	return ns
}

// clientsNSDaemon runs imdsd with config in namespace ns on
// 169.254.169.254:80 and waits until it accepts connections there.
func clientsNSDaemon(t *testing.T, ns, config string) *nsDaemon {
	t.Helper()
	config, err := filepath.Abs(config)
	if err != nil {
		t.Fatal(err)
	}
	d := nsExecIMDS(t, ns, config)
	deadline := time.Now().Add(15 * time.Second)
	for {
		d.running(t)
		c, err := nsDial(ns, nsIMDS, time.Second)
		if err == nil {
			c.Close()
			if d.logged("listening", nsIMDS) {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("imdsd in %s: not listening on %s within 15s (last: %v); stderr:\n%s", ns, nsIMDS, err, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runInNS runs the client tool with args in namespace ns.
func runInNS(t *testing.T, ns, tool string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runClient(t, 30*time.Second, "ip", append([]string{"netns", "exec", ns, tool}, args...)...)
}

// unavailableRE matches a field a tool printed as unavailable: "name: not
// available" (ec2-metadata, also with the value on the next line for
// listings) or "name: unavailable" (ec2metadata).
var unavailableRE = regexp.MustCompile(`(?m)^([a-z-]+): ?\n?(?:not available|unavailable)$`)

// checkUnavailable checks that exactly the fields in want were printed as
// unavailable: those EC2 leaves out for an HVM instance in no placement
// group, which imdsd cannot be configured to serve either.
func checkUnavailable(t *testing.T, tool, out string, want []string) {
	t.Helper()
	var got []string
	for _, m := range unavailableRE.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s printed these fields as unavailable: %q, want exactly %q", tool, got, want)
	}
}

// checkHas checks that out contains each of want.
func checkHas(t *testing.T, tool, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s's output does not contain %q", tool, w)
		}
	}
}

// TestEC2MetadataAmazonUtils runs amazon-ec2-utils' ec2-metadata --all
// (checklist item 40).
func TestEC2MetadataAmazonUtils(t *testing.T) {
	t.Parallel()
	tool := needCommand(t, "ec2-metadata", "amazon-ec2-utils")
	needCommand(t, "curl", "curl")
	ns := clientsNS(t, "ec2u")
	d := clientsNSDaemon(t, ns, "testdata/clients/imdsd.json")

	out, errOut, code := runInNS(t, ns, tool, "--all")
	d.stop(t)
	answered := accessLog(t, d.stderr.String())
	if code != 0 || errOut != "" {
		t.Errorf("ec2-metadata --all: exit %d, stderr %q; want 0 and nothing", code, errOut)
	}
	checkHas(t, "ec2-metadata --all", out,
		"\ninstance-id: "+clInstanceID+"\n",
		"\nlocal-hostname: "+clHostname+"\n",
		"\nplacement: "+clZone+"\n",
		"\npublic-keys: \n"+
			"keyname:one@clients\nindex:0\nformat:openssh-key\nkey:(begins from next line)\n"+clKey0+"\n"+
			"keyname:two@clients\nindex:1\nformat:openssh-key\nkey:(begins from next line)\n"+clKey1+"\n",
		"\nuser-data: "+strings.TrimSuffix(clUserData, "\n")+"\n", // $(...) drops the last newline
		"\ntags: \n\t Env: clients-test\n\t Name: clients-vm\n",
	)
	checkUnavailable(t, "ec2-metadata --all", out, []string{"ancestor-ami-ids", "kernel-id", "product-codes", "ramdisk-id"})
	if len(answered) == 0 || answered[0] != "PUT /latest/api/token 200" {
		t.Errorf("imdsd's first answer to ec2-metadata: %q, want the token PUT with 200", answered[:min(1, len(answered))])
	}
	golden.CheckString(t, "clients/ec2-metadata.golden",
		"## ec2-metadata --all\n"+out+"## what imdsd answered\n"+strings.Join(answered, "\n")+"\n")
}

// TestEc2metadataCloudUtils runs Debian's ec2metadata (cloud-guest-utils,
// from canonical/cloud-utils), IMDSv2 only.
func TestEc2metadataCloudUtils(t *testing.T) {
	t.Parallel()
	tool := needCommand(t, "ec2metadata", "cloud-guest-utils")
	ns := clientsNS(t, "ec2m")
	d := clientsNSDaemon(t, ns, "testdata/clients/imdsd.json")

	out, errOut, code := runInNS(t, ns, tool)
	if code != 0 || errOut != "" {
		t.Errorf("ec2metadata: exit %d, stderr %q; want 0 and nothing", code, errOut)
	}
	checkHas(t, "ec2metadata", out,
		"\ninstance-id: "+clInstanceID+"\n",
		"\nlocal-hostname: "+clHostname+"\n",
		"\navailability-zone: "+clZone+"\n",
		"\nregion: "+clRegion+"\n",
		"\nmac: "+clMAC+"\n",
		fmt.Sprintf("\npublic-keys: ['%s', '%s']\n", clKey0, clKey1),
		"\nuser-data: b'"+strings.ReplaceAll(clUserData, "\n", `\n`)+"'\n",
	)
	checkUnavailable(t, "ec2metadata", out, []string{
		"ancestor-ami-ids", "kernel-id", "product-codes", "ramdisk-id", "host-id", "group-name", "partition-number"})

	// One field alone is printed bare; user-data byte for byte.
	for _, c := range []struct{ opt, want string }{
		{"--instance-id", clInstanceID + "\n"},
		{"--user-data", clUserData},
	} {
		got, errOut, code := runInNS(t, ns, tool, c.opt)
		if code != 0 || got != c.want {
			t.Errorf("ec2metadata %s: exit %d, %q (stderr %q); want exit 0, %q", c.opt, code, got, errOut, c.want)
		}
	}
	d.stop(t)
	answered := accessLog(t, d.stderr.String())
	for _, l := range answered {
		if strings.HasPrefix(l, "GET ") && !strings.HasPrefix(l, "GET /2009-04-04/") {
			t.Errorf("imdsd answered %q: ec2metadata asks for 2009-04-04 only", l)
		}
	}
	golden.CheckString(t, "clients/ec2metadata.golden",
		"## ec2metadata\n"+out+"## what imdsd answered (ec2metadata, --instance-id, --user-data)\n"+strings.Join(answered, "\n")+"\n")
}

// TestBotocoreRotation: botocore's instance-metadata credential provider
// picks up a rotated set. The rotation is the shortest imdsd takes, a new
// set every minute, each living 15: botocore, which refreshes when less
// than 15 minutes are left, asks again on its second read, a minute on,
// and gets the next set.
func TestBotocoreRotation(t *testing.T) {
	t.Parallel()
	needPythonModule(t, "botocore.credentials", "python3-botocore")
	d := startDaemon(t, "--config", clientsConfig(t, map[string]any{
		"iam": map[string]any{"role": clRole, "rotation": map[string]string{"lifetime": "15m", "interval": "1m"}},
	}))
	path, err := filepath.Abs(filepath.Join("testdata", "clients", "botocore_rotation.py"))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runClient(t, 3*time.Minute, clientsPython, path, d.url, "62")
	var out struct {
		Error string
		Reads []struct {
			AccessKey string `json:"access_key"`
			SecretKey string `json:"secret_key"`
			Token     string
			Expiry    string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &out); code != 0 || err != nil || len(out.Reads) != 2 {
		t.Fatalf("botocore_rotation.py: exit %d, output %q (%v); stderr:\n%s", code, stdout, err, stderr)
	}
	a, b := out.Reads[0], out.Reads[1]
	for _, r := range out.Reads {
		if !regexp.MustCompile(`^ASIA[A-Z0-9]{16}$`).MatchString(r.AccessKey) || len(r.SecretKey) != 40 || r.Token == "" {
			t.Errorf("a set %+v: want an ASIA key id of 20 characters, a 40-character secret and a token", r)
		}
	}
	ea, errA := time.Parse(botoTime, a.Expiry)
	eb, errB := time.Parse(botoTime, b.Expiry)
	if a.AccessKey == b.AccessKey || a.SecretKey == b.SecretKey || errA != nil || errB != nil || !eb.After(ea) {
		t.Errorf("botocore read %+v, then a minute on %+v: want a new set with a later expiry", a, b)
	}
}
