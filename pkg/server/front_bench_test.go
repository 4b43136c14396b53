package server

import (
	"net"
	"testing"
	"time"
)

// memConn is a connection in memory: Read gives one request, Write
// discards, so that a benchmark measures the front end without the kernel.
type memConn struct {
	req  []byte
	off  int
	addr net.Addr
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.off >= len(c.req) {
		return 0, net.ErrClosed
	}
	n := copy(p, c.req[c.off:])
	c.off += n
	return n, nil
}
func (c *memConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *memConn) Close() error                { return nil }
func (c *memConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(169, 254, 169, 254), Port: 80}
}
func (c *memConn) RemoteAddr() net.Addr             { return c.addr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkFrontEnd is one token GET through the front end, from the
// request's bytes to the answer's, without the kernel: its allocations
// per request are what make bench reports for the metadata listeners.
func BenchmarkFrontEnd(b *testing.B) {
	srv, err := New(parseConfig(b, cfgBench), Options{})
	if err != nil {
		b.Fatal(err)
	}
	tok := srv.sealer.Mint(time.Hour, []byte{192, 0, 2, 7, 0})
	raw := []byte(req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	b.ReportAllocs()
	for b.Loop() {
		srv.serveConn(&frontConn{c: &memConn{req: raw, addr: remote}})
	}
}
