package token

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	k1, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("created key file: %v, mode %v; want 0600", err, st.Mode())
	}
	k2, err := LoadKeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second load: %v; the key changed", err)
	}
	// Tokens outlive a "restart": a new Sealer from the same file opens them.
	s1, _ := New(k1)
	s2, _ := New(k2)
	if _, err := s2.Verify(s1.Mint(time.Minute, []byte("b")), []byte("b")); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}

	tests := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"short", "abcd\n", 0o600, "expected 64 hexadecimal digits"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "expected 64 hexadecimal digits"},
		{"readable", strings.Repeat("ab", 32), 0o644, "mode 0644 lets others read it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "key")
			os.WriteFile(p, []byte(tt.content), tt.mode)
			os.Chmod(p, tt.mode)
			if _, err := LoadKeyFile(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
