package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

const (
	// metadataName is the file whose presence makes a checkpoint complete.
	metadataName = "_metadata"
	// metadataTemp is where Complete writes the metadata before renaming
	// it into place. One fixed name rather than a random one, so a
	// leftover is recognisable and a retry simply overwrites it.
	metadataTemp = "_metadata.tmp"
	// maxMetadataSize bounds what is read as metadata, so a stray huge
	// file cannot exhaust memory. It is far above what a job with
	// thousands of subtasks writes.
	maxMetadataSize = 256 << 20
	// writeBuffer is the state writer's buffer: snapshots are written in
	// small pieces, and a system call per piece would dominate.
	writeBuffer = 64 << 10
	// writebackEvery is how many bytes of a state file are written before
	// the kernel is asked to start writing them to the disk.
	writebackEvery = 8 << 20
)

// The names of the moments at which Dir calls its Failpoints hook. They
// are the points where a crash leaves a distinct state on disk.
const (
	// FailpointStateFileSynced: a state file's contents are durable, its
	// descriptor not yet closed.
	FailpointStateFileSynced = "state-file-synced"
	// FailpointMetadataTempWritten: the metadata is durable under its
	// temporary name; the checkpoint is still incomplete.
	FailpointMetadataTempWritten = "metadata-temp-written"
	// FailpointMetadataRenamed: the metadata has its final name, so the
	// checkpoint is complete for this process and any other, but the
	// rename itself may not survive a power failure yet.
	FailpointMetadataRenamed = "metadata-renamed"
	// FailpointMetadataSynced: the rename is durable; Complete is about to
	// return.
	FailpointMetadataSynced = "metadata-synced"
	// FailpointDeleteMetadataRemoved: Delete has removed the metadata (the
	// checkpoint is now incomplete) and not yet its files.
	FailpointDeleteMetadataRemoved = "delete-metadata-removed"
)

// Dir is the Storage on a local or mounted file system. Its layout is
//
//	<root>/chk-<id>/<state files> and _metadata
//	<root>/sp-<id>/<state files> and _metadata
//
// with IDs zero-padded to 19 digits so names sort in numeric order (see
// FORMAT.md). Every file operation goes through an os.Root, so no state
// file name and no symbolic link can reach outside the root.
//
// A Dir is safe for concurrent use. It keeps no state of its own besides
// the open root: everything it knows it reads from the directory, so two
// Dirs on one root agree, and a process that restarts finds what the last
// one left.
type Dir struct {
	// Failpoints, when not nil, is called at the moments named by the
	// Failpoint constants. A crash-test harness ends the process from it
	// to leave the disk exactly as a crash at that moment would; a
	// non-nil return makes the operation fail there as if the file system
	// had, to test error handling. It may be called from several
	// goroutines at once (state files are closed concurrently). Set it
	// before the Dir is used.
	Failpoints func(name string) error

	path string
	root *os.Root
}

var (
	_ Storage = (*Dir)(nil)
	_ Aborter = (*stateWriter)(nil)
)

// OpenDir opens the checkpoint directory at path, creating it (and its
// parents) when it does not exist. Close it when done.
func OpenDir(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", path, err)
	}
	return openDir(path)
}

// openDir opens an existing directory, for OpenPath, which must not create
// directories where a user mistyped a path.
func openDir(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", path, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", path, err)
	}
	return &Dir{path: abs, root: root}, nil
}

// OpenPath opens the storage holding the checkpoint or savepoint a user
// named by path, wherever it is — which is how a job is started from a
// savepoint taken by another job. The path may name a chk-<id> or sp-<id>
// directory, which must be complete, or a directory holding them, which
// means its newest one. Anything else is an error naming the path. The
// caller closes the returned Dir.
func OpenPath(ctx context.Context, path string) (*Dir, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, Info{}, fmt.Errorf("checkpoint: resolve %q: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, Info{}, fmt.Errorf("checkpoint: resolve %q: not a directory; want a chk-<id> or sp-<id> directory or the directory that holds them", path)
	}
	root := filepath.Clean(path)
	if _, err := ParseRef(filepath.Base(root)); err == nil {
		root = filepath.Dir(root)
	}
	d, err := openDir(root)
	if err != nil {
		return nil, Info{}, fmt.Errorf("checkpoint: resolve %q: %w", path, err)
	}
	info, err := d.Resolve(ctx, path)
	if err != nil {
		d.Close()
		return nil, Info{}, err
	}
	return d, info, nil
}

