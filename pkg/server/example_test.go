package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

// A program embeds the server: a configuration, a listener, and a
// Shutdown at the end. A client asks for a token, then for a value.
func Example() {
	// README: embedding
	cfg, _, err := config.Load("") // the built-in default; or a file's path
	if err != nil {
		panic(err)
	}
	srv, err := server.New(cfg, server.Options{})
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	// README: end

	base := "http://" + ln.Addr().String()
	req, _ := http.NewRequest(http.MethodPut, base+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	token := fetch(req)
	req, _ = http.NewRequest(http.MethodGet, base+"/latest/meta-data/instance-id", nil)
	req.Header.Set("X-aws-ec2-metadata-token", token)
	fmt.Println(fetch(req))
	// Output: i-1234567890abcdef0
}

func fetch(req *http.Request) string {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
