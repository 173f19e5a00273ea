package connectortest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/weirstream/weir"
)

// gate wraps the source under test. It hands its readers a budget of
// records shared by all of them: once it is spent they return Wait
// without polling the reader under test, so a job can be stopped or
// checkpointed at a known point of the input, and let go again. It also
// checks the reader contract: Poll emits at most max records, and every
// reader opened is closed once.
type gate[T any] struct {
	key func(T) string

	mu        sync.Mutex
	budget    int64 // records the readers may still emit
	emitted   int64
	keys      []string // of the records emitted
	waiting   []func() // wake functions of readers waiting for budget
	at        int64    // emitted count that closes spent
	spent     chan struct{}
	opened    int
	closed    int
	enumOpen  int
	enumClose int
	problems  []string
}

func newGate[T any](key func(T) string) *gate[T] {
	return &gate[T]{key: key, budget: math.MaxInt64, at: -1, spent: make(chan struct{})}
}

// limit lets the readers emit n more records; spent is closed once they
// have.
func (g *gate[T]) limit(n int64) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.budget = n
	g.at = g.emitted + n
	g.spent = make(chan struct{})
	if n == 0 {
		close(g.spent)
	}
	return g.spent
}

// open lifts the limit and wakes the readers waiting for it.
func (g *gate[T]) open() {
	g.mu.Lock()
	g.budget = math.MaxInt64
	g.at = -1
	w := g.waiting
	g.waiting = nil
	g.mu.Unlock()
	for _, wake := range w {
		wake()
	}
}

func (g *gate[T]) emittedKeys() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.keys...)
}

func (g *gate[T]) problem(format string, args ...any) {
	g.mu.Lock()
	g.problems = append(g.problems, fmt.Sprintf(format, args...))
	g.mu.Unlock()
}

// check reports what the gate saw wrong, and readers or enumerators left
// open once a job has returned.
func (g *gate[T]) check() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := append([]string(nil), g.problems...)
	if g.opened != g.closed {
		out = append(out, fmt.Sprintf("%d split readers opened, %d closed: every reader must be closed once", g.opened, g.closed))
	}
	if g.enumOpen != g.enumClose {
		out = append(out, fmt.Sprintf("%d split enumerators opened, %d closed", g.enumOpen, g.enumClose))
	}
	return out
}

// source wraps src, keeping the optional interfaces it implements.
func (g *gate[T]) source(src weir.Source[T]) weir.Source[T] {
	s := &gatedSource[T]{g: g, src: src}
	if _, ok := src.(weir.SplitDiscoverer); ok {
		return &gatedDiscoverer[T]{s}
	}
	return s
}

type gatedSource[T any] struct {
	g   *gate[T]
	src weir.Source[T]
}

func (s *gatedSource[T]) Splits(ctx context.Context) ([]weir.Split, error) { return s.src.Splits(ctx) }
func (s *gatedSource[T]) Bounded() bool                                    { return s.src.Bounded() }

// OffsetName keeps what the source calls its offsets (weir.OffsetNamer).
func (s *gatedSource[T]) OffsetName() string {
	if n, ok := s.src.(weir.OffsetNamer); ok {
		return n.OffsetName()
	}
	return ""
}

func (s *gatedSource[T]) OpenSplit(ctx context.Context, split weir.Split, pos []byte) (weir.SplitReader[T], error) {
	r, err := s.src.OpenSplit(ctx, split, pos)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("OpenSplit(%q) returned neither a reader nor an error", split.ID)
	}
	s.g.mu.Lock()
	s.g.opened++
	s.g.mu.Unlock()
	gr := &gatedReader[T]{g: s.g, r: r, split: split.ID}
	if w, ok := r.(weir.WakingReader); ok {
		return &gatedWakingReader[T]{gr, w}, nil
	}
	return gr, nil
}

type gatedDiscoverer[T any] struct{ *gatedSource[T] }

