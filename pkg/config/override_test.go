package config

import (
	"strings"
	"testing"
)

func TestOverride(t *testing.T) {
	c, _, err := Parse("imdsd.conf", []byte(`{"region": "eu-west-1", "instances": [
  {"instance_id": "i-0aaaaaaaaaaaaaaa1", "match": ["10.0.0.11"], "local_ipv4": "10.0.0.11"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Entries()[0]
	n, _, err := c.Override(e, "patch", []byte(`{"local_ipv4": "10.0.0.12", "tags": {"Name": "web1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if n.LocalIPv4 != "10.0.0.12" || n.Tags["Name"] != "web1" || n.Region != "eu-west-1" || n.InstanceID != e.InstanceID {
		t.Errorf("override: %+v", n.Instance)
	}
	if !strings.Contains(n.LocalHostname, "10-0-0-12") {
		t.Errorf("local_hostname %q does not follow local_ipv4", n.LocalHostname)
	}
	if e.LocalIPv4 != "10.0.0.11" {
		t.Errorf("the entry changed: %s", e.LocalIPv4)
	}
	for _, tt := range []struct{ doc, want string }{
		{`{"region": "Mars"}`, "patch:1: region:"},
		{`{"match": ["10.0.0.9"]}`, "match: cannot change at run time"},
		{`{"instance_id": "i-0bbbbbbbbbbbbbbb2"}`, "instance_id: cannot change at run time"},
		{`{"max_connections": 3}`, "max_connections: is a top-level key"},
		{`{"nope": 1}`, "nope"},
		{`[`, "patch"},
	} {
		_, _, err := c.Override(e, "patch", []byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Override(%s) = %v, want an error with %q", tt.doc, err, tt.want)
		}
	}
	in, _, err := c.OverrideDefault("patch", []byte(`{"instance_type": "m5.large"}`))
	if err != nil || in.InstanceType != "m5.large" || in.Region != "eu-west-1" {
		t.Errorf("OverrideDefault: %v %+v", err, in)
	}
	if _, _, err := c.OverrideDefault("patch", []byte(`{"instance_type": "a b"}`)); err == nil {
		t.Errorf("OverrideDefault accepted a bad instance_type")
	}
}
