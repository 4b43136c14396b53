package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/pkg/imdsclient"
)

// run is getimds: it parses args, reads what they ask for and writes it to
// stdout; errors go to stderr as they happen. The error returned decides
// the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args, os.Getenv)
	if err != nil {
		return err
	}
	if o.help {
		fmt.Fprintln(stdout, help)
		return nil
	}
	if o.version {
		fmt.Fprintln(stdout, "getimds", version)
		return nil
	}
	mode := imdsclient.Auto
	switch {
	case o.v1:
		mode = imdsclient.V1Only
	case o.noFallback:
		mode = imdsclient.V2Only
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	defer out.Flush()
	r := &runner{o: o, mode: mode, out: out, stderr: stderr}
	copts := imdsclient.Options{
		Endpoint:       o.endpoint,
		Mode:           mode,
		TokenTTL:       time.Duration(o.ttl) * time.Second,
		ConnectTimeout: o.connectTimeout.d,
		Timeout:        o.requestTimeout(),
		Attempts:       o.retries + 1,
		UserAgent:      "getimds/" + version,
	}
	if o.verbose {
		copts.Logf = func(format string, args ...any) {
			r.warnf(format, args...)
		}
	}
	if r.c, err = imdsclient.New(copts); err != nil {
		return usagef("%v", err)
	}

	switch {
	case o.sshKeys:
		err = r.sshKeys(ctx)
	case o.wait:
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = r.wait(ctx, o.paths[0])
	case o.interval.d > 0:
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = r.watch(ctx, roots(o.paths))
	case o.json:
		err = r.json(ctx, roots(o.paths))
	case len(o.paths) > 0:
		err = r.values(ctx, o.paths)
	default:
		err = r.walk(ctx)
	}
	if err != nil {
		r.fail(err) // printed here, in order with what came before, with a hint
	}
	if ferr := out.Flush(); ferr != nil {
		return cli.Errorf(exitServer, "writing output: %w", ferr)
	}
	if r.first != nil {
		return reported(r.first)
	}
	return nil
}

// roots are the subtrees to visit: the paths given, or the whole tree.
func roots(paths []string) []string {
	if len(paths) == 0 {
		return []string{""}
	}
	return paths
}

// runner carries what the modes share.
type runner struct {
	o      *options
	mode   imdsclient.Mode
	c      *imdsclient.Client
	out    *bufio.Writer
	stderr io.Writer
	first  error // the first error reported; it decides the exit status
}

// warnf prints a message on stderr, after what stdout holds so far, so
// that a terminal shows both in order.
func (r *runner) warnf(format string, args ...any) {
	r.out.Flush()
	fmt.Fprintf(r.stderr, "getimds: "+format+"\n", args...)
}

// fail reports err and remembers the first for the exit status.
func (r *runner) fail(err error) {
	r.warnf("%v%s", err, r.hint(err))
	if r.first == nil {
		r.first = err
	}
}

// hint explains the errors whose cure is a flag.
func (r *runner) hint(err error) string { return hint(err, r.mode) }

// values prints each path's value byte for byte, separated by one newline;
// nothing follows the last. A path that fails is reported and skipped; no
// answer at all ends the run.
func (r *runner) values(ctx context.Context, paths []string) error {
	printed := 0
	for _, p := range paths {
		v, err := r.c.Get(ctx, p)
		if err != nil {
			if status, _ := isStatus(err); !status {
				return err
			}
			r.fail(err)
			continue
		}
		if printed > 0 {
			r.out.WriteByte('\n')
		}
		r.out.Write(v)
		printed++
	}
	return nil
}

