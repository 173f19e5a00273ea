package pebble

import (
	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// dbOptions are the options of a Store's database: the shared cache and
// the memtable size of its budget, its file system (spillFS), no write-ahead log (the directory is
// scratch), and Bloom filters on every level, so that the point read of a
// key that is not there yet (a keyed count's first record of each key)
// rarely reads a data block. Background errors go to bg, not to the log
// (Pebble retries a failed flush at once, so a directory that is gone
// would print its error in a tight loop).
//
// The compaction settings keep incremental checkpoints small: what a
// checkpoint uploads is the files written since the last one, and a
// compaction that merges a flush of keys spread over the whole key space
// rewrites every file below it. L0 takes up to eight files before it is
// compacted (Pebble's default is four), so the rewrite of the level below
// is shared by twice the flushes, and levels grow by 4× instead of 10×, so
// each merge into a level rewrites less of it. With 1 % of 5 M keys
// changed between checkpoints this cut the bytes uploaded per checkpoint
// from 10 % of the state to 8 % (docs/benchmarks.md).
func dbOptions(cache *pdb.Cache, bud *budget, bg *backgroundError, fs vfs.FS) *pdb.Options {
	o := &pdb.Options{
		Cache:                       cache,
		FS:                          fs,
		MemTableSize:                bud.memTableSize(),
		MemTableStopWritesThreshold: 2,
		DisableWAL:                  true,
		FormatMajorVersion:          pdb.FormatNewest,
		Logger:                      quietLogger{pdb.DefaultLogger},
		EventListener:               &pdb.EventListener{BackgroundError: bg.set},
		DisableAutomaticCompactions: bud.o.NoAutomaticCompactions,
		L0CompactionThreshold:       8,
		L0StopWritesThreshold:       24,
	}
	o.Experimental.LevelMultiplier = 4
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}
