package main

import (
	"errors"
	"fmt"
	"io"
)

// Exit statuses, as imdsctl(8) documents them.
const (
	exitOK          = 0 // done
	exitRefused     = 1 // imdsd refused, with its message (or another error)
	exitUsage       = 2 // a bad command line
	exitUnreachable = 4 // the control socket cannot be reached
)

// exitError ends imdsctl with status code; err, when not nil, is printed.
// (internal/cli's Error, once it lands, replaces it.)
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exit prints err, if there is something to print, and returns the exit
// status it maps to.
func exit(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code := exitRefused
	var e *exitError
	if errors.As(err, &e) {
		code = e.code
		if e.err == nil {
			return code
		}
	}
	fmt.Fprintln(stderr, "imdsctl:", err)
	return code
}
