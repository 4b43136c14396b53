package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/imdsd/imdsd/internal/cli"
)

// maxResponse bounds what imdsctl reads of an answer.
const maxResponse = 32 << 20

// client sends control requests over the socket.
type client struct {
	socket string
	hc     *http.Client
}

func newClient(socket string) *client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &client{socket: socket, hc: &http.Client{Transport: tr}}
}

// response is imdsd's answer.
type response struct {
	status int
	body   []byte
}

// refusal is imdsd's error body.
type refusal struct {
	Error    string `json:"error"`
	Problems []struct {
		Guest   string `json:"guest"`
		Where   string `json:"where"`
		Key     string `json:"key"`
		Message string `json:"message"`
	} `json:"problems"`
}

// do sends one request; ctx bounds it. A failure to reach imdsd is an
// *exitError with status 4.
func (c *client) do(ctx context.Context, method, path, ctype string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://imdsd"+path, rd)
	if err != nil {
		return nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("User-Agent", "imdsctl/"+version)
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponse+1))
	if err != nil {
		return nil, c.unreachable(ctx, err)
	}
	if len(data) > maxResponse {
		return nil, fmt.Errorf("imdsd's answer is over %d MiB; is %s imdsd's control socket?", maxResponse>>20, c.socket)
	}
	return &response{status: res.StatusCode, body: data}, nil
}

// unreachable explains a failure to talk to imdsd.
func (c *client) unreachable(ctx context.Context, err error) error {
	hint := ""
	switch {
	case errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOENT):
		hint = "no such socket: is imdsd running, with its control socket there (--control)? --socket names another"
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = "nothing answers on it: imdsd is not running (the socket is left from an earlier run)"
	case errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EACCES):
		hint = "permission denied: the control socket is for root, or the group imdsd gives it (--control-group)"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		hint = "no answer in time (--timeout): imdsd is busy or stuck"
	case ctx.Err() != nil:
		hint = "interrupted"
	default:
		hint = rootCause(err)
	}
	return &cli.Error{Code: exitUnreachable, Err: fmt.Errorf("cannot reach imdsd at %s: %s", c.socket, hint)}
}

func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// check turns a response that is not 2xx into an error with imdsd's
// message and problems, exit status 1.
func check(res *response) error {
	if res.status >= 200 && res.status < 300 {
		return nil
	}
	var r refusal
	if err := json.Unmarshal(res.body, &r); err != nil || r.Error == "" {
		return &cli.Error{Code: exitRefused, Err: fmt.Errorf("imdsd answered %d %s: %s", res.status, http.StatusText(res.status), strings.TrimSpace(string(res.body)))}
	}
	var b strings.Builder
	b.WriteString(r.Error)
	for _, p := range r.Problems {
		b.WriteString("\n  ")
		for _, s := range []string{p.Guest, p.Where, p.Key} {
			if s != "" {
				b.WriteString(s + ": ")
			}
		}
		b.WriteString(p.Message)
	}
	return &cli.Error{Code: exitRefused, Err: errors.New(b.String())}
}
