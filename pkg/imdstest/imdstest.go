// Package imdstest starts imdsd servers, and endpoints that misbehave, for
// the tests of IMDS clients, the way net/http/httptest does for HTTP: on a
// loopback port, stopped and cleaned up when the test ends.
//
//	func TestMyClient(t *testing.T) {
//		srv, addr := imdstest.Start(t, imdstest.Config(t, `{"http_tokens": "optional"}`), server.Options{})
//		client, err := imdsclient.New(imdsclient.Options{Endpoint: addr})
//		if err != nil {
//			t.Fatal(err)
//		}
//		id, err := client.Get(context.Background(), "meta-data/instance-id")
//		...
//		srv.Reload(imdstest.Config(t, `{"instance_id": "i-0123456789abcdef1"}`))
//	}
//
// TestPackageComment in the package's tests runs this.
package imdstest

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

// Config parses cfgJSON, or loads the built-in default for "", failing
// the test with every problem if it does not load.
func Config(t testing.TB, cfgJSON string) *config.Config {
	t.Helper()
	var (
		cfg *config.Config
		err error
	)
	if cfgJSON == "" {
		cfg, _, err = config.Load("")
	} else {
		cfg, _, err = config.Parse("test.json", []byte(cfgJSON))
	}
	if err != nil {
		t.Fatalf("imdstest: config:\n%v", err)
	}
	return cfg
}

// Start serves cfg with opts on a fresh 127.0.0.1 port until the test ends
// and returns the server and its host:port.
func Start(t testing.TB, cfg *config.Config, opts server.Options) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(cfg, opts)
	if err != nil {
		t.Fatalf("imdstest: server.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imdstest: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("imdstest: Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// Hold returns the host:port of a listener that accepts connections and
// never answers: the endpoint a client must not hang on.
func Hold(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imdstest: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// ClosedPort returns a loopback host:port nothing listens on: the endpoint
// that refuses connections.
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("imdstest: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
