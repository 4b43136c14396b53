package config

import (
	"fmt"
	"strings"
)

// Severity says what a problem does to the configuration.
type Severity int

const (
	// SeverityError: the configuration does not load.
	SeverityError Severity = iota
	// SeverityWarning: the configuration loads, but real clients will trip
	// on the value.
	SeverityWarning
)

// String is "error" or "warning", as printed before a message.
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Error is one problem found in a configuration: where it is and what is
// wrong. Line is 0 when the problem has no single place (a key left out at
// the top level, an empty file). Its text is "file:line: key: message",
// leaving out the parts it does not have; the severity is not part of it.
type Error struct {
	File     string
	Line     int
	Key      string
	Msg      string
	Severity Severity

	off int64 // byte offset of Key in the file, -1 when unknown; orders a list
	err error // the error underneath, for a file that cannot be read
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// Unwrap returns the error underneath a file that cannot be read, such as
// one matching fs.ErrNotExist.
func (e *Error) Unwrap() error { return e.err }

// ErrorList is a list of problems: every problem found in one
// configuration, warnings first and then errors, each group in file order;
// problems with no place in the file come last in their group.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the errors of the list, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Warnings returns the entries of l of severity warning.
func (l ErrorList) Warnings() ErrorList { return l.of(SeverityWarning) }

// Errors returns the entries of l of severity error.
func (l ErrorList) Errors() ErrorList { return l.of(SeverityError) }

func (l ErrorList) of(s Severity) ErrorList {
	var out ErrorList
	for _, e := range l {
		if e.Severity == s {
			out = append(out, e)
		}
	}
	return out
}
