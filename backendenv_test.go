package weir

import (
	"fmt"
	"os"
)

// WEIR_STATE_BACKEND (memory, bytes or pebble) runs every job of this
// package's tests that does not choose a backend on that one, so the
// operator tests check any backend: for example
//
//	WEIR_STATE_BACKEND=pebble go test -run 'Window|Join|State' .
//
// Only the tests read it; a job outside them starts on MemoryBackend.
func init() {
	name := os.Getenv("WEIR_STATE_BACKEND")
	if name == "" {
		return
	}
	b, err := ParseBackend(name)
	if err != nil {
		fmt.Fprintf(os.Stderr, "WEIR_STATE_BACKEND: %v\n", err)
		os.Exit(2)
	}
	defaultBackend = b
}
