package config

import (
	"strings"
	"testing"
)

// TestActionCommand checks the host hook's key: an argv with an absolute
// program, inherited by entries like any instance key; the errors name the
// element and say what to write.
func TestActionCommand(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want []string // substrings of the error; none: valid
	}{
		{`{"action_command": ["/usr/local/sbin/vm", "stop", "web1"]}`, nil},
		{`{"action_command": ["/bin/sh", "-c", "virsh shutdown \"$IMDSD_NAME\""]}`, nil},
		{`{"action_command": []}`, []string{"action_command: is empty"}},
		{`{"action_command": ["vm", "stop"]}`, []string{"action_command[0]:", "not an absolute path", "/bin/sh"}},
		{`{"action_command": ["/bin/echo", "a\u0000b"]}`, []string{"action_command[1]:", "NUL"}},
		{`{"action_command": "/usr/local/sbin/vm stop web1"}`, []string{"action_command"}},
	} {
		_, _, err := Parse("t.json", []byte(tc.doc))
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v, want valid", tc.doc, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: valid, want an error", tc.doc)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want %q in it", tc.doc, err, w)
			}
		}
	}
	cfg, _, err := Parse("t.json", []byte(`{"action_command": ["/bin/true"], "instances": [{"instance_id": "i-0aaaaaaaaaaaaaaa1", "match": ["10.0.0.2"]},
		{"instance_id": "i-0aaaaaaaaaaaaaaa2", "match": ["10.0.0.3"], "action_command": ["/usr/sbin/jail", "-r", "web2"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Entries()
	if got := strings.Join(e[0].ActionCommand, " "); got != "/bin/true" {
		t.Errorf("inherited: %q", got)
	}
	if got := strings.Join(e[1].ActionCommand, " "); got != "/usr/sbin/jail -r web2" {
		t.Errorf("an entry's own: %q", got)
	}
}
