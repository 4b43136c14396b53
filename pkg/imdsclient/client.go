// Package imdsclient is a small client for the EC2 Instance Metadata Service
// (IMDS): the real one on 169.254.169.254, or imdsd.
//
// A [Client] speaks IMDSv2 by default: it asks for a session token, caches
// it until shortly before it expires, and asks for a new one when a request
// is answered 401. Like the AWS SDKs it falls back to IMDSv1 when the token
// request is answered 403, 404 or 405 (the service is old, or a proxy
// forbids tokens) or times out (the hop limit is too low for the token's
// answer to arrive), unless told not to. Every request is bounded by a
// connect timeout and a whole-request timeout, and refused connections and
// 5xx answers are retried a bounded number of times with backoff, so a
// client never hangs on an endpoint that accepts and says nothing.
//
// Paths are written below an API version, as in "meta-data/instance-id",
// "dynamic/instance-identity/document" or "user-data"; "latest" is used
// unless the path starts with a version such as "2021-03-23". Doubled
// slashes, "." and ".." are cleaned away.
//
//	c, err := imdsclient.New(imdsclient.Options{})
//	id, err := c.Get(ctx, "meta-data/instance-id")
//	var se *imdsclient.StatusError
//	if errors.As(err, &se) && se.StatusCode == 404 { ... }
//
// [Client.Walk] visits a whole tree, or a subtree, the way cloud-init
// crawls it.
package imdsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/internal/imdspath"
)

// Defaults for [Options].
const (
	DefaultTokenTTL       = 21600 * time.Second // the AWS SDKs' standard
	DefaultConnectTimeout = 2 * time.Second
	DefaultTimeout        = 5 * time.Second
	DefaultAttempts       = 3
	MaxTokenTTL           = 21600 * time.Second // six hours, EC2's limit
)

// MaxBody is the largest answer a Client accepts. EC2's largest value,
// user-data, is at most 16 KiB.
const MaxBody = 1 << 20

// Header names, spelled as the AWS documentation spells them.
const (
	hdrToken = "X-aws-ec2-metadata-token"
	hdrTTL   = "X-aws-ec2-metadata-token-ttl-seconds"
)

// Mode says which IMDS protocol versions a Client uses.
type Mode int

const (
	// Auto uses IMDSv2 and falls back to IMDSv1 when the token request is
	// answered 403, 404 or 405, or times out, as the AWS SDKs do.
	Auto Mode = iota
	// V2Only uses IMDSv2 and fails when no token can be had.
	V2Only
	// V1Only never asks for a token.
	V1Only
)

// Options configure a Client. The zero value reads 169.254.169.254 with
// IMDSv2 and fallback.
type Options struct {
	// Endpoint is where the service is, in any form [ParseEndpoint]
	// accepts. Empty means [DefaultEndpoint].
	Endpoint string
	// Mode selects IMDSv2, IMDSv1 or both.
	Mode Mode
	// TokenTTL is the lifetime asked for each token, in whole seconds from
	// 1 s to six hours. Zero means [DefaultTokenTTL].
	TokenTTL time.Duration
	// ConnectTimeout bounds connecting. Zero means [DefaultConnectTimeout].
	ConnectTimeout time.Duration
	// Timeout bounds each attempt of a request as a whole: connecting,
	// sending and reading the complete answer. Zero means
	// [DefaultTimeout].
	Timeout time.Duration
	// Attempts is how often a request is tried when the connection is
	// refused or the answer is a 5xx, with backoff in between. Zero means
	// [DefaultAttempts]; 1 means no retry.
	Attempts int
	// UserAgent is sent with every request. Empty means "imdsclient".
	UserAgent string
	// Logf, when set, is told about token requests and fallbacks.
	Logf func(format string, args ...any)
}

// Client reads instance metadata. It is safe for concurrent use.
type Client struct {
	base  string // endpoint URL, no trailing slash
	opts  Options
	http  *http.Client
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	tok     string    // cached token, "" if none
	renewAt time.Time // when to ask for a new one
	v1      bool      // fell back to IMDSv1
}

