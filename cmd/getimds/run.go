package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/internal/imdspath"
	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// Exit statuses; see EXIT STATUS in getimds(1).
const (
	exitOK          = 0 // success
	exitNotFound    = 1 // a path was answered 404
	exitUsage       = 2 // bad flags or operands
	exitRefused     = 3 // 401 or 403, or no token could be had
	exitUnreachable = 4 // no answer: refused, unreachable or timed out
	exitServer      = 5 // any other error: 5xx, unexpected status, bad answer
)

const synopsis = `usage: getimds [options] [endpoint] [path ...]
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
  -k, --ssh-keys              print every OpenSSH public key, one per line
      --no-credentials        do not read security-credentials (IAM secrets)
  -t, --timeout SECONDS       give up on a request after SECONDS (default 5)
      --connect-timeout SECONDS
                              give up connecting after SECONDS (default 2)
      --retries N             retry refused connections and 5xx N times (default 2)
  -v, --verbose               report tokens, fallbacks and retries on stderr
  -V, --version               print the version and exit
  -h, --help                  print this help and exit

Exit status: 0 success, 1 not found (404), 2 usage, 3 refused (401/403),
4 unreachable or timed out, 5 other server error.`

// options are the parsed command line.
type options struct {
	endpoint       string
	ipv6           bool
	v1             bool
	noFallback     bool
	ttl            int
	json           bool
	interval       seconds
	sshKeys        bool
	noCredentials  bool
	timeout        seconds
	connectTimeout seconds
	retries        int
	verbose        bool
	version        bool
	help           bool
	paths          []string // resolved path operands
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg + "\n" + synopsis }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// reportedError is an error whose details were printed already; it only
// decides the exit status.
type reportedError struct{ err error }

func (e *reportedError) Error() string { return e.err.Error() }
func (e *reportedError) Unwrap() error { return e.err }

// exitCode maps an error to the exit status getimds(1) documents.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	var se *imdsclient.StatusError
	if errors.As(err, &se) {
		switch c := se.StatusCode; {
		case se.Token() && (c == 401 || c == 403 || c == 404 || c == 405):
			return exitRefused // the service would not issue a token
		case c == http.StatusNotFound:
			return exitNotFound
		case c == http.StatusUnauthorized || c == http.StatusForbidden:
			return exitRefused
		}
		return exitServer
	}
	var ne *imdsclient.NetError
	if errors.As(err, &ne) {
		return exitUnreachable
	}
	return exitServer
}

// seconds is a flag value in seconds, fractions allowed.
type seconds struct {
	d   time.Duration
	max time.Duration
}

func (s *seconds) String() string { return s.d.String() }

func (s *seconds) Set(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f <= 0 || f*float64(time.Second) > float64(s.max) {
		return fmt.Errorf("want seconds greater than 0 and at most %v", s.max.Seconds())
	}
	s.d = time.Duration(f * float64(time.Second))
	return nil
}

