package imdstest_test

import (
	"context"
	"testing"

	"github.com/imdsd/imdsd/pkg/imdsclient"
	"github.com/imdsd/imdsd/pkg/imdstest"
	"github.com/imdsd/imdsd/pkg/server"
)

// TestPackageComment runs the package comment's example.
func TestPackageComment(t *testing.T) {
	srv, addr := imdstest.Start(t, imdstest.Config(t, `{"http_tokens": "optional"}`), server.Options{})
	client, err := imdsclient.New(imdsclient.Options{Endpoint: addr})
	if err != nil {
		t.Fatal(err)
	}
	id, err := client.Get(context.Background(), "meta-data/instance-id")
	if err != nil || string(id) != "i-1234567890" {
		t.Fatalf("Get = %q, %v", id, err)
	}
	srv.Reload(imdstest.Config(t, `{"instance_id": "i-0123456789abcdef1"}`))
	if id, err = client.Get(context.Background(), "meta-data/instance-id"); err != nil || string(id) != "i-0123456789abcdef1" {
		t.Fatalf("after Reload, Get = %q, %v", id, err)
	}
}
