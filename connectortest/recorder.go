package connectortest

import (
	"context"
	"fmt"
	"sync"

	"github.com/weirstream/weir"
)

// recorder is the exactly-once sink the source checks write to: a
// two-phase sink in memory, whose staged output outlives the jobs of a
// check as a transactional store's would. It keeps the keys of the
// records, not the records.
type recorder[T any] struct {
	key func(T) string

	mu        sync.Mutex
	writers   int
	run       string              // the job run writers are opened for
	attempt   int                 // its restarts
	staged    map[string][]string // prepared, by committable
	done      map[string]bool     // committables committed
	committed []string
	// covered are the keys committed or written by the current run: once
	// it holds every key of the target, stopping the job with a savepoint
	// commits them all.
	covered map[string]bool
	target  map[string]bool
	missing int
	reached chan struct{}
}

func newRecorder[T any](key func(T) string) *recorder[T] {
	return &recorder[T]{key: key, staged: map[string][]string{}, done: map[string]bool{}, covered: map[string]bool{}}
}

// startRun begins a job run: until its writers write, only what was
// committed is covered.
func (r *recorder[T]) startRun(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resetLocked(name)
}

func (r *recorder[T]) resetLocked(run string) {
	r.run, r.attempt = run, 0
	r.covered = map[string]bool{}
	for _, k := range r.committed {
		r.covered[k] = true
	}
	r.recountLocked()
}

func (r *recorder[T]) recountLocked() {
	if r.target == nil {
		return
	}
	r.missing = 0
	for k := range r.target {
		if !r.covered[k] {
			r.missing++
		}
	}
	if r.missing == 0 {
		r.reachedLocked()
	}
}

func (r *recorder[T]) reachedLocked() {
	if r.reached != nil {
		close(r.reached)
		r.reached = nil
	}
}

// await returns a channel closed once every key of want is committed or
// written by the current run.
func (r *recorder[T]) await(want []string) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	r.reached = ch
	r.target = map[string]bool{}
	for _, k := range want {
		r.target[k] = true
	}
	r.recountLocked()
	return ch
}

func (r *recorder[T]) coverLocked(k string) {
	if r.covered[k] {
		return
	}
	r.covered[k] = true
	if r.target[k] {
		if r.missing--; r.missing == 0 {
			r.reachedLocked()
		}
	}
}

// committedKeys returns the keys committed so far, in commit order.
func (r *recorder[T]) committedKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.committed...)
}

// coveredKeys returns the keys the current run has covered.
func (r *recorder[T]) coveredKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.covered))
	for k := range r.covered {
		out = append(out, k)
	}
	return out
}

// Open implements weir.Sink.
func (r *recorder[T]) Open(_ context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writers++
	if info.Attempt != r.attempt {
		// A restart: what the failed run wrote and did not commit is gone.
		r.resetLocked(r.run)
		r.attempt = info.Attempt
	}
	return &recordWriter[T]{r: r, id: r.writers}, nil
}

type recordWriter[T any] struct {
	r       *recorder[T]
	id      int
	pending []string
}

func (w *recordWriter[T]) Write(v T) error {
	k := w.r.key(v)
	w.pending = append(w.pending, k)
	w.r.mu.Lock()
	w.r.coverLocked(k)
	w.r.mu.Unlock()
	return nil
}

func (w *recordWriter[T]) Prepare(id int64) ([]byte, error) {
	c := fmt.Sprintf("writer %d checkpoint %d", w.id, id)
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if _, ok := w.r.staged[c]; ok {
		return nil, fmt.Errorf("%s prepared twice", c)
	}
	w.r.staged[c] = w.pending
	w.pending = nil
	return []byte(c), nil
}

func (w *recordWriter[T]) Commit(_ context.Context, cs [][]byte) error {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	for _, c := range cs {
		if w.r.done[string(c)] {
			continue
		}
		ks, ok := w.r.staged[string(c)]
		if !ok {
			return fmt.Errorf("commit: no output was prepared as %q", c)
		}
		w.r.done[string(c)] = true
		w.r.committed = append(w.r.committed, ks...)
		for _, k := range ks {
			w.r.coverLocked(k)
		}
	}
	return nil
}

func (w *recordWriter[T]) Close() error {
	w.pending = nil
	return nil
}
