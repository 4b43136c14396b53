package statefile

import (
	"encoding/json"
	"errors"
	"github.com/imdsd/imdsd/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sample() *State {
	t0 := time.Date(2026, 3, 31, 16, 32, 24, 0, time.UTC)
	return &State{
		Guests: map[string]*Guest{
			"i-0123456789abcdef0": {
				Overrides:    json.RawMessage(`{"instance_type":"m5.large","tags":{"Name":"web1"}}`),
				FirstRequest: t0.Add(-time.Hour),
				Spot:         &Spot{Action: "terminate", Notice: t0, Time: t0.Add(2 * time.Minute)},
				Rebalance:    &Rebalance{Notice: t0.Add(-time.Minute)},
				Events: []Event{{
					ID: "instance-event-0d59937288b749b32", Code: "system-reboot", Description: "scheduled reboot",
					State: "active", Issued: t0, NotBefore: t0.Add(24 * time.Hour), NotAfter: t0.Add(25 * time.Hour),
				}, {
					ID: "instance-event-1a2b3c4d5e6f70819", Code: "instance-stop", State: "canceled",
					Issued: t0, NotBefore: t0.Add(time.Hour), Changed: t0.Add(time.Minute),
				}},
				ASG:         &ASG{State: "Terminated", Since: t0},
				Credentials: &Credentials{Fault: "expiring", PeriodStart: t0, Generation: 3, Changed: t0},
				Lifecycle:   json.RawMessage(`{"engine":"private"}`),
			},
			"i-0fedcba9876543210": {FirstRequest: t0},
		},
		Added: []Added{{ID: "i-0aaaaaaaaaaaaaaaa", Document: json.RawMessage(`{"instance_id":"i-0aaaaaaaaaaaaaaaa","match":["10.0.0.9"]}`), Time: t0}},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f, st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Guests) != 0 || len(st.Added) != 0 || st.Version != Version {
		t.Fatalf("absent file: got %+v, want an empty state", st)
	}
	want := sample()
	if err := f.Write(want); err != nil {
		t.Fatal(err)
	}
	_, got, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := jsonOf(got), jsonOf(want); a != b {
		t.Errorf("read back\n%s\nwant\n%s", a, b)
	}

	// The format is part of the contract: a golden file of it.
	data, _ := os.ReadFile(path)
	data = []byte(strings.Replace(string(data), want.Written.Format(time.RFC3339), "WRITTEN", 1))
	golden.Check(t, "state.golden.json", data)
}

func TestGoldenReadable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "state.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.Replace(string(data), "WRITTEN", "2026-03-31T17:00:00Z", 1))
	st, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	want := sample()
	st.Written, st.Version = time.Time{}, 0
	if jsonOf(st) != jsonOf(want) {
		t.Errorf("golden decodes to %+v", st)
	}
}

// jsonOf compares states: json.RawMessage members read back indented.
func jsonOf(st *State) string {
	b, _ := json.Marshal(st)
	return string(b)
}

func TestMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{"version":1}`), 0o666)
	f, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(sample()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestCrash simulates a crash in the middle of a write: a temporary file
// with half a state is left next to the old state file.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	f, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := &State{Guests: map[string]*Guest{"i-1": {ASG: &ASG{State: "InService"}}}}
	if err := f.Write(old); err != nil {
		t.Fatal(err)
	}
	full, _ := json.Marshal(sample())
	half := full[:len(full)/2]
	leftover := filepath.Join(dir, ".state.json.tmp-123456")
	os.WriteFile(leftover, half, 0o600)
	other := filepath.Join(dir, "unrelated.tmp-1") // not ours: left alone
	os.WriteFile(other, nil, 0o600)

	_, st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Guests["i-1"].ASG.State != "InService" || len(st.Guests) != 1 {
		t.Errorf("state after a crash: %+v, want the old one", st)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary file not removed: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not ours was removed: %v", err)
	}

	// A crash before the first state file was ever renamed in place.
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, ".state.json.tmp-9"), half, 0o600)
	_, st, err = Open(filepath.Join(dir2, "state.json"))
	if err != nil || len(st.Guests) != 0 {
		t.Errorf("no state file and a leftover: %+v, %v; want an empty state", st, err)
	}
}

// TestSyncs sees the file and its directory synced in order, and a failed
// sync leave the old state and no temporary file.
func TestSyncs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	f, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	f.sync = func(fh *os.File) error {
		calls = append(calls, "file")
		if _, err := os.Stat(path); err == nil {
			if data, _ := os.ReadFile(path); strings.Contains(string(data), "m5.large") {
				t.Error("state file replaced before the temporary file was synced")
			}
		}
		return fh.Sync()
	}
	f.syncDir = func(d string) error {
		calls = append(calls, "dir")
		if d != dir {
			t.Errorf("synced %s, want %s", d, dir)
		}
		if _, err := os.Stat(path); err != nil {
			t.Error("directory synced before the rename")
		}
		return syncDir(d)
	}
	if err := f.Write(&State{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Write(sample()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(calls, ",") != "file,dir,file,dir" {
		t.Errorf("syncs: %v", calls)
	}

	f.sync = func(*os.File) error { return syscall.EIO }
	err = f.Write(&State{})
	if err == nil || !strings.Contains(err.Error(), "sync: input/output error; nothing was changed") {
		t.Errorf("failed sync: %v", err)
	}
	if _, st, _ := Open(path); st == nil || len(st.Guests) != 2 {
		t.Errorf("state after a failed write: %+v, want the previous one", st)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory after a failed write: %v, want only the state file", ents)
	}

	f.sync = (*os.File).Sync
	f.syncDir = func(string) error { return syscall.EIO }
	err = f.Write(&State{})
	if err == nil || !strings.Contains(err.Error(), "in place but may not survive a power cut") {
		t.Errorf("failed directory sync: %v", err)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name, content, why string
		dir                bool
	}{
		{name: "corrupt", content: `{"version":1,"guests":{"i-1":{"spot":`, why: "unexpected end of JSON input"},
		{name: "syntax", content: "{\"version\":1,\n\"guests\":{]}", why: "line 2: invalid character"},
		{name: "empty", content: "", why: "empty"},
		{name: "not-json", content: "version=1", why: "line 1: invalid character"},
		{name: "no-version", content: `{"guests":{}}`, why: `no "version": not an imdsd state file`},
		{name: "newer", content: `{"version":2}`, why: "version 2, written by a newer imdsd (this one reads version 1)"},
		{name: "zero", content: `{"version":0}`, why: "version 0: not a version this imdsd reads"},
		{name: "unknown-key", content: `{"version":1,"guests":{"i-1":{"spoot":{}}}}`, why: `unknown field "spoot"`},
		{name: "wrong-type", content: `{"version":1,"guests":{"i-1":{"first_request":5}}}`, why: "Time.UnmarshalJSON: input is not a JSON string"},
		{name: "trailing", content: `{"version":1} {}`, why: "line 1: invalid character '{' after top-level value"},
		{name: "directory", dir: true, why: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if tt.dir {
				os.Mkdir(path, 0o700)
			} else {
				os.WriteFile(path, []byte(tt.content), 0o600)
			}
			_, _, err := Open(path)
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Open: %v, want an *Error", err)
			}
			msg := err.Error()
			for _, want := range []string{"state file " + path + ": ", tt.why, "mv " + path + " " + path + ".bad"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if !tt.dir {
				if data, _ := os.ReadFile(path); string(data) != tt.content {
					t.Errorf("refused file changed")
				}
			}
		})
	}
}

func TestTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{"version":1,"guests":{}}`), 0o600)
	if _, err := read(path, 25); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	_, err := read(path, 24)
	if err == nil || !strings.Contains(err.Error(), "larger than 24 bytes") {
		t.Errorf("Open: %v", err)
	}
}

func TestUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads a file of mode 0000")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(path, []byte(`{"version":1}`), 0)
	_, _, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "mv ") {
		t.Errorf("Open: %v", err)
	}
}

func TestNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state.json")
	_, _, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), "its directory") || !strings.Contains(err.Error(), "create it") {
		t.Errorf("Open: %v", err)
	}
}

func TestEmpty(t *testing.T) {
	if !(*Guest)(nil).Empty() || !(&Guest{}).Empty() || (&Guest{ASG: &ASG{}}).Empty() {
		t.Error("Empty")
	}
}
