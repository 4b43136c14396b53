// Command imdsbench measures imdsd the way guests load it and prints the
// figures "make bench" reports: an already built imdsd (--imdsd, default
// bin/imdsd) against a minimal net/http baseline, itself run as
// "imdsbench baseline --listen ADDR". It parses flags; the measurement is
// package internal/bench, which says what each figure is.
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
