package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	gsyslog "github.com/hashicorp/go-syslog"
)

// fakeSyslog records what would be sent to syslog.
type fakeSyslog struct {
	prios []gsyslog.Priority
	msgs  []string
}

func (f *fakeSyslog) WriteLevel(p gsyslog.Priority, b []byte) error {
	f.prios = append(f.prios, p)
	f.msgs = append(f.msgs, string(b))
	return nil
}
func (f *fakeSyslog) Write(b []byte) (int, error) { return len(b), f.WriteLevel(gsyslog.LOG_INFO, b) }
func (f *fakeSyslog) Close() error                { return nil }

func TestSyslogHandlerPriorities(t *testing.T) {
	f := &fakeSyslog{}
	log := slog.New(NewSyslogHandler(f)).With("pid", 7)
	ctx := context.Background()
	log.Debug("hidden")
	log.Info("request", "path", "/latest/meta-data/", "status", 200)
	log.Log(ctx, LevelNotice, "listening", "addr", "127.0.0.1:80")
	log.Warn("config warning", "warning", "x.json:3: region: odd")
	log.Error("reload failed", "err", "x.json:4: mac: bad")
	want := []struct {
		prio gsyslog.Priority
		msg  string
	}{
		{gsyslog.LOG_INFO, `msg=request pid=7 path=/latest/meta-data/ status=200`},
		{gsyslog.LOG_NOTICE, `msg=listening pid=7 addr=127.0.0.1:80`},
		{gsyslog.LOG_WARNING, `msg="config warning" pid=7 warning="x.json:3: region: odd"`},
		{gsyslog.LOG_ERR, `msg="reload failed" pid=7 err="x.json:4: mac: bad"`},
	}
	if len(f.msgs) != len(want) {
		t.Fatalf("got %d messages %q, want %d", len(f.msgs), f.msgs, len(want))
	}
	for i, w := range want {
		if f.prios[i] != w.prio || f.msgs[i] != w.msg {
			t.Errorf("message %d = (%d, %q), want (%d, %q)", i, f.prios[i], f.msgs[i], w.prio, w.msg)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		dest        string
		interactive bool
		wantErr     string
		stderr      bool
	}{
		{dest: "stderr", stderr: true},
		{dest: "auto", interactive: true, stderr: true},
		{dest: "syslog:udp", wantErr: "expected syslog:NETWORK:ADDRESS"},
		{dest: "file", wantErr: "expected auto, stderr, syslog or syslog:NETWORK:ADDRESS"},
		{dest: "syslog:unixgram:/nonexistent/imdsd-test.sock", wantErr: "--log syslog:unixgram:/nonexistent/imdsd-test.sock:"},
	}
	for _, tt := range tests {
		t.Run(tt.dest, func(t *testing.T) {
			var buf bytes.Buffer
			log, closeFn, _, err := New(Options{Dest: tt.dest, Facility: "daemon", Tag: "imdsd", Interactive: tt.interactive, Stderr: &buf})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeFn()
			log.Log(context.Background(), LevelNotice, "hello")
			if tt.stderr && !strings.Contains(buf.String(), "level=NOTICE msg=hello") {
				t.Errorf("stderr = %q, want a NOTICE line", buf.String())
			}
		})
	}
}

func TestBadFacility(t *testing.T) {
	_, _, _, err := New(Options{Dest: "syslog:udp:127.0.0.1:9", Facility: "nosuch", Tag: "imdsd"})
	if err == nil || !strings.Contains(err.Error(), "facility") {
		t.Fatalf("err = %v, want one naming the facility", err)
	}
}
