// Command getimds reads EC2 instance metadata from inside a guest: one
// value byte for byte, a subtree, or the whole tree, as text or JSON; it
// can watch values change and serve as sshd's AuthorizedKeysCommand. It
// talks to the real EC2 service or to imdsd. See getimds(1).
//
// The protocol lives in package imdsclient; this command parses flags and
// formats what the client reads.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(context.Background(), os.Args, os.Stdout, os.Stderr)
	os.Exit(exit(os.Stderr, err))
}

// exit prints err, unless it was printed already, and returns the exit
// status it maps to.
func exit(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var r *reportedError
	if !errors.As(err, &r) {
		fmt.Fprintln(stderr, "getimds:", err)
	}
	return exitCode(err)
}
