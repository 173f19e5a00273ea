package weir_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// reusingSource is one unbounded split whose reader emits one number per
// poll and keeps its position encoded in a buffer it rewrites as it reads,
// returning that buffer from Position, as a reader that avoids
// allocations might. After the first barrier (a Position call) it closes
// advanced once it has read ten more records.
type reusingSource struct {
	mu        sync.Mutex
	atBarrier int64 // the reader's position when Position was first called
	snapped   bool
	advanced  chan struct{}
	once      sync.Once
	opened    []int64 // the positions splits were opened at
}

func (s *reusingSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s *reusingSource) Bounded() bool { return false }
func (s *reusingSource) OpenSplit(_ context.Context, _ weir.Split, pos []byte) (weir.SplitReader[int64], error) {
	r := &reusingReader{s: s, barrier: -1}
	if pos != nil {
		v, n := binary.Varint(pos)
		if n <= 0 {
			return nil, errors.New("bad position")
		}
		r.next = v
	}
	s.mu.Lock()
	s.opened = append(s.opened, r.next)
	s.mu.Unlock()
	return r, nil
}

type reusingReader struct {
	s       *reusingSource
	next    int64
	buf     []byte
	barrier int64
}

func (r *reusingReader) Poll(out weir.SourceOutput[int64], _ int) (weir.PollStatus, error) {
	out.Emit(r.next, r.next)
	r.next++
	r.buf = binary.AppendVarint(r.buf[:0], r.next)
	if r.barrier >= 0 && r.next == r.barrier+10 {
		r.s.once.Do(func() { close(r.s.advanced) })
	}
	return weir.More, nil
}

func (r *reusingReader) Position() []byte {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.barrier < 0 && !r.s.snapped {
		r.barrier = r.next
		r.s.snapped = true
		r.s.atBarrier = r.next
	}
	return r.buf
}
func (r *reusingReader) Close() error { return nil }

// slowPrepareSink's first Prepare waits until the source has read on past
// the barrier, so that the checkpoint is written after the reader changed
// the buffer it returned from Position.
type slowPrepareSink struct {
	wait <-chan struct{}
	once sync.Once
}

func (s *slowPrepareSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[int64], error) {
	return &slowPrepareWriter{s: s}, nil
}

type slowPrepareWriter struct{ s *slowPrepareSink }

func (w *slowPrepareWriter) Write(int64) error { return nil }
func (w *slowPrepareWriter) Close() error      { return nil }
func (w *slowPrepareWriter) Prepare(int64) ([]byte, error) {
	w.s.once.Do(func() {
		select {
		case <-w.s.wait:
		case <-time.After(30 * time.Second):
		}
	})
	return nil, nil
}
func (w *slowPrepareWriter) Commit(context.Context, [][]byte) error { return nil }

// A checkpoint holds a split's position as it was at the barrier, even
// when the reader reuses the buffer Position returned and the checkpoint
// is written after the reader has read on: a restore opens the split just
// after the last record the checkpoint covers.
func TestPositionKeptAsAtBarrier(t *testing.T) {
	dir := t.TempDir()
	src := &reusingSource{advanced: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The first checkpoint completes; the job dies right after it.
	env := weir.New(weir.Checkpoints(10*time.Millisecond, dir),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { cancel() }))
	weir.To(weir.From(env, weir.Source[int64](src)).ID("numbers"),
		weir.Sink[int64](&slowPrepareSink{wait: src.advanced})).ID("sink").Parallelism(2)
	if err := env.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	src.mu.Lock()
	barrier := src.atBarrier
	src.mu.Unlock()

	stop := make(chan struct{})
	close(stop)
	env = weir.New(weir.Checkpoints(time.Hour, dir), weir.Restore("latest"), weir.StopOn(stop))
	weir.To(weir.From(env, weir.Source[int64](src)).ID("numbers"),
		weir.Sink[int64](&slowPrepareSink{wait: src.advanced})).ID("sink").Parallelism(2)
	run(t, env)
	if got := src.opened[len(src.opened)-1]; got != barrier {
		t.Fatalf("restored split opened at %d, want %d, the position at the savepoint's barrier", got, barrier)
	}
}

// reusingSink's writers encode how many records they have written into a
// buffer they rewrite at every record and return from Prepare. Subtask 1's
// first Prepare waits until subtask 0 has written ten records after its
// own, so that subtask 0 commits after it wrote on.
type reusingSink struct {
	mu       sync.Mutex
	prepared map[string]bool // committables as Prepare returned them
	bad      []string        // committables Commit got that Prepare never returned
	advanced chan struct{}
	once     sync.Once
	commits  map[int]bool // subtasks that committed
	both     chan struct{}
}

func (s *reusingSink) Open(_ context.Context, info weir.SinkInfo) (weir.SinkWriter[int64], error) {
	return &reusingWriter{s: s, subtask: info.Subtask, after: -1}, nil
}

type reusingWriter struct {
	s       *reusingSink
	subtask int
	n       int64
	buf     []byte
	after   int64 // records written since the first Prepare; -1 before it
}

