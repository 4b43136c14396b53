package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/internal/imdspath"
	"github.com/imdsd/imdsd/pkg/imdsclient"
)

const synopsis = `usage: getimds [options] [endpoint] [path ...]
       getimds --wait [options] [endpoint] path
       getimds --ssh-keys [options] [endpoint]`

const help = synopsis + `

With no path, print every leaf of meta-data, dynamic and user-data with its
path. With paths, print each value byte for byte (a directory prints its
listing); a bare key such as instance-id means meta-data/instance-id.

The endpoint operand is an IP address, host:port, [v6]:port or an http://
URL; the default is $AWS_EC2_METADATA_SERVICE_ENDPOINT or
http://169.254.169.254.

Options:
  -e, --endpoint URL          read from URL (or IP, host:port, [v6]:port)
  -6, --ipv6                  use EC2's IPv6 endpoint, http://[fd00:ec2::254]
  -1, --v1                    use IMDSv1 only: never ask for a token
      --no-fallback           IMDSv2 only: fail if no token can be had
      --ttl SECONDS           token lifetime to ask for (1-21600, default 21600)
  -j, --json                  print the tree, or the paths, as one JSON document
  -i, --interval SECONDS      repeat until interrupted, printing what changed
  -w, --wait                  wait until the path exists (200), polling every
                              second, then print it; with --timeout, give up
                              after that long (exit status 4)
  -k, --ssh-keys              print every OpenSSH public key, one per line
      --no-credentials        do not read security-credentials (IAM secrets)
  -t, --timeout SECONDS       give up on a request after SECONDS (default 5);
                              with --wait, on the whole wait (default: never)
      --connect-timeout SECONDS
                              give up connecting after SECONDS (default 2)
      --walk-timeout SECONDS
                              give up a walk of a tree, or one --interval
                              round, after SECONDS (default 60)
      --retries N             retry refused connections and 5xx N times (default 2)
  -v, --verbose               report tokens, fallbacks and retries on stderr
  -V, --version               print the version and exit
  -h, --help                  print this help and exit

Exit status: 0 success, 1 not found (404), 2 usage, 3 refused (401/403),
4 unreachable or timed out, 5 other server error.`

// defaultWalkTimeout bounds a walk: a real instance serves a few hundred
// entries, read in well under a second; without it only MaxNodes requests
// of up to --timeout each would.
const defaultWalkTimeout = 60 * time.Second

// maxWait bounds --timeout with --wait: a week.
const maxWait = 7 * 24 * time.Hour

// options are the parsed command line.
type options struct {
	endpoint       string
	ipv6           bool
	v1             bool
	noFallback     bool
	ttl            int
	json           bool
	interval       seconds
	wait           bool
	sshKeys        bool
	noCredentials  bool
	timeout        seconds
	connectTimeout seconds
	walkTimeout    seconds // bound on one walk of a tree, or one --interval round
	retries        int
	verbose        bool
	version        bool
	help           bool
	paths          []string // resolved path operands
}

// seconds is a flag value in seconds, fractions allowed.
type seconds struct {
	d   time.Duration
	max time.Duration
	set bool // given on the command line
}

func (s *seconds) String() string { return s.d.String() }

func (s *seconds) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f*float64(time.Second) > float64(s.max) {
		return fmt.Errorf("want seconds greater than 0 and at most %v", s.max.Seconds())
	}
	s.d = time.Duration(f * float64(time.Second))
	s.set = true
	return nil
}

