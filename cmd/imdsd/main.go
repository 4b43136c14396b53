// Command imdsd is a local EC2 Instance Metadata Service: it answers
// http://169.254.169.254/ the way EC2 does, IMDSv2 tokens included, from a
// JSON configuration. See imdsd(8) and imdsd.conf(5).
package main

import (
	"context"
	"errors"
	"fmt"
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
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			if ee.msg != "" {
				fmt.Fprintln(os.Stderr, "imdsd:", ee.msg)
			}
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "imdsd:", err)
		os.Exit(1)
	}
}
