package checkpoint

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// SharedStorage is a Storage that also keeps shared files: files written
// once and referred to by the metadata of several checkpoints
// (NativeFile.Shared), so that a checkpoint stores only what the previous
// one does not hold already — the immutable table files of an LSM. They
// live in a shared area apart from the checkpoints' directories (Dir:
// <root>/shared/<name>); deleting a checkpoint leaves them, and
// RetainShared (run by Retain) removes those no complete checkpoint or
// savepoint refers to.
//
// Shared names follow the rules of state file names (see
// ErrInvalidName); the writer makes them unique, so one name always
// stands for one content. The operations are those of an object store:
// whole-file put, get, delete and list.
type SharedStorage interface {
	Storage

	// CreateShared creates the shared file name and returns a writer for
	// it. Close makes the whole file durable and visible under name at
	// once, replacing a file of that name (a writer never reuses a name
	// for other contents, so a replaced file is an earlier upload of the
	// same bytes); until then name shows what it showed before. A writer
	// given up with Abort (it may be an Aborter) leaves nothing under
	// name.
	CreateShared(ctx context.Context, name string) (io.WriteCloser, error)

	// OpenShared opens the shared file name for reading. A file that does
	// not exist gives an error wrapping ErrNotFound.
	OpenShared(ctx context.Context, name string) (io.ReadCloser, error)

	// DeleteShared removes the shared file name. Deleting one that does
	// not exist is an error wrapping ErrNotFound.
	DeleteShared(ctx context.Context, name string) error

	// ListShared returns every shared file, ordered by name, with its
	// size and the time it was written. Files being written (not yet
	// closed) are not listed.
	ListShared(ctx context.Context) ([]SharedInfo, error)
}

// SharedInfo describes a shared file.
type SharedInfo struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// SharedOrphans returns the shared files that no complete checkpoint or
// savepoint refers to and that were written before the newest complete
// one: files left by checkpoints that failed or by a process that crashed
// between the upload and the completion, or no longer needed after a
// Delete. A file written after the newest complete checkpoint may belong
// to one in progress and is never an orphan. Like Retain it fails when
// any metadata cannot be read, since that checkpoint's references would
// be unknown.
func SharedOrphans(ctx context.Context, s SharedStorage) ([]SharedInfo, error) {
	infos, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(infos) == 0 {
		// Nothing complete: no time before which a file cannot belong to
		// a checkpoint in progress.
		return nil, nil
	}
	used := map[string]bool{}
	var newest time.Time
	for _, in := range infos {
		if in.CompletedAt.After(newest) {
			newest = in.CompletedAt
		}
		m, err := s.ReadMetadata(ctx, in.Ref)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		for _, n := range m.SharedNames() {
			used[n] = true
		}
	}
	shared, err := s.ListShared(ctx)
	if err != nil {
		return nil, err
	}
	var orphans []SharedInfo
	for _, f := range shared {
		if !used[f.Name] && f.ModTime.Before(newest) {
			orphans = append(orphans, f)
		}
	}
	return orphans, nil
}

// RetainShared deletes the shared files SharedOrphans finds, and reports
// every failure; a file that disappears meanwhile is not one.
func RetainShared(ctx context.Context, s SharedStorage) error {
	orphans, err := SharedOrphans(ctx, s)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range orphans {
		if err := s.DeleteShared(ctx, f.Name); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// sharedDir is the directory of Dir's shared area under the root. Its name
// is no checkpoint's, so List and Inspect ignore it.
const sharedDir = "shared"

// sharedTempPrefix starts the names of shared files being written; no
// shared name can start with it (reservedPrefix).
const sharedTempPrefix = reservedPrefix + "tmp-"

var _ SharedStorage = (*Dir)(nil)

func (d *Dir) sharedLocation(name string) string {
	return filepath.Join(d.path, sharedDir, name)
}

// CreateShared implements SharedStorage: the file is written under a
// temporary name in the shared directory and renamed into place by Close,
// after an fsync; the directory is synced after the rename.
func (d *Dir) CreateShared(ctx context.Context, name string) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: create shared file: %w", err)
	}
	if err := d.root.Mkdir(sharedDir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("checkpoint: create %s: %w", d.sharedLocation(name), err)
	}
	var r [8]byte
	rand.Read(r[:])
	temp := sharedTempPrefix + hex.EncodeToString(r[:])
	f, err := d.root.OpenFile(filepath.Join(sharedDir, temp), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: create %s: %w", d.sharedLocation(name), err)
	}
	w := &sharedWriter{name: name, temp: temp}
	w.stateWriter = stateWriter{d: d, f: f, w: newBufWriter(f), loc: d.sharedLocation(name)}
	return w, nil
}

// sharedWriter is a stateWriter whose Close renames the temporary file
// into place.
type sharedWriter struct {
	stateWriter
	name, temp string
}

func (w *sharedWriter) Close() error {
	if err := w.stateWriter.Close(); err != nil {
		w.d.root.Remove(filepath.Join(sharedDir, w.temp))
		return err
	}
	if err := w.d.root.Rename(filepath.Join(sharedDir, w.temp), filepath.Join(sharedDir, w.name)); err != nil {
		w.d.root.Remove(filepath.Join(sharedDir, w.temp))
		return fmt.Errorf("checkpoint: write %s: %w", w.loc, err)
	}
	if err := w.d.syncDir(sharedDir); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", w.loc, err)
	}
	return nil
}

func (w *sharedWriter) Abort() error {
	err := w.stateWriter.Abort()
	w.d.root.Remove(filepath.Join(sharedDir, w.temp))
	return err
}

// OpenShared implements SharedStorage.
func (d *Dir) OpenShared(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: open shared file: %w", err)
	}
	f, err := d.root.Open(filepath.Join(sharedDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint: open %s: %w", d.sharedLocation(name), ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", d.sharedLocation(name), err)
	}
	return f, nil
}

// DeleteShared implements SharedStorage.
func (d *Dir) DeleteShared(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateName(strings.TrimPrefix(name, sharedTempPrefix)); err != nil {
		return fmt.Errorf("checkpoint: delete shared file: %w", err)
	}
	err := d.root.Remove(filepath.Join(sharedDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: delete %s: %w", d.sharedLocation(name), ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", d.sharedLocation(name), err)
	}
	return nil
}

// ListShared implements SharedStorage. Temporary files of writers that
// crashed are listed too once they are older than an hour, under their
// temporary names, so that a prune removes them.
func (d *Dir) ListShared(ctx context.Context) ([]SharedInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := d.root.Open(sharedDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", filepath.Join(d.path, sharedDir), err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", filepath.Join(d.path, sharedDir), err)
	}
	var out []SharedInfo
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: list %s: %w", filepath.Join(d.path, sharedDir), err)
		}
		if strings.HasPrefix(e.Name(), sharedTempPrefix) && time.Since(fi.ModTime()) < time.Hour {
			continue
		}
		out = append(out, SharedInfo{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime()})
	}
	slices.SortFunc(out, func(a, b SharedInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// checkShared checks that a shared file is there with the given size.
func (d *Dir) checkShared(name string, size int64) error {
	fi, err := d.root.Stat(filepath.Join(sharedDir, name))
	loc := d.sharedLocation(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s is missing: %w", loc, ErrMissingFile)
	case err != nil:
		return fmt.Errorf("%s: %w", loc, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file: %w", loc, ErrMissingFile)
	case fi.Size() != size:
		return fmt.Errorf("%s has %d bytes, the metadata says %d: %w", loc, fi.Size(), size, ErrMissingFile)
	}
	return nil
}