// Path returns the absolute path of the root directory.
func (d *Dir) Path() string { return d.path }

// Close releases the root directory. The Dir cannot be used afterwards.
func (d *Dir) Close() error { return d.root.Close() }

// location returns the absolute path of a checkpoint's directory, or of a
// file in it, for Info and error messages.
func (d *Dir) location(ref Ref, name ...string) string {
	return filepath.Join(append([]string{d.path, ref.String()}, name...)...)
}

// failpoint calls the hook, if any.
func (d *Dir) failpoint(name string) error {
	if d.Failpoints == nil {
		return nil
	}
	if err := d.Failpoints(name); err != nil {
		return fmt.Errorf("failpoint %s: %w", name, err)
	}
	return nil
}

// Create implements Storage. The checkpoint's directory is created by the
// first file; concurrent first files are fine.
func (d *Dir) Create(ctx context.Context, ref Ref, name string) (io.WriteCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: create in %s: %w", d.location(ref), err)
	}
	dir := ref.String()
	if err := d.root.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("checkpoint: create %s: %w", d.location(ref, name), err)
	}
	// A best-effort guard against a coordinator bug: a completed
	// checkpoint is immutable, and adding a file would go unnoticed.
	if _, err := d.root.Lstat(filepath.Join(dir, metadataName)); err == nil {
		return nil, fmt.Errorf("checkpoint: create %s: %v is complete: %w", d.location(ref, name), ref, ErrExists)
	}
	// O_EXCL: a state file is written once, so two subtasks given the same
	// name fail instead of overwriting each other.
	f, err := d.root.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("checkpoint: create %s: %w", d.location(ref, name), ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: create %s: %w", d.location(ref, name), err)
	}
	return &stateWriter{d: d, f: f, w: newBufWriter(f), loc: d.location(ref, name)}, nil
}

// newBufWriter buffers the writes to f and starts their writeback as they
// go.
func newBufWriter(f *os.File) *bufio.Writer {
	return bufio.NewWriterSize(&writebackFile{f: f}, writeBuffer)
}

// writebackFile writes to f and starts the disk writes of every
// writebackEvery bytes as they are written (see startWriteback).
type writebackFile struct {
	f *os.File
	// off is the number of bytes written, started the offset up to which
	// writes to the disk were started.
	off, started int64
}

func (w *writebackFile) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.off += int64(n)
	if w.off-w.started >= writebackEvery {
		startWriteback(w.f, w.started, w.off-w.started)
		w.started = w.off
	}
	return n, err
}

// stateWriter writes one state file. It is used by one goroutine, so it
// needs no lock.
type stateWriter struct {
	d      *Dir
	f      *os.File
	w      *bufio.Writer
	loc    string
	closed bool
}

// Write buffers p; errors from the file surface here or in Close.
func (w *stateWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("checkpoint: write %s: %w", w.loc, os.ErrClosed)
	}
	return w.w.Write(p)
}

// Close flushes the buffer and fsyncs the file before closing it: the
// coordinator lists the file in the metadata only after Close returns nil,
// so the file must be durable by then.
func (w *stateWriter) Close() error {
	if w.closed {
		return fmt.Errorf("checkpoint: close %s: %w", w.loc, os.ErrClosed)
	}
	w.closed = true
	err := w.w.Flush()
	if err == nil {
		err = w.f.Sync()
	}
	if err == nil {
		err = w.d.failpoint(FailpointStateFileSynced)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", w.loc, err)
	}
	return nil
}

// Abort implements Aborter: it closes the file without flushing the
// buffer or syncing. The partial file stays for Delete, which removes it
// with the rest of the checkpoint, and keeps its name taken, as a state
// file name is written once.
func (w *stateWriter) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("checkpoint: abort %s: %w", w.loc, err)
	}
	return nil
}

