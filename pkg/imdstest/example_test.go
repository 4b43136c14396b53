package imdstest_test

import (
	"context"
	"testing"

	"github.com/imdsd/imdsd/pkg/imdsclient"
	"github.com/imdsd/imdsd/pkg/imdstest"
	"github.com/imdsd/imdsd/pkg/server"
)

// The test of an IMDS client: imdsd serves a configuration on a loopback
// port until the test ends, and the client under test reads from it.
// Examples have no *testing.T, so this one shows the test as a function;
// it is compiled, not run.
func Example() {
	testInstanceID := func(t *testing.T) {
		cfg := imdstest.Config(t, `{"instance_id": "i-0123456789abcdef0", "http_tokens": "required"}`)
		_, addr := imdstest.Start(t, cfg, server.Options{})

		c, err := imdsclient.New(imdsclient.Options{Endpoint: "http://" + addr})
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Get(context.Background(), "meta-data/instance-id")
		if err != nil || string(id) != "i-0123456789abcdef0" {
			t.Errorf("instance-id: %q, %v", id, err)
		}
	}
	_ = testInstanceID
}

// Endpoints that misbehave: one that accepts connections and never
// answers, one where nothing listens. A client must give up on both.
// Compiled, not run, as above.
func ExampleHold() {
	testTimeouts := func(t *testing.T) {
		for _, addr := range []string{imdstest.Hold(t), imdstest.ClosedPort(t)} {
			c, err := imdsclient.New(imdsclient.Options{Endpoint: addr, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Get(context.Background(), "meta-data/instance-id"); err == nil {
				t.Errorf("%s: no error", addr)
			}
		}
	}
	_ = testTimeouts
}
