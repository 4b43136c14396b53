// Command imdsd is a local EC2 Instance Metadata Service: it answers
// http://169.254.169.254/ the way EC2 does, IMDSv2 tokens included, from a
// JSON configuration. See imdsd(8) and imdsd.conf(5).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/imdsd/imdsd/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Status("imdsd", os.Stderr, err))
}
