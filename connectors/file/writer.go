package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir"
)

// Writer is the writer of one sink subtask. The runtime calls it from its
// task's goroutine only; it is not safe for concurrent use.
type Writer[T any] struct {
	cfg     *Config[T]
	attempt string
	subtask int
	root    *os.Root // the base directory; nothing is written outside it

	seq     int64                   // of the next part file
	open    map[string]*partFile[T] // the in-progress file of each directory
	nextDue time.Time               // when the oldest open file is due to roll; zero when none is open
	rolled  []pendingFile           // made pending since the last Prepare

	havePrepared   bool
	lastCheckpoint int64

	made    map[string]bool // directories this writer has created
	synced  map[string]bool // directories whose entries, up to the base, this writer has fsynced
	cleaned bool            // whether subtask 0 has removed the leftovers of other attempts

	failed error // a failed write or roll: the files' contents are unknown, so Write and Prepare fail
	closed bool
}

var (
	_ weir.SinkWriter[int]      = (*Writer[int])(nil)
	_ weir.TwoPhaseWriter       = (*Writer[int])(nil)
	_ weir.EventTimeWriter[int] = (*Writer[int])(nil)
)

// partFile is an in-progress part file.
type partFile[T any] struct {
	dir, name string // its directory and visible name
	f         *os.File
	bw        *bufio.Writer
	cw        countingWriter // writes to bw
	enc       FileEncoder[T]
	records   int
	size      int64
	opened    time.Time
}

// countingWriter counts the bytes written through it and keeps the first
// error, which tells a failed write of the file from a record the encoder
// could not encode.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

// updateSize sets the size RollSize is measured against.
func (pf *partFile[T]) updateSize() {
	pf.size = pf.cw.n
	if s, ok := pf.enc.(sizer); ok {
		pf.size = max(pf.size, s.Size())
	}
}

const bufferSize = 32 << 10

// Write implements weir.SinkWriter; it is WriteEventTime without an event
// time.
func (w *Writer[T]) Write(v T) error { return w.WriteEventTime(v, time.Time{}) }

