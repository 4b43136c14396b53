//go:build !linux

package ctlsock

const runDir = "/var/run"
