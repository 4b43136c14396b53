package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
	"github.com/imdsd/imdsd/pkg/service"
)

// exitError carries an exit status other than 1, and an optional message.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// Exit statuses.
const (
	exitUsage = 2
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	config     string
	host       string
	port       int
	listen     listFlag
	testConfig bool
	version    bool
	quiet      bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: imdsd [-t] [-c file] [--host addr] [--port port] [--listen addr:port ...]\n\n")
		fs.PrintDefaults()
	}
	for _, name := range []string{"config", "c"} {
		fs.StringVar(&o.config, name, "", "read the configuration from `file` (default: the built-in example)")
	}
	fs.StringVar(&o.host, "host", "169.254.169.254", "listen on `address`")
	fs.IntVar(&o.port, "port", 80, "listen on `port`")
	fs.Var(&o.listen, "listen", "listen on `addr:port` (repeatable; replaces --host and --port)")
	for _, name := range []string{"test-config", "t"} {
		fs.BoolVar(&o.testConfig, name, false, "check the configuration, print problems and exit")
	}
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.quiet, "no-access-log", false, "do not log one line per request")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitError{code: 0}
		}
		return nil, exitError{code: exitUsage}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, exitError{code: exitUsage, msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if o.port < 0 || o.port > 65535 {
		return nil, exitError{code: exitUsage, msg: fmt.Sprintf("--port %d: not a TCP port (0 to 65535)", o.port)}
	}
	if len(o.listen) == 0 {
		o.listen = listFlag{net.JoinHostPort(o.host, strconv.Itoa(o.port))}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.version {
		fmt.Fprintln(stdout, "imdsd", version)
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	cfg, err := loadConfig(o.config, stderr)
	if o.testConfig {
		if err != nil {
			return exitError{code: 1}
		}
		name := o.config
		if name == "" {
			name = config.DefaultName
		}
		fmt.Fprintf(stdout, "%s: configuration OK\n", name)
		return nil
	}
	if err != nil {
		return exitError{code: 1}
	}

	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, addr := range o.listen {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return listenError(addr, err)
		}
		lns = append(lns, ln)
	}

	srvOpts := server.Options{Logger: log}
	if !o.quiet {
		srvOpts.AccessLog = log
	}
	log.Info("starting", "version", version, "config", nameOr(o.config))
	return service.Run(ctx, service.Options{
		ConfigPath: o.config,
		Config:     cfg,
		Listeners:  lns,
		Server:     srvOpts,
		Logger:     log,
	})
}

// loadConfig loads path (or the built-in default) and prints every warning
// and error to w, one per line, as "file:line: key: problem".
func loadConfig(path string, w io.Writer) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	cfg, warns, err := config.Load(path)
	for _, warn := range warns {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if err != nil {
		var list config.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintf(w, "error: %s\n", e)
			}
		} else {
			fmt.Fprintf(w, "error: %s\n", err)
		}
		return nil, err
	}
	return cfg, nil
}

func nameOr(path string) string {
	if path == "" {
		return config.DefaultName
	}
	return path
}

// listenError explains the two usual reasons a bind fails.
func listenError(addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		host, _, _ := net.SplitHostPort(addr)
		return fmt.Errorf("%w\nthe address %s is not configured on this host; add it first, for example:\n"+
			"  FreeBSD: ifconfig bridge0 inet %s/32 alias\n  Linux:   ip addr add %s/32 dev br0", err, host, host, host)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w\nports below 1024 need root (or CAP_NET_BIND_SERVICE on Linux); for a test, use --port 8000", err)
	}
	return err
}
