package pebble

import (
	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// dbOptions are the options of a Store's database: the shared cache and
// the memtable size of its budget, no write-ahead log (the directory is
// scratch), and Bloom filters on every level, so that the point read of a
// key that is not there yet (a keyed count's first record of each key)
// rarely reads a data block. Background errors go to bg, not to the log
// (Pebble retries a failed flush at once, so a directory that is gone
// would print its error in a tight loop).
func dbOptions(cache *pdb.Cache, memTable uint64, bg *backgroundError) *pdb.Options {
	o := &pdb.Options{
		Cache:                       cache,
		MemTableSize:                memTable,
		MemTableStopWritesThreshold: 2,
		DisableWAL:                  true,
		FormatMajorVersion:          pdb.FormatNewest,
		Logger:                      quietLogger{pdb.DefaultLogger},
		EventListener:               &pdb.EventListener{BackgroundError: bg.set},
	}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}
