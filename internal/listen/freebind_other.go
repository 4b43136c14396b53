//go:build !linux && !freebsd

package listen

// freebind is not available here; binding an unconfigured address fails.
func freebind(fd uintptr, v6 bool) error { return nil }
