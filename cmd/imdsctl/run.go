package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/ctlsock"
)

const usage = `usage: imdsctl [--socket path] [--json] [--timeout duration] command [args]

  guests                              list the guests
  show TARGET [--secrets]             print the effective instance
  patch TARGET JSON|-                 merge-patch the instance (RFC 7396;
                                      null drops a runtime value)
  reset TARGET                        drop the runtime overrides
  add FILE|-                          add a guest (an instances_dir file)
  remove ID                           remove a guest added at run time
  spot TARGET [--action terminate|stop|hibernate] [--in DURATION]
  rebalance TARGET [--in DURATION]
  event TARGET add CODE [--not-before T|DURATION] [--not-after T|DURATION]
                        [--description TEXT]
  event TARGET cancel|complete EVENT-ID
  event TARGET reschedule EVENT-ID --not-before T|DURATION
  asg TARGET STATE                    set autoscaling/target-lifecycle-state
  credentials TARGET rotate|expire|expiring|error|detach|ok
  clear TARGET                        withdraw everything issued at run time

  TARGET is an instance id, tag:KEY=VALUE or all; a DURATION is Go's
  syntax (90s, 2m) and T an RFC 3339 time (2026-12-08T09:00:00Z).

      --socket path      imdsd's control socket (default %s,
                         or $IMDSCTL_SOCKET)
      --json             print imdsd's JSON answer, for scripts
      --timeout duration give up after duration (default 10s)
      --version          print the version and exit
  -h, --help             print this help and exit

Exit status: 0 done, 1 refused by imdsd (its message is printed), 2 usage,
4 imdsd's socket cannot be reached. See imdsctl(8).
`

// defaultTimeout bounds a request unless --timeout says otherwise.
const defaultTimeout = 10 * time.Second

// command is one run of imdsctl, with its environment, which tests
// replace.
type command struct {
	stdin  io.Reader
	getenv func(string) string

	// The global options.
	socket  string
	json    bool
	timeout time.Duration
	help    bool
	version bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := &command{stdin: os.Stdin, getenv: os.Getenv}
	return c.run(ctx, args, stdout, stderr)
}

func (c *command) defaultSocket() string {
	if s := c.getenv("IMDSCTL_SOCKET"); s != "" {
		return s
	}
	return ctlsock.DefaultPath(c.getenv)
}

func (c *command) usage() string { return fmt.Sprintf(usage, c.defaultSocket()) }

// flags returns a flag set with the global options; the command adds
// its own.
func (c *command) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.socket, "socket", c.socket, "")
	fs.BoolVar(&c.json, "json", c.json, "")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "")
	fs.BoolVar(&c.help, "help", c.help, "")
	fs.BoolVar(&c.help, "h", c.help, "")
	fs.BoolVar(&c.version, "version", c.version, "")
	return fs
}

// parse parses args with fs, taking options anywhere among the operands
// (the flag package stops at the first operand), and returns the operands.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var ops []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, cli.Usagef("%s: %v", fs.Name(), flagError(err))
		}
		args = fs.Args()
		if len(args) == 0 {
			return ops, nil
		}
		ops = append(ops, args[0])
		args = args[1:]
	}
}

// flagError rewords the flag package's errors.
func flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown option --%s; imdsctl --help lists the options", name)
	}
	var val, name string
	if n, _ := fmt.Sscanf(msg, "invalid value %q for flag -%s", &val, &name); n == 2 {
		name = strings.TrimSuffix(name, ":")
		return fmt.Errorf("--%s %s: expected a duration, such as 10s", name, val)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("--%s needs a value", name)
	}
	return err
}

func (c *command) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c.timeout = defaultTimeout
	c.socket = c.defaultSocket()

	// The global options, before the command.
	fs := c.flags("imdsctl")
	if err := fs.Parse(args[1:]); err != nil {
		return cli.Usagef("%v", flagError(err))
	}
	rest := fs.Args()
	if c.help {
		fmt.Fprint(stdout, c.usage())
		return nil
	}
	if c.version {
		fmt.Fprintln(stdout, "imdsctl", version)
		return nil
	}
	if len(rest) == 0 {
		fmt.Fprint(stderr, c.usage())
		return &cli.Error{Code: exitUsage, Err: errors.New("no command")}
	}
	name, rest := rest[0], rest[1:]
	cmd, ok := commands[name]
	if !ok {
		return cli.Usagef("unknown command %q; imdsctl --help lists them", name)
	}
	fs = c.flags(name)
	o := &opts{set: isSet(fs)}
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	ops, err := parse(fs, rest)
	if err != nil {
		return err
	}
	if c.help {
		fmt.Fprint(stdout, c.usage())
		return nil
	}
	if c.timeout <= 0 {
		return cli.Usagef("--timeout %v: give a positive duration, such as 10s", c.timeout)
	}
	if err := checkOperands(name, cmd, ops); err != nil {
		return err
	}
	req, err := cmd.build(c, ops, o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res, err := newClient(c.socket).do(ctx, req.method, req.path, req.ctype, req.body)
	if err != nil {
		return err
	}
	if c.json {
		stdout.Write(res.body)
		return check(res)
	}
	if err := check(res); err != nil {
		return err
	}
	return req.print(stdout, res.body)
}

