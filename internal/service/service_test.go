package service

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imdsd/imdsd/pkg/config"
	"github.com/imdsd/imdsd/pkg/server"
)

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "imdsd.conf")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	srv, err := server.New(config.Default(), server.Options{})
	if err != nil {
		t.Fatal(err)
	}

	write(`{"instance_id": "i-0123456789abcdef0"}`)
	if !Reload(srv, path, log) || srv.Config().InstanceID != "i-0123456789abcdef0" {
		t.Fatalf("good reload: serving %q\n%s", srv.Config().InstanceID, logs.String())
	}

	// A broken file: every problem logged with file, line and key; the
	// previous configuration keeps serving.
	write("{\n  \"instance_id\": \"i-0123456789abcdef1\",\n  \"mac\": \"zz\",\n  \"bogus\": 1\n}")
	logs.Reset()
	if Reload(srv, path, log) {
		t.Fatal("a broken configuration was accepted")
	}
	if got := srv.Config().InstanceID; got != "i-0123456789abcdef0" {
		t.Fatalf("after a failed reload serving %q, want the previous configuration", got)
	}
	for _, want := range []string{path + ":3: mac:", path + ":4: bogus: unknown key", "still serving the previous configuration"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}

	os.Remove(path)
	logs.Reset()
	if Reload(srv, path, log) || !strings.Contains(logs.String(), "no such file") {
		t.Errorf("missing file: %s", logs.String())
	}
	if !Reload(srv, "", log) || srv.Config().InstanceID != config.Default().InstanceID {
		t.Error("reload without a file must serve the built-in default")
	}
}
