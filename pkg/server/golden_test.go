package server

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestGolden pins whole responses, header by header and byte by byte, for
// a representative set of requests against testdata/config.json (tokens
// required). Each testdata/<name>.golden holds the status line, the header
// lines sorted (Date masked) and the body (tokens masked); the wire's CRLFs
// are checked by parseResponse and written here as LFs. Run with -update
// to rewrite them.
func TestGolden(t *testing.T) {
	cfg, err := os.ReadFile("testdata/config.json")
	if err != nil {
		t.Fatal(err)
	}
	ts := start(t, string(cfg))
	// Minted on the server's fake clock, so GETs report exactly 21600.
	tok := tokenHdr(ts.srv.sealer.Mint(21600*time.Second, []byte{127, 0, 0, 1, 0}))
	tests := []struct{ name, raw string }{
		{"token_put", req("PUT", "/latest/api/token", ttlHdr("21600"))},
		{"token_put_no_host", "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n"},
		{"token_bad_ttl", req("PUT", "/latest/api/token", ttlHdr("0"))},
		{"token_xff", req("PUT", "/latest/api/token", ttlHdr("21600"), "X-Forwarded-For: 1.2.3.4")},
		{"token_dated_version", req("PUT", "/2021-03-23/api/token", ttlHdr("21600"))},
		{"token_get", req("GET", "/latest/api/token")},
		{"token_options", req("OPTIONS", "/latest/api/token")},
		{"unauthorized", req("GET", "/latest/meta-data/instance-id")},
		{"unauthorized_no_host", "GET // HTTP/1.1\r\n\r\n"},
		{"unauthorized_bad_token", req("GET", "/latest/meta-data/instance-id", tokenHdr("AQAEAIXkhdOR3sIqAVRdg0mVAdHYRr_fkfFDU7SDzH9whlWZJwANKg=="))},
		{"not_found", req("GET", "/latest/meta-data/nonexistent", tok)},
		{"not_found_version", req("GET", "/2099-01-01/meta-data/instance-id", tok)},
		{"method_not_allowed", req("POST", "/latest/meta-data/instance-id", tok)},
		{"versions", req("GET", "/", tok)},
		{"latest", req("GET", "/latest", tok)},
		{"meta_data", req("GET", "/latest/meta-data/", tok)},
		{"placement", req("GET", "/latest/meta-data/placement", tok)},
		{"instance_id", req("GET", "/latest/meta-data/instance-id", tok)},
		{"instance_id_head", req("HEAD", "/latest/meta-data/instance-id", tok)},
		{"instance_id_dated", req("GET", "/2021-03-23//meta-data/instance-id/", tok)},
		{"availability_zone_slash", req("GET", "/latest/meta-data/placement/availability-zone/", tok)},
		{"public_keys", req("GET", "/latest/meta-data/public-keys", tok)},
		{"openssh_key", req("GET", "/latest/meta-data/public-keys/0/openssh-key", tok)},
		{"iam_role", req("GET", "/latest/meta-data/iam/security-credentials/", tok)},
		{"iam_credentials", req("GET", "/latest/meta-data/iam/security-credentials/web", tok)},
		{"identity_document", req("GET", "/latest/dynamic/instance-identity/document", tok)},
		{"user_data", req("GET", "/latest/user-data", tok)},
		{"user_data_no_host", "GET /latest/user-data HTTP/1.1\r\n" + tok + "\r\n\r\n"},
		// Answers net/http's server wrote itself before the front end:
		// now with EC2's framing (issue 14).
		{"http10", "GET /latest/meta-data/instance-id HTTP/1.0\r\n" + tok + "\r\n\r\n"},
		{"http10_token_put", "PUT /latest/api/token HTTP/1.0\r\n" + ttlHdr("60") + "\r\n\r\n"},
		{"bad_request_line", "GET /a b HTTP/1.1\r\n\r\n"},
		{"bad_request_two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"head_too_large", "GET /" + strings.Repeat("a", 80<<10) + " HTTP/1.1\r\n\r\n"},
		{"version_not_supported", "GET / HTTP/2.0\r\n\r\n"},
		{"expectation_failed", req("GET", "/", "Expect: x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.exchange(t, tt.raw)
			checkFraming(t, r)
			got := render(t, r)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("response to %q differs from %s\n--- got\n%s\n--- want\n%s", tt.raw, path, got, want)
			}
		})
	}
}

var reTokenBody = regexp.MustCompile(`^[A-Za-z0-9_-]{54}==$`)

// render writes r in the golden form: status line, sorted header lines
// with Date masked, an empty line, the body with a token masked.
func render(t *testing.T, r *response) string {
	t.Helper()
	lines := append([]string(nil), r.lines...)
	for i, l := range lines {
		if strings.HasPrefix(l, "Date: ") {
			lines[i] = "Date: <masked>"
		}
	}
	sort.Strings(lines)
	body := string(r.body)
	if reTokenBody.MatchString(body) {
		body = "<token>"
	}
	return r.line + "\n" + strings.Join(lines, "\n") + "\n\n" + body
}