// Open implements Storage.
func (d *Dir) Open(ctx context.Context, ref Ref, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	if err := validateName(name); err != nil {
		return nil, fmt.Errorf("checkpoint: open in %s: %w", d.location(ref), err)
	}
	f, err := d.root.Open(filepath.Join(ref.String(), name))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: open %s: %w", d.location(ref, name), err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, fmt.Errorf("checkpoint: open %s: %w", d.location(ref, name), err)
	}
	return f, nil
}

// Complete implements Storage with this protocol (FORMAT.md explains why
// each step is needed):
//
//  1. check every listed state file is there with its size;
//  2. write _metadata.tmp and fsync it;
//  3. fsync the checkpoint directory and the root, so the state files'
//     and the directory's own entries are durable before the metadata can
//     be;
//  4. rename _metadata.tmp to _metadata — the moment of completion;
//  5. fsync the checkpoint directory, so the rename is durable.
func (d *Dir) Complete(ctx context.Context, m *Metadata) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := m.Encode()
	if err != nil {
		return err
	}
	ref := m.Ref()
	dir := ref.String()
	loc := d.location(ref)
	fail := func(err error) error { return fmt.Errorf("checkpoint: complete %s: %w", loc, err) }

	// A checkpoint without state files has no directory yet.
	if err := d.root.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fail(err)
	}
	switch _, err := d.root.Lstat(filepath.Join(dir, metadataName)); {
	case err == nil:
		return fail(ErrExists)
	case !errors.Is(err, fs.ErrNotExist):
		return fail(err)
	}
	for _, op := range m.Operators {
		for i, sf := range op.Subtasks {
			fi, err := d.root.Stat(filepath.Join(dir, sf.Name))
			switch {
			case err != nil:
				return fail(fmt.Errorf("operator %q subtask %d: %w", op.ID, i, err))
			case !fi.Mode().IsRegular():
				return fail(fmt.Errorf("operator %q subtask %d: %s is not a regular file", op.ID, i, sf.Name))
			case fi.Size() != sf.Size:
				return fail(fmt.Errorf("operator %q subtask %d: %s has %d bytes, the metadata says %d", op.ID, i, sf.Name, fi.Size(), sf.Size))
			}
			if err := d.verifyNative(ref, sf.Native); err != nil {
				return fail(fmt.Errorf("operator %q subtask %d: %w", op.ID, i, err))
			}
		}
	}

	temp := filepath.Join(dir, metadataTemp)
	err = d.writeFile(temp, data)
	if err == nil {
		err = d.failpoint(FailpointMetadataTempWritten)
	}
	if err == nil {
		err = d.syncDir(dir)
	}
	if err == nil {
		err = d.syncDir(".")
	}
	if err == nil {
		// The last moment at which giving up leaves nothing behind.
		err = ctx.Err()
	}
	if err == nil {
		err = d.root.Rename(temp, filepath.Join(dir, metadataName))
	}
	if err != nil {
		// Still incomplete; the temporary file would be harmless, but
		// leaving it would confuse whoever looks.
		d.root.Remove(temp)
		return fail(err)
	}

	err = d.failpoint(FailpointMetadataRenamed)
	if err == nil {
		err = d.syncDir(dir)
	}
	if err == nil {
		err = d.failpoint(FailpointMetadataSynced)
	}
	if err != nil {
		// The metadata is visible but perhaps not durable, and the caller
		// will treat the checkpoint as failed: take the metadata away so
		// that no one restores from a checkpoint the coordinator gave up
		// on (its sinks may have aborted their transactions).
		if uerr := d.root.Remove(filepath.Join(dir, metadataName)); uerr != nil && !errors.Is(uerr, fs.ErrNotExist) {
			return fail(fmt.Errorf("%w; removing the metadata again also failed, so the checkpoint may still be listed — Delete it: %w", err, uerr))
		}
		d.syncDir(dir)
		return fail(err)
	}
	return nil
}

