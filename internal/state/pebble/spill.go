package pebble

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// spillFS is the file system of a Store's database: the disk, until a
// write fails there (the disk is full, most often). Then the Store is
// failed — each of its calls returns the error from then on — and the
// files Pebble goes on writing for a flush or its MANIFEST are kept in
// memory instead, the part already on disk read back, so that Pebble never
// sees the error.
//
// Pebble cannot be told to give up: a flush that fails is retried at once,
// forever, and a write waiting for room in the memtables (or a checkpoint's
// Flush) waits for that flush, so the task would hang; and a MANIFEST
// write that fails ends the process (Pebble calls Logger.Fatalf). With the
// files in memory the flush in progress completes, the waiting write
// returns, Pebble's view of its files stays true (a snapshot still being
// written out by a savepoint reads what it saw), and the task fails at
// its next state access with the disk's error, naming the file. The
// memory held is one flush's output at most, until the task closes the
// Store and restarts from its checkpoint. A compaction's output (which may
// be as large as the state) is not kept: its write fails, and Pebble only
// reports that.
type spillFS struct {
	vfs.FS // the disk
	mem    *vfs.MemFS
	// fail records the Store's failure; the first error is kept.
	fail   func(error)
	failed atomic.Bool

	mu struct {
		sync.Mutex
		// spilled holds the paths of the files that are in mem.
		spilled map[string]bool
	}
}

func newSpillFS(disk vfs.FS, fail func(error)) *spillFS {
	if disk == nil {
		disk = vfs.Default
	}
	fs := &spillFS{FS: disk, mem: vfs.NewMem(), fail: fail}
	fs.mu.spilled = map[string]bool{}
	return fs
}

// keepsInMemory reports whether the files of category c are kept in memory
// once the disk has failed: all but compactions' rewrites.
func keepsInMemory(c vfs.DiskWriteCategory) bool {
	return c != "pebble-compaction" && c != "pebble-blob-file-rewrite"
}

// errNotOnDisk refuses to hard-link a file that is in memory: only a
// checkpoint links files, and it fails before that on a failed Store.
var errNotOnDisk = errors.New("the file is in memory, the disk having failed")

func (fs *spillFS) setFailed(err error) {
	fs.failed.Store(true)
	fs.fail(err)
}

func (fs *spillFS) inMemory(name string) bool {
	if !fs.failed.Load() {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.mu.spilled[name]
}

// createInMemory creates name in memory with content, replacing the file
// on disk if there is one.
func (fs *spillFS) createInMemory(name string, content []byte) (vfs.File, error) {
	if err := fs.mem.MkdirAll(fs.mem.PathDir(name), 0o755); err != nil {
		return nil, err
	}
	f, err := fs.mem.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(content); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	fs.mu.Lock()
	fs.mu.spilled[name] = true
	fs.mu.Unlock()
	// Freeing the disk's space is good, but what matters is the copy.
	_ = fs.FS.Remove(name)
	return f, nil
}

// Create implements vfs.FS.
func (fs *spillFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if fs.failed.Load() && keepsInMemory(category) {
		return fs.createInMemory(name, nil)
	}
	f, err := fs.FS.Create(name, category)
	if err != nil {
		fs.setFailed(err)
		if keepsInMemory(category) {
			return fs.createInMemory(name, nil)
		}
		return nil, err
	}
	return &spillFile{File: f, fs: fs, name: name, category: category, onDisk: true}, nil
}

// OpenDir implements vfs.FS: a directory whose sync fails fails the
// Store, and Pebble is told it succeeded. The working directory is never
// reopened, so nothing depends on what a sync makes durable.
func (fs *spillFS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.FS.OpenDir(name)
	if err != nil {
		return nil, err
	}
	return &dirFile{File: f, fs: fs}, nil
}

type dirFile struct {
	vfs.File
	fs *spillFS
}

// Sync implements vfs.File.
func (d *dirFile) Sync() error {
	if err := d.File.Sync(); err != nil {
		d.fs.setFailed(err)
	}
	return nil
}

// Open implements vfs.FS.
func (fs *spillFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	if fs.inMemory(name) {
		return fs.mem.Open(name, opts...)
	}
	return fs.FS.Open(name, opts...)
}

// Stat implements vfs.FS.
func (fs *spillFS) Stat(name string) (vfs.FileInfo, error) {
	if fs.inMemory(name) {
		return fs.mem.Stat(name)
	}
	return fs.FS.Stat(name)
}

// Link implements vfs.FS.
func (fs *spillFS) Link(oldname, newname string) error {
	if fs.inMemory(oldname) {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errNotOnDisk}
	}
	return fs.FS.Link(oldname, newname)
}

