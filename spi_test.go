package weir_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirstream/weir"
)

// openGate lets n openers in and releases them only once all n have
// arrived: openers that run one after another never all arrive. The
// fallback timer turns that deadlock into an error instead of a hung test.
type openGate struct {
	mu      sync.Mutex
	n       int
	arrived int
	all     chan struct{}
}

func newOpenGate(n int) *openGate { return &openGate{n: n, all: make(chan struct{})} }

func (g *openGate) wait(ctx context.Context) error {
	g.mu.Lock()
	g.arrived++
	if g.arrived == g.n {
		close(g.all)
	}
	g.mu.Unlock()
	select {
	case <-g.all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Second):
		return errors.New("the other subtasks never opened: opening is not parallel")
	}
}

// gatedSource's splits open only together.
type gatedSource struct {
	gate *openGate
	n    int
}

func (s gatedSource) Splits(context.Context) ([]weir.Split, error) {
	out := make([]weir.Split, s.n)
	for i := range out {
		out[i] = weir.Split{ID: string(rune('a' + i))}
	}
	return out, nil
}
func (s gatedSource) Bounded() bool { return true }
func (s gatedSource) OpenSplit(ctx context.Context, sp weir.Split, _ []byte) (weir.SplitReader[string], error) {
	if err := s.gate.wait(ctx); err != nil {
		return nil, err
	}
	return &onceReader{v: sp.ID}, nil
}

type onceReader struct {
	v    string
	done bool
}

func (r *onceReader) Poll(out weir.SourceOutput[string], _ int) (weir.PollStatus, error) {
	if !r.done {
		out.Emit(r.v, 1)
		r.done = true
	}
	return weir.End, nil
}
func (r *onceReader) Position() []byte { return nil }
func (r *onceReader) Close() error     { return nil }

// gatedSink's subtasks open only together.
type gatedSink struct{ gate *openGate }

func (s gatedSink) Open(ctx context.Context, _ weir.SinkInfo) (weir.SinkWriter[string], error) {
	if err := s.gate.wait(ctx); err != nil {
		return nil, err
	}
	return sinkWriterFunc[string](func(string) {}), nil
}

// The subtasks of a job open in parallel: each source subtask's OpenSplit
// and each sink subtask's Open wait until all of them have been called.
func TestOpenInParallel(t *testing.T) {
	const p = 4
	env := weir.New(weir.Parallelism(p))
	src := weir.From(env, gatedSource{gate: newOpenGate(p), n: p})
	weir.To(weir.Map(src, func(s string) string { return s }).Parallelism(p), weir.Sink[string](gatedSink{gate: newOpenGate(p)}))
	run(t, env)
}

// blockingOpenSource's OpenSplit waits for its context.
type blockingOpenSource struct{ entered chan struct{} }

func (s blockingOpenSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s blockingOpenSource) Bounded() bool { return false }
func (s blockingOpenSource) OpenSplit(ctx context.Context, _ weir.Split, _ []byte) (weir.SplitReader[string], error) {
	close(s.entered)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		return nil, errors.New("OpenSplit's context was not canceled with the job")
	}
}

// OpenSplit gets the job's context: canceling the job while a split opens
// (a connection that hangs, say) stops the open and the job.
func TestOpenSplitGetsJobContext(t *testing.T) {
	src := blockingOpenSource{entered: make(chan struct{})}
	env := weir.New()
	weir.To(weir.From(env, weir.Source[string](src)), weir.Sink[string](gatedSink{gate: newOpenGate(1)}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	<-src.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
}

// pushSource is an unbounded one-split source fed from outside, like a
// connector whose fetch goroutine hands over what it received. Its
// reader wakes the task when fed unless polled is set, in which case it
// is an ordinary reader the runtime polls.
type pushSource struct {
	mu     sync.Mutex
	queue  []string
	wake   func()
	waits  int // polls that found nothing
	opened chan struct{}
	polled bool
}

func newPushSource() *pushSource { return &pushSource{opened: make(chan struct{})} }

func (s *pushSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s *pushSource) Bounded() bool { return false }
func (s *pushSource) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[string], error) {
	defer close(s.opened)
	if s.polled {
		return polledReader{s}, nil
	}
	return &pushReader{s: s}, nil
}

func (s *pushSource) push(v string) {
	s.mu.Lock()
	s.queue = append(s.queue, v)
	wake := s.wake
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
}

func (s *pushSource) waitPolls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waits
}

type pushReader struct {
	s   *pushSource
	off int64
}

func (r *pushReader) SetWake(wake func()) {
	r.s.mu.Lock()
	r.s.wake = wake
	r.s.mu.Unlock()
}

func (r *pushReader) Poll(out weir.SourceOutput[string], _ int) (weir.PollStatus, error) {
	r.s.mu.Lock()
	q := r.s.queue
	r.s.queue = nil
	if len(q) == 0 {
		r.s.waits++
	}
	r.s.mu.Unlock()
	for _, v := range q {
		r.off++
		out.Emit(v, r.off)
	}
	return weir.Wait, nil
}
func (r *pushReader) Position() []byte { return nil }
func (r *pushReader) Close() error     { return nil }

// polledReader is pushReader without SetWake.
type polledReader struct{ s *pushSource }

func (r polledReader) Poll(out weir.SourceOutput[string], max int) (weir.PollStatus, error) {
	return (&pushReader{s: r.s}).Poll(out, max)
}
func (r polledReader) Position() []byte { return nil }
func (r polledReader) Close() error     { return nil }

// A reader that can wake its task is not polled while it waits: an idle
// second (of the bubble's fake clock) costs no poll at all, where a reader
// without SetWake is polled every few milliseconds; and every record
// handed over with a wake-up reaches the sink.
func TestWakingReaderIsNotPolledWhileIdle(t *testing.T) {
	for _, polled := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			src := newPushSource()
			src.polled = polled
			got := make(chan string, 16)
			env := weir.New()
			weir.To(weir.From(env, weir.Source[string](src)), weir.Sink[string](sinkFunc[string](func(s string) { got <- s })))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- env.Run(ctx) }()
			<-src.opened
			time.Sleep(time.Second)
			synctest.Wait()
			waits := src.waitPolls()
			if polled {
				if waits < 100 {
					t.Errorf("a reader without SetWake was polled %d times in a second, want one every few milliseconds", waits)
				}
			} else if waits > 1 {
				t.Errorf("a waking reader was polled %d times in an idle second, want 1", waits)
			}
			for _, v := range []string{"a", "b", "c"} {
				src.push(v)
				if r := <-got; r != v {
					t.Fatalf("got %q, want %q", r, v)
				}
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v", err)
			}
		})
	}
}
