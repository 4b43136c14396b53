// Package privdrop gives up root for good: after imdsd has bound port 80 and
// opened what it needs, it becomes an unprivileged user before serving a
// single request.
package privdrop

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"syscall"
)

// Lookup resolves name (or a numeric uid) to its uid and primary gid.
func Lookup(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		if u2, err2 := user.LookupId(name); err2 == nil {
			u, err = u2, nil
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: %w", name, err)
	}
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, fmt.Errorf("user %q: uid %q is not a number", name, u.Uid)
	}
	if gid, err = strconv.Atoi(u.Gid); err != nil {
		return 0, 0, fmt.Errorf("user %q: gid %q is not a number", name, u.Gid)
	}
	return uid, gid, nil
}

// To switches the whole process (every thread) to uid and gid, with gid as
// its only group, and checks that root cannot be regained.
func To(uid, gid int) error {
	if uid == 0 {
		return errors.New("refusing to \"drop\" privileges to uid 0")
	}
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups(%d): %w (dropping privileges needs root)", gid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d): %w", uid, err)
	}
	if syscall.Setuid(0) == nil || syscall.Geteuid() == 0 || syscall.Getuid() == 0 {
		return errors.New("privileges were not dropped: root can still be regained")
	}
	if syscall.Getegid() != gid {
		return fmt.Errorf("privileges were not dropped: gid is %d, want %d", syscall.Getegid(), gid)
	}
	return nil
}
