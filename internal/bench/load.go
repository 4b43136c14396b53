package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// requestTimeout bounds one request: connect, send, read to EOF.
const requestTimeout = 10 * time.Second

// maxResponse bounds how much of one response is kept; imdsd's largest is
// user-data, at most 16 KiB.
const maxResponse = 1 << 20

// MaxSources is how many loopback source addresses clients may spread over:
// 127.0.0.1 to 127.0.0.254.
const MaxSources = 254

// client makes one request per TCP connection, as guests of EC2 do, which
// closes every connection after one response.
type client struct {
	addr   string // the server, host:port
	dialer net.Dialer
	buf    []byte // the last response, reused
}

// newClient returns a client of the server at addr connecting from src, or
// from an address the system picks when src is the zero Addr.
func newClient(addr string, src netip.Addr) *client {
	c := &client{addr: addr, buf: make([]byte, 0, 4096)}
	if src.IsValid() {
		c.dialer.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	}
	return c
}

// do sends req on a new connection and reads the response to EOF. The body
// it returns is valid until the next call.
func (c *client) do(ctx context.Context, req []byte) (status int, body []byte, err error) {
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return 0, nil, err
	}
	if _, err := conn.Write(req); err != nil {
		return 0, nil, fmt.Errorf("sending the request: %w", err)
	}
	buf := c.buf[:0]
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxResponse {
				return 0, nil, fmt.Errorf("response longer than %d bytes", maxResponse)
			}
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, nil, fmt.Errorf("reading the response: %w", err)
		}
	}
	c.buf = buf
	return parseResponse(buf)
}

// parseResponse splits a whole HTTP/1.x response read to EOF into its status
// and its body, and checks the body against Content-Length.
func parseResponse(b []byte) (status int, body []byte, err error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		return 0, nil, fmt.Errorf("response of %d bytes has no end of head", len(b))
	}
	line, fields, _ := bytes.Cut(head, []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, fmt.Errorf("malformed status line %.40q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return 0, nil, fmt.Errorf("malformed status line %.40q", line)
	}
	for len(fields) > 0 {
		var f []byte
		f, fields, _ = bytes.Cut(fields, []byte("\r\n"))
		name, val, _ := bytes.Cut(f, []byte(":"))
		if !bytes.EqualFold(name, []byte("Content-Length")) {
			continue
		}
		if n, err := strconv.Atoi(string(bytes.TrimSpace(val))); err != nil || n != len(body) {
			return 0, nil, fmt.Errorf("content-length %q but a body of %d bytes", bytes.TrimSpace(val), len(body))
		}
	}
	return status, body, nil
}

