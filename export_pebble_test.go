package weir

import (
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/pebble"
)

// PebbleBackendOn is PebbleBackend with its databases written through fs,
// so that a test can make the disk fail under a running job.
func PebbleBackendOn(o PebbleOptions, fs vfs.FS) Backend {
	b := PebbleBackend(o)
	po := pebble.Options{Dir: o.Dir, Memory: o.Memory, Incremental: !o.FullCheckpoints, FS: fs}
	b.open = pebble.NewBackend(po)
	b.perJob = func(stores int) func(state.Config) (state.Backend, error) {
		po := po
		po.Stores = stores
		return pebble.NewBackend(po)
	}
	return b
}
