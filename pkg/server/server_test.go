package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/metadata"
	"github.com/imdsd/imdsd/internal/token"
	"github.com/imdsd/imdsd/pkg/config"
)

// cfgFull has everything the path tests look at.
const cfgFull = `{
  "http_tokens": "optional",
  "ssh_public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey2 alice@example"],
  "user_data": "#cloud-config\nhostname: test-vm\n",
  "iam": {"role": "web"}
}`

const versionsBody = "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n" +
	"2008-02-01\n2008-09-01\n2009-04-04\n2011-01-01\n2011-05-01\n2012-01-12\n" +
	"2014-02-25\n2014-11-05\n2015-10-20\n2016-04-19\n2016-06-30\n2016-09-02\n" +
	"2018-03-28\n2018-08-17\n2018-09-24\n2019-10-01\n2020-10-27\n2021-01-03\n" +
	"2021-03-23\n2021-07-15\n2022-09-24\n2024-04-11\nlatest"

// TestTokenPut is checklist item 1: the token response, header by header.
func TestTokenPut(t *testing.T) {
	ts := start(t, cfgRequired)
	r := ts.exchange(t, req("PUT", "/latest/api/token", ttlHdr("21600")))
	expect{status: 200, ttl: "21600"}.check(t, r)
	if !reToken.Match(r.body) {
		t.Errorf("token %q does not match %s", r.body, reToken)
	}
	if !bytes.HasPrefix(r.body, []byte("AQAEA")) {
		t.Errorf("token %q does not start with EC2's version bytes AQAEA", r.body)
	}
	// Exactly the header set of the 2025 capture (§1.2 A).
	var names []string
	for _, l := range r.lines {
		k, _, _ := strings.Cut(l, ": ")
		names = append(names, k)
	}
	want := []string{"Connection", "Content-Length", "Content-Type", "Date", "Server", "X-Aws-Ec2-Metadata-Token-Ttl-Seconds"}
	if got := sortedCopy(names); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("headers %q, want %q", got, want)
	}
	if got := r.header.Get("Content-Length"); got != "56" {
		t.Errorf("Content-Length %q, want 56", got)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// TestTokenTTL is checklist item 2 and the echo of item 1.
func TestTokenTTL(t *testing.T) {
	ts := start(t, cfgRequired)
	page400 := string(ErrorPage(400))
	tests := []struct {
		name    string
		headers []string
		want    string // echoed TTL; "" means 400
	}{
		{"1", []string{ttlHdr("1")}, "1"},
		{"300", []string{ttlHdr("300")}, "300"},
		{"900", []string{ttlHdr("900")}, "900"},
		{"21600", []string{ttlHdr("21600")}, "21600"},
		{"leading zeros", []string{ttlHdr("000900")}, "900"},
		{"lowercase name", []string{"x-aws-ec2-metadata-token-ttl-seconds: 5"}, "5"},
		{"uppercase name", []string{"X-AWS-EC2-METADATA-TOKEN-TTL-SECONDS: 5"}, "5"},
		{"no space", []string{"X-aws-ec2-metadata-token-ttl-seconds:5"}, "5"},
		// HTTP strips optional whitespace around a field value (RFC 9110
		// §5.5), so " 5" on the wire is the value "5"; parseTTL itself
		// refuses " 5" (TestParseTTL).
		{"extra blank", []string{"X-aws-ec2-metadata-token-ttl-seconds:  5 "}, "5"},

		{"0", []string{ttlHdr("0")}, ""},
		{"00", []string{ttlHdr("00")}, ""},
		{"21601", []string{ttlHdr("21601")}, ""},
		{"-1", []string{ttlHdr("-1")}, ""},
		{"+5", []string{ttlHdr("+5")}, ""},
		{"abc", []string{ttlHdr("abc")}, ""},
		{"empty", []string{ttlHdr("")}, ""},
		{"1.5", []string{ttlHdr("1.5")}, ""},
		{"5 5", []string{ttlHdr("5 5")}, ""},
		{"0x10", []string{ttlHdr("0x10")}, ""},
		{"huge", []string{ttlHdr("99999999999999999999999")}, ""},
		{"missing", nil, ""},
		{"twice", []string{ttlHdr("5"), ttlHdr("5")}, ""},
		{"underscore name", []string{"X_aws_ec2_metadata_token_ttl_seconds: 5"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.exchange(t, req("PUT", "/latest/api/token", tt.headers...))
			if tt.want == "" {
				expect{status: 400, ctype: "text/html", body: &page400, ttl: "-"}.check(t, r)
				return
			}
			expect{status: 200, ttl: tt.want}.check(t, r)
			if !reToken.Match(r.body) {
				t.Errorf("token %q does not match %s", r.body, reToken)
			}
		})
	}
}

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in   []string
		want int
		ok   bool
	}{
		{[]string{"1"}, 1, true},
		{[]string{"21600"}, 21600, true},
		{[]string{"0021600"}, 21600, true},
		{[]string{" 5"}, 0, false},
		{[]string{"5 "}, 0, false},
		{[]string{"+5"}, 0, false},
		{[]string{"-5"}, 0, false},
		{[]string{"0"}, 0, false},
		{[]string{""}, 0, false},
		{[]string{"21601"}, 0, false},
		{[]string{"100000"}, 0, false},
		{[]string{"٣"}, 0, false}, // a non-ASCII digit
		{nil, 0, false},
		{[]string{"5", "5"}, 0, false},
	}
	for _, tt := range tests {
		got, ok := parseTTL(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseTTL(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestTokenPath covers checklist items 5 to 7 and the rest of the token
// path's answers.
func TestTokenPath(t *testing.T) {
	for _, cfg := range []string{cfgRequired, cfgOptional} {
		ts := start(t, cfg)
		tok := ts.mintToken(t, 60)
		tests := []struct {
			name string
			req  string
			want expect
		}{
			{"XFF", req("PUT", "/latest/api/token", ttlHdr("60"), "X-Forwarded-For: 1.2.3.4"), expect{status: 403, body: str(""), ttl: "-"}},
			{"XFF empty", req("PUT", "/latest/api/token", ttlHdr("60"), "X-Forwarded-For:"), expect{status: 403, body: str(""), ttl: "-"}},
			{"XFF lowercase, bad TTL", req("PUT", "/latest/api/token", ttlHdr("0"), "x-forwarded-for: 1.2.3.4"), expect{status: 403, body: str(""), ttl: "-"}},
			{"dated version", req("PUT", "/2021-03-23/api/token", ttlHdr("60")), expect{status: 403, body: str(""), ttl: "-"}},
			{"1.0 version", req("PUT", "/1.0/api/token", ttlHdr("60")), expect{status: 403, body: str(""), ttl: "-"}},
			{"GET", req("GET", "/latest/api/token"), expect{status: 405, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"GET with token", req("GET", "/latest/api/token", tokenHdr(tok)), expect{status: 405, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"POST", req("POST", "/latest/api/token", ttlHdr("60")), expect{status: 405, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"DELETE", req("DELETE", "/latest/api/token"), expect{status: 405, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"PATCH", req("PATCH", "/latest/api/token"), expect{status: 405, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"HEAD", req("HEAD", "/latest/api/token"), expect{status: 405, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"OPTIONS", req("OPTIONS", "/latest/api/token"), expect{status: 200, body: str(""), allow: "OPTIONS, PUT", ttl: "-"}},
			{"doubled slashes", req("PUT", "//latest//api/token/", ttlHdr("60")), expect{status: 200, ttl: "60"}},
			{"query string", req("PUT", "/latest/api/token?x=1", ttlHdr("60")), expect{status: 200, ttl: "60"}},
		}
		for _, tt := range tests {
			t.Run(cfg+"/"+tt.name, func(t *testing.T) {
				tt.want.check(t, ts.exchange(t, tt.req))
			})
		}
	}
}

// TestAuth covers checklist items 3, 4 and 8 to 13 and 33: tokens on GETs.
func TestAuth(t *testing.T) {
	ts := start(t, cfgRequired)
	opt := start(t, cfgOptional)
	tok := ts.mintToken(t, 21600)
	optTok := opt.mintToken(t, 21600)
	other := start(t, cfgRequired).mintToken(t, 21600) // another key
	id := "i-1234567890"
	tests := []struct {
		name string
		ts   *testServer
		req  string
		want expect
	}{
		{"v2req no token", ts, req("GET", "/latest/meta-data/instance-id"), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req no token //", ts, "GET // HTTP/1.1\r\n\r\n", expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req no token /nonexistent", ts, "GET /nonexistent HTTP/1.1\r\n\r\n", expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req no token unknown version", ts, req("GET", "/2099-01-01/meta-data/instance-id"), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req no token POST", ts, req("POST", "/latest/meta-data/instance-id"), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req no token HEAD", ts, req("HEAD", "/latest/meta-data/instance-id"), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req invalid token", ts, req("GET", "/latest/meta-data/instance-id", tokenHdr("AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==")), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req garbage token", ts, req("GET", "/latest/meta-data/instance-id", tokenHdr("x")), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req empty token", ts, req("GET", "/latest/meta-data/instance-id", tokenHdr("")), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req other server's token", ts, req("GET", "/latest/meta-data/instance-id", tokenHdr(other)), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req token", ts, req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"v2req token no Host", ts, "GET /latest/meta-data/instance-id HTTP/1.1\r\n" + tokenHdr(tok) + "\r\n\r\n", expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"v2req token //", ts, req("GET", "//", tokenHdr(tok)), expect{status: 200, body: str(versionsBody), ttl: "21600", meta: true}},
		{"v2req token 404", ts, req("GET", "/nonexistent", tokenHdr(tok)), expect{status: 404, ctype: "text/html", body: str(page404), ttl: "-"}},
		{"v2req token dated version", ts, req("GET", "/2021-03-23/meta-data/instance-id", tokenHdr(tok)), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"v2req token 2009-04-04", ts, req("GET", "/2009-04-04/meta-data/instance-id", tokenHdr(tok)), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"name lowercase", ts, req("GET", "/latest/meta-data/instance-id", "x-aws-ec2-metadata-token: "+tok), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"name uppercase", ts, req("GET", "/latest/meta-data/instance-id", "X-AWS-EC2-METADATA-TOKEN: "+tok), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"name canonical", ts, req("GET", "/latest/meta-data/instance-id", "X-Aws-Ec2-Metadata-Token: "+tok), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"no space after colon", ts, req("GET", "/latest/meta-data/instance-id", "X-aws-ec2-metadata-token:"+tok), expect{status: 200, body: &id, ttl: "21600", meta: true}},

		{"opt no token", opt, req("GET", "/latest/meta-data/instance-id"), expect{status: 200, body: &id, ttl: "-", meta: true}},
		{"opt no token //", opt, "GET // HTTP/1.1\r\n\r\n", expect{status: 200, body: str(versionsBody), ttl: "-", meta: true}},
		{"opt token", opt, req("GET", "/latest/meta-data/instance-id", tokenHdr(optTok)), expect{status: 200, body: &id, ttl: "21600", meta: true}},
		{"opt invalid token", opt, req("GET", "/latest/meta-data/instance-id", tokenHdr("AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg==")), expect{status: 401, body: str(""), ttl: "-"}},
		{"opt other server's token", opt, req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)), expect{status: 401, body: str(""), ttl: "-"}},
		{"opt no token 404", opt, req("GET", "/latest/meta-data/nonexistent"), expect{status: 404, ctype: "text/html", body: str(page404), ttl: "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, tt.ts.exchange(t, tt.req))
		})
	}
}

// TestTokenExpiry covers checklist items 3, 4 and 12 on the fake clock:
// sub-second expiry and the remaining TTL counting down, in both modes.
func TestTokenExpiry(t *testing.T) {
	for _, cfg := range []string{cfgRequired, cfgOptional} {
		t.Run(cfg, func(t *testing.T) {
			ts := start(t, cfg)
			get := func(tok string) *response {
				t.Helper()
				return ts.exchange(t, req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
			}

			short := ts.mintToken(t, 1)
			ts.clock.Advance(500 * time.Millisecond)
			expect{status: 200, ttl: "1", meta: true}.check(t, get(short))
			ts.clock.Advance(499 * time.Millisecond)
			expect{status: 200, ttl: "1", meta: true}.check(t, get(short))
			ts.clock.Advance(101 * time.Millisecond) // 1.1 s after minting
			expect{status: 401, body: str(""), ttl: "-"}.check(t, get(short))

			long := ts.mintToken(t, 21600)
			prev := 21601
			for _, step := range []time.Duration{0, 25 * time.Second, 500 * time.Millisecond, time.Hour, 4 * time.Hour} {
				ts.clock.Advance(step)
				r := get(long)
				expect{status: 200, meta: true}.check(t, r)
				left, err := strconv.Atoi(r.header.Get(hdrTTL))
				if err != nil || left > prev || left > 21600 || left < 1 {
					t.Errorf("after %v more: TTL header %q, want 1..%d", step, r.header.Get(hdrTTL), min(prev, 21600))
				}
				prev = left
			}
			// 21600 - 25.5 s rounds up to 21575, the capture's countdown.
			ts.clock.Advance(-5 * time.Hour)
			if got := get(long).header.Get(hdrTTL); got != "21575" {
				t.Errorf("25.5 s after minting: TTL header %q, want 21575", got)
			}
			ts.clock.Advance(21600*time.Second - 25500*time.Millisecond)
			expect{status: 401, body: str(""), ttl: "-"}.check(t, get(long))
		})
	}
}

// TestTokenBinding is checklist item 13: a token works only from the
// address it was minted for.
func TestTokenBinding(t *testing.T) {
	for _, cfg := range []string{cfgRequired, cfgOptional} {
		t.Run(cfg, func(t *testing.T) {
			ts := start(t, cfg)
			tok := ts.mintToken(t, 60)
			r := ts.exchangeFrom(t, "127.0.0.2", req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
			expect{status: 401, body: str(""), ttl: "-"}.check(t, r)
			r = ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
			expect{status: 200, ttl: "60", meta: true}.check(t, r)

			// And the other way round.
			r = ts.exchangeFrom(t, "127.0.0.2", req("PUT", "/latest/api/token", ttlHdr("60")))
			expect{status: 200, ttl: "60"}.check(t, r)
			r = ts.exchangeFrom(t, "127.0.0.1", req("GET", "/latest/meta-data/instance-id", tokenHdr(string(r.body))))
			expect{status: 401, body: str(""), ttl: "-"}.check(t, r)
		})
	}
}

func TestBinding(t *testing.T) {
	tests := []struct {
		remote string
		want   []byte
	}{
		{"127.0.0.1:1234", []byte{127, 0, 0, 1}},
		{"[::ffff:127.0.0.1]:1234", []byte{127, 0, 0, 1}},
		{"[::1]:80", net.IPv6loopback},
		{"[fe80::1%eth0]:80", net.ParseIP("fe80::1")},
		{"not an address", []byte("not an address")},
	}
	in := &instance{id: []byte("i-1")}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote}
		client, _ := addrs(r)
		want := append(append(append([]byte{}, tt.want...), 0), "i-1"...)
		if got := binding(client, r.RemoteAddr, in); !bytes.Equal(got, want) {
			t.Errorf("binding(%q) = %v, want %v", tt.remote, got, want)
		}
	}
}

// TestIPv6 checks the whole token flow over ::1, when the host has it.
func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv, err := New(parseConfig(t, cfgRequired), Options{Now: (&fakeClock{t: epoch}).Now})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	ts := &testServer{srv: srv, addr: ln.Addr().String()}
	r := ts.exchange(t, "PUT /latest/api/token HTTP/1.1\r\n"+ttlHdr("5")+"\r\n\r\n")
	expect{status: 200, ttl: "5"}.check(t, r)
	r = ts.exchange(t, "GET /latest/meta-data/instance-id HTTP/1.1\r\n"+tokenHdr(string(r.body))+"\r\n\r\n")
	expect{status: 200, ttl: "5", body: str("i-1234567890"), meta: true}.check(t, r)
}

// TestNoHost is checklist items 31 and 32: aws-ec2-imdsv2-get's requests,
// byte for byte, in one write and byte by byte.
func TestNoHost(t *testing.T) {
	ts := start(t, cfgRequired)
	opt := start(t, cfgOptional)
	for _, chunk := range []int{1 << 20, 1} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) {
			send := func(ts *testServer, raw string) *response {
				t.Helper()
				c, err := net.Dial("tcp", ts.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.(*net.TCPConn).SetNoDelay(true)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for s := raw; len(s) > 0; {
					k := min(chunk, len(s))
					if _, err := io.WriteString(c, s[:k]); err != nil {
						t.Fatal(err)
					}
					s = s[k:]
				}
				return readResponse(t, c, false)
			}
			expect{status: 401, body: str(""), ttl: "-"}.check(t, send(ts, "GET // HTTP/1.1\r\n\r\n"))
			expect{status: 200, body: str(versionsBody), ttl: "-", meta: true}.check(t, send(opt, "GET // HTTP/1.1\r\n\r\n"))
			r := send(ts, "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n")
			expect{status: 200, ttl: "1"}.check(t, r)
			if !reToken.Match(r.body) {
				t.Fatalf("token %q does not match %s", r.body, reToken)
			}
			r = send(ts, "GET /latest/meta-data/public-keys HTTP/1.1\r\nX-aws-ec2-metadata-token: "+string(r.body)+"\r\n\r\n")
			expect{status: 404, ctype: "text/html", body: str(page404), ttl: "-"}.check(t, r)
		})
	}
}

// TestPaths covers checklist items 14 to 23, 25, 26, 28 and 30, and path
// oddities: //, trailing slashes, dot segments, %2F, query strings, long
// paths.
func TestPaths(t *testing.T) {
	ts := start(t, cfgFull)
	id := "i-1234567890"
	az := "antarctica-1a"
	long := "/latest/meta-data/" + strings.Repeat("a", 8<<10)
	// A longer head is over max_header_bytes: TestMalformed has its 431.
	tests := []struct {
		path string
		want expect
	}{
		{"/", expect{status: 200, body: str(versionsBody), meta: true}},
		{"//", expect{status: 200, body: str(versionsBody), meta: true}},
		{"/latest", expect{status: 200, body: str("dynamic\nmeta-data\nuser-data"), meta: true}},
		{"/latest/", expect{status: 200, body: str("dynamic\nmeta-data\nuser-data"), meta: true}},
		{"/latest/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/latest/meta-data/instance-id/", expect{status: 200, body: &id, meta: true}},
		{"/latest//meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"//latest/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/latest/meta-data/./instance-id", expect{status: 200, body: &id, meta: true}},
		{"/latest/meta-data/../meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/latest/meta-data%2Finstance-id", expect{status: 200, body: &id, meta: true}},
		{"/latest/meta-data/instance-id?x=1&y", expect{status: 200, body: &id, meta: true}},
		{"http://169.254.169.254/latest/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/latest/meta-data/placement", expect{status: 200, body: str("availability-zone\navailability-zone-id\nregion"), meta: true}},
		{"/latest/meta-data/placement/", expect{status: 200, body: str("availability-zone\navailability-zone-id\nregion"), meta: true}},
		{"/latest/meta-data/placement/availability-zone", expect{status: 200, body: &az, meta: true}},
		{"/latest/meta-data/placement/availability-zone/", expect{status: 200, body: &az, meta: true}},
		{"/latest/meta-data/public-keys", expect{status: 200, body: str("0=alice@example"), meta: true}},
		{"/latest/meta-data/public-keys/", expect{status: 200, body: str("0=alice@example"), meta: true}},
		{"/latest/meta-data/public-keys/0/", expect{status: 200, body: str("openssh-key"), meta: true}},
		{"/latest/meta-data/public-keys/0/openssh-key", expect{status: 200, body: str("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIkey2 alice@example\n"), meta: true}},
		{"/latest/meta-data/public-keys/1/openssh-key", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/meta-data/iam/security-credentials/", expect{status: 200, body: str("web"), meta: true}},
		{"/latest/meta-data/iam/security-credentials-extended/", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/user-data", expect{status: 200, ctype: "application/octet-stream", body: str("#cloud-config\nhostname: test-vm\n"), meta: true}},
		{"/latest/user-data/", expect{status: 200, ctype: "application/octet-stream", body: str("#cloud-config\nhostname: test-vm\n"), meta: true}},
		{"/2021-03-23/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/2018-09-24/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/2016-09-02/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/2009-04-04/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/1.0/meta-data/instance-id", expect{status: 200, body: &id, meta: true}},
		{"/2009-04-04/user-data", expect{status: 200, ctype: "application/octet-stream", body: str("#cloud-config\nhostname: test-vm\n"), meta: true}},
		{"/2099-01-01/meta-data/instance-id", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/2099-01-01", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/nonexistent", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/nonexistent", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/meta-data/nonexistent/", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/meta-data/instance-id/x", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/api", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/latest/api/token/x", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{"/%00", expect{status: 404, ctype: "text/html", body: str(page404)}},
		{long, expect{status: 404, ctype: "text/html", body: str(page404)}},
	}
	for _, tt := range tests {
		name := tt.path
		if len(name) > 60 {
			name = fmt.Sprintf("%s...(%d bytes)", name[:40], len(name))
		}
		t.Run(name, func(t *testing.T) {
			tt.want.ttl = "-"
			tt.want.check(t, ts.exchange(t, req("GET", tt.path)))
		})
	}
}

// TestWalk is checklist items 16 and 26: every name a listing shows can be
// fetched, with and without a trailing slash, and no listing ends in a
// newline.
func TestWalk(t *testing.T) {
	ts := start(t, cfgFull)
	seen := 0
	queue := []string{"/latest/"}
	for len(queue) > 0 && seen < 500 {
		p := queue[0]
		queue = queue[1:]
		seen++
		r := ts.exchange(t, req("GET", p))
		if r.status != 200 {
			t.Errorf("GET %s: %d", p, r.status)
			continue
		}
		if !strings.HasSuffix(p, "/") {
			continue
		}
		again := ts.exchange(t, req("GET", strings.TrimSuffix(p, "/")))
		if again.status != 200 || !bytes.Equal(again.body, r.body) {
			t.Errorf("GET %s without the slash: %d %q, want 200 %q", p, again.status, again.body, r.body)
		}
		if bytes.HasSuffix(r.body, []byte("\n")) || len(r.body) == 0 {
			t.Errorf("listing %s is %q: empty or ends in a newline", p, r.body)
		}
		for _, name := range strings.Split(string(r.body), "\n") {
			switch {
			case p == "/latest/" && name != "user-data":
				name += "/" // EC2 lists meta-data and dynamic without a slash
			case p == "/latest/meta-data/public-keys/":
				name, _, _ = strings.Cut(name, "=")
				name += "/"
			}
			queue = append(queue, p+name)
		}
	}
	if seen < 40 {
		t.Errorf("walked only %d paths", seen)
	}
}

// TestIdentityAndCredentials is checklist items 24 and 27.
func TestIdentityAndCredentials(t *testing.T) {
	ts := start(t, cfgFull)
	r := ts.exchange(t, req("GET", "/latest/dynamic/instance-identity/document"))
	expect{status: 200, ttl: "-", meta: true}.check(t, r)
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("identity document %q: %v", r.body, err)
	}
	for k, want := range map[string]string{"region": "antarctica-1", "instanceId": "i-1234567890",
		"availabilityZone": "antarctica-1a", "accountId": "123456789012", "pendingTime": "2026-01-02T03:04:05Z"} {
		if doc[k] != want {
			t.Errorf("document %s = %v, want %q", k, doc[k], want)
		}
	}

	r = ts.exchange(t, req("GET", "/latest/meta-data/iam/security-credentials/web"))
	expect{status: 200, ttl: "-", meta: true}.check(t, r)
	var cred map[string]any
	if err := json.Unmarshal(r.body, &cred); err != nil {
		t.Fatalf("credentials %q: %v", r.body, err)
	}
	if cred["Code"] != "Success" {
		t.Errorf("Code = %v, want Success", cred["Code"])
	}
	for _, k := range []string{"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "LastUpdated"} {
		if s, _ := cred[k].(string); s == "" {
			t.Errorf("credentials lack %s: %s", k, r.body)
		}
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(cred["Expiration"])); err != nil {
		t.Errorf("Expiration: %v", err)
	}
}

// TestUserData is checklist items 28 and 29: none configured, and 16 KiB of
// binary sent whole with Content-Length, never chunked.
func TestUserData(t *testing.T) {
	none := start(t, cfgOptional)
	r := none.exchange(t, req("GET", "/latest/user-data"))
	expect{status: 404, ctype: "text/html", body: str(page404), ttl: "-"}.check(t, r)
	if len(r.body) != 339 {
		t.Errorf("404 body is %d bytes, want 339", len(r.body))
	}
	r = none.exchange(t, req("GET", "/latest"))
	expect{status: 200, body: str("dynamic\nmeta-data"), ttl: "-", meta: true}.check(t, r)

	data := make([]byte, config.MaxUserData)
	for i := range data {
		data[i] = byte(i*7 + i>>8)
	}
	cfg := fmt.Sprintf(`{"http_tokens": "optional", "user_data_base64": %q}`, base64.StdEncoding.EncodeToString(data))
	ts := start(t, cfg)
	for _, extra := range [][]string{nil, {"Accept-Encoding: gzip"}, {"Range: bytes=0-9"}, {"TE: chunked"}} {
		t.Run(strings.Join(extra, ","), func(t *testing.T) {
			r := ts.exchange(t, req("GET", "/latest/user-data", extra...))
			expect{status: 200, ctype: "application/octet-stream", ttl: "-", meta: true}.check(t, r)
			if got := r.header.Get("Content-Length"); got != "16384" {
				t.Errorf("Content-Length %q, want 16384", got)
			}
			if !bytes.Equal(r.body, data) {
				t.Errorf("body differs from the configured user-data (%d bytes)", len(r.body))
			}
		})
	}
	r = ts.exchange(t, req("HEAD", "/latest/user-data"))
	expect{status: 200, ctype: "application/octet-stream", body: str(""), ttl: "-", meta: true}.check(t, r)
	if got := r.header.Get("Content-Length"); got != "16384" {
		t.Errorf("HEAD Content-Length %q, want 16384", got)
	}
}

// TestHead is checklist item 34: HEAD gives GET's status and headers (Date
// aside) and no body.
func TestHead(t *testing.T) {
	ts := start(t, cfgFull)
	v2 := start(t, cfgRequired)
	tok := ts.mintToken(t, 60)
	tests := []struct {
		name string
		ts   *testServer
		path string
		hdrs []string
	}{
		{"leaf", ts, "/latest/meta-data/instance-id", nil},
		{"leaf with token", ts, "/latest/meta-data/instance-id", []string{tokenHdr(tok)}},
		{"listing", ts, "/latest/meta-data/", nil},
		{"versions", ts, "/", nil},
		{"user-data", ts, "/latest/user-data", nil},
		{"404", ts, "/latest/meta-data/nonexistent", nil},
		{"unknown version", ts, "/2099-01-01/", nil},
		{"401", v2, "/latest/meta-data/instance-id", nil},
		{"405", ts, "/latest/api/token", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get := tt.ts.exchange(t, req("GET", tt.path, tt.hdrs...))
			head := tt.ts.exchange(t, req("HEAD", tt.path, tt.hdrs...))
			checkFraming(t, head)
			if head.line != get.line {
				t.Errorf("HEAD status %q, GET %q", head.line, get.line)
			}
			g, h := withoutDate(get.lines), withoutDate(head.lines)
			if strings.Join(g, "\n") != strings.Join(h, "\n") {
				t.Errorf("HEAD headers\n%s\nGET headers\n%s", strings.Join(h, "\n"), strings.Join(g, "\n"))
			}
			if len(head.body) != 0 {
				t.Errorf("HEAD body %q", head.body)
			}
		})
	}
}

func withoutDate(lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "Date: ") {
			out = append(out, l)
		}
	}
	return sortedCopy(out)
}

// TestMethods covers methods other than GET and HEAD on metadata paths,
// which EC2 is believed to refuse with 405 (§10 item 3).
func TestMethods(t *testing.T) {
	ts := start(t, cfgOptional)
	v2 := start(t, cfgRequired)
	tok := v2.mintToken(t, 60)
	tests := []struct {
		name string
		ts   *testServer
		req  string
		want expect
	}{
		{"POST", ts, req("POST", "/latest/meta-data/instance-id"), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"PUT", ts, req("PUT", "/latest/meta-data/instance-id"), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"DELETE", ts, req("DELETE", "/latest/meta-data/"), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"PATCH", ts, req("PATCH", "/latest/meta-data/instance-id"), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"unknown method", ts, req("FOO", "/"), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"PUT api/token unversioned", ts, req("PUT", "/api/token", ttlHdr("60")), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"OPTIONS", ts, req("OPTIONS", "/latest/meta-data/instance-id"), expect{status: 200, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"OPTIONS *", ts, req("OPTIONS", "*"), expect{status: 200, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
		{"v2req OPTIONS no token", v2, req("OPTIONS", "/latest/meta-data/instance-id"), expect{status: 401, body: str(""), ttl: "-"}},
		{"v2req OPTIONS token", v2, req("OPTIONS", "/latest/meta-data/instance-id", tokenHdr(tok)), expect{status: 200, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "60"}},
		{"v2req POST token", v2, req("POST", "/latest/meta-data/instance-id", tokenHdr(tok)), expect{status: 405, body: str(""), allow: "OPTIONS, GET, HEAD", ttl: "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.check(t, tt.ts.exchange(t, tt.req))
		})
	}
}

// TestConnection covers framing beyond single well-formed requests: HTTP/1.0,
// keep-alive requests, pipelining, request bodies, Expect: 100-continue.
// Every case must get exactly one response and then EOF.
func TestConnection(t *testing.T) {
	ts := start(t, cfgOptional)
	id := "i-1234567890"
	putHdr := "PUT /latest/api/token HTTP/1.1\r\nHost: x\r\n" + ttlHdr("60") + "\r\n"
	tests := []struct {
		name  string
		raw   string
		proto string
		want  expect
	}{
		{"HTTP/1.0", "GET /latest/meta-data/instance-id HTTP/1.0\r\n\r\n", "HTTP/1.0", expect{status: 200, body: &id, meta: true}},
		{"HTTP/1.0 keep-alive", "GET /latest/meta-data/instance-id HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "HTTP/1.0", expect{status: 200, body: &id, meta: true}},
		{"HTTP/1.0 token PUT", "PUT /latest/api/token HTTP/1.0\r\n" + ttlHdr("60") + "\r\n\r\n", "HTTP/1.0", expect{status: 200, ttl: "60"}},
		{"keep-alive", req("GET", "/latest/meta-data/instance-id", "Connection: keep-alive"), "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
		{"pipelined", req("GET", "/latest/meta-data/instance-id") + req("GET", "/latest/meta-data/mac"), "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
		{"pipelined no Host", "GET /latest/meta-data/instance-id HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
		{"PUT body", putHdr + "Content-Length: 10\r\n\r\n0123456789", "HTTP/1.1", expect{status: 200, ttl: "60"}},
		{"PUT chunked body", putHdr + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "HTTP/1.1", expect{status: 200, ttl: "60"}},
		// A body announced and never sent: the server must not wait for it.
		{"PUT body never sent", putHdr + "Content-Length: 10\r\n\r\n", "HTTP/1.1", expect{status: 200, ttl: "60"}},
		{"PUT chunked never sent", putHdr + "Transfer-Encoding: chunked\r\n\r\n", "HTTP/1.1", expect{status: 200, ttl: "60"}},
		{"Expect 100-continue", putHdr + "Content-Length: 10\r\nExpect: 100-continue\r\n\r\n", "HTTP/1.1", expect{status: 200, ttl: "60"}},
		{"GET with body", "GET /latest/meta-data/instance-id HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
		{"bare LF", "GET /latest/meta-data/instance-id HTTP/1.1\nHost: x\n\n", "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
		{"bare LF no Host", "GET /latest/meta-data/instance-id HTTP/1.1\n\n", "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
		{"absolute form", "GET http://169.254.169.254/latest/meta-data/instance-id HTTP/1.1\r\n\r\n", "HTTP/1.1", expect{status: 200, body: &id, meta: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.exchange(t, tt.raw)
			if tt.want.ttl == "" {
				tt.want.ttl = "-"
			}
			tt.want.check(t, r)
			if !strings.HasPrefix(r.line, tt.proto+" ") {
				t.Errorf("status line %q, want %s", r.line, tt.proto)
			}
			if bytes.Count(r.raw, []byte("HTTP/1.")) != 1 {
				t.Errorf("more than one response: %q", r.raw)
			}
		})
	}
}

// TestLargeBody sends a PUT body larger than net/http will drain: the
// answer still arrives, then EOF.
func TestLargeBody(t *testing.T) {
	ts := start(t, cfgOptional)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const n = 1 << 20
	go func() {
		io.WriteString(c, req("PUT", "/latest/api/token", ttlHdr("60"), "Content-Length: "+strconv.Itoa(n)))
		c.Write(make([]byte, n)) // fails once the server closes; that is fine
	}()
	r := readResponse(t, c, false)
	expect{status: 200, ttl: "60"}.check(t, r)
}

// TestRefused covers requests net/http's server refuses before a handler
// sees them: the front end refuses them with the same status (with EC2's
// framing, which TestGolden pins); the test pins that they come at all
// and the connection closes.
func TestRefused(t *testing.T) {
	ts := start(t, cfgOptional)
	tests := []struct {
		name, raw string
		status    int
	}{
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\n\r\n", 400},
		{"garbage", "hello\r\n\r\n", 400},
		{"space in path", "GET /a b HTTP/1.1\r\n\r\n", 400},
		{"bad header", "GET / HTTP/1.1\r\nno colon\r\n\r\n", 400},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", 505},
		{"head too large", "GET /" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\n\r\n", 431},
		{"Expect other", req("GET", "/", "Expect: x"), 417},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			go io.WriteString(c, tt.raw)
			all, err := io.ReadAll(c)
			if err != nil && len(all) == 0 {
				t.Fatalf("reading: %v", err)
			}
			want := fmt.Sprintf("HTTP/1.1 %d ", tt.status)
			if !strings.HasPrefix(string(all), want) {
				t.Errorf("got %q, want %q...", all, want)
			}
		})
	}
}

// TestEndpointDisabled is checklist item 36: 403 for everything.
func TestEndpointDisabled(t *testing.T) {
	ts := start(t, `{"http_endpoint": "disabled", "http_tokens": "optional"}`)
	tok := ts.srv.sealer.Mint(time.Minute, []byte{127, 0, 0, 1, 0})
	for _, raw := range []string{
		req("PUT", "/latest/api/token", ttlHdr("60")),
		req("GET", "/latest/api/token"),
		req("GET", "/"),
		"GET // HTTP/1.1\r\n\r\n",
		req("GET", "/latest/meta-data/instance-id"),
		req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)),
		req("GET", "/nonexistent"),
		req("HEAD", "/latest/meta-data/instance-id"),
		req("OPTIONS", "/latest/meta-data/instance-id"),
		req("POST", "/latest/user-data"),
	} {
		t.Run(strings.SplitN(raw, "\r\n", 2)[0], func(t *testing.T) {
			expect{status: 403, body: str(""), ttl: "-"}.check(t, ts.exchange(t, raw))
		})
	}
}

// TestForceStatus checks that forced statuses come with EC2's body for
// them, whatever spelling the configuration key uses, and before
// authentication.
func TestForceStatus(t *testing.T) {
	page := func(st int) *string { s := string(ErrorPage(st)); return &s }
	tests := []struct {
		name, cfg, raw string
		want           expect
	}{
		{"503 short key", `{"force_status": {"meta-data/instance-id": 503}}`,
			req("GET", "/latest/meta-data/instance-id"), expect{status: 503, ctype: "text/html", body: page(503)}},
		{"503 full key", `{"force_status": {"/latest/meta-data/instance-id/": 503}}`,
			req("GET", "/latest/meta-data/instance-id"), expect{status: 503, ctype: "text/html", body: page(503)}},
		{"dated version matches", `{"force_status": {"/latest/meta-data/instance-id": 503}}`,
			req("GET", "/2021-03-23//meta-data/instance-id/"), expect{status: 503, ctype: "text/html", body: page(503)}},
		{"other path untouched", `{"http_tokens": "optional", "force_status": {"meta-data/instance-id": 503}}`,
			req("GET", "/latest/meta-data/mac"), expect{status: 200, body: str("02:00:00:00:00:01"), meta: true}},
		{"token 404", `{"force_status": {"api/token": 404}}`,
			req("PUT", "/latest/api/token", ttlHdr("60")), expect{status: 404, ctype: "text/html", body: page(404)}},
		{"token 403", `{"force_status": {"/latest/api/token": 403}}`,
			req("PUT", "/latest/api/token", ttlHdr("60")), expect{status: 403, body: str("")}},
		{"token 405", `{"force_status": {"api/token": 405}}`,
			req("PUT", "/latest/api/token", ttlHdr("60")), expect{status: 405, body: str("")}},
		{"token 503", `{"force_status": {"api/token": 503}}`,
			req("PUT", "/latest/api/token", ttlHdr("60")), expect{status: 503, ctype: "text/html", body: page(503)}},
		{"500", `{"force_status": {"meta-data/iam/info": 500}}`,
			req("GET", "/latest/meta-data/iam/info"), expect{status: 500, ctype: "text/html", body: page(500)}},
		{"429 on a missing path", `{"force_status": {"meta-data/nothing-here": 429}}`,
			req("GET", "/latest/meta-data/nothing-here"), expect{status: 429, ctype: "text/html", body: page(429)}},
		{"200 forced", `{"force_status": {"meta-data/instance-id": 200}}`,
			req("GET", "/latest/meta-data/instance-id"), expect{status: 200, body: str("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.cfg)
			tt.want.ttl = "-"
			tt.want.check(t, ts.exchange(t, tt.raw))
		})
	}

	// 204 and 304 carry no body, so net/http sends no Content-Length.
	ts := start(t, `{"force_status": {"meta-data/ami-id": 204, "meta-data/mac": 304}}`)
	for _, p := range []string{"/latest/meta-data/ami-id", "/latest/meta-data/mac"} {
		r := ts.exchange(t, req("GET", p))
		if (r.status != 204 && r.status != 304) || len(r.body) != 0 || r.header.Get("Server") != "EC2ws" {
			t.Errorf("GET %s: %v", p, r)
		}
	}
}

// TestDelay checks injected delays: the default, a per-path override (in
// either spelling, including the token path) and an override to zero.
// Only lower bounds are asserted.
func TestDelay(t *testing.T) {
	tests := []struct {
		name, cfg, raw string
		min            time.Duration
		want           int
	}{
		{"default", `{"http_tokens": "optional", "default_delay_ms": 100}`,
			req("GET", "/latest/meta-data/instance-id"), 100 * time.Millisecond, 200},
		{"default on 404", `{"http_tokens": "optional", "default_delay_ms": 50}`,
			req("GET", "/nonexistent"), 50 * time.Millisecond, 404},
		{"default on 401", `{"default_delay_ms": 50}`,
			"GET // HTTP/1.1\r\n\r\n", 50 * time.Millisecond, 401},
		{"per path short key", `{"http_tokens": "optional", "endpoint_delay_ms": {"meta-data/instance-id": 100}}`,
			req("GET", "/latest/meta-data/instance-id/"), 100 * time.Millisecond, 200},
		{"per path full key", `{"http_tokens": "optional", "endpoint_delay_ms": {"/latest/meta-data/instance-id": 100}}`,
			req("GET", "//latest/meta-data/instance-id"), 100 * time.Millisecond, 200},
		{"token path", `{"endpoint_delay_ms": {"api/token": 100}}`,
			req("PUT", "/latest/api/token", ttlHdr("60")), 100 * time.Millisecond, 200},
		{"with forced status", `{"endpoint_delay_ms": {"api/token": 50}, "force_status": {"api/token": 503}}`,
			req("PUT", "/latest/api/token", ttlHdr("60")), 50 * time.Millisecond, 503},
		// Ten minutes by default, none here: answered at all means the
		// override won.
		{"override to zero", `{"http_tokens": "optional", "default_delay_ms": 600000, "endpoint_delay_ms": {"meta-data/instance-id": 0}}`,
			req("GET", "/latest/meta-data/instance-id"), 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, tt.cfg)
			t0 := time.Now()
			r := ts.exchange(t, tt.raw)
			if took := time.Since(t0); took < tt.min {
				t.Errorf("answered after %v, want at least %v", took, tt.min)
			}
			if r.status != tt.want {
				t.Errorf("status %d, want %d", r.status, tt.want)
			}
			checkFraming(t, r)
		})
	}
}

// TestDelayClientGone checks that a delay ends when the client goes away,
// and that the access log records it.
func TestDelayClientGone(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "default_delay_ms": 600000}`)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, req("GET", "/latest/meta-data/instance-id")); err != nil {
		t.Fatal(err)
	}
	waitEntered(t, ts.entered) // the server is waiting out the delay
	c.Close()
	waitFor(t, 5*time.Second, "the access log line of the abandoned request", func() bool {
		return strings.Contains(ts.access.String(), `"status":499`)
	})
	recs := records(t, ts.access)
	if len(recs) != 1 || recs[0]["bytes"] != 0.0 || recs[0]["path"] != "/latest/meta-data/instance-id" {
		t.Errorf("access log %v, want one line with status 499 and 0 bytes", recs)
	}
}

// TestShutdownDuringDelay checks that Shutdown answers requests waiting out
// an injected delay at once instead of waiting for it to end.
func TestShutdownDuringDelay(t *testing.T) {
	cfg := parseConfig(t, `{"http_tokens": "optional", "default_delay_ms": 600000}`)
	srv, err := New(cfg, Options{Now: (&fakeClock{t: epoch}).Now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered := handlerEntered(srv)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req("GET", "/latest/meta-data/instance-id")); err != nil {
		t.Fatal(err)
	}
	// Shutdown only once the connection is accepted and the request is
	// waiting out the delay.
	waitEntered(t, entered)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	expect{status: 200, body: str("i-1234567890"), ttl: "-", meta: true}.check(t, readResponse(t, c, false))
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v, want nil (the delayed request answered at once)", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestPanic checks that a panic while answering becomes a 500 with EC2's
// page and an error log line, and that the server carries on.
func TestPanic(t *testing.T) {
	ts := start(t, cfgOptional)
	good := ts.srv.state.Load()
	// An instance without a tree makes the lookup dereference nil.
	ts.srv.state.Store(&state{cfg: good.cfg, def: &instance{cfg: &good.cfg.Instance}})
	page := string(ErrorPage(500))
	r := ts.exchange(t, req("GET", "/latest/meta-data/instance-id"))
	expect{status: 500, ctype: "text/html", body: &page, ttl: "-"}.check(t, r)
	if !strings.Contains(ts.errlog.String(), "panic answering request") {
		t.Errorf("error log %q lacks the panic", ts.errlog.String())
	}
	if !strings.Contains(ts.access.String(), `"status":500`) {
		t.Errorf("access log %q lacks the 500", ts.access.String())
	}
	ts.srv.state.Store(good)
	expect{status: 200, body: str("i-1234567890"), ttl: "-", meta: true}.check(t,
		ts.exchange(t, req("GET", "/latest/meta-data/instance-id")))
}

// TestAccessLog checks the access log line's fields, and that a nil
// AccessLog turns it off.
func TestAccessLog(t *testing.T) {
	ts := start(t, cfgOptional)
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, req("GET", "/latest//meta-data/instance-id?x=1"))
	readResponse(t, c, false)
	c.Close()
	ts.exchange(t, req("HEAD", "/latest/meta-data/instance-id"))
	ts.exchange(t, req("GET", "/nonexistent"))

	recs := records(t, ts.access)
	if len(recs) != 3 {
		t.Fatalf("%d access log lines, want 3: %v", len(recs), recs)
	}
	want := []map[string]any{
		{"msg": "request", "client": local, "method": "GET", "path": "/latest//meta-data/instance-id?x=1", "status": 200.0, "bytes": 12.0},
		{"method": "HEAD", "path": "/latest/meta-data/instance-id", "status": 200.0, "bytes": 0.0},
		{"method": "GET", "path": "/nonexistent", "status": 404.0, "bytes": 339.0},
	}
	for i, w := range want {
		for k, v := range w {
			if recs[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, recs[i][k], v)
			}
		}
		if _, ok := recs[i]["time"]; !ok {
			t.Errorf("line %d has no time: %v", i, recs[i])
		}
	}

	quiet := start(t, cfgOptional, func(o *Options) { o.AccessLog = nil })
	expect{status: 200, body: str("i-1234567890"), ttl: "-", meta: true}.check(t,
		quiet.exchange(t, req("GET", "/latest/meta-data/instance-id")))
	if s := quiet.access.String(); s != "" {
		t.Errorf("access log written with AccessLog nil: %q", s)
	}
}

// TestReadHeaderTimeout checks that a client that sends nothing, or half a
// head, is cut off.
func TestReadHeaderTimeout(t *testing.T) {
	ts := start(t, `{"http_tokens": "optional", "header_timeout_ms": 100}`)
	for _, send := range []string{"", "GET // HTTP/1.1\r\n", "GET // HTTP/1.1\r\nX-aws-ec2-metadata-token: abc"} {
		t.Run(fmt.Sprintf("%q", send), func(t *testing.T) {
			c, err := net.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, send)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || len(got) != 0 {
				t.Errorf("read %q, %v; want EOF with nothing (the server cutting the client off)", got, err)
			}
		})
	}
}

// TestReload checks that a reload changes what is served, and that tokens
// from before it still work.
func TestReload(t *testing.T) {
	ts := start(t, cfgRequired)
	tok := ts.mintToken(t, 60)
	cfg := parseConfig(t, `{"instance_id": "i-0123456789abcdef0"}`)
	ts.srv.Reload(cfg)
	if ts.srv.Config() != cfg {
		t.Error("Config() does not return the reloaded configuration")
	}
	r := ts.exchange(t, req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
	expect{status: 200, body: str("i-0123456789abcdef0"), ttl: "60", meta: true}.check(t, r)

	ts.srv.Reload(parseConfig(t, `{"http_tokens": "optional", "http_endpoint": "disabled"}`))
	expect{status: 403, body: str(""), ttl: "-"}.check(t, ts.exchange(t, req("GET", "/")))
}

// TestSealerOption checks that a given Sealer is used (tokens from it open)
// and that Options.Now replaces its clock.
func TestSealerOption(t *testing.T) {
	sealer, err := token.New(bytes.Repeat([]byte{7}, token.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, cfgRequired, func(o *Options) { o.Sealer = sealer })
	// Minted on the real clock, for an hour; the server's clock is set a
	// day earlier, so by it the token has 25 hours left.
	tok := sealer.Mint(time.Hour, []byte{127, 0, 0, 1, 0})
	ts.clock.Set(time.Now().Add(-24 * time.Hour))
	r := ts.exchange(t, req("GET", "/latest/meta-data/instance-id", tokenHdr(tok)))
	expect{status: 200, meta: true}.check(t, r)
	if left, _ := strconv.Atoi(r.header.Get(hdrTTL)); left <= 3600 {
		t.Errorf("TTL header %q: the server's clock did not replace the sealer's", r.header.Get(hdrTTL))
	}
}

func TestNew(t *testing.T) {
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	srv, err := New(config.Default(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Config().InstanceID != "i-1234567890abcdef0" {
		t.Errorf("Config() = %+v", srv.Config())
	}
	// Shutdown before and after Serve: Serve returns nil.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ts := &testServer{srv: srv, addr: ln.Addr().String()}
	expect{status: 401, body: str(""), ttl: "-"}.check(t, ts.exchange(t, "GET // HTTP/1.1\r\n\r\n"))
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	if _, err := net.Dial("tcp", ts.addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestServeHTTPInProcess checks the handler used directly, as an embedder
// might, with httptest.
func TestServeHTTPInProcess(t *testing.T) {
	srv, err := New(parseConfig(t, cfgRequired), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tok := srv.sealer.Mint(time.Minute, []byte{192, 0, 2, 1, 0})
	rec := httptestRecord(srv, "GET", "/latest/meta-data/instance-id", tokenHdr(tok))
	if rec.Code != 200 || rec.Body.String() != "i-1234567890" || rec.Header().Get("Server") != "EC2ws" {
		t.Errorf("got %d %q %v", rec.Code, rec.Body.String(), rec.Header())
	}
	rec = httptestRecord(srv, "PUT", "/latest/api/token", ttlHdr("5"), "Content-Length: 3")
	if rec.Code != 200 || !reToken.Match(rec.Body.Bytes()) {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestErrorPage(t *testing.T) {
	// Sizes computed in the reference (§4) for the current template.
	for st, n := range map[int]int{400: 343, 401: 345, 403: 339, 404: 339, 503: 359} {
		if got := len(ErrorPage(st)); got != n {
			t.Errorf("ErrorPage(%d) is %d bytes, want %d", st, got, n)
		}
	}
	if got := string(ErrorPage(404)); got != page404 {
		t.Errorf("ErrorPage(404) =\n%q\nwant\n%q", got, page404)
	}
	for _, st := range []int{401, 403, 405} {
		if r := errorReply(st); len(r.body) != 0 || r.ctype != metadata.TextPlain {
			t.Errorf("errorReply(%d) = %q %q, want empty text/plain", st, r.ctype, r.body)
		}
	}
	if r := errorReply(599); r.ctype != "text/html" || !bytes.Contains(r.body, []byte("<title>599 - Error</title>")) {
		t.Errorf("errorReply(599) = %q %q", r.ctype, r.body)
	}
}
