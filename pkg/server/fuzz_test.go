package server

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/imdsd/imdsd/internal/hostheader"
	"github.com/imdsd/imdsd/pkg/config"
)

// FuzzRequest feeds arbitrary bytes through what a request meets before
// the handler (the Host fix-up, net/http's parser) and then the handler:
// whatever parses must be answered with a status EC2 uses, and never by a
// panic (which the handler would turn into a 500).
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"GET // HTTP/1.1\r\n\r\n",
		"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n",
		"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\nX-aws-ec2-metadata-token: AQAEAOjp_D3bTps7hpaFSVX3_Y66CG-B3z3xRsy1gsRqcaGAviCTmA==\r\n\r\n",
		"HEAD /latest/meta-data/public-keys/0/openssh-key/ HTTP/1.0\r\n\r\n",
		"GET /2021-03-23//dynamic/instance-identity/../instance-identity/document?x HTTP/1.1\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\n\r\n",
		"DELETE /latest/api/token HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	cfg, _, err := config.Parse("fuzz.json", []byte(`{"http_tokens": "optional", "rate_limit": {"requests_per_second": 0},
	  "iam": {"role": "web"}, "tags": {"Name": "x"}}`))
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(cfg, Options{})
	if err != nil {
		f.Fatal(err)
	}
	valid := map[int]bool{200: true, 400: true, 401: true, 403: true, 404: true, 405: true}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fixed := hostheader.Fix(raw, func() string { return "169.254.169.254:80" })
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(fixed)))
		if err != nil {
			return // net/http answers 400 itself
		}
		r.RemoteAddr = "192.0.2.7:40000"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if !valid[rec.Code] {
			t.Fatalf("%q: status %d\n%s", raw, rec.Code, rec.Body.String())
		}
		if got := rec.Header().Get("Server"); got != "EC2ws" {
			t.Fatalf("%q: Server %q", raw, got)
		}
	})
}
