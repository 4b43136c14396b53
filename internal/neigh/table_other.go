//go:build !linux && !freebsd

package neigh

// ReadTable returns ErrNotSupported: this package reads the neighbour
// table of Linux and FreeBSD only.
func ReadTable() ([]Entry, error) {
	return nil, ErrNotSupported
}
