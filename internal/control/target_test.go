package control

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want Target
		err  string
	}{
		{in: "all", want: Target{All: true}},
		{in: "i-0123456789abcdef0", want: Target{ID: "i-0123456789abcdef0"}},
		{in: "tag:Name=web1", want: Target{TagKey: "Name", TagValue: "web1"}},
		{in: "tag:Env=", want: Target{TagKey: "Env"}},
		{in: "tag:a=b=c", want: Target{TagKey: "a", TagValue: "b=c"}},
		{in: "tag:=x", err: "expected tag:KEY=VALUE"},
		{in: "tag:Name", err: "expected tag:KEY=VALUE"},
		{in: "", err: "no target"},
		{in: "web1", err: "expected an instance id"},
		{in: "i-", err: "expected an instance id"},
		{in: "i-abc/def", err: "expected an instance id"},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseTarget(%q) = %v, want error %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestMatch(t *testing.T) {
	tags := map[string]string{"Name": "web1", "Env": ""}
	for _, tt := range []struct {
		t    string
		want bool
	}{
		{"all", true}, {"i-1", true}, {"i-2", false}, {"tag:Name=web1", true},
		{"tag:Name=web2", false}, {"tag:Env=", true}, {"tag:Role=", false},
	} {
		tg, _ := ParseTarget(tt.t)
		if got := tg.Match("i-1", tags); got != tt.want {
			t.Errorf("%s.Match = %v", tt.t, got)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in, want, err string
	}{
		{in: "90s", want: "2026-01-01T00:01:30Z"},
		{in: "0s", want: "2026-01-01T00:00:00Z"},
		{in: "2026-12-08T09:00:00Z", want: "2026-12-08T09:00:00Z"},
		{in: "2026-12-08T10:00:00+01:00", want: "2026-12-08T09:00:00Z"},
		{in: "-1m", err: "cannot be negative"},
		{in: "tomorrow", err: "neither a time"},
		{in: "2026-12-08", err: "neither a time"},
	} {
		w, err := ParseWhen(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseWhen(%q): %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || w.Resolve(now).UTC().Format(time.RFC3339) != tt.want {
			t.Errorf("ParseWhen(%q) = %v, %v; want %s", tt.in, w, err, tt.want)
		}
	}
	if !(When{}).IsZero() || (When{In: time.Second}).IsZero() {
		t.Error("IsZero")
	}
}

func TestErrorText(t *testing.T) {
	e := Invalid(Problem{Guest: "i-1", Where: "patch", Key: "instance_type", Message: "bad"}, Problem{Message: "also"})
	want := "refused, nothing was changed: 2 problems to fix\ni-1: patch: instance_type: bad\nalso"
	if e.Error() != want || e.Status != http.StatusUnprocessableEntity {
		t.Errorf("got %d %q", e.Status, e.Error())
	}
	if e := Invalid(Problem{Message: "x"}); !strings.Contains(e.Error(), "a problem to fix") {
		t.Errorf("one problem: %q", e)
	}
}
