// Package statefile keeps what imdsd was told at run time — guests' runtime
// overrides, guests added over the control socket, the lifecycle notices and
// events issued, first-request times, credential periods — in one JSON file
// that survives a restart.
//
// The file is written atomically before a control request is answered: a
// temporary file in the same directory is written, synced, renamed over the
// state file, and the directory is synced, so that a crash at any moment
// leaves either the old state or the new one, never a mix. A file that
// cannot be read or parsed is never overwritten: [Open] refuses it with an
// [Error] that names the file, says why, and how to move it aside.
package statefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Version is the format version this package reads and writes.
const Version = 1

// MaxSize bounds the state file imdsd reads (and writes): 32 MiB, room
// for thousands of guests with their overrides.
const MaxSize = 32 << 20

// State is everything changed at run time. The zero value (and an absent
// file) is "nothing changed".
type State struct {
	// Version is the format version; Write sets it.
	Version int `json:"version"`
	// Written is when the file was written; Write sets it.
	Written time.Time `json:"written,omitzero"`
	// Guests holds the runtime state of each guest, by instance id.
	Guests map[string]*Guest `json:"guests,omitempty"`
	// Added are the guests added at run time, in the order they were added.
	Added []Added `json:"added,omitempty"`
}

// Added is a guest added at run time.
type Added struct {
	// ID is the guest's instance id.
	ID string `json:"id"`
	// Document is the guest as a JSON object shaped like an instances_dir
	// file.
	Document json.RawMessage `json:"document"`
	// Time is when it was added.
	Time time.Time `json:"time,omitzero"`
}

// Guest is the runtime state of one guest.
type Guest struct {
	// Overrides is the guest's runtime changes: one RFC 7396 merge-patch
	// document laid over the configured instance. Absent when there are
	// none.
	Overrides json.RawMessage `json:"overrides,omitempty"`
	// FirstRequest is when the guest first asked imdsd anything; the
	// "from": "first_request" timelines count from it.
	FirstRequest time.Time `json:"first_request,omitzero"`
	// Spot is the spot interruption issued, if any.
	Spot *Spot `json:"spot,omitempty"`
	// Rebalance is the rebalance recommendation issued, if any.
	Rebalance *Rebalance `json:"rebalance,omitempty"`
	// Events are the scheduled events issued at run time or changed
	// (canceled, completed, rescheduled) at run time, in issue order.
	Events []Event `json:"events,omitempty"`
	// ASG is the Auto Scaling target lifecycle state set, if any.
	ASG *ASG `json:"asg,omitempty"`
	// Credentials is the credential action in force and the current
	// rotation period, if any.
	Credentials *Credentials `json:"credentials,omitempty"`
	// Lifecycle is for whatever else the lifecycle engine must keep per
	// guest, in its own format.
	Lifecycle json.RawMessage `json:"lifecycle,omitempty"`
	// Hooks are the actions for which the host hook (action_command) was
	// started, recorded before it starts: it never runs twice for one.
	// At most MaxHooks, the oldest dropped first.
	Hooks []Hook `json:"hooks,omitempty"`
}

// MaxHooks bounds Guest.Hooks: more than the actions one guest's
// configuration can hold (a spot action and 100 events).
const MaxHooks = 128

// Hook is an action for which the host hook was started.
type Hook struct {
	// Key names the action and its time (lifecycle.Action.Key): a
	// rescheduled or reissued action has another.
	Key string `json:"key"`
	// Ran is when the hook was started.
	Ran time.Time `json:"ran"`
}

// Empty reports whether g holds nothing worth keeping.
func (g *Guest) Empty() bool {
	return g == nil || len(g.Overrides) == 0 && g.FirstRequest.IsZero() && g.Spot == nil &&
		g.Rebalance == nil && len(g.Events) == 0 && g.ASG == nil && g.Credentials == nil &&
		len(g.Lifecycle) == 0 && len(g.Hooks) == 0
}

// Spot is an issued spot interruption notice.
type Spot struct {
	// Action is terminate, stop or hibernate.
	Action string `json:"action"`
	// Notice is when the notice appears (it may be in the future).
	Notice time.Time `json:"notice"`
	// Time is the action time served in spot/instance-action.
	Time time.Time `json:"time"`
	// Done is when the host hook ran for this action, if it has.
	Done time.Time `json:"done,omitzero"`
}

// Rebalance is an issued rebalance recommendation.
type Rebalance struct {
	// Notice is noticeTime: when the recommendation appears.
	Notice time.Time `json:"notice"`
}

// Event is a scheduled event issued or changed at run time.
type Event struct {
	// ID is EC2's EventId, instance-event-….
	ID string `json:"id"`
	// Code is system-reboot, instance-reboot, system-maintenance,
	// instance-retirement or instance-stop.
	Code        string `json:"code"`
	Description string `json:"description,omitempty"`
	// State is active, completed or canceled.
	State string `json:"state"`
	// Issued is when the event appears in events/maintenance/scheduled.
	Issued    time.Time `json:"issued,omitzero"`
	NotBefore time.Time `json:"not_before"`
	// NotAfter is absent for events without an end (instance-stop).
	NotAfter time.Time `json:"not_after,omitzero"`
	// Changed is when it was canceled, completed or rescheduled.
	Changed time.Time `json:"changed,omitzero"`
	// Done is when the host hook ran for this event, if it has.
	Done time.Time `json:"done,omitzero"`
}