// rawRequest returns the bytes of an HTTP/1.1 request as curl sends it, with
// extra header lines ("Name: value").
func rawRequest(method, path, host string, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: imdsbench\r\nAccept: */*\r\n", method, path, host)
	for _, h := range headers {
		b.WriteString(h)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// tokenRequest is the token PUT of every IMDSv2 client.
func tokenRequest(host string) []byte {
	return rawRequest("PUT", tokenPath, host, "X-aws-ec2-metadata-token-ttl-seconds: 21600")
}

// getRequest is a GET of path with a token.
func getRequest(host, path, token string) []byte {
	return rawRequest("GET", path, host, "X-aws-ec2-metadata-token: "+token)
}

// askClose adds "Connection: close" to a request made by rawRequest: for
// a server that, unlike EC2, keeps connections open unless asked
// (amazon-ec2-metadata-mock).
func askClose(req []byte) []byte {
	return append(req[:len(req)-2:len(req)-2], "Connection: close\r\n\r\n"...)
}

// mintToken takes a token for c's source address.
func mintToken(ctx context.Context, c *client, host string) (string, error) {
	return mintWith(ctx, c, tokenRequest(host))
}

// mintWith takes a token with req, a token request.
func mintWith(ctx context.Context, c *client, req []byte) (string, error) {
	st, body, err := c.do(ctx, req)
	if err != nil {
		return "", fmt.Errorf("PUT %s: %w", tokenPath, err)
	}
	if st != 200 {
		return "", fmt.Errorf("PUT %s: status %d, want 200", tokenPath, st)
	}
	return string(body), nil
}

// sourceAddr is the loopback address client i of a run connects from when
// clients are spread over n addresses: 127.0.0.1 to 127.0.0.n. With n < 2
// the system picks (127.0.0.1).
func sourceAddr(i, n int) netip.Addr {
	if n < 2 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, byte(1 + i%min(n, MaxSources))})
}

// loadSpec is one load run: clients concurrent clients, each sending the
// request prepare returned, one connection per request, for duration.
type loadSpec struct {
	clients  int
	duration time.Duration
	sources  int // loopback source addresses to spread clients over
	// prepare is called once per client, before the clock starts, and
	// returns the request the client repeats; a 200 answer is a success.
	prepare func(ctx context.Context, c *client) ([]byte, error)
}

// result is what a load run measured.
type result struct {
	n        int             // requests answered 200
	errs     int             // requests that failed or got another status
	firstErr error           // the first failure, for the report
	elapsed  time.Duration   // from the start to the last answer
	lat      []time.Duration // latencies of the successes, sorted
	// The server's CPU time and read/write system calls during the run
	// (Linux); syscalls is -1 when not known.
	cpu      time.Duration
	cpuKnown bool
	syscalls int64
}

// perRequest returns the server's CPU time (µs) and read/write system
// calls per request answered, nil where not known.
func (r *result) perRequest() (cpuUS, syscalls *float64) {
	if r.n == 0 || !r.cpuKnown {
		return nil, nil
	}
	c := float64(r.cpu.Microseconds()) / float64(r.n)
	if r.syscalls < 0 {
		return &c, nil
	}
	s := float64(r.syscalls) / float64(r.n)
	return &c, &s
}

// rate is the successful requests per second.
func (r *result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n) / r.elapsed.Seconds()
}

// p is the p-th percentile of the latencies.
func (r *result) p(p float64) time.Duration { return percentile(r.lat, p) }

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. It is 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// merge adds up results of the same load measured in parts.
func merge(rs ...result) result {
	var m result
	for i, r := range rs {
		m.n += r.n
		m.errs += r.errs
		m.elapsed += r.elapsed
		if m.firstErr == nil {
			m.firstErr = r.firstErr
		}
		m.lat = append(m.lat, r.lat...)
		m.cpu += r.cpu
		m.cpuKnown = r.cpuKnown && (i == 0 || m.cpuKnown)
		if r.syscalls < 0 || m.syscalls < 0 {
			m.syscalls = -1
		} else {
			m.syscalls += r.syscalls
		}
	}
	slices.Sort(m.lat)
	return m
}

// runLoad runs spec against the server at addr. It fails only when a
// client cannot be prepared; failed requests are counted in the result.
func runLoad(ctx context.Context, addr string, spec loadSpec) (result, error) {
	if spec.clients < 1 {
		return result{}, errors.New("no clients")
	}
	clients := make([]*client, spec.clients)
	reqs := make([][]byte, spec.clients)
	for i := range clients {
		clients[i] = newClient(addr, sourceAddr(i, spec.sources))
		req, err := spec.prepare(ctx, clients[i])
		if err != nil {
			return result{}, err
		}
		reqs[i] = req
	}
	// Room for a generous 20,000 answers a second, so that appending
	// rarely allocates while the clock runs.
	per := min(1<<20, max(256, int(spec.duration.Seconds()*20000)/spec.clients))
	parts := make([]result, spec.clients)
	for i := range parts {
		parts[i].lat = make([]time.Duration, 0, per)
	}
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(spec.duration)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, req, r := clients[i], reqs[i], &parts[i]
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				st, _, err := c.do(ctx, req)
				d := time.Since(t0)
				if err == nil && st != 200 {
					err = fmt.Errorf("status %d, want 200", st)
				}
				if err != nil {
					if r.errs++; r.firstErr == nil {
						r.firstErr = err
					}
					continue
				}
				r.n++
				r.lat = append(r.lat, d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	m := merge(parts...)
	m.elapsed = elapsed
	if err := ctx.Err(); err != nil {
		return m, err
	}
	return m, nil
}
