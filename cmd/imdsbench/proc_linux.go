package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// manyLoopback reports whether the whole of 127.0.0.0/8 is usable as
// source addresses without configuration, as it is on Linux.
const manyLoopback = true

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

// counters returns the CPU time process pid has used so far (user and
// system, all threads, in clock ticks of 10 ms) and its read and write
// system calls (read(2), write(2) and their kin, from /proc/PID/io).
func counters(pid int) (cpu time.Duration, syscalls int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold blanks: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
	io, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return cpu, -1, nil
	}
	for _, name := range []string{"syscr", "syscw"} {
		s, ok := statusField(io, name)
		if !ok {
			return cpu, -1, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return cpu, -1, nil
		}
		syscalls += n
	}
	return cpu, syscalls, nil
}
