package statefile

import (
	"path/filepath"
	"strings"
)

// DefaultPath returns the state file's default path: state.json in
// systemd's state directory ($STATE_DIRECTORY, from StateDirectory=) when
// set, else in the system's (/var/db/imdsd on FreeBSD, /var/lib/imdsd
// elsewhere). getenv is os.Getenv, or a test's.
func DefaultPath(getenv func(string) string) string {
	if dir := getenv("STATE_DIRECTORY"); dir != "" {
		dir, _, _ = strings.Cut(dir, ":") // several: the first is imdsd's
		return filepath.Join(dir, "state.json")
	}
	return filepath.Join(stateDir, "state.json")
}
