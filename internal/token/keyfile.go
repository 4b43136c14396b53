package token

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// LoadKeyFile returns the key kept in path: 64 hexadecimal digits, a
// trailing newline allowed. When the file does not exist it is created with
// a new random key, readable by its owner only, so that tokens outlive a
// restart. A file anyone else can read is refused: whoever has the key can
// mint tokens for every guest.
func LoadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("token key file: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("token key file: %w", werr)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token key file: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("token key file %s: mode %04o lets others read it; chmod 600 it", path, st.Mode().Perm())
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("token key file %s: expected %d hexadecimal digits (a %d-byte key), such as made by: openssl rand -hex %d > %s",
			path, 2*KeySize, KeySize, KeySize, path)
	}
	return key, nil
}
