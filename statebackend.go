package weir

import (
	"fmt"

	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/bytesmem"
)

// Backend is where operators keep their keyed and operator state. Every
// backend writes the same snapshot format, so a job can be restored from a
// checkpoint or savepoint taken with another backend.
type Backend struct {
	name string
	open func(state.Config) (state.Backend, error)
}

// String returns the backend's name, the one ParseBackend reads.
func (b Backend) String() string { return b.name }

var (
	// MemoryBackend keeps state as Go values on the heap: the fastest, and
	// the default. State must fit in memory.
	MemoryBackend = Backend{name: "memory", open: func(c state.Config) (state.Backend, error) { return state.NewMemory(c) }}
	// BytesBackend keeps state on the heap as encoded bytes in an ordered
	// store, through the same byte-level interface a disk backend
	// implements: every read and write goes through the state's codecs. It
	// is slower than MemoryBackend; it shows that a job's state survives
	// its encoding (a codec that loses a field shows at once, not at the
	// first restore) and that the job needs nothing of the memory
	// backend's typed tables.
	BytesBackend = Backend{name: "bytes", open: bytesmem.NewBackend}
)

// ParseBackend returns the backend of the given name: "memory" or "bytes".
func ParseBackend(name string) (Backend, error) {
	for _, b := range []Backend{MemoryBackend, BytesBackend} {
		if b.name == name {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("state backend %q: want memory or bytes", name)
}

// StateBackend sets where the job's operators keep their state (default
// MemoryBackend).
func StateBackend(b Backend) Option { return optionFunc(func(c *config) { c.backend = b }) }
