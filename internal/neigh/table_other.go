//go:build !linux && !freebsd

package neigh

import "context"

// ReadTable returns ErrNotSupported: this package reads the neighbour
// table of Linux and FreeBSD only.
func ReadTable() ([]Entry, error) {
	return nil, ErrNotSupported
}

// watchSupported reports whether this system has a [Watch].
const watchSupported = false

// Watch returns ErrNotSupported: this package watches the neighbour
// table of Linux and FreeBSD only.
func Watch(ctx context.Context, events func(Event)) error {
	return ErrNotSupported
}