func (w *reusingWriter) Write(int64) error {
	w.n++
	w.buf = binary.AppendVarint(append(w.buf[:0], byte(w.subtask)), w.n)
	if w.after >= 0 {
		if w.after++; w.after == 10 && w.subtask == 0 {
			close(w.s.advanced)
		}
	}
	return nil
}
func (w *reusingWriter) Close() error { return nil }

func (w *reusingWriter) Prepare(int64) ([]byte, error) {
	if w.after < 0 {
		w.after = 0
	}
	if w.subtask == 1 {
		w.s.once.Do(func() {
			select {
			case <-w.s.advanced:
			case <-time.After(30 * time.Second):
			}
		})
	}
	w.s.mu.Lock()
	w.s.prepared[string(w.buf)] = true
	w.s.mu.Unlock()
	return w.buf, nil
}

func (w *reusingWriter) Commit(_ context.Context, cs [][]byte) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	for _, c := range cs {
		if !w.s.prepared[string(c)] {
			w.s.bad = append(w.s.bad, fmt.Sprintf("%x", c))
		}
	}
	if w.s.commits[w.subtask] = true; len(w.s.commits) == 2 && w.s.both != nil {
		close(w.s.both)
		w.s.both = nil
	}
	return nil
}

// A sink commits the committables its writers returned from Prepare, even
// when a writer reuses the buffer it returned and writes on before the
// checkpoint completes.
func TestCommittableKeptAsPrepared(t *testing.T) {
	both := make(chan struct{})
	sink := &reusingSink{prepared: map[string]bool{}, advanced: make(chan struct{}), commits: map[int]bool{}, both: both}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := weir.New(weir.Checkpoints(10*time.Millisecond, t.TempDir()))
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{}, func(seq int64) int64 { return seq }))
	weir.To(src, weir.Sink[int64](sink)).Parallelism(2)
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	select {
	case <-both:
	case err := <-done:
		t.Fatalf("Run = %v before both subtasks committed", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.bad) > 0 {
		t.Fatalf("Commit got committables Prepare never returned: %v", sink.bad)
	}
}

// countingDiscoverer is an unbounded source of one quiet split whose
// enumerator counts its Discover calls into a buffer it rewrites each time
// and returns from State. After the first State call it closes advanced
// once it has been called five more times.
type countingDiscoverer struct {
	mu        sync.Mutex
	atBarrier string // State's result when first called
	snapped   bool
	restored  []string
	advanced  chan struct{}
}

func (s *countingDiscoverer) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s *countingDiscoverer) Bounded() bool { return false }
func (s *countingDiscoverer) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[int64], error) {
	return quietReader{}, nil
}

func (s *countingDiscoverer) Enumerator(_ context.Context, state []byte) (weir.SplitEnumerator, error) {
	s.mu.Lock()
	s.restored = append(s.restored, string(state))
	s.mu.Unlock()
	return &countingEnumerator{s: s, after: -1}, nil
}

type countingEnumerator struct {
	s     *countingDiscoverer
	n     int64
	buf   []byte
	after int
}

func (e *countingEnumerator) Discover(context.Context) ([]weir.Split, error) {
	e.n++
	e.buf = binary.AppendVarint(e.buf[:0], e.n)
	if e.after >= 0 {
		if e.after++; e.after == 5 {
			close(e.s.advanced)
		}
	}
	return nil, nil
}

func (e *countingEnumerator) State() ([]byte, error) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	if e.after < 0 && !e.s.snapped {
		e.after = 0
		e.s.snapped = true
		e.s.atBarrier = string(e.buf)
	}
	return e.buf, nil
}
func (e *countingEnumerator) Close() error { return nil }

type quietReader struct{}

func (quietReader) Poll(weir.SourceOutput[int64], int) (weir.PollStatus, error) {
	return weir.Wait, nil
}
func (quietReader) Position() []byte { return nil }
func (quietReader) Close() error     { return nil }

// A checkpoint holds a split enumerator's state as it was at the barrier,
// even when the enumerator reuses the buffer State returned and discovers
// on before the checkpoint is written.
func TestEnumeratorStateKeptAsAtBarrier(t *testing.T) {
	dir := t.TempDir()
	src := &countingDiscoverer{advanced: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env := weir.New(weir.Checkpoints(10*time.Millisecond, dir),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { cancel() }))
	weir.To(weir.From(env, weir.Source[int64](src), weir.DiscoveryInterval(time.Millisecond)).ID("numbers"),
		weir.Sink[int64](&slowPrepareSink{wait: src.advanced})).ID("sink").Parallelism(2)
	if err := env.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	stop := make(chan struct{})
	close(stop)
	env = weir.New(weir.Checkpoints(time.Hour, dir), weir.Restore("latest"), weir.StopOn(stop))
	weir.To(weir.From(env, weir.Source[int64](src)).ID("numbers"),
		weir.Sink[int64](&slowPrepareSink{wait: src.advanced})).ID("sink").Parallelism(2)
	run(t, env)
	if got := src.restored[len(src.restored)-1]; got != src.atBarrier {
		t.Fatalf("restored enumerator state %x, want %x, the state at the checkpoint's barrier", got, src.atBarrier)
	}
}
