package pebble_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/weirstream/weir/internal/state/pebble"
)

// fullDisk injects ENOSPC, as a full file system returns it, into the
// operations that take space (creating, linking, writing, syncing) of the
// files that fault selects, once it is switched on.
type fullDisk struct {
	on    atomic.Bool
	fault fault
}

// fault selects the files and operations a full disk fails.
type fault struct {
	name string
	// file reports whether the file at path is failed; nil is every file.
	file func(path string) bool
	// syncsOnly fails syncs alone: the writes went to the page cache.
	syncsOnly bool
}

var faults = []fault{
	{name: "every file"},
	{name: "table files", file: func(p string) bool { return strings.HasSuffix(p, ".sst") }},
	// A MANIFEST that cannot be written ends the process in Pebble
	// (Logger.Fatalf) unless the Store keeps it in memory.
	{name: "MANIFEST", file: func(p string) bool { return strings.Contains(filepath.Base(p), "MANIFEST") }},
	{name: "syncs", syncsOnly: true},
}

func (d *fullDisk) String() string { return "full disk: " + d.fault.name }

func (d *fullDisk) MaybeError(op errorfs.Op) error {
	if !d.on.Load() || d.fault.file != nil && !d.fault.file(op.Path) {
		return nil
	}
	switch op.Kind {
	case errorfs.OpCreate, errorfs.OpLink, errorfs.OpMkdirAll, errorfs.OpFilePreallocate,
		errorfs.OpFileWrite, errorfs.OpFileWriteAt:
		if d.fault.syncsOnly {
			return nil
		}
	case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
	default:
		return nil
	}
	return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
}

// openOnDisk opens a Store on a file system whose disk fills up when the
// returned fullDisk is switched on.
func openOnDisk(t *testing.T, f fault) (*pebble.Store, *fullDisk) {
	t.Helper()
	disk := &fullDisk{fault: f}
	s, err := pebble.Open(pebble.Options{Dir: t.TempDir(), Memory: pebble.MinMemory, FS: errorfs.Wrap(vfs.Default, disk)}, "op/1:test")
	if err != nil {
		t.Fatal(err)
	}
	return s, disk
}

// noHang runs f and fails the test if it has not returned long after any
// healthy run would have: a Store on a full disk must fail, not wait for
// space forever.
func noHang(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s on a full disk has not returned after 2 minutes", what)
		return nil
	}
}

// checkDiskFull checks that err names the Store's working directory and
// the file system's error.
func checkDiskFull(t *testing.T, s *pebble.Store, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s on a full disk succeeded", what)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%s: error %q does not wrap ENOSPC", what, err)
	}
	for _, want := range []string{s.Dir(), "the disk is full", "no space left on device"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not say %q", what, err, want)
		}
	}
}

// A Store whose disk fills up fails its writes with ENOSPC, naming its
// working directory, instead of stalling them behind memtables that can no
// longer be flushed; every later call fails the same way. A snapshot taken
// before still reads all it saw (a savepoint being written out when the
// disk fills loses nothing), and Close removes the working directory.
func TestDiskFullFailsWrites(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			s, disk := openOnDisk(t, f)
			defer s.Close()
			value := make([]byte, 1024)
			const before = 5000 // several memtables
			for i := range before {
				if err := s.Set(fmt.Appendf(nil, "key-%08d", i), value); err != nil {
					t.Fatal(err)
				}
			}
			view, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			defer view.Release()
			disk.on.Store(true)
			err = noHang(t, "writing", func() error {
				for i := before; i < 10_000_000; i++ {
					if err := s.Set(fmt.Appendf(nil, "key-%08d", i), value); err != nil {
						return err
					}
				}
				return nil
			})
			checkDiskFull(t, s, "writing", err)
			_, _, err = s.Get([]byte("key-00000001"))
			checkDiskFull(t, s, "Get after the failure", err)
			_, err = s.Snapshot()
			checkDiskFull(t, s, "Snapshot after the failure", err)
			_, _, err = s.CheckpointFiles()
			checkDiskFull(t, s, "a checkpoint after the failure", err)

			n := 0
			err = noHang(t, "reading a snapshot", func() error {
				return view.Scan(nil, func(k, v []byte) bool {
					if want := fmt.Sprintf("key-%08d", n); string(k) != want || len(v) != len(value) {
						t.Errorf("snapshot entry %d: %q (%d bytes); want %q", n, k, len(v), want)
						return false
					}
					n++
					return true
				})
			})
			if err != nil || n != before {
				t.Fatalf("the snapshot taken before the disk filled read %d entries, %v; want %d", n, err, before)
			}
			view.Release()
			dir := s.Dir()
			if err := s.Close(); err != nil {
				t.Fatalf("Close after the failure: %v", err)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("the working directory after Close: %v", err)
			}
		})
	}
}

// A checkpoint of a Store whose disk fills up fails with ENOSPC naming the
// working directory: it does not wait for a flush that cannot happen, and
// links no file that is not whole on disk.
func TestDiskFullFailsCheckpoint(t *testing.T) {
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			s, disk := openOnDisk(t, f)
			defer s.Close()
			for i := range 1000 {
				if err := s.Set(fmt.Appendf(nil, "key-%08d", i), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			disk.on.Store(true)
			err := noHang(t, "a checkpoint", func() error {
				dir, _, err := s.CheckpointFiles()
				if err == nil {
					os.RemoveAll(dir)
				}
				return err
			})
			checkDiskFull(t, s, "a checkpoint", err)
		})
	}
}