// visit walks root and hands each leaf to leaf. An HTTP error below root
// is reported and the walk goes on; an error at root, or no answer at all,
// ends it. The walk of the whole tree takes a 404 for a listed user-data
// to mean "none", as cloud-init does. A listed name that cannot be printed
// (see badPath) is reported and skipped, with what is below it. ctx should
// carry the walk's deadline (see walkContext).
func (r *runner) visit(ctx context.Context, root string, leaf func(n imdsclient.Node)) error {
	top := imdsclient.Clean(root)
	return r.c.Walk(ctx, root, func(n imdsclient.Node, err error) error {
		if n.Path != top {
			if bad := badPath(n.Path, n.Dir, r.walkFormat()); bad != nil {
				r.fail(bad)
				return imdsclient.SkipDir
			}
		}
		if err != nil {
			status, notFound := isStatus(err)
			if !status || n.Path == top {
				return err
			}
			if notFound && !n.Dir && isUserData(n.Path) {
				return nil
			}
			r.fail(err)
			return nil
		}
		if n.Dir && r.o.noCredentials && baseName(n.Path) == "security-credentials" {
			return imdsclient.SkipDir
		}
		if !n.Dir {
			leaf(n)
		}
		return nil
	})
}

// walkFormat reports whether the paths are printed in the walk format
// (plain walk and --interval) rather than as JSON keys.
func (r *runner) walkFormat() bool { return !r.o.json }

// walkContext bounds one walk, or one round of --interval, by
// --walk-timeout; done tells a walk that ran out of time from one that
// failed on its own.
func (r *runner) walkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, r.o.walkTimeout.d, errWalkTimeout)
}

// errWalkTimeout is the cause of a walk's context ending at --walk-timeout.
var errWalkTimeout = errors.New("walk timeout")

// walkErr explains err when the walk ran out of time: it wraps err (no
// answer: exit status 4) with the time it had.
func (r *runner) walkErr(ctx context.Context, err error) error {
	if err != nil && context.Cause(ctx) == errWalkTimeout {
		return fmt.Errorf("the walk did not finish within %v (--walk-timeout): %w", r.o.walkTimeout.d, err)
	}
	return err
}

// walk prints every leaf of the whole tree with its path.
func (r *runner) walk(ctx context.Context) error {
	wctx, cancel := r.walkContext(ctx)
	defer cancel()
	err := r.visit(wctx, "", func(n imdsclient.Node) { writeEntry(r.out, n.Path, n.Value) })
	return r.walkErr(wctx, err)
}

// json prints the trees at roots as one JSON document. All of them
// together are one walk for --walk-timeout.
func (r *runner) json(ctx context.Context, roots []string) error {
	ctx, cancel := r.walkContext(ctx)
	defer cancel()
	t := newTree()
	for _, root := range roots {
		top := imdsclient.Clean(root)
		err := r.walkErr(ctx, r.visit(ctx, root, func(n imdsclient.Node) { t.add(n.Path, n.Value) }))
		if err != nil {
			if status, _ := isStatus(err); !status {
				return err
			}
			r.fail(err)
			continue
		}
		t.ensure(top) // an empty directory still appears
	}
	return t.write(r.out)
}

// sshKeys prints every OpenSSH public key, one per line. No public-keys
// directory, or a listed key that is missing, is not an error: sshd(8)
// uses the output only when the exit status is 0.
func (r *runner) sshKeys(ctx context.Context) error {
	listing, err := r.c.Get(ctx, "meta-data/public-keys/")
	if _, notFound := isStatus(err); notFound {
		return nil
	} else if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(listing), "\n") {
		n, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		n = strings.TrimSuffix(n, "/")
		if n == "" || strings.Trim(n, "0123456789") != "" {
			continue
		}
		v, err := r.c.Get(ctx, "meta-data/public-keys/"+n+"/openssh-key")
		if _, notFound := isStatus(err); notFound {
			r.warnf("%v", err)
			continue
		} else if err != nil {
			return err
		}
		for key := range strings.SplitSeq(string(v), "\n") {
			key = strings.TrimSpace(key)
			if key == "" || strings.HasPrefix(key, "#") {
				continue
			}
			r.out.WriteString(key)
			r.out.WriteByte('\n')
		}
	}
	return nil
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// isUserData reports whether a clean path is a version's user-data.
func isUserData(p string) bool {
	return p == "user-data" || strings.HasSuffix(p, "/user-data") && strings.Count(p, "/") == 1
}
