// Package hostheader lets Go's net/http serve HTTP/1.1 requests that carry
// no Host header.
//
// RFC 9112 requires Host in HTTP/1.1 and net/http answers a request without
// one with "400 Bad Request: missing required Host header", with no option
// to turn that off. FreeBSD's EC2 scripts fetch SSH keys and user-data with
// aws-ec2-imdsv2-get, which sends exactly such requests ("GET //
// HTTP/1.1\r\n\r\n"), and real EC2 answers them. Rather than replace net/http
// with a hand-written server, [Listener] wraps each accepted connection: it
// reads the request head, and if the request is HTTP/1.1 and names no host,
// it inserts "Host: <local address>" after the request line before net/http
// sees a byte. Everything else passes through untouched, and the read
// deadlines net/http sets still bound how long reading the head may take.
package hostheader

import (
	"bytes"
	"net"
)

// MaxHead is how much of a request head is buffered while looking for its
// end. A longer head is passed on unchanged for net/http to refuse.
const MaxHead = 64 << 10

// Listener returns ln with every accepted connection wrapped as described in
// the package comment.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c}, nil
}

// Conn is an accepted connection whose first request head is fixed up on the
// first Read. It is used by one reader at a time, as net/http does.
type Conn struct {
	net.Conn
	started bool
	pending []byte // bytes read ahead and not yet returned
	err     error  // error met while reading ahead, returned after pending
}

// Unwrap returns the underlying connection, for socket options.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

func (c *Conn) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		c.pending, c.err = readHead(c.Conn)
		c.pending = Fix(c.pending, func() string { return c.LocalAddr().String() })
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

// readHead reads until the buffer holds a complete request head (ending in
// an empty line), MaxHead bytes, or an error.
func readHead(c net.Conn) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if headEnd(buf) >= 0 || len(buf) >= MaxHead || err != nil {
			return buf, err
		}
	}
}

// headEnd returns the index just past the empty line ending the head of
// the request at the start of b, or -1. Leading empty lines, which servers
// must ignore, are skipped first.
func headEnd(b []byte) int {
	start := 0
	for start < len(b) && (b[start] == '\r' || b[start] == '\n') {
		start++
	}
	for i := start; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// Fix returns buf with a Host header inserted after the request line when
// buf starts with a complete HTTP/1.1 request head that has none. host is
// called only then. Otherwise buf is returned as it is.
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
	line := bytes.TrimRight(head[skip:nl], "\r")
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1")) {
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
