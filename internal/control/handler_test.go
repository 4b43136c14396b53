package control_test

import (
	"errors"
	"fmt"
	"github.com/imdsd/imdsd/internal/golden"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/internal/control"
	"github.com/imdsd/imdsd/internal/control/controltest"
	"github.com/imdsd/imdsd/pkg/config"
)

type req struct {
	name, method, path, ctype, body string
}

// session is a sequence of requests to one backend: each one's response
// is compared with testdata/NAME.golden, which shows the request and the
// response as a person reads them — the API's documentation by example.
var session = []req{
	// Reading.
	{"list", "GET", "/v1/guests", "", ""},
	{"show", "GET", "/v1/guests/i-0aaaaaaaaaaaaaaa1", "", ""},
	{"show-secrets", "GET", "/v1/guests/tag:Role=web?secrets=1", "", ""},
	{"overrides-none", "GET", "/v1/guests/all/overrides", "", ""},

	// Data: merge patch, replace, reset.
	{"patch", "PATCH", "/v1/guests/tag:Role=web/overrides", "application/merge-patch+json", `{"instance_type":"m5.large","tags":{"Env":"ci"}}`},
	{"patch-json", "PATCH", "/v1/guests/i-0aaaaaaaaaaaaaaa1/overrides", "application/json; charset=utf-8", `{"hostname":"web1.ci"}`},
	{"overrides", "GET", "/v1/guests/tag:Role=web/overrides", "", ""},
	{"patch-null", "PATCH", "/v1/guests/i-0aaaaaaaaaaaaaaa1/overrides", "application/merge-patch+json", `{"instance_type":null}`},
	{"show-patched", "GET", "/v1/guests/i-0aaaaaaaaaaaaaaa1", "", ""},
	{"patch-invalid", "PATCH", "/v1/guests/tag:Role=web/overrides", "application/merge-patch+json", `{"instance_type":"huge","flavour":"vanilla"}`},
	{"replace", "PUT", "/v1/guests/i-0aaaaaaaaaaaaaaa2/overrides", "application/json", `{"tags":{"Name":"web2-renamed"}}`},
	{"reset", "DELETE", "/v1/guests/all/overrides", "", ""},

	// Guests added and removed.
	{"add", "POST", "/v1/guests", "application/json", `{"instance_id":"i-0ccccccccccccccc1","match":["10.0.0.31"],"tags":{"Name":"batch1"}}`},
	{"add-exists", "POST", "/v1/guests", "application/json", `{"instance_id":"i-0aaaaaaaaaaaaaaa1"}`},
	{"add-invalid", "POST", "/v1/guests", "application/json", `{"match":["10.0.0.32"]}`},
	{"remove", "DELETE", "/v1/guests/i-0ccccccccccccccc1", "", ""},
	{"remove-configured", "DELETE", "/v1/guests/i-0aaaaaaaaaaaaaaa1", "", ""},
	{"remove-unknown", "DELETE", "/v1/guests/i-0ccccccccccccccc1", "", ""},
	{"remove-tag", "DELETE", "/v1/guests/tag:Role=web", "", ""},

	// Life.
	{"spot", "POST", "/v1/guests/tag:Name=web1/spot", "application/json", `{"action":"stop","in":"90s"}`},
	{"spot-defaults", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/spot", "", ""},
	{"spot-at", "POST", "/v1/guests/i-0bbbbbbbbbbbbbbb1/spot", "application/json", `{"action":"hibernate","at":"2026-04-01T00:00:00Z"}`},
	{"spot-bad-action", "POST", "/v1/guests/all/spot", "application/json", `{"action":"reboot"}`},
	{"spot-negative", "POST", "/v1/guests/all/spot", "application/json", `{"in":"-5s"}`},
	{"spot-in-and-at", "POST", "/v1/guests/all/spot", "application/json", `{"in":"5s","at":"2026-04-01T00:00:00Z"}`},
	{"spot-in-time", "POST", "/v1/guests/all/spot", "application/json", `{"in":"2026-04-01T00:00:00Z"}`},
	{"spot-bad-in", "POST", "/v1/guests/all/spot", "application/json", `{"in":"soon"}`},
	{"spot-in-number", "POST", "/v1/guests/all/spot", "application/json", `{"in":120}`},
	{"spot-unknown-key", "POST", "/v1/guests/all/spot", "application/json", `{"action":"stop","inn":"5s"}`},
	{"rebalance", "POST", "/v1/guests/tag:Role=web/rebalance", "application/json", `{"in":"30s"}`},
	{"event-add", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events", "application/json", `{"code":"system-reboot","description":"scheduled reboot","not_before":"2026-04-07T09:00:00Z","not_after":"2026-04-07T10:00:00Z"}`},
	{"event-add-relative", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events", "application/json", `{"code":"instance-stop","not_before":"10m"}`},
	{"event-add-no-code", "POST", "/v1/guests/all/events", "application/json", `{"not_before":"10m"}`},
	{"event-add-bad-code", "POST", "/v1/guests/all/events", "application/json", `{"code":"reboot"}`},
	{"event-add-bad-order", "POST", "/v1/guests/all/events", "application/json", `{"code":"system-reboot","not_before":"2h","not_after":"1h"}`},
	{"event-cancel", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/instance-event-00000000000000001/cancel", "", ""},
	{"event-cancel-again", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/instance-event-00000000000000001/cancel", "", ""},
	{"event-complete", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/instance-event-00000000000000002/complete", "", ""},
	{"event-unknown", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/instance-event-0000000000000000f/complete", "", ""},
	{"event-bad-id", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/42/complete", "", ""},
	{"event-reschedule-missing", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/instance-event-00000000000000002/reschedule", "", ""},
	{"event-cancel-not-before", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa1/events/instance-event-00000000000000002/cancel", "application/json", `{"not_before":"1h"}`},
	{"event-add-2", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events", "application/json", `{"code":"system-maintenance","not_before":"1h"}`},
	{"event-reschedule", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events/instance-event-00000000000000003/reschedule", "application/json", `{"not_before":"2026-04-02T03:00:00Z"}`},
	{"event-bad-action", "POST", "/v1/guests/i-0aaaaaaaaaaaaaaa2/events/instance-event-00000000000000003/delete", "", ""},
	{"asg", "POST", "/v1/guests/all/asg", "application/json", `{"state":"Warmed:Hibernated"}`},
	{"asg-bad", "POST", "/v1/guests/all/asg", "application/json", `{"state":"Running"}`},
	{"asg-missing", "POST", "/v1/guests/all/asg", "application/json", `{}`},
	{"credentials", "POST", "/v1/guests/i-0bbbbbbbbbbbbbbb1/credentials", "application/json", `{"action":"expiring"}`},
	{"credentials-bad", "POST", "/v1/guests/i-0bbbbbbbbbbbbbbb1/credentials", "application/json", `{"action":"revoke"}`},
	{"list-issued", "GET", "/v1/guests", "", ""},
	{"clear", "POST", "/v1/guests/tag:Role=web/clear", "", ""},

	// Request errors.
	{"no-version", "GET", "/guests", "", ""},
	{"other-version", "GET", "/v2/guests", "", ""},
	{"unknown-path", "GET", "/v1/instances", "", ""},
	{"trailing-slash", "GET", "/v1/guests/", "", ""},
	{"method", "PUT", "/v1/guests", "application/json", `{}`},
	{"method-verb", "GET", "/v1/guests/all/spot", "", ""},
	{"target-bad", "GET", "/v1/guests/web1", "", ""},
	{"target-tag-bad", "GET", "/v1/guests/tag:Name", "", ""},
	{"target-none", "GET", "/v1/guests/tag:Name=web9", "", ""},
	{"target-escaped", "GET", "/v1/guests/tag:Name%3Dweb1", "", ""},
	{"query-unknown", "GET", "/v1/guests?verbose=1", "", ""},
	{"query-secrets-bad", "GET", "/v1/guests/all?secrets=yes", "", ""},
	{"body-on-get", "GET", "/v1/guests", "application/json", `{}`},
	{"patch-no-type", "PATCH", "/v1/guests/all/overrides", "", `{"instance_type":"m5.large"}`},
	{"patch-text", "PATCH", "/v1/guests/all/overrides", "text/plain", `{"instance_type":"m5.large"}`},
	{"patch-empty", "PATCH", "/v1/guests/all/overrides", "application/merge-patch+json", ``},
	{"patch-not-json", "PATCH", "/v1/guests/all/overrides", "application/merge-patch+json", `{"instance_type":}`},
	{"patch-array", "PATCH", "/v1/guests/all/overrides", "application/merge-patch+json", `[{"op":"replace"}]`},
	{"patch-two-values", "PATCH", "/v1/guests/all/overrides", "application/merge-patch+json", `{} {}`},
	{"patch-too-large", "PATCH", "/v1/guests/all/overrides", "application/merge-patch+json", `{"user_data":"` + strings.Repeat("x", control.DefaultMaxBody) + `"}`},
}

func TestSession(t *testing.T) {
	h := control.NewHandler(controltest.New(), control.Options{})
	seen := map[string]bool{}
	for _, rq := range session {
		if seen[rq.name] {
			t.Fatalf("two requests named %s", rq.name)
		}
		seen[rq.name] = true
		check(t, h, rq)
	}
}

// TestBackendErrors renders the errors a Backend returns.
func TestBackendErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"backend-config-errors", fmt.Errorf("guest i-0aaaaaaaaaaaaaaa1: %w", config.ErrorList{
			{File: "runtime patch", Key: "iam.role", Msg: `"" is not a role name: expected letters, digits and +=,.@_-`},
			{File: "imdsd.conf", Line: 14, Key: "spot_interruption", Msg: "only for market spot: set \"market\": \"spot\" too"},
		})},
		{"backend-failure", errors.New("state file /var/db/imdsd/state.json: no space left on device; nothing was changed")},
		{"backend-status-zero", &control.Error{Message: "lifecycle engine stopped"}},
	}
	for _, tt := range tests {
		b := controltest.New()
		b.Fail = tt.err
		h := control.NewHandler(b, control.Options{})
		check(t, h, req{tt.name, "POST", "/v1/guests/all/spot", "", ""})
	}
}

func TestSmallerLimit(t *testing.T) {
	h := control.NewHandler(controltest.New(), control.Options{MaxBody: 10})
	check(t, h, req{"limit-content-length", "POST", "/v1/guests", "application/json", `{"instance_id":"i-1"}`})
}

func check(t *testing.T, h http.Handler, rq req) {
	t.Helper()
	r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
	if rq.ctype != "" {
		r.Header.Set("Content-Type", rq.ctype)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := w.Result()

	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", rq.method, rq.path)
	if rq.ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\n", rq.ctype)
	}
	if rq.body != "" {
		body := rq.body
		if len(body) > 200 {
			body = fmt.Sprintf("%s… (%d bytes)", body[:60], len(body))
		}
		fmt.Fprintf(&b, "\n%s\n", body)
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
	got := b.String()

	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %s", rq.name, ct)
	}
	golden.CheckString(t, rq.name+".golden", got)
}
