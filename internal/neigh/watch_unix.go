//go:build linux || freebsd

package neigh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// watchSupported reports whether this system has a [Watch].
const watchSupported = true

// watchSocket reads the notifications of fd, a non-blocking socket it
// takes over, until ctx ends: recv reads one datagram (n 0 for one to
// skip), parse turns it into events. The socket waits in the runtime's
// poller, so ending ctx ends the wait at once. An overflow (ENOBUFS) is
// reported as a Lost event, as is the start: what changed before the
// socket was open was not seen.
func watchSocket(ctx context.Context, fd int, name string,
	recv func(fd int, buf []byte) (int, error),
	parse func(b []byte, evs []Event) ([]Event, error),
	events func(Event)) error {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		unix.Close(fd)
		return fmt.Errorf("%s: not a valid descriptor", name)
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	events(Event{Lost: true})
	buf := make([]byte, 1<<16)
	var evs []Event
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = recv(int(fd), buf)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return fmt.Errorf("%s: %w", name, err)
		case errors.Is(rerr, unix.ENOBUFS):
			events(Event{Lost: true}) // the kernel dropped notifications
			continue
		case errors.Is(rerr, unix.EINTR):
			continue
		case rerr != nil:
			return fmt.Errorf("%s: reading: %w", name, rerr)
		}
		evs, err = parse(buf[:n], evs[:0])
		if err != nil {
			// Not what the parser expects: whatever it said is lost.
			events(Event{Lost: true})
			continue
		}
		zoneEvents(evs)
		for _, ev := range evs {
			events(ev)
		}
	}
}
