package testbin

import (
	"bytes"
	"sync"
)

// Output collects what a command (or a server under test) writes, safe to
// write from one goroutine while the test reads it from another: the
// stderr of a daemon a test waits on, a log handler's lines.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
