package weir

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weirstream/weir/internal/runtime"
)

// The dead-letter output is a directory of part files, written exactly once
// in step with checkpoints by the same two phases as the exactly-once file
// sink (connectors/file): every task (operator chain subtask) appends its
// dead letters to a hidden in-progress file, which the task's checkpoint
// barrier closes, fsyncs and renames to a hidden pending name, and which
// becomes visible when the checkpoint completes. The committables naming the
// pending files go into the checkpoint under the operator ID deadLettersID,
// so a restored job commits what the crashed one prepared and never writes
// the same dead letter twice.
//
//	.part-<task>-<attempt>-<seq>.jsonl.inprogress   being written
//	.part-<task>-<attempt>-<seq>.jsonl.pending      closed and fsynced, awaiting commit
//	part-<task>-<attempt>-<seq>.jsonl               committed
//
// task is the task's index in the job, attempt is drawn at random for every
// run, and seq counts a task's files from 0. Without checkpoints nothing
// can be replayed, so a task commits its file when its input ends and when
// it closes, after a failure too, so that the dead letters of a failed run
// are there to explain it.

// deadLettersID is the operator ID the dead-letter output's committables
// are kept under in checkpoints; user IDs cannot take it (see validate).
const deadLettersID = "weir.dead-letters"

const (
	deadPrefix       = "part-"
	deadExt          = ".jsonl"
	deadInProgress   = ".inprogress"
	deadPending      = ".pending"
	deadAttemptLen   = 16 // hex digits
	deadCommitMagic  = "WDLC"
	deadCommitFormat = 1
)

// DeadLetters sets the dead-letter output: a directory, created if missing,
// of part files of JSON lines, one object per failed record. The job refuses
// a directory that already holds dead letters unless it restores from a
// checkpoint (whose run wrote them) or AppendDeadLetters says to add to
// them. With checkpoints each dead letter is committed exactly once, when
// the checkpoint after it completes, whatever crashed and was restored;
// readers must skip hidden files (names starting with a dot), which are
// not committed yet. The directory layout and the fields of a dead letter
// are described in docs/dead-letters.md.
func DeadLetters(dir string) Option { return optionFunc(func(c *config) { c.deadLetters = dir }) }

// AppendDeadLetters lets the job add dead letters to a directory that holds
// those of earlier runs.
func AppendDeadLetters() Option { return optionFunc(func(c *config) { c.appendDeadLetters = true }) }

// deadLetter is one line of the dead-letter output.
type deadLetter struct {
	Time       time.Time `json:"time"`
	Operator   string    `json:"operator"`
	OperatorID string    `json:"operatorId"`
	Subtask    int       `json:"subtask"`
	Source     string    `json:"source,omitempty"`
	Split      string    `json:"split,omitempty"`
	Line       *int64    `json:"line,omitempty"`
	Offset     *int64    `json:"offset,omitempty"`
	Error      string    `json:"error"`
	Record     any       `json:"record,omitempty"`
	// RecordBase64 holds a text record's bytes, in standard base64, when
	// they are not valid UTF-8, which a JSON string cannot hold: it keeps
	// the record replayable byte for byte.
	RecordBase64 string `json:"recordBase64,omitempty"`
}

// encodeDeadLetter returns l as a JSON line. A record that is text (a
// string, bytes or an encoding.TextMarshaler) is kept as its text, or as
// base64 when the text is not UTF-8; any other record as its JSON, or as
// fmt.Sprint when it has none.
func encodeDeadLetter(l deadLetter) ([]byte, error) {
	var text []byte
	isText := true
	switch r := l.Record.(type) {
	case []byte:
		text = r
	case string:
		text = []byte(r)
	case encoding.TextMarshaler:
		b, err := r.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("record %T: MarshalText: %w", r, err)
		}
		text = b
	default:
		isText = false
		if _, err := json.Marshal(r); err != nil {
			l.Record = fmt.Sprint(r)
		}
	}
	if isText {
		if utf8.Valid(text) {
			l.Record = string(text)
		} else {
			l.Record, l.RecordBase64 = nil, base64.StdEncoding.EncodeToString(text)
		}
	}
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// deadLetterOutput is a job run's dead-letter directory.
type deadLetterOutput struct {
	dir         string
	attempt     string
	checkpoints bool
	tasks       int // in the job: committables are dealt among them on restore
}

