package detach

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		msg    string
		status string
		ready  bool
	}{
		{"READY=1", "", true},
		{"STATUS=serving\nREADY=1", "", true},
		{"STATUS=listen tcp 127.0.0.1:80: bind: address already in use\nanother process", "listen tcp 127.0.0.1:80: bind: address already in use\nanother process", false},
		{"WATCHDOG=1", "WATCHDOG=1", false},
	}
	for _, tt := range tests {
		status, ready := parse(tt.msg)
		if status != tt.status || ready != tt.ready {
			t.Errorf("parse(%q) = (%q, %v), want (%q, %v)", tt.msg, status, ready, tt.status, tt.ready)
		}
	}
}