// writeFile writes data to name (inside the root), replacing any earlier
// file, and fsyncs it.
func (d *Dir) writeFile(name string, data []byte) error {
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory, which is what makes the creation, rename or
// removal of its entries durable.
func (d *Dir) syncDir(name string) error {
	f, err := d.root.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadMetadata implements Storage.
func (d *Dir) ReadMetadata(ctx context.Context, ref Ref) (*Metadata, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := ref.validate(); err != nil {
		return nil, err
	}
	m, _, err := d.readMetadata(ref)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return m, nil
}

// readMetadata reads and checks a checkpoint's metadata, and returns its
// size in bytes too. Its errors wrap ErrNotFound for a missing checkpoint
// and ErrIncomplete for one that is not complete; any other error means
// metadata that cannot be used: damaged (ErrCorrupt, with ErrChecksum) or
// intact but not for this build.
// Its errors start with the path, for callers to prefix with what they
// were doing.
func (d *Dir) readMetadata(ref Ref) (*Metadata, int64, error) {
	dir := ref.String()
	if _, err := d.root.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", d.location(ref), ErrNotFound)
	}
	loc := d.location(ref, metadataName)
	f, err := d.root.Open(filepath.Join(dir, metadataName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%s: %w", d.location(ref), ErrIncomplete)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", loc, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", loc, err)
	}
	if len(data) > maxMetadataSize {
		return nil, 0, fmt.Errorf("%s: larger than %d bytes", loc, maxMetadataSize)
	}
	m, err := DecodeMetadata(data)
	if errors.Is(err, ErrChecksum) {
		return nil, 0, fmt.Errorf("%s: %w: %w", loc, ErrCorrupt, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", loc, err)
	}
	if m.Ref() != ref {
		// Restoring would use the wrong ID (sinks derive transaction IDs
		// from it); refuse and let a person sort it out.
		return nil, 0, fmt.Errorf("%s describes %v, not %v; was the directory renamed?", loc, m.Ref(), ref)
	}
	return m, int64(len(data)), nil
}

// scan reads every checkpoint directory under the root.
func (d *Dir) scan(ctx context.Context) (complete []Info, incomplete []Ref, err error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: list %s: %w", d.path, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint: list %s: %w", d.path, err)
	}
	var refs []Ref
	for _, e := range entries {
		if ref, perr := ParseRef(e.Name()); perr == nil && e.IsDir() {
			refs = append(refs, ref) // the rest is not ours
		}
	}
	return classify(ctx, refs, func(_ context.Context, ref Ref) (*Metadata, int64, error) { return d.readMetadata(ref) }, d.location)
}

// classify sorts a storage's checkpoints into the complete ones, newest
// first, and the incomplete ones, by reading each one's metadata with
// read: a checkpoint deleted while it was listed is left out, and an error
// of any other kind fails the whole listing, naming each checkpoint at
// fault.
func classify(ctx context.Context, refs []Ref, read func(context.Context, Ref) (*Metadata, int64, error),
	location func(Ref, ...string) string) (complete []Info, incomplete []Ref, err error) {
	var errs []error
	for _, ref := range refs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		m, size, err := read(ctx, ref)
		switch {
		case err == nil:
			complete = append(complete, Info{Ref: ref, CompletedAt: m.CompletedAt, Size: m.StateSize() + size, Location: location(ref)})
		case errors.Is(err, ErrIncomplete):
			incomplete = append(incomplete, ref)
		case errors.Is(err, ErrNotFound):
			// Deleted while we listed.
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		default:
			errs = append(errs, fmt.Errorf("checkpoint: %w", err))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	slices.SortFunc(complete, newerFirst)
	sortRefs(incomplete)
	return complete, incomplete, nil
}

// List implements Storage.
func (d *Dir) List(ctx context.Context) ([]Info, error) {
	complete, _, err := d.scan(ctx)
	return complete, err
}

// Incomplete implements Storage.
func (d *Dir) Incomplete(ctx context.Context) ([]Ref, error) {
	_, incomplete, err := d.scan(ctx)
	return incomplete, err
}

// Resolve implements Storage. The location is a file-system path, absolute
// or relative to the working directory, naming either this Dir's root
// (meaning its newest checkpoint or savepoint) or a complete chk-<id> or
// sp-<id> directory directly inside it. Paths are compared by identity, so
// symbolic links and different spellings of one path work.
func (d *Dir) Resolve(ctx context.Context, location string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	fail := func(format string, args ...any) (Info, error) {
		return Info{}, fmt.Errorf("checkpoint: resolve %q: %w", location, fmt.Errorf(format, args...))
	}
	fi, err := os.Stat(location)
	if err != nil {
		return fail("%w", err)
	}
	rootFi, err := d.root.Stat(".")
	if err != nil {
		return fail("%w", err)
	}
	if os.SameFile(fi, rootFi) {
		infos, err := d.List(ctx)
		if err != nil {
			return fail("%w", err)
		}
		if len(infos) == 0 {
			return fail("no completed checkpoint or savepoint in it: %w", ErrNotFound)
		}
		return infos[0], nil
	}
	clean := filepath.Clean(location)
	ref, perr := ParseRef(filepath.Base(clean))
	parentFi, err := os.Stat(filepath.Dir(clean))
	if perr != nil || err != nil || !os.SameFile(parentFi, rootFi) || !fi.IsDir() {
		return fail("neither the checkpoint directory %s nor a chk-<id> or sp-<id> directory in it", d.path)
	}
	m, size, err := d.readMetadata(ref)
	if err != nil {
		return fail("%w", err)
	}
	return Info{Ref: ref, CompletedAt: m.CompletedAt, Size: m.StateSize() + size, Location: d.location(ref)}, nil
}

// Delete implements Storage.
func (d *Dir) Delete(ctx context.Context, ref Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ref.validate(); err != nil {
		return err
	}
	dir := ref.String()
	loc := d.location(ref)
	if _, err := d.root.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, ErrNotFound)
	}
	// The metadata first, durably: from then on the checkpoint is
	// incomplete, and removing the rest cannot leave a complete checkpoint
	// with files missing.
	switch err := d.root.Remove(filepath.Join(dir, metadataName)); {
	case err == nil:
		if err := d.syncDir(dir); err != nil {
			return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	if err := d.failpoint(FailpointDeleteMetadataRemoved); err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	if err := d.root.RemoveAll(dir); err != nil {
		return fmt.Errorf("checkpoint: delete %s: %w", loc, err)
	}
	return nil
}

// Verify checks that every state file the metadata of ref lists is in the
// checkpoint, a regular file of the listed size — what Complete checked
// before writing it, and what may have changed since (a file deleted or
// truncated by hand). Its error names the first file at fault.
func (d *Dir) Verify(ctx context.Context, ref Ref) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := ref.validate(); err != nil {
		return err
	}
	m, _, err := d.readMetadata(ref)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return d.verifyFiles(m)
}

// verifyFiles is Verify on metadata already read.
func (d *Dir) verifyFiles(m *Metadata) error {
	ref := m.Ref()
	for _, op := range m.Operators {
		for i, sf := range op.Subtasks {
			fi, err := d.root.Stat(filepath.Join(ref.String(), sf.Name))
			loc := d.location(ref, sf.Name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("checkpoint: %s is missing; the metadata lists it for operator %q subtask %d: %w", loc, op.ID, i, ErrMissingFile)
			case err != nil:
				return fmt.Errorf("checkpoint: %s: %w", loc, err)
			case !fi.Mode().IsRegular():
				return fmt.Errorf("checkpoint: %s is not a regular file: %w", loc, ErrMissingFile)
			case fi.Size() != sf.Size:
				return fmt.Errorf("checkpoint: %s has %d bytes, the metadata says %d: %w", loc, fi.Size(), sf.Size, ErrMissingFile)
			}
			if err := d.verifyNative(ref, sf.Native); err != nil {
				return fmt.Errorf("checkpoint: %v operator %q subtask %d: %w", ref, op.ID, i, err)
			}
		}
	}
	return nil
}

// verifyNative checks that the native files of a subtask are there with
// their sizes: private ones in the checkpoint, shared ones in the shared
// area.
func (d *Dir) verifyNative(ref Ref, n *NativeState) error {
	if n == nil {
		return nil
	}
	for _, nf := range n.Files {
		if nf.Shared != "" {
			if err := d.checkShared(nf.Shared, nf.Size); err != nil {
				return fmt.Errorf("shared file of %s: %w", nf.Name, err)
			}
			continue
		}
		fi, err := d.root.Stat(filepath.Join(ref.String(), nf.Private))
		loc := d.location(ref, nf.Private)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("%s is missing: %w", loc, ErrMissingFile)
		case err != nil:
			return fmt.Errorf("%s: %w", loc, err)
		case fi.Size() != nf.Size:
			return fmt.Errorf("%s has %d bytes, the metadata says %d: %w", loc, fi.Size(), nf.Size, ErrMissingFile)
		}
	}
	return nil
}