// Remove implements vfs.FS.
func (fs *spillFS) Remove(name string) error {
	if fs.inMemory(name) {
		fs.mu.Lock()
		delete(fs.mu.spilled, name)
		fs.mu.Unlock()
		return fs.mem.Remove(name)
	}
	return fs.FS.Remove(name)
}

// RemoveAll implements vfs.FS.
func (fs *spillFS) RemoveAll(name string) error {
	if fs.failed.Load() {
		fs.mu.Lock()
		clear(fs.mu.spilled)
		fs.mu.Unlock()
		_ = fs.mem.RemoveAll(name)
	}
	return fs.FS.RemoveAll(name)
}

// Rename implements vfs.FS.
func (fs *spillFS) Rename(oldname, newname string) error {
	if !fs.inMemory(oldname) {
		return fs.FS.Rename(oldname, newname)
	}
	if err := fs.mem.Rename(oldname, newname); err != nil {
		return err
	}
	fs.mu.Lock()
	delete(fs.mu.spilled, oldname)
	fs.mu.spilled[newname] = true
	fs.mu.Unlock()
	_ = fs.FS.Remove(newname) // the renamed file replaces it
	return nil
}

// List implements vfs.FS: the files on disk and in memory.
func (fs *spillFS) List(dir string) ([]string, error) {
	names, err := fs.FS.List(dir)
	if err != nil || !fs.failed.Load() {
		return names, err
	}
	inMem, merr := fs.mem.List(dir)
	if merr != nil {
		return names, nil // nothing of dir is in memory
	}
	for _, n := range inMem {
		if !fs.inMemory(fs.mem.PathJoin(dir, n)) {
			continue
		}
		names = append(names, n)
	}
	return names, nil
}

// spillFile is a file Pebble writes on the disk, moved to memory when a
// write fails.
type spillFile struct {
	vfs.File
	fs       *spillFS
	name     string
	category vfs.DiskWriteCategory
	onDisk   bool
}

// moveToMemory fails the Store with err and, for a file that is kept in
// memory, copies what the disk holds of it into memory and goes on there.
// It returns err for a file that is not kept, nil otherwise.
func (f *spillFile) moveToMemory(err error) error {
	f.fs.setFailed(err)
	if !keepsInMemory(f.category) {
		return err
	}
	content, rerr := f.readDisk()
	if rerr != nil {
		return errors.Join(err, fmt.Errorf("read back %s: %w", f.name, rerr))
	}
	m, cerr := f.fs.createInMemory(f.name, content)
	if cerr != nil {
		return errors.Join(err, fmt.Errorf("keep %s in memory: %w", f.name, cerr))
	}
	_ = f.File.Close()
	f.File, f.onDisk = m, false
	return nil
}

func (f *spillFile) readDisk() ([]byte, error) {
	r, err := f.fs.FS.Open(f.name)
	if err != nil {
		return nil, err
	}
	content, err := io.ReadAll(r)
	return content, errors.Join(err, r.Close())
}

// Write implements vfs.File.
func (f *spillFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if err == nil || !f.onDisk {
		return n, err
	}
	// The disk holds p[:n] (read back with the rest); p[n:] goes on in
	// memory.
	if err := f.moveToMemory(err); err != nil {
		return n, err
	}
	m, err := f.File.Write(p[n:])
	return n + m, err
}

// Preallocate implements vfs.File.
func (f *spillFile) Preallocate(offset, length int64) error {
	err := f.File.Preallocate(offset, length)
	if err == nil || !f.onDisk {
		return err
	}
	return f.moveToMemory(err)
}

// Sync implements vfs.File.
func (f *spillFile) Sync() error {
	err := f.File.Sync()
	if err == nil || !f.onDisk {
		return err
	}
	return f.moveToMemory(err)
}

// SyncData implements vfs.File.
func (f *spillFile) SyncData() error {
	err := f.File.SyncData()
	if err == nil || !f.onDisk {
		return err
	}
	return f.moveToMemory(err)
}

// SyncTo implements vfs.File.
func (f *spillFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	if err == nil || !f.onDisk {
		return full, err
	}
	return false, f.moveToMemory(err)
}