// openDeadLetters creates dir if needed and checks that a run may write
// into it: a directory that holds committed dead letters belongs to an
// earlier run, whose dead letters this one would repeat, unless it restores
// (and so goes on from that run) or appends on purpose.
func openDeadLetters(dir string, restoring, appending, checkpoints bool) (*deadLetterOutput, error) {
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("dead letters: %s is a file; the dead-letter output is a directory of part files", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	if !restoring && !appending {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("dead letters: %w", err)
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") {
				return nil, fmt.Errorf("dead letters: %s already holds %s, the output of an earlier run; give an empty directory, restore that run's checkpoint, or append (AppendDeadLetters, --append)", dir, e.Name())
			}
		}
	}
	if err := syncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	var a [deadAttemptLen / 2]byte
	_, _ = rand.Read(a[:])
	out := &deadLetterOutput{dir: dir, attempt: fmt.Sprintf("%x", a), checkpoints: checkpoints}
	if !checkpoints && !restoring {
		// No checkpoint of this run will complete to trigger the cleanup
		// of earlier runs' hidden files, and nothing is restored from
		// them: remove them now, before any task writes.
		w := &deadLetterWriter{out: out}
		if err := w.cleanup(); err != nil {
			return nil, fmt.Errorf("dead letters: removing files of earlier runs: %w", err)
		}
	}
	return out, nil
}

// deadLetterCommittable names the pending files a task prepared. It is
// stored as "WDLC", a format byte, its JSON and a big-endian CRC-32C of
// all that.
type deadLetterCommittable struct {
	Attempt    string         `json:"attempt"`
	Task       int            `json:"task"`
	Checkpoint int64          `json:"checkpoint"`
	Files      []deadLetterPF `json:"files"`
}

// deadLetterPF is a pending file: its visible name and size.
type deadLetterPF struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

var deadCRC = crc32.MakeTable(crc32.Castagnoli)

func (c deadLetterCommittable) encode() []byte {
	body, _ := json.Marshal(c) // strings and numbers only
	b := append([]byte(deadCommitMagic), deadCommitFormat)
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, deadCRC))
}

