package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/imdsd/imdsd/internal/bench"
	"github.com/imdsd/imdsd/internal/cli"
)

type options struct {
	imdsd      string
	duration   time.Duration
	clients    []int
	putClients int
	guests     int
	idleConns  int
	sources    int
	jsonPath   string
	aemm       string
}

const usage = `usage: imdsbench [--imdsd path] [--duration d] [--clients n,...] [--put-clients n]
                 [--guests n] [--idle-conns n] [--sources n] [--json file]
                 [--aemm path]

Measures an already built imdsd against a minimal net/http baseline, both
started as child processes on 127.0.0.1, and prints a table of figures with
the ratio imdsd ÷ baseline and the targets of "make bench".

  --imdsd path      the imdsd binary (default bin/imdsd; "make build" first)
  --duration d      load time per figure and server (default 3s)
  --clients list    concurrent clients of the token GET figures (default 1,16,256)
  --put-clients n   concurrent clients of the token PUT figure (default 16)
  --guests n        guests of the boot storm (default 500)
  --idle-conns n    half-open connections of the slowloris check (default 2000)
  --sources n       loopback source addresses clients spread over, 127.0.0.1
                    to 127.0.0.n (default 16 on Linux, 1 elsewhere)
  --json file       also write the figures to file as JSON
  --aemm path       also measure imdsd's CPU per token GET against this build
                    of amazon-ec2-metadata-mock (AWS's mock; its own rows,
                    with AEMM in the baseline column)
  -h, --help        print this help and exit
`

func parseFlags(args []string, stdout, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("imdsbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	clients := "1,16,256"
	defSources := 1
	if bench.ManyLoopback {
		defSources = 16
	}
	fs.StringVar(&o.imdsd, "imdsd", "bin/imdsd", "")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "")
	fs.StringVar(&clients, "clients", clients, "")
	fs.IntVar(&o.putClients, "put-clients", 16, "")
	fs.IntVar(&o.guests, "guests", 500, "")
	fs.IntVar(&o.idleConns, "idle-conns", 2000, "")
	fs.IntVar(&o.sources, "sources", defSources, "")
	fs.StringVar(&o.jsonPath, "json", "", "")
	fs.StringVar(&o.aemm, "aemm", "", "")
	var help bool
	cli.Bool(fs, &help, false, "h", "help")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil, cli.Silent(cli.ExitOK)
		}
		fmt.Fprint(stderr, usage)
		return nil, cli.Usagef("%v", err)
	}
	if help {
		fmt.Fprint(stdout, usage)
		return nil, cli.Silent(cli.ExitOK)
	}
	bad := func(format string, a ...any) error {
		return cli.Usagef(format, a...)
	}
	if fs.NArg() > 0 {
		return nil, bad("unexpected argument %q", fs.Arg(0))
	}
	for f := range strings.SplitSeq(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, bad("--clients %s: expected numbers from 1 to 10000, such as 1,16,256", clients)
		}
		o.clients = append(o.clients, n)
	}
	switch {
	case o.duration < 10*time.Millisecond || o.duration > 10*time.Minute:
		return nil, bad("--duration %v: expected 10ms to 10m", o.duration)
	case o.putClients < 1 || o.putClients > 10000:
		return nil, bad("--put-clients %d: expected 1 to 10000", o.putClients)
	case o.guests < 1 || o.guests > 10000:
		return nil, bad("--guests %d: expected 1 to 10000", o.guests)
	case o.idleConns < 0 || o.idleConns > 100000:
		return nil, bad("--idle-conns %d: expected 0 to 100000", o.idleConns)
	case o.sources < 1 || o.sources > bench.MaxSources-1:
		return nil, bad("--sources %d: expected 1 to %d", o.sources, bench.MaxSources-1)
	case o.sources > 1 && !bench.ManyLoopback:
		return nil, bad("--sources %d: only 127.0.0.1 is sure to exist on %s", o.sources, runtime.GOOS)
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "baseline" {
		return runBaseline(ctx, args[2:], stderr)
	}
	o, err := parseFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding imdsbench itself, to run the baseline: %w", err)
	}
	return bench.Run(ctx, bench.Options{
		IMDSD: o.imdsd, Baseline: []string{self, "baseline"}, Duration: o.duration,
		Clients: o.clients, PutClients: o.putClients, Guests: o.guests,
		IdleConns: o.idleConns, Sources: o.sources, JSONPath: o.jsonPath, AEMM: o.aemm,
	}, stdout, stderr)
}

// runBaseline is the hidden "baseline" subcommand: the baseline server on
// --listen until ctx is done (see bench.ServeBaseline).
func runBaseline(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("imdsbench baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("listen", "127.0.0.1:0", "listen on `addr:port`")
	if err := fs.Parse(args); err != nil {
		return cli.Silent(cli.ExitUsage) // the flag package printed why
	}
	if fs.NArg() > 0 {
		return cli.Usagef("baseline: unexpected argument %q", fs.Arg(0))
	}
	return bench.ServeBaseline(ctx, *addr)
}
