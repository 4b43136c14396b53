// Command getimds reads EC2 instance metadata from inside a guest: one
// value byte for byte, a subtree, or the whole tree, as text or JSON; it
// can watch values change and serve as sshd's AuthorizedKeysCommand. It
// talks to the real EC2 service or to imdsd. See getimds(1).
//
// The protocol lives in package imdsclient; this command parses flags
// (flags.go), reads what they ask for (run.go, watch.go), prints it
// (output.go) and maps what went wrong to an exit status (exit.go).
package main

import (
	"context"
	"os"

	"github.com/imdsd/imdsd/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(context.Background(), os.Args, os.Stdout, os.Stderr)
	os.Exit(cli.Status("getimds", os.Stderr, err))
}