// parseArgs parses the command line; getenv reads the environment.
func parseArgs(args []string, getenv func(string) string) (*options, error) {
	o := &options{
		ttl:            int(imdsclient.DefaultTokenTTL / time.Second),
		timeout:        seconds{d: imdsclient.DefaultTimeout, max: maxWait},
		connectTimeout: seconds{d: imdsclient.DefaultConnectTimeout, max: time.Hour},
		interval:       seconds{max: 24 * time.Hour},
		walkTimeout:    seconds{d: defaultWalkTimeout, max: 24 * time.Hour},
		retries:        imdsclient.DefaultAttempts - 1,
	}
	fs := flag.NewFlagSet("getimds", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cli.String(fs, &o.endpoint, "", "e", "endpoint")
	cli.Bool(fs, &o.ipv6, false, "6", "ipv6")
	cli.Bool(fs, &o.v1, false, "1", "v1")
	cli.Bool(fs, &o.noFallback, false, "no-fallback")
	cli.Int(fs, &o.ttl, o.ttl, "ttl")
	cli.Bool(fs, &o.json, false, "j", "json")
	cli.Var(fs, &o.interval, "i", "interval")
	cli.Bool(fs, &o.wait, false, "w", "wait")
	cli.Bool(fs, &o.sshKeys, false, "k", "ssh-keys")
	cli.Bool(fs, &o.noCredentials, false, "no-credentials")
	cli.Var(fs, &o.timeout, "t", "timeout")
	cli.Var(fs, &o.connectTimeout, "connect-timeout")
	cli.Var(fs, &o.walkTimeout, "walk-timeout")
	cli.Int(fs, &o.retries, o.retries, "retries")
	cli.Bool(fs, &o.verbose, false, "v", "verbose")
	cli.Bool(fs, &o.version, false, "V", "version")
	cli.Bool(fs, &o.help, false, "h", "help")

	// Flags may follow operands ("getimds instance-id --json"); "--" ends
	// the flags.
	var operands []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			return nil, usagef("%v", err)
		}
		consumed := len(rest) - len(fs.Args())
		ended := consumed > 0 && rest[consumed-1] == "--"
		rest = fs.Args()
		if ended {
			operands = append(operands, rest...)
			break
		}
		if len(rest) > 0 {
			operands = append(operands, rest[0])
			rest = rest[1:]
		}
	}
	if o.help || o.version {
		return o, nil
	}

	switch {
	case o.ttl < 1 || o.ttl > int(imdsclient.MaxTokenTTL/time.Second):
		return nil, usagef("--ttl %d: want 1 to %d seconds", o.ttl, int(imdsclient.MaxTokenTTL/time.Second))
	case o.retries < 0 || o.retries > 10:
		return nil, usagef("--retries %d: want 0 to 10", o.retries)
	case o.v1 && o.noFallback:
		return nil, usagef("-1 (IMDSv1 only) and --no-fallback (IMDSv2 only) exclude each other")
	case o.sshKeys && (o.json || o.interval.d > 0):
		return nil, usagef("--ssh-keys takes no --json or --interval")
	case o.json && o.interval.d > 0:
		return nil, usagef("--json and --interval exclude each other")
	case o.wait && (o.sshKeys || o.json || o.interval.d > 0):
		return nil, usagef("--wait takes no --ssh-keys, --json or --interval")
	case !o.wait && o.timeout.d > time.Hour:
		return nil, usagef("--timeout %v: want seconds greater than 0 and at most 3600 (up to %v with --wait)", o.timeout.d.Seconds(), maxWait.Seconds())
	case o.ipv6 && o.endpoint != "":
		return nil, usagef("-6 and -e exclude each other")
	}
	if o.ipv6 {
		o.endpoint = imdsclient.IPv6Endpoint
	}
	if len(operands) > 0 && looksLikeEndpoint(operands[0]) {
		if o.endpoint != "" {
			return nil, usagef("two endpoints: %s and %s", o.endpoint, operands[0])
		}
		o.endpoint, operands = operands[0], operands[1:]
	}
	if o.endpoint == "" {
		e, err := imdsclient.EnvEndpoint(getenv)
		if err != nil {
			return nil, usagef("%v", err)
		}
		o.endpoint = e
	}
	if _, err := imdsclient.ParseEndpoint(o.endpoint); err != nil {
		return nil, usagef("%v", err)
	}
	if !o.v1 && strings.EqualFold(getenv("AWS_EC2_METADATA_V1_DISABLED"), "true") {
		o.noFallback = true
	}
	if o.sshKeys && len(operands) > 0 {
		return nil, usagef("--ssh-keys takes no path (%q); in sshd_config, do not pass %%u", operands[0])
	}
	for _, a := range operands {
		o.paths = append(o.paths, resolve(a))
	}
	if o.wait && len(o.paths) != 1 {
		return nil, usagef("--wait takes one path, such as meta-data/spot/instance-action; got %d", len(o.paths))
	}
	return o, nil
}

// looksLikeEndpoint reports whether an operand names an endpoint rather
// than a path: an http:// or https:// URL, an IP address, "[v6]" or
// "[v6]:port", or "host:port" with a numeric port. No metadata path has
// these forms.
func looksLikeEndpoint(s string) bool {
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") || strings.HasPrefix(s, "[") {
		return true
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.Contains(host, "/") {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 65536
}

// resolve turns a path operand into a client path: a bare key such as
// "instance-id" or "placement/region" means meta-data/...; a trailing
// slash is kept.
func resolve(arg string) string {
	p := imdsclient.Clean(arg)
	ver, rest := "", p
	if first, after, _ := strings.Cut(p, "/"); imdspath.IsVersion(first) {
		ver, rest = first, after
	}
	if rest != "" {
		switch first, _, _ := strings.Cut(rest, "/"); first {
		case "meta-data", "dynamic", "user-data":
		default:
			rest = "meta-data/" + rest
		}
	}
	p = rest
	if ver != "" {
		p = strings.TrimSuffix(ver+"/"+rest, "/")
	}
	if strings.HasSuffix(arg, "/") && p != "" {
		p += "/"
	}
	return p
}
