//go:build !freebsd

package statefile

// stateDir is where the system keeps daemons' state: the FHS.
const stateDir = "/var/lib/imdsd"