func (s *gatedDiscoverer[T]) Enumerator(ctx context.Context, state []byte) (weir.SplitEnumerator, error) {
	e, err := s.src.(weir.SplitDiscoverer).Enumerator(ctx, state)
	if err != nil {
		return nil, err
	}
	s.g.mu.Lock()
	s.g.enumOpen++
	s.g.mu.Unlock()
	return &gatedEnumerator[T]{g: s.g, e: e}, nil
}

type gatedEnumerator[T any] struct {
	g      *gate[T]
	e      weir.SplitEnumerator
	closed bool
}

func (e *gatedEnumerator[T]) Discover(ctx context.Context) ([]weir.Split, error) {
	return e.e.Discover(ctx)
}
func (e *gatedEnumerator[T]) State() ([]byte, error) { return e.e.State() }
func (e *gatedEnumerator[T]) Close() error {
	if e.closed {
		e.g.problem("a split enumerator was closed twice")
		return nil
	}
	e.closed = true
	e.g.mu.Lock()
	e.g.enumClose++
	e.g.mu.Unlock()
	return e.e.Close()
}

// gatedReader passes Poll on within the gate's budget and counts what the
// reader emits.
type gatedReader[T any] struct {
	g      *gate[T]
	r      weir.SplitReader[T]
	split  string
	wake   func()
	closed bool
	out    countingOutput[T]
}

func (r *gatedReader[T]) Poll(out weir.SourceOutput[T], max int) (weir.PollStatus, error) {
	g := r.g
	g.mu.Lock()
	n := int64(max)
	if g.budget < n {
		n = g.budget
	}
	if n == 0 {
		if r.wake != nil {
			g.waiting = append(g.waiting, r.wake)
		}
		g.mu.Unlock()
		return weir.Wait, nil
	}
	g.budget -= n
	g.mu.Unlock()

	r.out.SourceOutput, r.out.n, r.out.keys = out, 0, r.out.keys[:0]
	r.out.key = g.key
	st, err := r.r.Poll(&r.out, int(n))
	e := int64(r.out.n)

	g.mu.Lock()
	if g.budget != math.MaxInt64 {
		g.budget += n - min(e, n)
	}
	g.emitted += e
	g.keys = append(g.keys, r.out.keys...)
	var spent chan struct{}
	if g.at >= 0 && g.emitted >= g.at {
		spent, g.at = g.spent, -1
	}
	var wake []func()
	if n > e && g.budget > 0 {
		// What this reader did not use may serve one that waits.
		wake, g.waiting = g.waiting, nil
	}
	g.mu.Unlock()
	if e > n {
		g.problem("split %q: Poll emitted %d records, asked for at most %d", r.split, e, n)
	}
	if spent != nil {
		close(spent)
	}
	for _, w := range wake {
		w()
	}
	return st, err
}

func (r *gatedReader[T]) Position() []byte { return r.r.Position() }

func (r *gatedReader[T]) Close() error {
	if r.closed {
		r.g.problem("split %q: the reader was closed twice", r.split)
		return nil
	}
	r.closed = true
	r.g.mu.Lock()
	r.g.closed++
	r.g.mu.Unlock()
	return r.r.Close()
}

// CheckpointComplete passes the notification on to a reader that listens.
func (r *gatedReader[T]) CheckpointComplete(ctx context.Context, id int64, pos []byte) error {
	if l, ok := r.r.(weir.CheckpointListener); ok {
		return l.CheckpointComplete(ctx, id, pos)
	}
	return nil
}

type gatedWakingReader[T any] struct {
	*gatedReader[T]
	w weir.WakingReader
}

func (r *gatedWakingReader[T]) SetWake(wake func()) {
	r.wake = wake
	r.w.SetWake(wake)
}

// countingOutput counts and keys what a reader emits.
type countingOutput[T any] struct {
	weir.SourceOutput[T]
	key  func(T) string
	n    int
	keys []string
}

func (o *countingOutput[T]) Emit(v T, offset int64) {
	o.n++
	o.keys = append(o.keys, o.key(v))
	o.SourceOutput.Emit(v, offset)
}

func (o *countingOutput[T]) EmitAt(v T, ts time.Time, offset int64) {
	o.n++
	o.keys = append(o.keys, o.key(v))
	o.SourceOutput.EmitAt(v, ts, offset)
}
