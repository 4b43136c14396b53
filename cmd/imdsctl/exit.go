package main

import (
	"io"

	"github.com/imdsd/imdsd/internal/cli"
)

// Exit statuses, as imdsctl(8) documents them: internal/cli's, and 4.
const (
	exitOK          = cli.ExitOK      // done
	exitRefused     = cli.ExitFailure // imdsd refused, with its message (or another error)
	exitUsage       = cli.ExitUsage   // a bad command line
	exitUnreachable = 4               // the control socket cannot be reached
)

// exit prints err, if there is something to print, and returns the exit
// status it maps to.
func exit(stderr io.Writer, err error) int { return cli.Status("imdsctl", stderr, err) }
