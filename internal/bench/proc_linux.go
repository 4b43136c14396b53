package bench

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// ManyLoopback reports whether the whole of 127.0.0.0/8 is usable as
// source addresses without configuration, as it is on Linux.
const ManyLoopback = true

// rss returns the resident memory of process pid now (VmRSS) and at its
// peak so far (VmHWM), in bytes.
func rss(pid int) (now, peak int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"VmRSS", &now}, {"VmHWM", &peak}} {
		s, ok := statusField(b, f.name)
		if !ok {
			return 0, 0, fmt.Errorf("/proc/%d/status has no %s", pid, f.name)
		}
		if *f.v, err = parseKB(s); err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, f.name, err)
		}
	}
	return now, peak, nil
}

// openFiles returns how many descriptors process pid has open, or -1 when
// that cannot be known.
func openFiles(pid int) int {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return -1
	}
	return len(es)
}

// setParentDeathSignal has the kernel kill the child if imdsbench dies
// without cleaning up (SIGKILL, a crash).
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
