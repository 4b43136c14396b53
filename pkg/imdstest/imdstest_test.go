package imdstest

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/imdsd/imdsd/pkg/server"
)

func TestStart(t *testing.T) {
	_, addr := Start(t, Config(t, `{"http_tokens": "optional"}`), server.Options{})
	resp, err := http.Get("http://" + addr + "/latest/meta-data/instance-id")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "i-1234567890" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
}

func TestHoldAndClosed(t *testing.T) {
	c, err := net.DialTimeout("tcp", Hold(t), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Hold answered")
	}
	if _, err := net.DialTimeout("tcp", ClosedPort(t), time.Second); err == nil {
		t.Fatal("ClosedPort accepted")
	}
}
