//go:build unix && !linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// manyLoopback reports whether the whole of 127.0.0.0/8 is usable as
// source addresses without configuration; elsewhere than on Linux only
// 127.0.0.1 is sure to be.
const manyLoopback = false

// rss returns the resident memory of process pid now, from ps(1), in bytes.
// The peak is not known here: it is returned as -1.
func rss(pid int) (now, peak int64, err error) {
	out, err := exec.Command("ps", "-o", "rss=", "-p", strconv.Itoa(pid)).Output()
	if err != nil {
		return 0, 0, err
	}
	kb, err := strconv.ParseInt(string(bytes.TrimSpace(out)), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("ps -o rss: %w", err)
	}
	return kb << 10, -1, nil
}

// openFiles returns how many descriptors process pid has open, or -1 when
// that cannot be known, as here.
func openFiles(int) int { return -1 }

// setParentDeathSignal does nothing: only Linux has a parent death signal.
func setParentDeathSignal(*exec.Cmd) {}

// counters is not known here: ps(1) reports CPU time in seconds only.
func counters(int) (cpu time.Duration, syscalls int64, err error) {
	return 0, -1, errors.New("CPU time and system calls are read from /proc on Linux only")
}
