package server

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestHeaderOrder pins the order of header lines on the wire, which the
// goldens (sorted) do not: EC2's, from the wire reference's capture B.
func TestHeaderOrder(t *testing.T) {
	ts := start(t, cfgRequired)
	tok := ts.mintToken(t, 21600)
	r := ts.exchange(t, req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
	var names []string
	for _, l := range r.lines {
		names = append(names, strings.SplitN(l, ":", 2)[0])
	}
	want := "X-Aws-Ec2-Metadata-Token-Ttl-Seconds Content-Type Accept-Ranges Last-Modified Content-Length Date Server Connection"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("header order\n got %s\nwant %s", got, want)
	}
}

// TestShutdownIdle checks that Shutdown does not wait for a client that
// connected and never sent its head.
func TestShutdownIdle(t *testing.T) {
	ts := start(t, cfgOptional)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // accepted, reading
	begin := time.Now()
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if d := time.Since(begin); d > time.Second {
		t.Errorf("Shutdown waited %v for a client that sent nothing", d)
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