// parseArgs parses the command line; getenv reads the environment.
func parseArgs(args []string, getenv func(string) string) (*options, error) {
	o := &options{
		ttl:            int(imdsclient.DefaultTokenTTL / time.Second),
		timeout:        seconds{d: imdsclient.DefaultTimeout, max: time.Hour},
		connectTimeout: seconds{d: imdsclient.DefaultConnectTimeout, max: time.Hour},
		interval:       seconds{max: 24 * time.Hour},
		retries:        imdsclient.DefaultAttempts - 1,
	}
	fs := flag.NewFlagSet("getimds", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, n := range []string{"e", "endpoint"} {
		fs.StringVar(&o.endpoint, n, "", "")
	}
	for _, n := range []string{"6", "ipv6"} {
		fs.BoolVar(&o.ipv6, n, false, "")
	}
	for _, n := range []string{"1", "v1"} {
		fs.BoolVar(&o.v1, n, false, "")
	}
	fs.BoolVar(&o.noFallback, "no-fallback", false, "")
	fs.IntVar(&o.ttl, "ttl", o.ttl, "")
	for _, n := range []string{"j", "json"} {
		fs.BoolVar(&o.json, n, false, "")
	}
	for _, n := range []string{"i", "interval"} {
		fs.Var(&o.interval, n, "")
	}
	for _, n := range []string{"k", "ssh-keys"} {
		fs.BoolVar(&o.sshKeys, n, false, "")
	}
	fs.BoolVar(&o.noCredentials, "no-credentials", false, "")
	for _, n := range []string{"t", "timeout"} {
		fs.Var(&o.timeout, n, "")
	}
	fs.Var(&o.connectTimeout, "connect-timeout", "")
	fs.IntVar(&o.retries, "retries", o.retries, "")
	for _, n := range []string{"v", "verbose"} {
		fs.BoolVar(&o.verbose, n, false, "")
	}
	for _, n := range []string{"V", "version"} {
		fs.BoolVar(&o.version, n, false, "")
	}
	for _, n := range []string{"h", "help"} {
		fs.BoolVar(&o.help, n, false, "")
	}

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

// run is getimds: it parses args, reads what they ask for and writes it to
// stdout; errors go to stderr as they happen. The error returned decides
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args, os.Getenv)
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprintln(stdout, help)
		return nil
	}
	if o.version {
		fmt.Fprintln(stdout, "getimds", version)
		return nil
	}
	mode := imdsclient.Auto
	switch {
	case o.v1:
		mode = imdsclient.V1Only
	case o.noFallback:
		mode = imdsclient.V2Only
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	r := &runner{o: o, mode: mode, out: out, stderr: stderr}
	copts := imdsclient.Options{
		Endpoint:       o.endpoint,
		Mode:           mode,
		TokenTTL:       time.Duration(o.ttl) * time.Second,
		ConnectTimeout: o.connectTimeout.d,
		Timeout:        o.timeout.d,
		Attempts:       o.retries + 1,
		UserAgent:      "getimds/" + version,
	}
	if o.verbose {
		copts.Logf = func(format string, args ...any) {
			r.warnf(format, args...)
		}
	}
	if r.c, err = imdsclient.New(copts); err != nil {
		return usagef("%v", err)
	}

	switch {
	case o.sshKeys:
		err = r.sshKeys(ctx)
	case o.interval.d > 0:
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = r.watch(ctx, roots(o.paths))
	case o.json:
		err = r.json(ctx, roots(o.paths))
	case len(o.paths) > 0:
		err = r.values(ctx, o.paths)
	default:
		err = r.walk(ctx)
	}
	if err != nil {
		r.fail(err) // printed here, in order with what came before, with a hint
	}
	if ferr := out.Flush(); ferr != nil {
		return fmt.Errorf("writing output: %w", ferr)
	}
	if r.first != nil {
		return &reportedError{r.first}
	}
	return nil
}

// roots are the subtrees to visit: the paths given, or the whole tree.
func roots(paths []string) []string {
	if len(paths) == 0 {
		return []string{""}
	}
	return paths
}

// runner carries what the modes share.
type runner struct {
	o      *options
	mode   imdsclient.Mode
	c      *imdsclient.Client
	out    *bufio.Writer
	stderr io.Writer
	first  error // the first error reported; it decides the exit status
}

// warnf prints a message on stderr, after what stdout holds so far, so
// that a terminal shows both in order.
func (r *runner) warnf(format string, args ...any) {
	r.out.Flush()
	fmt.Fprintf(r.stderr, "getimds: "+format+"\n", args...)
}

// fail reports err and remembers the first for the exit status.
func (r *runner) fail(err error) {
	r.warnf("%v%s", err, r.hint(err))
	if r.first == nil {
		r.first = err
	}
}

// hint explains the errors whose cure is a flag.
func (r *runner) hint(err error) string {
	var se *imdsclient.StatusError
	if !errors.As(err, &se) {
		return ""
	}
	switch {
	case se.Token() && r.mode == imdsclient.V2Only && exitCode(err) == exitRefused:
		return " (no IMDSv2 token, and fallback to IMDSv1 is off)"
	case !se.Token() && se.StatusCode == http.StatusUnauthorized && r.mode == imdsclient.V1Only:
		return " (the service requires IMDSv2 tokens; drop -1)"
	}
	return ""
}

