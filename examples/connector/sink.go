package connector

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weirstream/weir"
)

// BatchSink writes records as lines into batch files of a directory,
// exactly once: each subtask writes a hidden file, which becomes a
// transaction at a checkpoint barrier and is committed — renamed to its
// visible name — when the checkpoint completes.
//
//	.open-<subtask>-<run>                   being written
//	.txn-<subtask>-<checkpoint>-<run>       prepared, awaiting its checkpoint
//	batch-<subtask>-<checkpoint>-<run>.txt  committed: the output
//
// run is drawn at random by every writer, so no two runs of a job share a
// name. Readers skip hidden files.
type BatchSink struct{ dir string }

// Batches returns a sink writing batch files into dir.
func Batches(dir string) *BatchSink { return &BatchSink{dir: dir} }

// Open implements weir.Sink. Before it writes, the subtask aborts what
// earlier runs left that the restored checkpoint does not hold: their
// open files, and the transactions prepared for checkpoints after the
// restored one (weir.SinkInfo.RestoredCheckpointID), which will never be
// committed. Subtask 0 also aborts those of subtasks the job no longer has
// (a restore at a lower parallelism, weir.SinkInfo.PreviousParallelism).
func (s *BatchSink) Open(_ context.Context, info weir.SinkInfo) (weir.SinkWriter[string], error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("batches: %w", err)
	}
	if err := s.abort(info); err != nil {
		return nil, err
	}
	var run [8]byte
	if _, err := rand.Read(run[:]); err != nil {
		return nil, fmt.Errorf("batches: %w", err)
	}
	return &batchWriter{dir: s.dir, subtask: info.Subtask, run: hex.EncodeToString(run[:])}, nil
}

func (s *BatchSink) abort(info weir.SinkInfo) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("batches: %w", err)
	}
	mine := func(subtask int) bool {
		return subtask == info.Subtask || (info.Subtask == 0 && subtask >= info.Parallelism)
	}
	for _, e := range entries {
		var doomed bool
		switch f := strings.Split(e.Name(), "-"); {
		case len(f) == 3 && f[0] == ".open":
			sub, err := strconv.Atoi(f[1])
			doomed = err == nil && mine(sub)
		case len(f) == 4 && f[0] == ".txn":
			sub, err1 := strconv.Atoi(f[1])
			id, err2 := strconv.ParseInt(f[2], 10, 64)
			doomed = err1 == nil && err2 == nil && mine(sub) && id > info.RestoredCheckpointID
		}
		if doomed {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("batches: abort: %w", err)
			}
		}
	}
	return nil
}

type batchWriter struct {
	dir     string
	subtask int
	run     string
	f       *os.File
	bw      *bufio.Writer
}

func (w *batchWriter) openName() string { return fmt.Sprintf(".open-%d-%s", w.subtask, w.run) }

// Write implements weir.SinkWriter.
func (w *batchWriter) Write(line string) error {
	if strings.ContainsAny(line, "\n") {
		return fmt.Errorf("batches: the record %q holds a newline", line)
	}
	if w.f == nil {
		f, err := os.OpenFile(filepath.Join(w.dir, w.openName()), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("batches: %w", err)
		}
		w.f, w.bw = f, bufio.NewWriter(f)
	}
	w.bw.WriteString(line)
	return w.bw.WriteByte('\n')
}

// Prepare implements weir.TwoPhaseWriter: the open file, flushed and
// synced, becomes the transaction of checkpoint id; its name is the
// committable. Nothing written since the last barrier gives an empty one.
func (w *batchWriter) Prepare(id int64) ([]byte, error) {
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
	txn := fmt.Sprintf(".txn-%d-%d-%s", w.subtask, id, w.run)
	if err == nil {
		err = os.Rename(filepath.Join(w.dir, w.openName()), filepath.Join(w.dir, txn))
	}
	if err == nil {
		err = syncDir(w.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("batches: prepare checkpoint %d: %w", id, err)
	}
	return []byte(txn), nil
}

// Commit implements weir.TwoPhaseWriter: each transaction is renamed to
// its visible name. A transaction already committed is skipped, so Commit
// may be repeated; one that is gone without having been committed is an
// error, since its records are lost.
func (w *batchWriter) Commit(_ context.Context, committables [][]byte) error {
	for _, c := range committables {
		if len(c) == 0 {
			continue
		}
		txn := string(c)
		rest, ok := strings.CutPrefix(txn, ".txn-")
		if !ok || strings.ContainsAny(rest, `/\`) {
			return fmt.Errorf("batches: %q is not a transaction", txn)
		}
		final := filepath.Join(w.dir, "batch-"+rest+".txt")
		err := os.Rename(filepath.Join(w.dir, txn), final)
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(final); serr == nil {
				continue // committed before
			}
			return fmt.Errorf("batches: transaction %s is gone and was never committed", txn)
		}
		if err != nil {
			return fmt.Errorf("batches: commit: %w", err)
		}
	}
	if err := syncDir(w.dir); err != nil {
		return fmt.Errorf("batches: commit: %w", err)
	}
	return nil
}

// Close implements weir.SinkWriter: what was not prepared is dropped.
func (w *batchWriter) Close() error {
	if w.f == nil {
		return nil
	}
	f := w.f
	w.f = nil
	err := f.Close()
	if rerr := os.Remove(filepath.Join(w.dir, w.openName())); err == nil {
		err = rerr
	}
	return err
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