// WriteEventTime implements weir.EventTimeWriter: it appends v to the
// in-progress file of its directory, opening one if needed, and rolls files
// that are due. ts is the record's event time (the zero Time for none),
// which only EventTimeBuckets uses.
func (w *Writer[T]) WriteEventTime(v T, ts time.Time) error {
	if err := w.usable(); err != nil {
		return err
	}
	dir, err := w.dirOf(v, ts)
	if err != nil {
		return err
	}
	now := w.cfg.Now()
	if !w.nextDue.IsZero() && !now.Before(w.nextDue) {
		if err := w.rollDue(now); err != nil {
			return w.fail(err)
		}
	}
	pf := w.open[dir]
	if pf == nil {
		// A file that could not be made leaves nothing half-written, so
		// unlike the errors below this one does not stop the writer.
		if pf, err = w.create(dir, now); err != nil {
			return fmt.Errorf("file sink %s: new part file in %q: %w", w.cfg.Dir, dir, err)
		}
	}
	err = pf.enc.Encode(v)
	if pf.cw.err != nil {
		return w.fail(fmt.Errorf("write %s: %w", join(pf.dir, inProgressName(pf.name)), pf.cw.err))
	}
	if err != nil {
		return fmt.Errorf("file sink %s: %w", w.cfg.Dir, err)
	}
	pf.records++
	pf.updateSize()
	if pf.size >= w.cfg.RollSize {
		if err := w.roll(pf); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

// dirOf returns the directory of v, relative to the base, checked.
func (w *Writer[T]) dirOf(v T, ts time.Time) (string, error) {
	var dir string
	if w.cfg.Partition != nil {
		dir = w.cfg.Partition(v)
	}
	if w.cfg.EventTimeBuckets != "" {
		if ts.IsZero() {
			return "", fmt.Errorf("file sink %s: a record has no event time, which EventTimeBuckets needs (give the source an EventTime)", w.cfg.Dir)
		}
		b := ts.UTC().Format(w.cfg.EventTimeBuckets)
		if dir == "" {
			dir = b
		} else {
			dir += "/" + b
		}
	}
	if _, ok := w.open[dir]; ok { // checked when it was opened
		return dir, nil
	}
	if err := checkDir(dir); err != nil {
		return "", fmt.Errorf("file sink %s: partition: %w", w.cfg.Dir, err)
	}
	return dir, nil
}

// create opens a new in-progress file in dir. The name is checked against
// visible and pending files too, so a Sink value reused for a second run
// (which it should not be) still never overwrites output.
func (w *Writer[T]) create(dir string, now time.Time) (*partFile[T], error) {
	if !w.made[dir] {
		if dir != "" {
			if err := w.root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
				return nil, err
			}
		}
		w.made[dir] = true
	}
	for {
		name := partName(w.subtask, w.attempt, w.seq, w.cfg.Ext)
		w.seq++
		taken, err := w.exists(join(dir, name), join(dir, pendingName(name)))
		if err != nil {
			return nil, err
		}
		if taken {
			continue
		}
		f, err := w.root.OpenFile(join(dir, inProgressName(name)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		pf := &partFile[T]{dir: dir, name: name, f: f, bw: bufio.NewWriterSize(f, bufferSize), opened: now}
		pf.cw.w = pf.bw
		if pf.enc, err = w.cfg.Encoding.NewFile(&pf.cw); err == nil {
			err = pf.cw.err
		}
		if err != nil {
			_ = f.Close()
			_ = w.remove(join(dir, inProgressName(name)))
			return nil, err
		}
		pf.updateSize()
		w.open[dir] = pf
		if due := now.Add(w.cfg.RollInterval); w.nextDue.IsZero() || due.Before(w.nextDue) {
			w.nextDue = due
		}
		return pf, nil
	}
}

func (w *Writer[T]) exists(names ...string) (bool, error) {
	for _, n := range names {
		_, err := w.root.Lstat(n)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return false, nil
}

// roll closes pf, makes it durable and renames it to its pending name. The
// rename is made durable by the directory fsync of the next Prepare.
func (w *Writer[T]) roll(pf *partFile[T]) error {
	delete(w.open, pf.dir)
	inProgress := join(pf.dir, inProgressName(pf.name))
	if pf.records == 0 {
		// Every record of it failed to encode: no file, rather than an
		// empty one.
		_ = pf.f.Close()
		if err := w.remove(inProgress); err != nil {
			return fmt.Errorf("roll %s: %w", inProgress, err)
		}
		return nil
	}
	err := pf.enc.Close()
	if err == nil {
		err = pf.cw.err
	}
	if err == nil {
		err = pf.bw.Flush()
	}
	if err == nil {
		err = pf.f.Sync()
	}
	if cerr := pf.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.root.Rename(inProgress, join(pf.dir, pendingName(pf.name)))
	}
	if err != nil {
		return fmt.Errorf("roll %s: %w", inProgress, err)
	}
	w.rolled = append(w.rolled, pendingFile{Dir: pf.dir, Name: pf.name, Size: pf.cw.n})
	return nil
}

// rollDue rolls every open file opened RollInterval or longer before now.
func (w *Writer[T]) rollDue(now time.Time) error {
	w.nextDue = time.Time{}
	for _, dir := range slices.Sorted(maps.Keys(w.open)) {
		pf := w.open[dir]
		if due := pf.opened.Add(w.cfg.RollInterval); now.Before(due) {
			if w.nextDue.IsZero() || due.Before(w.nextDue) {
				w.nextDue = due
			}
			continue
		}
		if err := w.roll(pf); err != nil {
			return err
		}
	}
	return nil
}

// Prepare implements weir.TwoPhaseWriter. It rolls every open file, fsyncs
// the directories of the pending files, and returns a committable naming
// exactly the files made pending since the previous Prepare. Checkpoint IDs
// must increase from one Prepare to the next.
func (w *Writer[T]) Prepare(checkpointID int64) ([]byte, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if w.havePrepared && checkpointID <= w.lastCheckpoint {
		return nil, fmt.Errorf("file sink %s: Prepare(%d) after Prepare(%d): checkpoint IDs must increase", w.cfg.Dir, checkpointID, w.lastCheckpoint)
	}
	for _, dir := range slices.Sorted(maps.Keys(w.open)) {
		if err := w.roll(w.open[dir]); err != nil {
			return nil, w.fail(err)
		}
	}
	w.nextDue = time.Time{}
	files := w.rolled
	dirs := map[string]bool{}
	for _, f := range files {
		dirs[f.Dir] = true
	}
	for _, dir := range slices.Sorted(maps.Keys(dirs)) {
		if err := w.syncTree(dir); err != nil {
			return nil, w.fail(err)
		}
	}
	w.rolled = nil
	c := committableV1{Attempt: w.attempt, Subtask: w.subtask, Checkpoint: checkpointID, Files: files}
	w.havePrepared, w.lastCheckpoint = true, checkpointID
	return encodeCommittable(c), nil
}

// syncTree fsyncs dir, and the first time it sees dir, its ancestors up to
// the base, so that a new directory's entry is as durable as the files in
// it.
func (w *Writer[T]) syncTree(dir string) error {
	if err := w.syncDir(dir); err != nil {
		return err
	}
	for d := dir; d != "" && !w.synced[d]; {
		parent := path.Dir(d)
		if parent == "." {
			parent = ""
		}
		if err := w.syncDir(parent); err != nil {
			return err
		}
		w.synced[d] = true
		d = parent
	}
	return nil
}

func (w *Writer[T]) syncDir(dir string) error {
	name := "."
	if dir != "" {
		name = filepath.FromSlash(dir)
	}
	d, err := w.root.Open(name)
	if err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %q: %w", name, err)
	}
	return nil
}

// Commit implements weir.TwoPhaseWriter: it renames every pending file the
// committables name to its visible name and fsyncs their directories. A
// file already visible with the recorded size (and no longer pending) was
// committed before and is skipped; a file that is neither pending nor
// visible is an error naming it. Subtask 0's first Commit after its first
// Prepare also removes the hidden files of other attempts.
func (w *Writer[T]) Commit(ctx context.Context, committables [][]byte) error {
	if w.closed {
		return fmt.Errorf("file sink %s: Commit after Close", w.cfg.Dir)
	}
	cs := make([]committableV1, 0, len(committables))
	for i, b := range committables {
		c, err := decodeCommittable(b)
		if err != nil {
			return fmt.Errorf("file sink %s: committable %d of %d: %w", w.cfg.Dir, i+1, len(committables), err)
		}
		cs = append(cs, c)
	}
	if w.cfg.CommitLog {
		if err := w.logCommits(cs); err != nil {
			return fmt.Errorf("file sink %s: commit log: %w", w.cfg.Dir, err)
		}
	}
	touched := map[string]bool{}
	err := w.commitAll(ctx, cs, touched)
	// Renames done before a failure are made durable too, so the files
	// stay where the next, idempotent, attempt expects them.
	for _, dir := range slices.Sorted(maps.Keys(touched)) {
		if serr := w.syncDir(dir); serr != nil && err == nil {
			err = fmt.Errorf("file sink %s: commit: %w", w.cfg.Dir, serr)
		}
	}
	if err != nil {
		return err
	}
	if w.subtask == 0 && w.havePrepared && !w.cleaned {
		if err := w.cleanup(); err != nil {
			return fmt.Errorf("file sink %s: removing files of earlier attempts: %w", w.cfg.Dir, err)
		}
		w.cleaned = true
	}
	return nil
}

func (w *Writer[T]) commitAll(ctx context.Context, cs []committableV1, touched map[string]bool) error {
	seen := map[pendingFile]bool{}
	for _, c := range cs {
		for _, f := range c.Files {
			if seen[f] {
				continue
			}
			seen[f] = true
			if err := ctx.Err(); err != nil {
				return err
			}
			renamed, err := w.commitFile(f)
			if renamed {
				touched[f.Dir] = true
				if w.cfg.Committed != nil {
					w.cfg.Committed(f.path())
				}
			}
			if err != nil {
				return fmt.Errorf("file sink %s: commit of checkpoint %d (subtask %d, attempt %s): %w",
					w.cfg.Dir, c.Checkpoint, c.Subtask, c.Attempt, err)
			}
		}
	}
	return nil
}

func (w *Writer[T]) commitFile(f pendingFile) (renamed bool, err error) {
	visible, pending := f.path(), join(f.Dir, pendingName(f.Name))
	pi, perr := w.root.Lstat(pending)
	vi, verr := w.root.Lstat(visible)
	switch {
	case perr != nil && !errors.Is(perr, fs.ErrNotExist):
		return false, perr
	case verr != nil && !errors.Is(verr, fs.ErrNotExist):
		return false, verr
	case perr == nil && verr == nil:
		return false, fmt.Errorf("%s is pending but %s exists already; not overwriting it", pending, visible)
	case perr == nil:
		if pi.Size() != f.Size {
			return false, fmt.Errorf("%s has %d bytes, but %d were prepared", pending, pi.Size(), f.Size)
		}
		if err := w.root.Rename(pending, visible); err != nil {
			return false, err
		}
		return true, nil
	case verr == nil: // committed before
		if vi.Size() != f.Size {
			return false, fmt.Errorf("%s has %d bytes, but %d were prepared", visible, vi.Size(), f.Size)
		}
		return false, nil
	default:
		return false, fmt.Errorf("neither %s nor its pending file %s exists: its records are lost", visible, pending)
	}
}

// cleanup removes the hidden part files of attempts other than this one.
func (w *Writer[T]) cleanup() error {
	return fs.WalkDir(w.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != "." && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			if p != "." && d.Name()[0] == '.' {
				return fs.SkipDir // never ours
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if a, ok := hiddenAttempt(d.Name()); !ok || a == w.attempt {
			return nil
		}
		if err := w.root.Remove(filepath.FromSlash(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

// Close implements weir.SinkWriter. It discards what no Prepare has handed
// out: the in-progress files and the files rolled since the last Prepare,
// which no checkpoint can name. Files named by a committable stay pending
// until a Commit, perhaps that of a restored job, makes them visible.
func (w *Writer[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var errs []error
	for _, dir := range slices.Sorted(maps.Keys(w.open)) {
		pf := w.open[dir]
		_ = pf.f.Close() // its contents are discarded
		errs = append(errs, w.remove(join(pf.dir, inProgressName(pf.name))))
	}
	clear(w.open)
	for _, f := range w.rolled {
		errs = append(errs, w.remove(join(f.Dir, pendingName(f.Name))))
	}
	w.rolled = nil
	errs = append(errs, w.root.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("file sink %s: close: %w", w.cfg.Dir, err)
	}
	return nil
}

func (w *Writer[T]) remove(name string) error {
	if err := w.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (w *Writer[T]) usable() error {
	if w.closed {
		return fmt.Errorf("file sink %s: writer is closed", w.cfg.Dir)
	}
	return w.failed
}

func (w *Writer[T]) fail(err error) error {
	w.failed = fmt.Errorf("file sink %s: %w", w.cfg.Dir, err)
	return w.failed
}

// CommitLogName starts the names of the commit logs (Config.CommitLog).
const CommitLogName = ".commits"

// logCommits appends the files cs commit to the subtask's commit log and
// makes it durable, before any of them is renamed: a file is visible only
// once its line is in the log. A line may name a file committed before
// (a restore commits again); readers take the lowest checkpoint.
func (w *Writer[T]) logCommits(cs []committableV1) error {
	var b strings.Builder
	for _, c := range cs {
		for _, f := range c.Files {
			fmt.Fprintf(&b, "%d %s\n", c.Checkpoint, path.Join(f.Dir, f.Name))
		}
	}
	if b.Len() == 0 {
		return nil
	}
	f, err := w.root.OpenFile(CommitLogName+"-"+strconv.Itoa(w.subtask), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