// isStatus reports whether err is an HTTP answer (rather than no answer),
// and whether it is 404.
func isStatus(err error) (status, notFound bool) {
	var se *imdsclient.StatusError
	if !errors.As(err, &se) {
		return false, false
	}
	return true, se.StatusCode == http.StatusNotFound && !se.Token()
}

// values prints each path's value byte for byte, separated by one newline;
// nothing follows the last. A path that fails is reported and skipped; no
// answer at all ends the run.
func (r *runner) values(ctx context.Context, paths []string) error {
	printed := 0
	for _, p := range paths {
		v, err := r.c.Get(ctx, p)
		if err != nil {
			if status, _ := isStatus(err); !status {
				return err
			}
			r.fail(err)
			continue
		}
		if printed > 0 {
			r.out.WriteByte('\n')
		}
		r.out.Write(v)
		printed++
	}
	return nil
}

// visit walks root and hands each leaf to leaf. An HTTP error below root
// is reported and the walk goes on; an error at root, or no answer at all,
// ends it. The walk of the whole tree takes a 404 for a listed user-data
// to mean "none", as cloud-init does.
func (r *runner) visit(ctx context.Context, root string, leaf func(n imdsclient.Node)) error {
	top := imdsclient.Clean(root)
	return r.c.Walk(ctx, root, func(n imdsclient.Node, err error) error {
		if err != nil {
			status, notFound := isStatus(err)
			if !status || n.Path == top {
				return err
			}
			if notFound && !n.Dir && isUserData(n.Path) {
				return nil
			}
			r.fail(err)
			return nil
		}
		if n.Dir && r.o.noCredentials && baseName(n.Path) == "security-credentials" {
			return imdsclient.SkipDir
		}
		if !n.Dir {
			leaf(n)
		}
		return nil
	})
}

// walk prints every leaf of the whole tree with its path.
func (r *runner) walk(ctx context.Context) error {
	return r.visit(ctx, "", func(n imdsclient.Node) { writeEntry(r.out, n.Path, n.Value) })
}

// json prints the trees at roots as one JSON document.
func (r *runner) json(ctx context.Context, roots []string) error {
	t := newTree()
	for _, root := range roots {
		top := imdsclient.Clean(root)
		err := r.visit(ctx, root, func(n imdsclient.Node) { t.add(n.Path, n.Value) })
		if err != nil {
			if status, _ := isStatus(err); !status {
				return err
			}
			r.fail(err)
			continue
		}
		t.ensure(top) // an empty directory still appears
	}
	return t.write(r.out)
}

// sshKeys prints every OpenSSH public key, one per line. No public-keys
// directory, or a listed key that is missing, is not an error: sshd(8)
// uses the output only when the exit status is 0.
func (r *runner) sshKeys(ctx context.Context) error {
	listing, err := r.c.Get(ctx, "meta-data/public-keys/")
	if _, notFound := isStatus(err); notFound {
		return nil
	} else if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(listing), "\n") {
		n, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		n = strings.TrimSuffix(n, "/")
		if n == "" || strings.Trim(n, "0123456789") != "" {
			continue
		}
		v, err := r.c.Get(ctx, "meta-data/public-keys/"+n+"/openssh-key")
		if _, notFound := isStatus(err); notFound {
			r.warnf("%v", err)
			continue
		} else if err != nil {
			return err
		}
		for key := range strings.SplitSeq(string(v), "\n") {
			key = strings.TrimSpace(key)
			if key == "" || strings.HasPrefix(key, "#") {
				continue
			}
			r.out.WriteString(key)
			r.out.WriteByte('\n')
		}
	}
	return nil
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// isUserData reports whether a clean path is a version's user-data.
func isUserData(p string) bool {
	return p == "user-data" || strings.HasSuffix(p, "/user-data") && strings.Count(p, "/") == 1
}