// New returns a Client for opts.
func New(opts Options) (*Client, error) {
	base, err := ParseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = DefaultTokenTTL
	}
	if opts.TokenTTL < time.Second || opts.TokenTTL > MaxTokenTTL {
		return nil, fmt.Errorf("token ttl %v is not between 1s and %v", opts.TokenTTL, MaxTokenTTL)
	}
	opts.TokenTTL = opts.TokenTTL.Truncate(time.Second)
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "imdsclient"
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	tr := &http.Transport{
		Proxy:                  nil, // IMDS is link-local: never through HTTP_PROXY
		DialContext:            (&net.Dialer{Timeout: opts.ConnectTimeout}).DialContext,
		DisableKeepAlives:      true, // EC2 closes every connection anyway
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		// No ResponseHeaderTimeout: each attempt's context bounds it all,
		// and one deadline gives one error message.
	}
	return &Client{
		base: base,
		opts: opts,
		http: &http.Client{
			Transport: tr,
			// EC2 never redirects; a redirect is an answer to report.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:   time.Now,
		sleep: sleepCtx,
	}, nil
}

// Endpoint returns the endpoint URL the client talks to, without a
// trailing slash.
func (c *Client) Endpoint() string { return c.base }

// Get returns the value at path: a leaf's bytes exactly as served, or a
// directory's listing. A trailing slash on path is kept in the request.
// An answer other than 200 is a [*StatusError]; no answer at all is a
// [*NetError].
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	return c.get(ctx, Clean(path), strings.HasSuffix(path, "/"))
}

// get fetches a clean path, as a directory (with a trailing slash) when dir
// is true, with a token unless in IMDSv1 mode, and retries once with a new
// token when the answer is 401.
func (c *Client) get(ctx context.Context, path string, dir bool) ([]byte, error) {
	u := c.URL(path)
	if dir && !strings.HasSuffix(u, "/") {
		u += "/"
	}
	for try := 0; ; try++ {
		tok, err := c.token(ctx)
		if err != nil {
			return nil, fmt.Errorf("GET %s: no token: %w", u, err)
		}
		body, err := c.do(ctx, http.MethodGet, u, tok)
		var se *StatusError
		if try == 0 && c.opts.Mode != V1Only && errors.As(err, &se) && se.StatusCode == http.StatusUnauthorized {
			c.opts.Logf("%s answered 401; asking for a new token", u)
			c.forget(tok)
			continue
		}
		return body, err
	}
}

// URL returns the URL of a clean path: below /latest/ unless the path
// starts with an API version.
func (c *Client) URL(path string) string {
	first, _, _ := strings.Cut(path, "/")
	var b strings.Builder
	b.WriteString(c.base)
	if !imdspath.IsVersion(first) {
		b.WriteString("/latest")
	}
	if path == "" {
		b.WriteString("/")
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "" {
			continue
		}
		b.WriteString("/")
		b.WriteString(escapeSegment(seg))
	}
	return b.String()
}

// escapeSegment percent-encodes what cannot stand in a path segment. MAC
// addresses and tag keys keep their colons.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			strings.IndexByte("-._~:@!$&'()*+,;=", ch) >= 0:
			b.WriteByte(ch)
		default:
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&15])
		}
	}
	return b.String()
}

// Clean normalises a path as the client uses it: segments joined by single
// slashes, no leading or trailing slash, "." and ".." resolved, and a
// leading "latest/" dropped because it is the default version.
func Clean(path string) string {
	p := imdspath.Clean(path)
	if p == "latest" {
		return ""
	}
	return strings.TrimPrefix(p, "latest/")
}

// token returns the token to send, or "" for IMDSv1.
func (c *Client) token(ctx context.Context) (string, error) {
	if c.opts.Mode == V1Only {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock() // one token request at a time; the others wait for it
	if c.v1 {
		return "", nil
	}
	if c.tok != "" && c.now().Before(c.renewAt) {
		return c.tok, nil
	}
	start := c.now()
	tok, ttl, err := c.fetchToken(ctx)
	if err != nil {
		if c.opts.Mode == Auto && fallback(err) {
			c.opts.Logf("%v; falling back to IMDSv1", err)
			c.v1 = true
			return "", nil
		}
		return "", err
	}
	// Renew a little early so a token never expires in flight: a tenth of
	// its life, at most a minute.
	margin := min(ttl/10, time.Minute)
	c.tok, c.renewAt = tok, start.Add(ttl-margin)
	c.opts.Logf("got a token from %s valid for %v", c.base, ttl)
	return tok, nil
}

// fallback reports whether a failed token request means "use IMDSv1".
func fallback(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		switch se.StatusCode {
		case http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
			return true
		}
		return false
	}
	var ne *NetError
	return errors.As(err, &ne) && ne.Timeout()
}

