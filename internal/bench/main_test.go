package bench

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

// fakeIMDSDEnv, when set, makes the test binary, run with imdsd's flags,
// serve as imdsd does: the end-to-end test measures it instead of a built
// bin/imdsd, which the test does not build.
const fakeIMDSDEnv = "IMDSBENCH_TEST_FAKE_IMDSD"

// TestMain lets the test binary stand in for both child processes: the
// baseline (run as "BINARY baseline --listen ADDR", as imdsbench runs
// itself) and imdsd.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		fs := flag.NewFlagSet("baseline", flag.ExitOnError)
		addr := fs.String("listen", "127.0.0.1:0", "")
		fs.Parse(os.Args[2:])
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := ServeBaseline(ctx, *addr)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(fakeIMDSDEnv) != "" {
		if err := fakeIMDSD(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "fake imdsd:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeIMDSD serves the package server as cmd/imdsd does, with the flags
// imdsbench gives imdsd, until SIGTERM or SIGINT.
func fakeIMDSD(args []string) error {
	fs := flag.NewFlagSet("imdsd", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "")
	addr := fs.String("listen", "", "")
	fs.String("log", "", "")
	fs.Bool("no-access-log", false, "")
	version := fs.Bool("version", false, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version {
		fmt.Println("imdsd test")
		return nil
	}
	cfg, _, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	srv, err := server.New(cfg, server.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	return srv.Serve(ln)
}
