package config

import (
	"strings"
	"testing"
)

// TestRateLimitLoopback: rate_limit.loopback is off unless given, and
// takes only true or false.
func TestRateLimitLoopback(t *testing.T) {
	c, _, err := Parse("t.json", []byte(`{}`))
	if err != nil || c.RateLimit.Loopback {
		t.Fatalf("default: %v, loopback %v; want loopback clients exempt", err, c.RateLimit.Loopback)
	}
	c, _, err = Parse("t.json", []byte(`{"rate_limit": {"loopback": true}}`))
	if err != nil || !c.RateLimit.Loopback || c.RateLimit.RequestsPerSecond != DefaultRequestsPerSecond {
		t.Fatalf(`"loopback": true: %v, %+v`, err, c.RateLimit)
	}
	_, _, err = Parse("t.json", []byte(`{"rate_limit": {"loopback": "yes"}}`))
	if err == nil || !strings.Contains(err.Error(), `t.json:1: rate_limit.loopback: expected true or false, got a string ("yes")`) {
		t.Fatalf(`"loopback": "yes": %v`, err)
	}
}

// TestMatchLinkLocalWarns: a match on a link-local address is one any
// guest on the link can send from (issue 10).
func TestMatchLinkLocalWarns(t *testing.T) {
	_, warns, err := Parse("t.json", []byte(`{"instances": [
  {"match": ["10.0.0.11"], "instance_id": "i-0000000000000000a"},
  {"match": ["fd00::12", "fe80::12"], "instance_id": "i-0000000000000000b"},
  {"match": ["169.254.0.0/16"], "instance_id": "i-0000000000000000c"}
]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.Error())
	}
	if len(got) != 2 ||
		!strings.HasPrefix(got[0], "t.json:3: instances[1].match[1]: fe80::12/128 is link-local: any guest on the link can send from it") ||
		!strings.HasPrefix(got[1], "t.json:4: instances[2].match[0]: 169.254.0.0/16 is link-local") {
		t.Fatalf("warnings:\n%s", strings.Join(got, "\n"))
	}
}
