// Command imdsbench measures imdsd the way guests load it and prints the
// figures "make bench" reports.
//
// It builds nothing: it starts an already built imdsd (--imdsd, default
// bin/imdsd) as a child process on a free port of 127.0.0.1, with a
// configuration written to a temporary file, and, as a second child process,
// a baseline: itself run as "imdsbench baseline --listen ADDR", a minimal
// net/http server that mints one fixed token and answers every GET carrying
// it with one fixed value. The baseline is the floor of what Go's net/http
// does on this machine, so every figure is printed for both and as the ratio
// imdsd ÷ baseline.
//
// Every request is made the way guests make them on EC2, which closes every
// connection: a new TCP connection, the raw request, the whole response read
// to EOF. The figures are: time to the first answer after exec, resident
// memory idle and at the peak, token GET throughput and p50/p99 latency at
// 1, 16 and 256 concurrent clients, token PUT throughput, a boot storm of
// guests each taking a token and crawling the whole tree as cloud-init does
// (imdsd only), and a slowloris check: the p99 of other clients while
// thousands of connections sit on a half-sent request head.
//
// imdsd and the baseline run alternately for each figure (imdsd, baseline,
// baseline, imdsd, half the duration each) so both see the same machine load.
// The table marks each figure against its target (a 2-core machine); a missed target is a
// report, not a failure: imdsbench exits 0 unless it cannot measure.
// Everything happens on 127.0.0.0/8, and the child processes are killed on
// exit, on SIGINT and SIGTERM.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/imdsd/imdsd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Status("imdsbench", os.Stderr, err))
}
