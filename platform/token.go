package platform

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tokenFile is the name of the API token's file in the data directory.
const tokenFile = "token"

// tokenBytes is the token's entropy: 32 random bytes, 64 hex digits.
const tokenBytes = 32

// loadOrCreateToken returns the token in dir/token, making one when there
// is none; created tells whether it did. A token file that others may read
// is refused: the token would no longer be a secret.
func loadOrCreateToken(dir string) (token string, created bool, err error) {
	return loadOrCreateTokenAt(filepath.Join(dir, tokenFile))
}

// loadOrCreateTokenAt is loadOrCreateToken for the token file at path.
func loadOrCreateTokenAt(path string) (token string, created bool, err error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createToken(path)
	case err != nil:
		return "", false, fmt.Errorf("token: %w", err)
	case !fi.Mode().IsRegular():
		return "", false, fmt.Errorf("token: %s is not a regular file", path)
	case fi.Mode().Perm()&0o077 != 0:
		return "", false, fmt.Errorf("token: %s has mode %v; it must be readable by its owner only (chmod 600 %s)", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("token: %w", err)
	}
	token = strings.TrimSpace(string(b))
	if len(token) < 32 {
		return "", false, fmt.Errorf("token: %s holds %d characters; want at least 32", path, len(token))
	}
	return token, false, nil
}

func createToken(path string) (string, bool, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", false, fmt.Errorf("token: %w", err)
	}
	token := hex.EncodeToString(b)
	// O_EXCL: two servers starting at once must not each write a token.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, fmt.Errorf("token: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", false, fmt.Errorf("token: %w", err)
	}
	return token, true, nil
}

// tokenEqual compares in time independent of where the two differ.
func tokenEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
