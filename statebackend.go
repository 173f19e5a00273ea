package weir

import (
	"fmt"

	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/bytesmem"
	"github.com/weirstream/weir/internal/state/pebble"
)

// Backend is where operators keep their keyed and operator state. Every
// backend writes the same snapshot format, so a job can be restored from a
// checkpoint or savepoint taken with another backend.
type Backend struct {
	name string
	open func(state.Config) (state.Backend, error)
	// perJob, when set, makes open for one job whose state is held by
	// the given number of operator subtasks, which share what the backend
	// may use (PebbleOptions.Memory).
	perJob func(stores int) func(state.Config) (state.Backend, error)
	// err is what is wrong with the backend's options; the job reports it
	// before it runs.
	err error
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

// PebbleOptions configure PebbleBackend. The zero value is the default.
type PebbleOptions struct {
	// Dir is the directory under which each operator subtask makes its
	// working directory (weir-state-<operator>-<subtask>-<random>),
	// removed when the subtask closes its state. Empty means os.TempDir().
	Dir string
	// Memory is the memory budget of the job's state, in bytes, shared by
	// its keyed operator subtasks: a quarter keeps recently used entries
	// of value states decoded on the Go heap, in front of Pebble, and the
	// rest is one Pebble cache, in which Pebble also reserves their
	// memtables (each subtask holds at most two of Memory/8 divided by the
	// number of keyed subtasks, but at least 256 KiB), so at least half
	// caches blocks. Zero means 64 MiB; the minimum is 4 MiB. The rest of
	// the Go heap is apart from it: set GOMEMLIMIT (or
	// debug.SetMemoryLimit) too to bound the process; `weir run
	// --state-memory` does.
	Memory int64
	// FullCheckpoints turns incremental checkpoints off: every checkpoint
	// is then a full copy in the format every backend reads, as
	// savepoints always are. By default a checkpoint flushes each
	// subtask's memtable at the barrier, takes a Pebble checkpoint (hard
	// links) and stores only the table files (SSTs) the previous
	// checkpoint does not hold already; the others are shared, and
	// retention deletes a shared file once no retained checkpoint refers
	// to it. Such a checkpoint restores only on PebbleBackend (at any
	// parallelism); take a savepoint to move a job to another backend.
	FullCheckpoints bool
}

// PebbleBackend keeps keyed state on disk in Pebble, an LSM, for state
// larger than memory: each operator subtask has a database of its own in a
// working directory under o.Dir, and a job's databases share o.Memory of
// cache and memtables. The
// working directory is scratch — it has no write-ahead log and nothing is
// synced — and is never reopened: a job's state survives a crash through
// its checkpoints, which are incremental (see PebbleOptions.FullCheckpoints)
// and restore on PebbleBackend; its savepoints are full copies in the
// format every backend writes, so they restore into any backend. Reads
// and writes go through the state's codecs, like BytesBackend.
func PebbleBackend(o PebbleOptions) Backend {
	po := pebble.Options{Dir: o.Dir, Memory: o.Memory, Incremental: !o.FullCheckpoints}
	b := Backend{name: "pebble", open: pebble.NewBackend(po), perJob: func(stores int) func(state.Config) (state.Backend, error) {
		po := po
		po.Stores = stores
		return pebble.NewBackend(po)
	}}
	if err := po.Validate(); err != nil {
		b.err = fmt.Errorf("PebbleBackend: %w", err)
	}
	return b
}

// ParseBackend returns the backend of the given name: "memory", "bytes"
// or "pebble" (PebbleBackend with the default options).
func ParseBackend(name string) (Backend, error) {
	for _, b := range []Backend{MemoryBackend, BytesBackend, PebbleBackend(PebbleOptions{})} {
		if b.name == name {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("state backend %q: want memory, bytes or pebble", name)
}

// forJob returns the backend of one job whose state is held by stores
// operator subtasks.
func (b Backend) forJob(stores int) Backend {
	if b.perJob != nil {
		b.open = b.perJob(stores)
	}
	return b
}

// defaultBackend is the backend of a job without the StateBackend option.
// Only the package's tests change it (WEIR_STATE_BACKEND, see
// ARCHITECTURE.md), to run every test job on another backend.
var defaultBackend = MemoryBackend

// StateBackend sets where the job's operators keep their state (default
// MemoryBackend).
func StateBackend(b Backend) Option { return optionFunc(func(c *config) { c.backend = b }) }
