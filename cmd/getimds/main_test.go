package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/imdsd/imdsd/internal/cli"
	"github.com/imdsd/imdsd/internal/testbin"
	"github.com/imdsd/imdsd/internal/token"
	"github.com/imdsd/imdsd/pkg/imdstest"
	"github.com/imdsd/imdsd/pkg/server"
)

// binary is getimds, built when a test first runs it.
var binary = &testbin.Binary{Pkg: ".", Name: "getimds", Env: []string{"CGO_ENABLED=0"}}

// envVars are the variables getimds reads; tests start without them.
var envVars = []string{
	"AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
	"AWS_EC2_METADATA_V1_DISABLED",
}

func TestMain(m *testing.M) {
	flag.Parse()
	for _, v := range envVars {
		os.Unsetenv(v)
	}
	code := m.Run()
	binary.Remove()
	os.Exit(code)
}

// epoch is the servers' launch time and fixed clock, so that the times in
// the identity document and credentials are the same on every run.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func fixed() time.Time { return epoch }

// startIMDS serves cfgJSON (the seed config for "") on 127.0.0.1 with a
// fixed clock and returns the server and its host:port.
func startIMDS(t *testing.T, cfgJSON string) (*server.Server, string) {
	t.Helper()
	sealer, err := token.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	return imdstest.Start(t, imdstest.Config(t, cfgJSON), server.Options{Now: fixed, Sealer: sealer.WithClock(fixed)})
}

// result is what one getimds run produced.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs getimds in-process, as main would.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"getimds"}, args...), &out, &errb)
	code := cli.Status("getimds", &errb, err)
	return result{out.String(), errb.String(), code}
}

// runBinary runs the built getimds with the environment env added.
func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary.Path(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running getimds: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("getimds %q did not finish in time", args)
	}
	return result{out.String(), errb.String(), code}
}