// ASG is the Auto Scaling target lifecycle state set at run time.
type ASG struct {
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// Credentials is the state of a guest's generated credentials.
type Credentials struct {
	// Fault is the credential action in force: expired, expiring, error,
	// detached, or empty for none (after "ok").
	Fault string `json:"fault,omitempty"`
	// PeriodStart is when the set served now was made (its LastUpdated);
	// a "rotate" moves it to the time of the request.
	PeriodStart time.Time `json:"period_start,omitzero"`
	// Generation counts rotations; generated keys derive from it.
	Generation int `json:"generation,omitempty"`
	// Changed is when the last credential action was taken.
	Changed time.Time `json:"changed,omitzero"`
}

// Error is a state file that cannot be used: it is left as it is, and
// imdsd does not start until it is fixed or moved aside.
type Error struct {
	Path string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("state file %s: %v; imdsd does not overwrite it: fix it, or move it aside to start without the runtime changes it holds (mv %s %s.bad)",
		e.Path, e.Err, e.Path, e.Path)
}

func (e *Error) Unwrap() error { return e.Err }

// File is a state file. Its methods may be called from several goroutines.
type File struct {
	path string

	mu sync.Mutex
	// sync and syncDir are (*os.File).Sync and a directory sync; tests
	// replace them to see them called and to make them fail.
	sync    func(*os.File) error
	syncDir func(dir string) error
}

// Open reads the state file at path. An absent file is an empty state
// (the file is created by the first Write); its directory must exist.
// Temporary files a crash left behind are removed. A file that cannot be
// read, is larger than MaxSize, is not valid JSON of this format, or has
// another version is refused with an *Error.
func Open(path string) (*File, *State, error) {
	f := &File{path: path, sync: (*os.File).Sync, syncDir: syncDir}
	f.removeTemps()
	st, err := read(path, MaxSize)
	if err != nil {
		return nil, nil, err
	}
	return f, st, nil
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// tempPrefix is the start of the temporary files' names: hidden, and
// named after the state file, so that they are found and removed at start.
func (f *File) tempPrefix() string { return "." + filepath.Base(f.path) + ".tmp-" }

func (f *File) removeTemps() {
	dir := filepath.Dir(f.path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), f.tempPrefix()) && e.Type().IsRegular() {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func read(path string, limit int64) (*State, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(filepath.Dir(path)); derr != nil {
			return nil, fmt.Errorf("state file %s: its directory: %w (create it, mode 0700, owned by the user imdsd runs as)", path, derr)
		}
		return &State{Version: Version}, nil
	}
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, &Error{Path: path, Err: errors.New("not a regular file")}
	}
	data, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &Error{Path: path, Err: fmt.Errorf("larger than %s, more than imdsd ever writes", size(limit))}
	}
	st, err := Decode(data)
	if err != nil {
		return nil, &Error{Path: path, Err: err}
	}
	return st, nil
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Decode parses a state file's contents.
func Decode(data []byte) (*State, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty (a state file holds at least {\"version\":1})")
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, describe(data, err)
	}
	switch {
	case head.Version == nil:
		return nil, errors.New(`no "version": not an imdsd state file`)
	case *head.Version > Version:
		return nil, fmt.Errorf("version %d, written by a newer imdsd (this one reads version %d)", *head.Version, Version)
	case *head.Version != Version:
		return nil, fmt.Errorf("version %d: not a version this imdsd reads (%d)", *head.Version, Version)
	}
	dec := json.NewDecoder(bytes.NewReader(data)) // one value: Unmarshal checked
	dec.DisallowUnknownFields()
	st := new(State)
	if err := dec.Decode(st); err != nil {
		return nil, describe(data, err)
	}
	for id, g := range st.Guests {
		if g == nil {
			delete(st.Guests, id)
		}
	}
	return st, nil
}

// describe adds the line of a JSON syntax or type error.
func describe(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return err
	}
	return fmt.Errorf("line %d: %w", 1+bytes.Count(data[:off], []byte("\n")), err)
}

// Write replaces the state file with st, atomically: once Write returns
// nil the new state is on disk, and a crash before that leaves the old one.
// The file is mode 0600. Write sets st.Version and st.Written (now); st
// must not change while Write runs.
func (f *File) Write(st *State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st.Version = Version
	st.Written = time.Now().UTC().Truncate(time.Second)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("state file %s: %w", f.path, err)
	}
	data = append(data, '\n')
	if len(data) > MaxSize {
		return fmt.Errorf("state file %s: the state would be %d bytes, over the limit of %d MiB; nothing was changed", f.path, len(data), MaxSize>>20)
	}
	renamed, err := f.write(data)
	switch {
	case err != nil && renamed:
		return fmt.Errorf("state file %s: the new state is in place but may not survive a power cut: %w", f.path, err)
	case err != nil:
		return fmt.Errorf("state file %s: %w; nothing was changed", f.path, err)
	}
	return nil
}

func (f *File) write(data []byte) (renamed bool, err error) {
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, f.tempPrefix()) // mode 0600 whatever the umask
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return false, err
	}
	if err = f.sync(tmp); err != nil {
		return false, fmt.Errorf("sync: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return false, err
	}
	if err = os.Rename(tmp.Name(), f.path); err != nil {
		return false, err
	}
	if err = f.syncDir(dir); err != nil {
		// The rename happened: the new state is what a reader sees; only
		// its durability across a power cut is in doubt.
		return true, fmt.Errorf("sync of the directory %s: %w", dir, err)
	}
	return true, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