// ErrMissingFile reports a state file a completed checkpoint's metadata
// lists that is not there as written: missing, or of another size.
var ErrMissingFile = errors.New("a state file of a completed checkpoint is not as written")

// Status is what Inspect finds a checkpoint or savepoint directory to be.
type Status uint8

const (
	// Complete: its metadata is valid and every state file it lists is
	// there with its size.
	Complete Status = iota + 1
	// Incomplete: no _metadata yet; being written, abandoned, or left by a
	// crash. No job restores from it.
	Incomplete
	// Broken: a _metadata was written, but it is damaged or unusable by
	// this build, or a state file it lists is missing or of another size.
	Broken
)

// String returns "complete", "incomplete" or "broken".
func (s Status) String() string {
	switch s {
	case Complete:
		return "complete"
	case Incomplete:
		return "incomplete"
	case Broken:
		return "broken"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Entry is one checkpoint or savepoint directory, as Inspect finds it.
type Entry struct {
	Ref    Ref
	Status Status
	// Info is set for a Complete entry, and for a Broken one whose metadata
	// could be read (its state files are what is wrong).
	Info Info
	// Problem says why the entry is Incomplete or Broken.
	Problem error
}

// Inspect returns every checkpoint and savepoint directory under the root
// with what it is: the complete ones newest first (as List), then the
// broken ones, then the incomplete ones, each by kind and ID. Unlike List
// it does not fail on a broken one, and it checks that the state files
// are there: it is for people looking at a directory, not for restoring.
func (d *Dir) Inspect(ctx context.Context) ([]Entry, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", d.path, err)
	}
	names, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", d.path, err)
	}
	var complete, broken, incomplete []Entry
	for _, e := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ref, perr := ParseRef(e.Name())
		if perr != nil || !e.IsDir() {
			continue
		}
		m, size, err := d.readMetadata(ref)
		switch {
		case errors.Is(err, ErrNotFound):
		case errors.Is(err, ErrIncomplete):
			why := errors.New("no _metadata: being written, abandoned, or left by a crash")
			if _, terr := d.root.Stat(filepath.Join(ref.String(), metadataTemp)); terr == nil {
				why = errors.New("only " + metadataTemp + ": the metadata was being written")
			}
			incomplete = append(incomplete, Entry{Ref: ref, Status: Incomplete, Problem: why})
		case err != nil:
			broken = append(broken, Entry{Ref: ref, Status: Broken, Problem: fmt.Errorf("checkpoint: %w", err)})
		default:
			info := Info{Ref: ref, CompletedAt: m.CompletedAt, Size: m.StateSize() + size, Location: d.location(ref)}
			if verr := d.verifyFiles(m); verr != nil {
				broken = append(broken, Entry{Ref: ref, Status: Broken, Info: info, Problem: verr})
			} else {
				complete = append(complete, Entry{Ref: ref, Status: Complete, Info: info})
			}
		}
	}
	slices.SortFunc(complete, func(a, b Entry) int { return newerFirst(a.Info, b.Info) })
	byRef := func(a, b Entry) int { return compareRefs(a.Ref, b.Ref) }
	slices.SortFunc(broken, byRef)
	slices.SortFunc(incomplete, byRef)
	return slices.Concat(complete, broken, incomplete), nil
}

// CheckWritable creates and removes a file in the root, so that a job finds
// a checkpoint directory it cannot write before it reads any record, not
// when its checkpoints have failed as many times as it tolerates.
func (d *Dir) CheckWritable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// One fixed name, truncated if there: a process killed between the
	// create and the remove leaves one file, never one per run.
	const name = ".write-check"
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %s is not writable: %w", d.path, err)
	}
	err = f.Close()
	if rerr := d.root.Remove(name); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %s is not writable: %w", d.path, err)
	}
	return nil
}
