package server

import (
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/golden"
)

// goldenConfig has two guests: web1 with a role, web2 spot-less.
const goldenConfig = `{"http_tokens": "optional", "region": "eu-west-1", "instance_type": "t3.micro",
 "instances": [
  {"instance_id": "i-0aaaaaaaaaaaaaaa1", "match": ["10.0.0.11"], "tags": {"Name": "web1", "Role": "web"},
   "iam": {"role": "web", "access_key_id": "AKIAEXAMPLE", "secret_access_key": "c2VjcmV0", "token": "dG9rZW4"}},
  {"instance_id": "i-0aaaaaaaaaaaaaaa2", "match": ["10.0.0.12"], "tags": {"Name": "web2", "Role": "web"}}]}`

// TestControlGolden runs control requests against the real backend (a
// Server with a state file and a fixed clock) and pins each request and
// response under testdata/control/: what imdsctl gets, and what the
// control API's manual page shows. go test -update rewrites them.
func TestControlGolden(t *testing.T) {
	ts := start(t, goldenConfig, func(o *Options) { o.StateFile = filepath.Join(t.TempDir(), "state.json") })
	n := 0
	ts.srv.eventIDs = func() string { n++; return fmt.Sprintf("instance-event-%017x", n) }
	h := control.NewHandler(ts.srv.Control(), control.Options{})
	for _, rq := range []struct{ name, method, path, body string }{
		{"guests", "GET", "/v1/guests", ""},
		{"show", "GET", "/v1/guests/i-0aaaaaaaaaaaaaaa1", ""},
		{"show-secrets", "GET", "/v1/guests/tag:Name=web1?secrets=1", ""},
		{"patch", "PATCH", "/v1/guests/tag:Role=web/overrides", `{"instance_type": "m5.large", "tags": {"Env": "ci"}}`},
		{"patch-refused", "PATCH", "/v1/guests/i-0aaaaaaaaaaaaaaa1/overrides", `{"instance_type": "huge", "iam": {"role": "no role"}, "flavour": "vanilla"}`},
		{"patch-too-large", "PATCH", "/v1/guests/all/overrides", `{"user_data": "` + strings.Repeat("x", control.DefaultMaxBody) + `"}`},
		{"overrides", "GET", "/v1/guests/i-0aaaaaaaaaaaaaaa1/overrides", ""},
		{"spot", "POST", "/v1/guests/tag:Name=web1/spot", `{"action": "stop", "in": "90s"}`},
		{"event-add", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events", `{"code": "system-reboot", "not_before": "1h", "not_after": "2h"}`},
		{"event-cancel", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events/instance-event-00000000000000001/cancel", ""},
		{"event-cancel-again", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events/instance-event-00000000000000001/cancel", ""},
		{"event-unknown", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events/instance-event-0000000000000000f/complete", ""},
		{"credentials-rotate", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/credentials", `{"action": "rotate"}`},
		{"credentials-no-role", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/credentials", `{"action": "rotate"}`},
		{"guests-issued", "GET", "/v1/guests", ""},
		{"not-found", "GET", "/v1/guests/tag:Name=web9", ""},
		{"remove-configured", "DELETE", "/v1/guests/i-0aaaaaaaaaaaaaaa1", ""},
		{"clear", "POST", "/v1/guests/all/clear", ""},
	} {
		r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
		if rq.body != "" {
			r.Header.Set("Content-Type", "application/json")
			if rq.method == "PATCH" {
				r.Header.Set("Content-Type", "application/merge-patch+json")
			}
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		var b strings.Builder
		body := rq.body
		if len(body) > 200 {
			body = fmt.Sprintf("%s… (%d bytes)", body[:40], len(body))
		}
		fmt.Fprintf(&b, "%s %s\n", rq.method, rq.path)
		if body != "" {
			fmt.Fprintf(&b, "Content-Type: %s\n\n%s\n", r.Header.Get("Content-Type"), body)
		}
		fmt.Fprintf(&b, "---\n%s\n", res.Status)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range res.Header {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(res.Header[k], ", "))
		}
		fmt.Fprintf(&b, "\n%s", w.Body.String())
		golden.Check(t, "control/"+rq.name+".golden", []byte(b.String()))
	}
}