// request is what a command sends, and how its answer is printed.
type request struct {
	method, path, ctype string
	body                []byte
	print               func(w io.Writer, body []byte) error
}

// spec is one command: its operands, options and request.
type spec struct {
	// operands name the operands, for messages; those after min are
	// optional.
	operands []string
	min      int
	flags    func(fs *flag.FlagSet, o *opts)
	build    func(c *command, ops []string, o *opts) (*request, error)
}

// opts are the commands' options; each command registers those it takes.
type opts struct {
	secrets                       bool
	action, in                    string
	notBefore, notAfter, describe string
	set                           func(name string) bool
}

func isSet(fs *flag.FlagSet) func(string) bool {
	return func(name string) bool {
		found := false
		fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
		return found
	}
}

func checkOperands(name string, s spec, ops []string) error {
	switch {
	case len(ops) < s.min:
		return cli.Usagef("%s: missing %s", name, strings.Join(s.operands[len(ops):s.min], " "))
	case len(ops) > len(s.operands):
		return cli.Usagef("%s: unexpected %q", name, ops[len(s.operands)])
	}
	return nil
}

var commands = map[string]spec{
	"guests": {
		build: func(*command, []string, *opts) (*request, error) {
			return &request{method: "GET", path: "/v1/guests", print: printGuests}, nil
		},
	},
	"show": {
		operands: []string{"TARGET"}, min: 1,
		flags: func(fs *flag.FlagSet, o *opts) { fs.BoolVar(&o.secrets, "secrets", false, "") },
		build: func(c *command, ops []string, o *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			p := "/v1/guests/" + t
			if o.secrets {
				p += "?secrets=1"
			}
			return &request{method: "GET", path: p, print: printInstances}, nil
		},
	},
	"patch": {
		operands: []string{"TARGET", "JSON|-"}, min: 2,
		build: func(c *command, ops []string, _ *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			doc := []byte(ops[1])
			if ops[1] == "-" {
				if doc, err = c.readInput("-"); err != nil {
					return nil, err
				}
			}
			return &request{method: "PATCH", path: "/v1/guests/" + t + "/overrides",
				ctype: "application/merge-patch+json", body: doc, print: printResults}, nil
		},
	},
	"reset": targetOnly("DELETE", "/overrides"),
	"clear": targetOnly("POST", "/clear"),
	"add": {
		operands: []string{"FILE|-"}, min: 1,
		build: func(c *command, ops []string, _ *opts) (*request, error) {
			doc, err := c.readInput(ops[0])
			if err != nil {
				return nil, err
			}
			return &request{method: "POST", path: "/v1/guests", ctype: "application/json", body: doc, print: printResults}, nil
		},
	},
	"remove": {
		operands: []string{"ID"}, min: 1,
		build: func(c *command, ops []string, _ *opts) (*request, error) {
			t, err := control.ParseTarget(ops[0])
			if err != nil || t.ID == "" {
				return nil, cli.Usagef("remove %s: give one instance id, such as i-0123456789abcdef0", ops[0])
			}
			return &request{method: "DELETE", path: "/v1/guests/" + url.PathEscape(t.ID), print: printResults}, nil
		},
	},
	"spot": {
		operands: []string{"TARGET"}, min: 1,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.action, "action", "terminate", "")
			fs.StringVar(&o.in, "in", "", "")
		},
		build: func(c *command, ops []string, o *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			if !slices.Contains(control.SpotActions, o.action) {
				return nil, cli.Usagef("spot --action %s: expected %s", o.action, strings.Join(control.SpotActions, ", "))
			}
			if err := duration("--in", o.in); err != nil {
				return nil, err
			}
			return post("/v1/guests/"+t+"/spot", map[string]string{"action": o.action, "in": o.in}), nil
		},
	},
	"rebalance": {
		operands: []string{"TARGET"}, min: 1,
		flags: func(fs *flag.FlagSet, o *opts) { fs.StringVar(&o.in, "in", "", "") },
		build: func(c *command, ops []string, o *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			if err := duration("--in", o.in); err != nil {
				return nil, err
			}
			return post("/v1/guests/"+t+"/rebalance", map[string]string{"in": o.in}), nil
		},
	},
	"event": {
		operands: []string{"TARGET", "add|cancel|complete|reschedule", "CODE|EVENT-ID"}, min: 2,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.notBefore, "not-before", "", "")
			fs.StringVar(&o.notAfter, "not-after", "", "")
			fs.StringVar(&o.describe, "description", "", "")
		},
		build: buildEvent,
	},
	"asg": {
		operands: []string{"TARGET", "STATE"}, min: 2,
		build: func(c *command, ops []string, _ *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			if !slices.Contains(control.ASGStates, ops[1]) {
				return nil, cli.Usagef("asg %s: expected one of %s", ops[1], strings.Join(control.ASGStates, ", "))
			}
			return post("/v1/guests/"+t+"/asg", map[string]string{"state": ops[1]}), nil
		},
	},
	"credentials": {
		operands: []string{"TARGET", "rotate|expire|expiring|error|detach|ok"}, min: 2,
		build: func(c *command, ops []string, _ *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			if !slices.Contains(control.CredentialActions, ops[1]) {
				return nil, cli.Usagef("credentials %s: expected one of %s", ops[1], strings.Join(control.CredentialActions, ", "))
			}
			return post("/v1/guests/"+t+"/credentials", map[string]string{"action": ops[1]}), nil
		},
	},
}

