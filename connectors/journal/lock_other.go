//go:build !unix

package journal

import (
	"fmt"
	"os"
)

// lockDir opens the lock file; without flock, nothing stops a second
// writer process (the journal assumes one).
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	return f, nil
}

func unlockDir(f *os.File) error { return f.Close() }
