package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// curl runs the real curl with args plus options that print the body and
// then, on a line of its own, the status code. It returns both.
func curl(t *testing.T, args ...string) (code, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	full := append([]string{"-s", "--max-time", "10", "-o", "-", "-w", `\n%{http_code}`}, args...)
	out, err := exec.CommandContext(ctx, "curl", full...).Output()
	if err != nil {
		t.Fatalf("curl %s: %v", strings.Join(full, " "), err)
	}
	i := strings.LastIndexByte(string(out), '\n')
	if i < 0 {
		t.Fatalf("curl %s: no status line in %q", strings.Join(full, " "), out)
	}
	return string(out[i+1:]), string(out[:i])
}

// TestSeedCurlSession runs the seed README's "How to test" curl session line
// by line against the binary started as the README starts it, with the
// README's example configuration.
func TestSeedCurlSession(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; this test runs the seed README's curl session (apt-get install curl)")
	}
	d := startDaemon(t, "--config", "testdata/seed.json")
	base := d.url

	// Connect without token (answer must be 401).
	if code, body := curl(t, base+"/latest/meta-data/instance-id"); code != "401" || body != "" {
		t.Errorf("without a token: got %s %q, want 401 and an empty body", code, body)
	}

	// Get token.
	code, tok := curl(t, "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", base+"/latest/api/token")
	if code != "200" || !tokenRE.MatchString(tok) {
		t.Fatalf("PUT token, TTL 60: got %s %q, want 200 and 56 characters of base64url", code, tok)
	}

	steps := []struct {
		name, path, want string
	}{
		{"get instance-id", "/latest/meta-data/instance-id", seedInstanceID},
		{"check SSH keys", "/latest/meta-data/public-keys/", "0=key-0\n1=key-1"},
		{"first key", "/latest/meta-data/public-keys/0/openssh-key", seedKey0 + "\n"},
	}
	for _, s := range steps {
		code, body := curl(t, "-H", "X-aws-ec2-metadata-token: "+tok, base+s.path)
		if code != "200" || body != s.want {
			t.Errorf("%s (%s): got %s %q, want 200 %q", s.name, s.path, code, body, s.want)
		}
	}

	// Test TTL: a one-second token works at once and is refused after it.
	code, tok = curl(t, "-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 1", base+"/latest/api/token")
	issued := time.Now() // the token expires at most a second after this
	if code != "200" || !tokenRE.MatchString(tok) {
		t.Fatalf("PUT token, TTL 1: got %s %q, want 200 and a token", code, tok)
	}
	code, body := curl(t, "-H", "X-aws-ec2-metadata-token: "+tok, base+"/latest/meta-data/instance-id")
	if fresh := time.Since(issued) < 500*time.Millisecond; fresh && code != "200" {
		t.Errorf("TTL 1 token used at once: got %s %q, want 200", code, body)
	} else if !fresh {
		t.Logf("curl took %v; not checking that the TTL 1 token worked before it expired", time.Since(issued))
	}
	time.Sleep(time.Until(issued.Add(1200 * time.Millisecond)))
	if code, body := curl(t, "-H", "X-aws-ec2-metadata-token: "+tok, base+"/latest/meta-data/instance-id"); code != "401" || body != "" {
		t.Errorf("TTL 1 token after 1.2 s: got %s %q, want 401 and an empty body", code, body)
	}
}
