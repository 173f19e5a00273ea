package weir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/failpoint"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// checkpointStore writes a job's checkpoints into a checkpoint.Store (a
// directory, or S3): one
// state file per operator subtask with a state backend, and the metadata,
// which also carries the source positions and the sinks' committables under
// the "operators" key of its job data.
//
// It keeps nothing of its own between calls (the state files' sizes come
// back in the completed checkpoint), and Stores are safe for concurrent use, so
// the coordinator's writers call WriteState concurrently, for different
// subtasks.
type checkpointStore struct {
	dir    checkpoint.Store
	plan   *plan
	retain int
	// files is what incremental checkpoints keep (checkpoint_native.go).
	files nativeFiles
}

// jobOperators is the job data of a checkpoint: what operators keep outside
// state files.
type jobOperator struct {
	Name         string               `json:"name"`
	Parallelism  int                  `json:"parallelism"`
	Splits       []runtime.SplitState `json:"splits,omitempty"`
	Committables [][]byte             `json:"committables,omitempty"`
	// Enumerator is a discovering source's split enumerator.
	Enumerator *runtime.EnumeratorState `json:"enumerator,omitempty"`
}

const (
	jobOperatorsKey  = "operators"
	jobParametersKey = "parameters" // InputParameters, a JSON object
)

// openCheckpointStore opens the job's checkpoint storage at location, a
// directory (created when missing) or s3://bucket/prefix, and checks that
// it can write there before the job reads any record.
func openCheckpointStore(ctx context.Context, location string, p *plan) (*checkpointStore, error) {
	if !checkpoint.IsS3URL(location) {
		if err := os.MkdirAll(location, 0o755); err != nil {
			return nil, fmt.Errorf("checkpoints: %w", err)
		}
	}
	d, err := checkpoint.Open(location)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	if err := d.CheckWritable(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	hit := func(name string) error {
		failpoint.Hit(name)
		return nil
	}
	switch d := d.(type) {
	case *checkpoint.Dir:
		d.Failpoints = hit
	case *checkpoint.S3:
		d.Failpoints = hit
	}
	return &checkpointStore{dir: d, plan: p, retain: p.cfg.checkpoint.retain}, nil
}

// lastID returns the highest checkpoint or savepoint ID in the directory,
// complete or not, so that a new run never reuses one; checkpoints and
// savepoints share one sequence.
func (s *checkpointStore) lastID(ctx context.Context) (int64, error) {
	if s == nil {
		return 0, nil
	}
	// Inspect, not List: a damaged checkpoint, which makes List fail, must
	// not keep a job that restores an explicitly chosen older one from
	// starting, and its ID is taken all the same.
	var last int64
	entries, err := s.dir.Inspect(ctx)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		last = max(last, e.Ref.ID)
	}
	return last, nil
}

func (s *checkpointStore) close() error {
	if s == nil {
		return nil
	}
	return s.dir.Close()
}

// WriteState implements runtime.CheckpointStore. A canceled ctx stops the
// write at the snapshot's next piece. A write that fails or is canceled
// gives its file up without syncing it (checkpoint.Abort): its checkpoint
// fails and is discarded, and syncing a large partial file would only
// delay that.
func (s *checkpointStore) WriteState(ctx context.Context, id int64, savepoint bool, st runtime.OperatorState) (string, int64, error) {
	if fs, ok := st.State.(state.FileSnapshot); ok && !savepoint {
		// A storage without a shared area (not Dir or S3) gets the full
		// snapshot, which a file snapshot writes too.
		if shared, ok := s.dir.(checkpoint.SharedStorage); ok {
			return s.writeNative(ctx, id, st, fs, shared)
		}
	}
	name := checkpoint.StateFileName(st.OperatorID, st.Subtask)
	w, err := s.dir.Create(ctx, ref(id, savepoint), name)
	if err != nil {
		return "", 0, err
	}
	n, err := state.WriteOnce(st.State, &canceledWriter{w: w, done: ctx.Done(), err: ctx.Err})
	if err == nil {
		// Canceled after the last piece: the checkpoint is given up all
		// the same.
		err = ctx.Err()
	}
	if err != nil {
		checkpoint.Abort(w) // the discard removes what is left
		return "", 0, err
	}
	if err := w.Close(); err != nil {
		return "", 0, err
	}
	return name, n, nil
}

