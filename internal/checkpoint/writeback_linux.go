package checkpoint

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f from off to
// the disk without waiting for them, as RocksDB's bytes_per_sync does, so
// that the fsync closing the file finds little left to write: writing a
// large file then costs about the longer of encoding and the disk, rather
// than both one after the other. It is a hint; its error is ignored, and
// fsync still makes the file durable.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
