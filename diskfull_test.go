package weir_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/weirstream/weir"
)

// fillingDisk fails the next operation that takes space with ENOSPC once armed, once:
// the disk filled up and was given space again before the restart.
type fillingDisk struct {
	armed, failed atomic.Bool
}

func (d *fillingDisk) String() string { return "filling disk" }

func (d *fillingDisk) MaybeError(op errorfs.Op) error {
	switch op.Kind {
	case errorfs.OpCreate, errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFilePreallocate, errorfs.OpFileSync:
	default:
		return nil
	}
	if !d.armed.Load() || !d.failed.CompareAndSwap(false, true) {
		return nil
	}
	return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
}

// A job on Pebble whose state disk fills up fails with an error naming the
// state's working directory and the cause, restarts from its latest
// checkpoint and ends with exactly the counts of an uninterrupted run.
func TestPebbleDiskFullRestartsFromCheckpoint(t *testing.T) {
	// Incremental checkpoints flush Pebble's memtable at every barrier, so
	// the state reaches the disk though the count's ten keys stay in the
	// cache of decoded entries.
	for _, full := range []bool{false} {
		t.Run("incremental", func(t *testing.T) {
			const n = 12000
			dir, stateDir := t.TempDir(), t.TempDir()
			disk := &fillingDisk{}
			backend := weir.PebbleBackendOn(weir.PebbleOptions{Dir: stateDir, FullCheckpoints: full}, errorfs.Wrap(vfs.Default, disk))
			var rs restarts
			env, got := countJobWith(dir, n, 2, func(seen int64) error {
				holdLast(seen, n, func() bool { return disk.failed.Load() && len(rs.rs) > 0 && completedCheckpoints(dir) > 1 })
				if seen > 1000 && completedCheckpoints(dir) > 0 {
					disk.armed.Store(true)
				}
				return nil
			}, weir.StateBackend(backend), weir.Restarts(quick), weir.OnRestart(rs.add))
			if err := env.Run(context.Background()); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if g := sorted(got.Values()); !slices.Equal(g, wantCounts(n)) {
				t.Fatalf("counts %v, want %v", g, wantCounts(n))
			}
			if !disk.failed.Load() {
				t.Fatal("the disk never filled")
			}
			if len(rs.rs) == 0 {
				t.Fatal("the job did not restart after its disk filled")
			}
			r := rs.rs[0]
			if !errors.Is(r.Cause, syscall.ENOSPC) || !strings.Contains(r.Cause.Error(), stateDir) || !strings.Contains(r.Cause.Error(), "the disk is full") {
				t.Fatalf("restart caused by %v; want ENOSPC naming the state directory %s", r.Cause, stateDir)
			}
			if !strings.Contains(r.From, "chk-") {
				t.Fatalf("restart from %q, want a checkpoint", r.From)
			}
		})
	}
}