// forget drops a token the service rejected, and any decision to use
// IMDSv1, so that the next request asks for a token again.
func (c *Client) forget(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == tok {
		c.tok = ""
	}
	c.v1 = false
}

// fetchToken asks for a new token and returns it with its lifetime: the one
// the answer states, else the one asked for.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	u := c.base + "/latest/api/token"
	ttl := c.opts.TokenTTL
	body, hdr, err := c.doHeader(ctx, http.MethodPut, u, func(h http.Header) {
		h[hdrTTL] = []string{strconv.Itoa(int(ttl / time.Second))}
	})
	if err != nil {
		return "", 0, err
	}
	tok := string(body)
	if tok == "" || len(tok) > 1024 || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "", 0, &ResponseError{Method: http.MethodPut, URL: u, Msg: "malformed token"}
	}
	if n, err := strconv.Atoi(hdr.Get(hdrTTL)); err == nil && n > 0 && time.Duration(n)*time.Second < ttl {
		ttl = time.Duration(n) * time.Second
	}
	return tok, ttl, nil
}

// do sends a request with the token, if any, and returns the body of a 200.
func (c *Client) do(ctx context.Context, method, u, tok string) ([]byte, error) {
	body, _, err := c.doHeader(ctx, method, u, func(h http.Header) {
		if tok != "" {
			h[hdrToken] = []string{tok}
		}
	})
	return body, err
}

// doHeader sends a request, retrying refused connections and 5xx answers
// with backoff, and returns the body and header of a 200.
func (c *Client) doHeader(ctx context.Context, method, u string, hdr func(http.Header)) ([]byte, http.Header, error) {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		body, h, err := c.once(ctx, method, u, hdr)
		if err == nil || attempt >= c.opts.Attempts || !retryable(err) {
			if ne, ok := err.(*NetError); ok {
				ne.Attempts = attempt
			}
			return body, h, err
		}
		c.opts.Logf("%v; retrying in %v", err, backoff)
		if err := c.sleep(ctx, backoff); err != nil {
			return nil, nil, &NetError{Method: method, URL: u, Attempts: attempt, Err: err}
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// retryable reports whether err is worth another attempt: the connection
// was refused (the service is restarting) or the service answered 5xx.
func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.StatusCode >= 500
	}
	var ne *NetError
	return errors.As(err, &ne) && errors.Is(ne.Err, syscall.ECONNREFUSED)
}

// once makes one attempt, bounded by the whole-request timeout.
func (c *Client) once(ctx context.Context, method, u string, hdr func(http.Header)) ([]byte, http.Header, error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, method, u, http.NoBody)
	if err != nil {
		return nil, nil, &ResponseError{Method: method, URL: u, Msg: err.Error()}
	}
	req.Header["User-Agent"] = []string{c.opts.UserAgent}
	hdr(req.Header)
	netErr := func(err error) error {
		if ue, ok := err.(*url.Error); ok {
			err = ue.Err // its message repeats the method and URL
		}
		if ctx.Err() == nil && actx.Err() != nil {
			return &NetError{Method: method, URL: u, Err: &timeoutError{after: c.opts.Timeout}}
		}
		return &NetError{Method: method, URL: u, Err: err}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, netErr(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if resp.StatusCode != http.StatusOK {
		return nil, nil, &StatusError{Method: method, URL: u, StatusCode: resp.StatusCode}
	}
	if err != nil {
		return nil, nil, netErr(err)
	}
	if len(body) > MaxBody {
		return nil, nil, &ResponseError{Method: method, URL: u, Msg: fmt.Sprintf("answer larger than %d bytes", MaxBody)}
	}
	return body, resp.Header, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