func decodeDeadLetterCommittable(b []byte) (deadLetterCommittable, error) {
	var c deadLetterCommittable
	head := len(deadCommitMagic) + 1
	if len(b) < head+4 || !bytes.HasPrefix(b, []byte(deadCommitMagic)) {
		return c, errors.New("not a dead-letter committable")
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, deadCRC); got != sum {
		return c, fmt.Errorf("dead-letter committable checksum %08x does not match its contents (%08x): it is corrupt", sum, got)
	}
	if v := b[len(deadCommitMagic)]; v != deadCommitFormat {
		return c, fmt.Errorf("dead-letter committable format %d is not supported (this version reads %d)", v, deadCommitFormat)
	}
	if err := json.Unmarshal(body[head:], &c); err != nil {
		return c, fmt.Errorf("dead-letter committable: %w", err)
	}
	for _, f := range c.Files {
		if !strings.HasPrefix(f.Name, deadPrefix) || strings.ContainsAny(f.Name, `/\`+"\x00") || f.Size <= 0 {
			return c, fmt.Errorf("dead-letter committable names %q (%d bytes): not a dead-letter part file", f.Name, f.Size)
		}
	}
	return c, nil
}

// deadLetterWriter is the dead-letter output of one task, the last operator
// of its chain: the chain's operators write to it on the task goroutine,
// and it takes part in checkpoints like a two-phase sink.
type deadLetterWriter struct {
	out      *deadLetterOutput
	task     int // the task's index in the job
	restored [][]byte

	seq     int64
	f       *os.File
	bw      *bufio.Writer
	name    string // visible name of the open file
	size    int64
	pending []prepared // prepared, not yet known to be committed

	prepared bool // a Snapshot has run, so a later commit proves every task is past its restore
	cleaned  bool
	closed   bool
	failed   error
}

var (
	_ runtime.Operator           = (*deadLetterWriter)(nil)
	_ runtime.Stateful           = (*deadLetterWriter)(nil)
	_ runtime.CheckpointListener = (*deadLetterWriter)(nil)
)

func (w *deadLetterWriter) Name() string              { return "dead letters" }
func (w *deadLetterWriter) OnWatermark(_ int64) error { return nil }

// Open commits the files the restored checkpoint prepared: the crashed run
// may have stopped before it committed them, and committing is idempotent.
func (w *deadLetterWriter) Open(context.Context) error {
	if len(w.restored) == 0 {
		return nil
	}
	return w.commit(w.restored)
}

// write appends one dead letter to the task's in-progress file.
func (w *deadLetterWriter) write(l deadLetter) error {
	if w.closed {
		return errors.New("dead letters: written after the task closed its output")
	}
	if w.failed != nil {
		return w.failed
	}
	b, err := encodeDeadLetter(l)
	if err != nil {
		return err
	}
	if w.f == nil {
		if err := w.create(); err != nil {
			return err
		}
	}
	if _, err := w.bw.Write(b); err != nil {
		w.failed = fmt.Errorf("dead letters: write %s: %w", w.hidden(deadInProgress), err)
		return w.failed
	}
	w.size += int64(len(b))
	return nil
}

func (w *deadLetterWriter) create() error {
	for {
		w.name = deadPrefix + strconv.Itoa(w.task) + "-" + w.out.attempt + "-" + strconv.FormatInt(w.seq, 10) + deadExt
		w.seq++
		f, err := os.OpenFile(w.hidden(deadInProgress), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		w.f, w.bw, w.size = f, bufio.NewWriterSize(f, 16<<10), 0
		return nil
	}
}

func (w *deadLetterWriter) hidden(suffix string) string {
	return filepath.Join(w.out.dir, "."+w.name+suffix)
}

// roll closes the open file, makes it durable and gives it its pending
// name; it returns the file, or nothing when none is open.
func (w *deadLetterWriter) roll() ([]deadLetterPF, error) {
	if w.f == nil {
		return nil, nil
	}
	f := w.f
	w.f = nil
	err := w.bw.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.hidden(deadInProgress), w.hidden(deadPending))
	}
	if err == nil {
		err = syncDir(w.out.dir)
	}
	if err != nil {
		w.failed = fmt.Errorf("dead letters: close %s: %w", w.hidden(deadInProgress), err)
		return nil, w.failed
	}
	return []deadLetterPF{{Name: w.name, Size: w.size}}, nil
}

// Snapshot implements runtime.Stateful: it prepares the dead letters
// written since the last barrier and returns the committables of every
// checkpoint not yet known to be committed.
func (w *deadLetterWriter) Snapshot(_ context.Context, id int64, _ bool) (runtime.OperatorState, error) {
	if w.failed != nil {
		return runtime.OperatorState{}, w.failed
	}
	files, err := w.roll()
	if err != nil {
		return runtime.OperatorState{}, err
	}
	w.prepared = true
	if len(files) > 0 {
		c := deadLetterCommittable{Attempt: w.out.attempt, Task: w.task, Checkpoint: id, Files: files}
		w.pending = append(w.pending, prepared{id: id, committable: c.encode()})
	}
	st := runtime.OperatorState{Committables: make([][]byte, len(w.pending))}
	for i, p := range w.pending {
		st.Committables[i] = p.committable
	}
	return st, nil
}

// CheckpointComplete implements runtime.CheckpointListener: it commits what
// was prepared for checkpoint id and the ones before it. The first task
// then removes the hidden files of earlier runs: a completed checkpoint of
// this run proves every task has committed what it restored.
func (w *deadLetterWriter) CheckpointComplete(_ context.Context, id int64) error {
	n := 0
	for n < len(w.pending) && w.pending[n].id <= id {
		n++
	}
	cs := make([][]byte, n)
	for i, p := range w.pending[:n] {
		cs[i] = p.committable
	}
	if err := w.commit(cs); err != nil {
		return err
	}
	w.pending = w.pending[n:]
	if w.task == 0 && w.prepared && !w.cleaned {
		if err := w.cleanup(); err != nil {
			return fmt.Errorf("dead letters: removing files of earlier runs: %w", err)
		}
		w.cleaned = true
	}
	return nil
}

// commit renames every pending file the committables name to its visible
// name. A file already visible with its recorded size was committed
// before; one that is neither pending nor visible is an error naming it.
func (w *deadLetterWriter) commit(committables [][]byte) error {
	if len(committables) == 0 {
		return nil
	}
	for i, b := range committables {
		c, err := decodeDeadLetterCommittable(b)
		if err != nil {
			return fmt.Errorf("dead letters %s: committable %d of %d: %w", w.out.dir, i+1, len(committables), err)
		}
		for _, f := range c.Files {
			if err := w.commitFile(f); err != nil {
				return fmt.Errorf("dead letters %s: commit of checkpoint %d (task %d, run %s): %w", w.out.dir, c.Checkpoint, c.Task, c.Attempt, err)
			}
		}
	}
	if err := syncDir(w.out.dir); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	return nil
}

func (w *deadLetterWriter) commitFile(f deadLetterPF) error {
	visible := filepath.Join(w.out.dir, f.Name)
	pending := filepath.Join(w.out.dir, "."+f.Name+deadPending)
	pi, perr := os.Lstat(pending)
	vi, verr := os.Lstat(visible)
	switch {
	case perr == nil && verr == nil:
		return fmt.Errorf("%s is pending but %s exists already; not overwriting it", pending, visible)
	case perr == nil:
		if pi.Size() != f.Size {
			return fmt.Errorf("%s has %d bytes, but %d were prepared", pending, pi.Size(), f.Size)
		}
		return os.Rename(pending, visible)
	case verr == nil:
		if vi.Size() != f.Size {
			return fmt.Errorf("%s has %d bytes, but %d were prepared", visible, vi.Size(), f.Size)
		}
		return nil
	case !errors.Is(perr, fs.ErrNotExist):
		return perr
	case !errors.Is(verr, fs.ErrNotExist):
		return verr
	}
	return fmt.Errorf("neither %s nor its pending file %s exists: its dead letters are lost", visible, pending)
}

// cleanup removes the hidden part files of other runs: in-progress files
// and pending ones no completed checkpoint named.
func (w *deadLetterWriter) cleanup() error {
	ents, err := os.ReadDir(w.out.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		a, ok := deadHiddenAttempt(e.Name())
		if !ok || a == w.out.attempt || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(w.out.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// deadHiddenAttempt returns the run of a hidden dead-letter part file's
// name, and false for any other name.
func deadHiddenAttempt(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "."+deadPrefix)
	if !ok {
		return "", false
	}
	if r, ok := strings.CutSuffix(rest, deadExt+deadInProgress); ok {
		rest = r
	} else if r, ok := strings.CutSuffix(rest, deadExt+deadPending); ok {
		rest = r
	} else {
		return "", false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || len(parts[1]) != deadAttemptLen {
		return "", false
	}
	return parts[1], true
}

// EndInput commits the dead letters of a job without checkpoints: it is
// the chain's last operator, so nothing writes after it.
func (w *deadLetterWriter) EndInput() error {
	if w.out.checkpoints {
		return nil
	}
	return w.commitUnchecked()
}

// commitUnchecked makes the open file visible at once.
func (w *deadLetterWriter) commitUnchecked() error {
	files, err := w.roll()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := w.commitFile(f); err != nil {
			return fmt.Errorf("dead letters %s: %w", w.out.dir, err)
		}
	}
	if len(files) > 0 {
		return syncDir(w.out.dir)
	}
	return nil
}

// Close ends the task's output. With checkpoints, what no barrier prepared
// is discarded (a restore writes it again) and pending files stay for the
// commit of a restored run; without, what was written is committed, since
// no run will write it again from a checkpoint.
func (w *deadLetterWriter) Close() error {
	if w.closed {
		return nil
	}
	if !w.out.checkpoints && w.failed == nil {
		err := w.commitUnchecked()
		w.closed = true
		return err
	}
	w.closed = true
	if w.f == nil {
		return nil
	}
	_ = w.f.Close() // its contents are discarded
	w.f = nil
	if err := os.Remove(w.hidden(deadInProgress)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dead letters: %w", err)
	}
	return nil
}

func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
