package main

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// Exit statuses; see EXIT STATUS in getimds(1).
const (
	exitOK          = cli.ExitOK    // success
	exitNotFound    = 1             // a path was answered 404
	exitUsage       = cli.ExitUsage // bad flags or operands
	exitRefused     = 3             // 401 or 403, or no token could be had
	exitUnreachable = 4             // no answer: refused, unreachable or timed out
	exitServer      = 5             // any other error: 5xx, unexpected status, bad answer
)

// usagef is a bad command line: the message, then the synopsis.
func usagef(format string, args ...any) error {
	return cli.Usagef("%s\n%s", fmt.Sprintf(format, args...), synopsis)
}

// reported ends the run with the status that err, printed already, maps
// to.
func reported(err error) error { return cli.Silent(exitCode(err)) }

// exitCode maps an error to the exit status getimds(1) documents.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *cli.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	var se *imdsclient.StatusError
	if errors.As(err, &se) {
		switch c := se.StatusCode; {
		case se.Token() && (c == 401 || c == 403 || c == 404 || c == 405):
			return exitRefused // the service would not issue a token
		case c == http.StatusNotFound:
			return exitNotFound
		case c == http.StatusUnauthorized || c == http.StatusForbidden:
			return exitRefused
		}
		return exitServer
	}
	var ne *imdsclient.NetError
	if errors.As(err, &ne) {
		return exitUnreachable
	}
	return exitServer
}

// isStatus reports whether err is an HTTP answer (rather than no answer),
// and whether it is 404.
func isStatus(err error) (status, notFound bool) {
	var se *imdsclient.StatusError
	if !errors.As(err, &se) {
		return false, false
	}
	return true, se.StatusCode == http.StatusNotFound && !se.Token()
}

// hint explains the errors whose cure is a flag.
func hint(err error, mode imdsclient.Mode) string {
	var se *imdsclient.StatusError
	if !errors.As(err, &se) {
		return ""
	}
	switch {
	case se.Token() && mode == imdsclient.V2Only && exitCode(err) == exitRefused:
		return " (no IMDSv2 token, and fallback to IMDSv1 is off)"
	case !se.Token() && se.StatusCode == http.StatusUnauthorized && mode == imdsclient.V1Only:
		return " (the service requires IMDSv2 tokens; drop -1)"
	}
	return ""
}
