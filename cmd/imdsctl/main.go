// Command imdsctl changes a running imdsd's guests over its control
// socket: their metadata (RFC 7396 merge patches), guests added and
// removed, and the instance's life — spot interruptions, rebalance
// recommendations, scheduled events, the Auto Scaling state, credentials.
// It prints a table for people, or imdsd's JSON with --json. See
// imdsctl(8).
//
// The API lives in package control; this command parses the command line,
// sends one request and formats the answer.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(exit(os.Stderr, err))
}
