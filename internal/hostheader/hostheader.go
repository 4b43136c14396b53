// Package hostheader lets Go's net/http serve HTTP/1.1 requests that carry
// no Host header.
//
// RFC 9112 requires Host in HTTP/1.1 and net/http answers a request without
// one with "400 Bad Request: missing required Host header", with no option
// to turn that off. FreeBSD's EC2 scripts fetch SSH keys and user-data with
// aws-ec2-imdsv2-get, which sends exactly such requests ("GET //
// HTTP/1.1\r\n\r\n"), and real EC2 answers them. Rather than replace net/http
// with a hand-written server, [Listener] wraps each accepted connection: it
// reads the request head, and if the request is HTTP/1.1 (or a later 1.x,
// which net/http treats alike) and names no host, it inserts
// "Host: <local address>" after the request line before net/http sees a
// byte. Everything else passes through untouched, and the read deadlines
// net/http sets still bound how long reading the head may take.
//
// Leading empty lines before the request line are looked past when
// deciding, but kept: net/http refuses them with 400 either way.
//
// The daemon no longer serves through it: pkg/server's own front end takes
// requests without Host. This package, with net/http behind it, is what
// that front end is fuzzed against (FuzzFrontEnd): the reference of "what
// imdsd did before, and what net/http decides", kept for tests.
package hostheader

import (
	"bytes"
	"errors"
	"net"
)

// MaxHead is the most of a request head a [Listener] buffers while looking
// for its end.
const MaxHead = 64 << 10

// Listener returns ln with every accepted connection wrapped as described in
// the package comment, buffering at most max bytes of a request head while
// looking for its end (MaxHead when max is 0 or larger): give the server's
// own limit, so that a connection costs no more than the server accepts. A
// longer head is passed on unchanged for the server to refuse.
func Listener(ln net.Listener, max int) net.Listener {
	if max <= 0 || max > MaxHead {
		max = MaxHead
	}
	return listener{ln, max}
}

type listener struct {
	net.Listener
	max int
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, max: l.max}, nil
}

// Conn is an accepted connection whose first request head is fixed up on the
// first Read. It is used by one reader at a time, as net/http does.
type Conn struct {
	net.Conn
	max     int // bytes of head to buffer at most; 0 means MaxHead
	started bool
	pending []byte // bytes read ahead and not yet returned
	err     error  // error met while reading ahead, returned after pending
}

// Unwrap returns the underlying connection, for socket options.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

// CloseWrite shuts down the sending side of the underlying connection when
// it has one (TCP and Unix sockets do). net/http calls it before the
// lingering close it makes after refusing or cutting short a request, so
// that the client gets its EOF at once; embedding net.Conn alone would hide
// it.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *Conn) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		max := c.max
		if max <= 0 {
			max = MaxHead
		}
		c.pending, c.err = readHead(c.Conn, max)
		c.pending = Fix(c.pending, func() string { return hostFor(c.LocalAddr()) })
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	if c.err != nil {
		err := c.err
		c.err = nil
		return 0, err
	}
	return c.Conn.Read(p)
}

// hostFor is the Host inserted for a connection accepted at addr: the TCP
// address, or "localhost" for other kinds (a Unix socket's path is not a
// valid Host, and net/http would refuse the request).
func hostFor(addr net.Addr) string {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.String()
	}
	return "localhost"
}

// readHead reads until the buffer holds a complete request head (ending in
// an empty line), max bytes, or an error. Each byte is looked at once,
// however finely the client splits its writes.
func readHead(c net.Conn, max int) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	var sc scanner
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if sc.end(buf) >= 0 || len(buf) >= max || err != nil {
			return buf, err
		}
	}
}

// scanner finds the end of a request head in a buffer that grows between
// calls, resuming where it stopped.
type scanner struct {
	started bool // past the empty lines before the request line
	pos     int  // next byte to look at
}

// end returns the index just past the empty line ending the head of the
// request at the start of b, or -1. Leading empty lines, which RFC 9112
// lets servers ignore, are skipped first (net/http does not ignore them,
// but the head's end is found all the same). b must extend the b of
// earlier calls.
func (s *scanner) end(b []byte) int {
	if !s.started {
		for s.pos < len(b) && (b[s.pos] == '\r' || b[s.pos] == '\n') {
			s.pos++
		}
		if s.pos == len(b) {
			return -1
		}
		s.started = true
	}
	for ; s.pos < len(b); s.pos++ {
		if b[s.pos] != '\n' {
			continue
		}
		i := s.pos
		switch {
		case i+1 >= len(b):
			return -1 // look at this newline again when more has come
		case b[i+1] == '\n':
			return i + 2
		case b[i+1] != '\r':
		case i+2 >= len(b):
			return -1
		case b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// headEnd is [scanner.end] for a whole buffer.
func headEnd(b []byte) int {
	var s scanner
	return s.end(b)
}

// Fix returns buf with a Host header inserted after the request line when
// buf starts with a complete HTTP/1.1 (or later 1.x) request head that has
// none. host is called only then. Otherwise buf is returned as it is.
func Fix(buf []byte, host func() string) []byte {
	end := headEnd(buf)
	if end < 0 {
		return buf
	}
	head := buf[:end]
	skip := 0
	for skip < len(head) && (head[skip] == '\r' || head[skip] == '\n') {
		skip++
	}
	nl := bytes.IndexByte(head[skip:], '\n') + skip
	if !needsHost(bytes.TrimRight(head[skip:nl], "\r")) {
		return buf
	}
	for rest := head[nl+1:]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		h := rest[:i]
		if len(h) >= 5 && bytes.EqualFold(h[:5], []byte("host:")) {
			return buf
		}
		rest = rest[i+1:]
	}
	out := make([]byte, 0, len(buf)+64)
	out = append(out, buf[:nl+1]...)
	out = append(out, "Host: "...)
	out = append(out, host()...)
	out = append(out, "\r\n"...)
	return append(out, buf[nl+1:]...)
}

// needsHost reports whether a request line names a protocol version for
// which net/http demands a Host header: HTTP/1.1, or any later HTTP/1.x,
// which net/http treats alike.
func needsHost(line []byte) bool {
	const suffix = " HTTP/1.d"
	if len(line) < len(suffix) {
		return false
	}
	v := line[len(line)-len(suffix):]
	return bytes.HasPrefix(v, []byte(" HTTP/1.")) && v[len(v)-1] >= '1' && v[len(v)-1] <= '9'
}