// canceledWriter fails writes once its context is canceled. A snapshot is
// written in small pieces, so it checks a channel, not ctx.Err, which
// takes a lock.
type canceledWriter struct {
	w    io.Writer
	done <-chan struct{}
	err  func() error // the context's Err
}

func (c *canceledWriter) Write(p []byte) (int, error) {
	select {
	case <-c.done:
		return 0, c.err()
	default:
	}
	return c.w.Write(p)
}

// Complete implements runtime.CheckpointStore.
func (s *checkpointStore) Complete(ctx context.Context, c runtime.CompletedCheckpoint) error {
	kind := checkpoint.KindCheckpoint
	if c.Savepoint {
		kind = checkpoint.KindSavepoint
	}
	m := &checkpoint.Metadata{
		FormatVersion:  checkpoint.FormatVersion,
		Kind:           kind,
		ID:             c.ID,
		CompletedAt:    c.Time,
		MaxParallelism: s.plan.cfg.maxParallelism,
	}
	parallelism := map[string]int{}
	names := map[string]string{}
	for _, v := range s.plan.vertices {
		for _, n := range v.nodes {
			parallelism[n.id], names[n.id] = n.parallelism, n.displayName()
		}
	}
	if s.plan.dead != nil {
		parallelism[deadLettersID], names[deadLettersID] = s.plan.dead.tasks, "dead letters"
	}
	files := map[string][]checkpoint.StateFile{}
	ops := map[string]*jobOperator{}
	var order []string
	for _, w := range c.States {
		op := ops[w.OperatorID]
		if op == nil {
			op = &jobOperator{Name: names[w.OperatorID], Parallelism: parallelism[w.OperatorID]}
			ops[w.OperatorID] = op
			order = append(order, w.OperatorID)
		}
		op.Splits = append(op.Splits, w.Splits...)
		op.Committables = append(op.Committables, w.Committables...)
		if w.Enumerator != nil {
			op.Enumerator = w.Enumerator
		}
		if w.File != "" {
			if files[w.OperatorID] == nil {
				files[w.OperatorID] = make([]checkpoint.StateFile, op.Parallelism)
			}
			files[w.OperatorID][w.Subtask] = checkpoint.StateFile{Name: w.File, Size: w.Size, Native: s.native(c.ID, w.OperatorID, w.Subtask)}
		}
	}
	for _, id := range order {
		if fs := files[id]; fs != nil {
			m.Operators = append(m.Operators, checkpoint.Operator{ID: id, Name: ops[id].Name, Parallelism: len(fs), Subtasks: fs})
		}
	}
	data, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	m.Job = map[string][]byte{jobOperatorsKey: data}
	if m.SharedNames() != nil || hasNative(m) {
		m.FormatVersion = checkpoint.FormatVersionShared
	}
	if params := s.plan.cfg.checkpoint.params; len(params) > 0 {
		if m.Job[jobParametersKey], err = json.Marshal(params); err != nil {
			return err
		}
	}
	if err := s.dir.Complete(ctx, m); err != nil {
		return err
	}
	if !c.Savepoint {
		s.present(m)
	}
	// The checkpoint is complete whatever happens to the cleanup; a failed
	// cleanup is retried after the next checkpoint.
	_ = checkpoint.RetainFor(ctx, s.dir, s.retain, s.plan.cfg.checkpoint.retainFor, time.Now())
	return nil
}

// Discard implements runtime.CheckpointStore.
func (s *checkpointStore) Discard(ctx context.Context, id int64, savepoint bool) error {
	s.discardShared(ctx, id)
	err := s.dir.Delete(ctx, ref(id, savepoint))
	if errors.Is(err, checkpoint.ErrNotFound) {
		return nil
	}
	return err
}

