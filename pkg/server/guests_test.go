package server

import (
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
)

// cfgGuests serves 127.0.0.2 and 127.0.0.3 as their own instances; every
// other client gets the top level, or 403 where unknown clients are denied.
const cfgGuests = `{
  "instance_id": "i-00000000000000000",
  "tags": {"Env": "lab"},
  "token_hop_limit": 3,
  UNKNOWN
  "instances": [
    {"match": ["127.0.0.2"], "instance_id": "i-0000000000000000a", "tags": {"Name": "web"}},
    {"match": ["127.0.0.3/32"], "instance_id": "i-0000000000000000b", "hostname": "db"}
  ]
}`

func guestsConfig(unknown string) string {
	return strings.Replace(cfgGuests, "UNKNOWN", unknown, 1)
}

func TestGuestSelection(t *testing.T) {
	ts := start(t, guestsConfig(`"unknown_clients": "default",`))
	get := func(src, path, tok string) *response {
		t.Helper()
		return ts.exchangeFrom(t, src, req("GET", path, tokenHdr(tok)))
	}
	tokens := map[string]string{}
	for _, src := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		r := ts.exchangeFrom(t, src, req("PUT", "/latest/api/token", ttlHdr("60")))
		expect{status: 200, ttl: "60"}.check(t, r)
		tokens[src] = string(r.body)
	}
	for _, tt := range []struct{ src, path, want string }{
		{"127.0.0.1", "/latest/meta-data/instance-id", "i-00000000000000000"},
		{"127.0.0.2", "/latest/meta-data/instance-id", "i-0000000000000000a"},
		{"127.0.0.3", "/latest/meta-data/instance-id", "i-0000000000000000b"},
		{"127.0.0.3", "/latest/meta-data/hostname", "db"},
		{"127.0.0.2", "/latest/meta-data/tags/instance", "Env\nName"},
		{"127.0.0.2", "/latest/meta-data/tags/instance/Env", "lab"},
	} {
		r := get(tt.src, tt.path, tokens[tt.src])
		expect{status: 200, body: str(tt.want), ttl: "60", meta: true}.check(t, r)
	}
	// A token is the guest's own: from another guest it is refused.
	expect{status: 401, body: str(""), ttl: "-"}.check(t, get("127.0.0.3", "/latest/meta-data/instance-id", tokens["127.0.0.2"]))
	expect{status: 401, body: str(""), ttl: "-"}.check(t, get("127.0.0.1", "/latest/meta-data/instance-id", tokens["127.0.0.3"]))
}

func TestUnknownClientsDenied(t *testing.T) {
	ts := start(t, guestsConfig(`"unknown_clients": "deny",`))
	for _, raw := range []string{
		req("PUT", "/latest/api/token", ttlHdr("60")),
		req("GET", "/latest/meta-data/instance-id"),
		"GET // HTTP/1.1\r\n\r\n",
	} {
		expect{status: 403, body: str(""), ttl: "-"}.check(t, ts.exchangeFrom(t, "127.0.0.1", raw))
	}
	r := ts.exchangeFrom(t, "127.0.0.2", req("PUT", "/latest/api/token", ttlHdr("60")))
	expect{status: 200, ttl: "60"}.check(t, r)
}

func TestGuestListen(t *testing.T) {
	// The second listener's address decides: a guest bound to another
	// listener address does not apply.
	ts := start(t, `{"instance_id": "i-00000000000000000", "http_tokens": "optional",
	  "instances": [{"match": ["127.0.0.0/8"], "listen": "127.0.0.99", "instance_id": "i-0000000000000000a"}]}`)
	r := ts.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id"))
	expect{status: 200, body: str("i-00000000000000000"), ttl: "-", meta: true}.check(t, r)

	ln, err := net.Listen("tcp", "127.0.0.99:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.99: %v", err)
	}
	go ts.srv.Serve(ln)
	other := &testServer{srv: ts.srv, addr: ln.Addr().String()}
	r = other.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id"))
	expect{status: 200, body: str("i-0000000000000000a"), ttl: "-", meta: true}.check(t, r)
}

func TestHopLimit(t *testing.T) {
	// setHopLimit on a real socket: the TTL the kernel will use is read
	// back with getsockopt.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := setHopLimit(c, 3); err != nil {
		t.Fatal(err)
	}
	raw, _ := c.(*net.TCPConn).SyscallConn()
	var ttl int
	var gerr error
	raw.Control(func(fd uintptr) { ttl, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TTL) })
	if gerr != nil || ttl != 3 {
		t.Fatalf("IP_TTL = %d, %v; want 3", ttl, gerr)
	}
}

func TestLinkLocalGuest(t *testing.T) {
	srv, err := New(parseConfig(t, `{"http_tokens": "optional", "unknown_clients": "deny",
	  "instances": [{"match": ["fe80::2"], "instance_id": "i-0000000000000000a"}]}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/latest/meta-data/instance-id", nil)
	r.RemoteAddr = "[fe80::2%br0]:40000" // a link-local client arrives with its zone
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, r)
	if rec.Code != 200 || rec.Body.String() != "i-0000000000000000a" {
		t.Fatalf("link-local guest: %d %q, want its instance", rec.Code, rec.Body.String())
	}
}
