package imdsclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// StatusError is an answer other than 200 OK.
type StatusError struct {
	Method     string // GET, or PUT for the token request
	URL        string
	StatusCode int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Token reports whether the error answers a token request.
func (e *StatusError) Token() bool { return e.Method == http.MethodPut }

// NetError is a request that got no answer: the connection could not be
// made, was cut, or no complete answer came before the timeout.
type NetError struct {
	Method   string
	URL      string
	Attempts int // how many times the request was tried
	Err      error
}

func (e *NetError) Error() string {
	s := fmt.Sprintf("%s %s: %v", e.Method, e.URL, e.Err)
	if e.Attempts > 1 {
		s += fmt.Sprintf(" (%d attempts)", e.Attempts)
	}
	return s
}

func (e *NetError) Unwrap() error { return e.Err }

// Timeout reports whether the request timed out, connecting or waiting
// for the answer.
func (e *NetError) Timeout() bool {
	var te *timeoutError
	if errors.As(e.Err, &te) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// ResponseError is an answer the client cannot use: a malformed token, or
// a body over [MaxBody].
type ResponseError struct {
	Method string
	URL    string
	Msg    string
}

func (e *ResponseError) Error() string { return fmt.Sprintf("%s %s: %s", e.Method, e.URL, e.Msg) }

// timeoutError is the whole-request timeout expiring.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string { return fmt.Sprintf("no complete answer within %v", e.after) }
func (e *timeoutError) Timeout() bool { return true }