// fallbackHint explains, after an error that a damaged checkpoint causes
// when the newest one is looked for, why Weir does not take an older one
// and how to.
func fallbackHint(err error) string {
	if !errors.Is(err, checkpoint.ErrCorrupt) {
		return ""
	}
	return "; Weir does not fall back to an older checkpoint by itself: output committed after it would be written again. " +
		"Restore one by its path if that is what you want, or move the damaged one away"
}

func ref(id int64, savepoint bool) checkpoint.Ref {
	if savepoint {
		return checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: id}
	}
	return checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id}
}

// loadCheckpoint reads the checkpoint or savepoint a job restores from:
// "latest" in the job's checkpoint storage, or a location (a path or an
// s3:// URL).
func loadCheckpoint(ctx context.Context, from string, store *checkpointStore) (*restoredCheckpoint, func() error, error) {
	var (
		storage checkpoint.Store
		info    checkpoint.Info
		closer  = func() error { return nil }
		err     error
	)
	if from == "latest" {
		storage = store.dir
		if info, err = checkpoint.Latest(ctx, store.dir); err != nil {
			return nil, nil, fmt.Errorf("restore latest from %s: %w%s", store.dir.Location(), err, fallbackHint(err))
		}
	} else {
		d, in, err := checkpoint.OpenLocation(ctx, from)
		if err != nil {
			return nil, nil, fmt.Errorf("restore: %w%s", err, fallbackHint(err))
		}
		storage, info, closer = d, in, d.Close
	}
	m, err := storage.ReadMetadata(ctx, info.Ref)
	if err == nil {
		// Before any task opens: a state file deleted by hand fails the
		// restore here, naming it, not halfway through opening subtasks.
		err = storage.Verify(ctx, info.Ref)
	}
	if err != nil {
		closer()
		return nil, nil, fmt.Errorf("restore %s: %w", info.Location, err)
	}
	ops := map[string]*jobOperator{}
	if data, ok := m.Job[jobOperatorsKey]; ok {
		if err := json.Unmarshal(data, &ops); err != nil {
			closer()
			return nil, nil, fmt.Errorf("restore %s: operators: %w", info.Location, err)
		}
	}
	var params map[string]string
	if data, ok := m.Job[jobParametersKey]; ok {
		if err := json.Unmarshal(data, &params); err != nil {
			closer()
			return nil, nil, fmt.Errorf("restore %s: parameters: %w", info.Location, err)
		}
	}
	ref := info.Ref
	rc := &restoredCheckpoint{
		params:         params,
		id:             m.ID,
		savepoint:      ref.Kind == checkpoint.KindSavepoint,
		location:       info.Location,
		maxParallelism: m.MaxParallelism,
		ops:            map[string]*restoredOperator{},
		open: func(file string) (io.ReadCloser, error) {
			return storage.Open(context.Background(), ref, file)
		},
	}
	for id, op := range ops {
		rc.ops[id] = &restoredOperator{name: op.Name, parallelism: op.Parallelism, splits: op.Splits,
			committables: op.Committables, enumerator: op.Enumerator}
	}
	fetch := sharedFetcher(storage, ref, info.Location)
	for _, op := range m.Operators {
		r := rc.ops[op.ID]
		if r == nil {
			r = &restoredOperator{name: op.Name, parallelism: op.Parallelism}
			rc.ops[op.ID] = r
		}
		r.fetch = fetch
		for _, f := range op.Subtasks {
			r.files = append(r.files, f.Name)
			r.natives = append(r.natives, f.Native)
		}
	}
	if store != nil && storage.Location() == store.dir.Location() && ref.Kind == checkpoint.KindCheckpoint {
		// The next checkpoint refers to the files this one shares rather
		// than upload them again.
		store.present(m)
	}
	return rc, closer, nil
}
