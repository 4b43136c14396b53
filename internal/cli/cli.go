// Package cli holds the two things every command of imdsd shares, so that
// getimds, imdsd and imdsbench spell them one way: a flag registered under
// several names (-c and --config), and an error that carries the exit
// status the program ends with.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// Var registers v under every name in names: "-c" and "--config" set the
// same value. The usage text is the command's own; the flag package's is
// left empty.
func Var(fs *flag.FlagSet, v flag.Value, names ...string) {
	for _, n := range names {
		fs.Var(v, n, "")
	}
}

// String registers a string flag under every name, with default def.
func String(fs *flag.FlagSet, p *string, def string, names ...string) {
	*p = def
	Var(fs, (*stringValue)(p), names...)
}

// Bool registers a boolean flag under every name, with default def.
func Bool(fs *flag.FlagSet, p *bool, def bool, names ...string) {
	for _, n := range names {
		fs.BoolVar(p, n, def, "")
	}
}

// Int registers an integer flag under every name, with default def.
func Int(fs *flag.FlagSet, p *int, def int, names ...string) {
	for _, n := range names {
		fs.IntVar(p, n, def, "")
	}
}

// Duration registers a duration flag ("3s", "500ms") under every name,
// with default def.
func Duration(fs *flag.FlagSet, p *time.Duration, def time.Duration, names ...string) {
	for _, n := range names {
		fs.DurationVar(p, n, def, "")
	}
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

// Exit statuses every command gives the same meaning.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // any error without a status of its own
	ExitUsage   = 2 // a bad command line
)

// Error ends a command with exit status Code. Err, when not nil, is what
// is printed; nil means nothing is (--help, or the details were printed
// already).
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with status code and a message formatted as
// [fmt.Errorf] does, %w included.
func Errorf(code int, format string, args ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

// Usagef is Errorf with [ExitUsage].
func Usagef(format string, args ...any) error {
	return Errorf(ExitUsage, format, args...)
}

// Silent ends a command with status code and prints nothing.
func Silent(code int) error { return &Error{Code: code} }

// Status is what main does with the error run returned: it prints err as
// "prog: message" on stderr, unless err is an [Error] with nothing to
// print, and returns the exit status: 0 for nil, an Error's Code, else
// [ExitFailure].
func Status(prog string, stderr io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if !errors.As(err, &e) {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return ExitFailure
	}
	if e.Err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	}
	return e.Code
}
