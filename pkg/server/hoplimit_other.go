//go:build !unix

package server

import "net"

// setHopLimit is not supported here; token responses keep the default TTL.
func setHopLimit(c net.Conn, hops int) error { return nil }