func targetOnly(method, suffix string) spec {
	return spec{
		operands: []string{"TARGET"}, min: 1,
		build: func(c *command, ops []string, _ *opts) (*request, error) {
			t, err := target(ops[0])
			if err != nil {
				return nil, err
			}
			return &request{method: method, path: "/v1/guests/" + t + suffix, print: printResults}, nil
		},
	}
}

func buildEvent(c *command, ops []string, o *opts) (*request, error) {
	t, err := target(ops[0])
	if err != nil {
		return nil, err
	}
	verb := ops[1]
	takes, known := map[string][]string{
		"add":        {"not-before", "not-after", "description"},
		"cancel":     nil,
		"complete":   nil,
		"reschedule": {"not-before"},
	}[verb]
	if !known {
		return nil, cli.Usagef("event %s: expected add, cancel, complete or reschedule", verb)
	}
	if len(ops) < 3 {
		if verb == "add" {
			return nil, cli.Usagef("event add: missing CODE (%s)", strings.Join(control.EventCodes, ", "))
		}
		return nil, cli.Usagef("event %s: missing EVENT-ID", verb)
	}
	for _, f := range []string{"not-before", "not-after", "description"} {
		if o.set(f) && !slices.Contains(takes, f) {
			return nil, cli.Usagef("event %s takes no --%s", verb, f)
		}
	}
	for _, w := range [][2]string{{"--not-before", o.notBefore}, {"--not-after", o.notAfter}} {
		if w[1] != "" {
			if _, err := control.ParseWhen(w[1]); err != nil {
				return nil, cli.Usagef("%s %v", w[0], err)
			}
		}
	}
	if verb == "add" {
		if !slices.Contains(control.EventCodes, ops[2]) {
			return nil, cli.Usagef("event add %s: expected one of %s", ops[2], strings.Join(control.EventCodes, ", "))
		}
		return post("/v1/guests/"+t+"/events", map[string]string{
			"code": ops[2], "not_before": o.notBefore, "not_after": o.notAfter, "description": o.describe,
		}), nil
	}
	if verb == "reschedule" && o.notBefore == "" {
		return nil, cli.Usagef("event reschedule: missing --not-before T|DURATION")
	}
	if !strings.HasPrefix(ops[2], "instance-event-") {
		return nil, cli.Usagef("event %s %s: an event id is instance-event- and its digits, as imdsctl guests lists them", verb, ops[2])
	}
	return post("/v1/guests/"+t+"/events/"+url.PathEscape(ops[2])+"/"+verb, map[string]string{"not_before": o.notBefore}), nil
}

// post is a POST of the members of m that are not empty, as JSON.
func post(path string, m map[string]string) *request {
	body := map[string]string{}
	for k, v := range m {
		if v != "" {
			body[k] = v
		}
	}
	r := &request{method: "POST", path: path, print: printResults}
	if len(body) > 0 {
		r.body, _ = json.Marshal(body)
		r.ctype = "application/json"
	}
	return r
}

// target checks a TARGET operand and returns it escaped for a path.
func target(s string) (string, error) {
	t, err := control.ParseTarget(s)
	if err != nil {
		return "", cli.Usagef("%v", err)
	}
	return url.PathEscape(t.String()), nil
}

func duration(flag, s string) error {
	if s == "" {
		return nil
	}
	if d, err := time.ParseDuration(s); err != nil || d < 0 {
		return cli.Usagef("%s %s: expected a duration, such as 90s or 2m", flag, s)
	}
	return nil
}

// readInput reads a document from a file, or standard input for "-",
// bounded: imdsd refuses more than control.DefaultMaxBody anyway and
// says so.
func (c *command) readInput(name string) ([]byte, error) {
	var r io.Reader = c.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, cli.Usagef("%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, 2*control.DefaultMaxBody))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if name == "-" {
			name = "standard input"
		}
		return nil, cli.Usagef("%s is empty: expected a JSON object", name)
	}
	return data, nil
}
