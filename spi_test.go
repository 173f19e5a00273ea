package weir_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// listeningSource is one unbounded split that emits 0…n-1 and then waits;
// its reader records the checkpoints it is told about.
type listeningSource struct {
	n        int64
	mu       sync.Mutex
	notified []string // "id@position"
}

func (s *listeningSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "0"}}, nil
}
func (s *listeningSource) Bounded() bool { return false }
func (s *listeningSource) OpenSplit(_ context.Context, _ weir.Split, pos []byte) (weir.SplitReader[int64], error) {
	r := &listeningReader{s: s}
	if pos != nil {
		next, err := strconv.ParseInt(string(pos), 10, 64)
		if err != nil {
			return nil, err
		}
		r.next = next
	}
	return r, nil
}

type listeningReader struct {
	s    *listeningSource
	next int64
}

func (r *listeningReader) Poll(out weir.SourceOutput[int64], max int) (weir.PollStatus, error) {
	for ; max > 0 && r.next < r.s.n; max-- {
		out.Emit(r.next, r.next)
		r.next++
	}
	return weir.Wait, nil
}
func (r *listeningReader) Position() []byte { return strconv.AppendInt(nil, r.next, 10) }
func (r *listeningReader) Close() error     { return nil }
func (r *listeningReader) SetWake(func())   {}

func (r *listeningReader) CheckpointComplete(_ context.Context, id int64, pos []byte) error {
	r.s.mu.Lock()
	r.s.notified = append(r.s.notified, fmt.Sprintf("%d@%s", id, pos))
	r.s.mu.Unlock()
	return nil
}

// A reader that implements CheckpointListener is told of completed
// checkpoints, with the position each holds for its split, up to the
// savepoint the job stops with.
func TestReaderToldOfCompletedCheckpoints(t *testing.T) {
	src := &listeningSource{n: 100}
	stop := make(chan struct{})
	var (
		mu        sync.Mutex
		completed []int64
	)
	env := weir.New(weir.Checkpoints(time.Millisecond, t.TempDir()), weir.StopOn(stop),
		weir.OnCheckpoint(func(c weir.CheckpointMetrics) {
			id := c.ID
			mu.Lock()
			defer mu.Unlock()
			if completed = append(completed, id); len(completed) == 3 {
				close(stop)
			}
		}))
	weir.To(weir.From(env, weir.Source[int64](src)), weir.Sink[int64](sinkFunc[int64](func(int64) {})))
	run(t, env)
	if len(src.notified) == 0 {
		t.Fatal("the reader was told of no checkpoint")
	}
	ids := map[string]bool{}
	for _, id := range completed {
		ids[fmt.Sprint(id)] = true
	}
	for _, n := range src.notified {
		if id, _, _ := strings.Cut(n, "@"); !ids[id] {
			t.Errorf("told of checkpoint %s, which did not complete (completed: %v)", n, completed)
		}
	}
	// The savepoint is the last checkpoint; every record was read before it.
	if last, want := src.notified[len(src.notified)-1], fmt.Sprintf("%d@100", completed[len(completed)-1]); last != want {
		t.Errorf("last notification %s, want %s (all: %v)", last, want, src.notified)
	}
}

// flakyCommitSink is a two-phase sink whose Commit fails the first fail
// times; it counts the records committed.
type flakyCommitSink struct {
	fail      int
	permanent bool // the failures are marked weir.Permanent
	commits   atomic.Int64
	committed atomic.Int64
}

func (s *flakyCommitSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[int64], error) {
	return &flakyCommitWriter{s: s}, nil
}

type flakyCommitWriter struct {
	s       *flakyCommitSink
	pending int64
	done    map[string]bool // committables committed, for idempotence
}

func (w *flakyCommitWriter) Write(int64) error { w.pending++; return nil }
func (w *flakyCommitWriter) Close() error      { return nil }

func (w *flakyCommitWriter) Prepare(id int64) ([]byte, error) {
	c := fmt.Sprintf("%d:%d", id, w.pending)
	w.pending = 0
	return []byte(c), nil
}

func (w *flakyCommitWriter) Commit(_ context.Context, cs [][]byte) error {
	if w.s.commits.Add(1) <= int64(w.s.fail) {
		if w.s.permanent {
			return weir.Permanent(errInjected)
		}
		return errInjected
	}
	if w.done == nil {
		w.done = map[string]bool{}
	}
	for _, c := range cs {
		if w.done[string(c)] {
			continue
		}
		w.done[string(c)] = true
		_, n, _ := strings.Cut(string(c), ":")
		v, _ := strconv.ParseInt(n, 10, 64)
		w.s.committed.Add(v)
	}
	return nil
}

// A failed commit is retried with backoff before the job fails: two
// failures within five attempts lose nothing and fail nothing; failures
// that outlast the attempts fail the job, saying how often it tried; a
// failure marked Permanent fails it at the first attempt.
func TestCommitRetriedBeforeJobFails(t *testing.T) {
	const n = 2000
	for _, tc := range []struct {
		name        string
		fail        int
		checkpoints bool
		ok          bool
		permanent   bool
	}{
		{"checkpoints, 2 failures", 2, true, true, false},
		{"end of input, 2 failures", 2, false, true, false},
		{"checkpoints, every commit fails", 1 << 30, true, false, false},
		{"checkpoints, a permanent failure", 1, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &flakyCommitSink{fail: tc.fail, permanent: tc.permanent}
			opts := []weir.Option{weir.CommitRetries(5, time.Millisecond)}
			if tc.checkpoints {
				opts = append(opts, weir.Checkpoints(time.Hour, t.TempDir()))
			}
			env := weir.New(opts...)
			src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n}, func(seq int64) int64 { return seq }))
			weir.To(src, weir.Sink[int64](sink))
			err := env.Run(context.Background())
			if tc.ok {
				if err != nil || sink.committed.Load() != n {
					t.Fatalf("Run = %v, %d committed; want nil and %d", err, sink.committed.Load(), n)
				}
				return
			}
			if tc.permanent {
				if !errors.Is(err, errInjected) || sink.commits.Load() != 1 {
					t.Fatalf("Run = %v after %d commit calls, want the injected failure after 1", err, sink.commits.Load())
				}
				return
			}
			if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "failed 5 times") {
				t.Fatalf("Run = %v, want the injected failure after 5 attempts", err)
			}
			if c := sink.commits.Load(); c != 5 {
				t.Fatalf("%d commit calls, want 5", c)
			}
		})
	}
}

// infoSink records the SinkInfo of every subtask it opens.
type infoSink struct {
	mu    sync.Mutex
	infos []weir.SinkInfo
}

func (s *infoSink) Open(_ context.Context, info weir.SinkInfo) (weir.SinkWriter[int64], error) {
	s.mu.Lock()
	s.infos = append(s.infos, info)
	s.mu.Unlock()
	return &flakyCommitWriter{s: &flakyCommitSink{}}, nil
}

// A sink learns the checkpoint the job restored from and its parallelism
// there, so that it can abort what earlier runs and vanished subtasks left.
func TestSinkLearnsRestoredCheckpoint(t *testing.T) {
	dir := t.TempDir()
	build := func(p int, stop chan struct{}, onCheckpoint func(int64), opts ...weir.Option) (*weir.Env, *infoSink) {
		env := weir.New(append([]weir.Option{weir.Checkpoints(time.Millisecond, dir), weir.StopOn(stop),
			weir.OnCheckpoint(func(c weir.CheckpointMetrics) { onCheckpoint(c.ID) })}, opts...)...)
		src := weir.From(env, weir.Generator(weir.GeneratorSpec{Rate: 1000}, func(seq int64) int64 { return seq })).ID("numbers")
		sink := &infoSink{}
		weir.To(src, weir.Sink[int64](sink)).ID("sink").Parallelism(p)
		return env, sink
	}
	stop := make(chan struct{})
	var last int64
	env, first := build(3, stop, func(id int64) {
		if last = id; id == 2 {
			close(stop)
		}
	})
	run(t, env)
	for _, info := range first.infos {
		if info.RestoredCheckpointID != 0 || info.PreviousParallelism != 0 {
			t.Fatalf("fresh start: %+v, want no restored checkpoint", info)
		}
	}
	stop = make(chan struct{})
	close(stop)
	env, second := build(2, stop, func(int64) {}, weir.Restore("latest"))
	run(t, env)
	if len(second.infos) != 2 {
		t.Fatalf("%d subtasks opened, want 2", len(second.infos))
	}
	for _, info := range second.infos {
		if info.RestoredCheckpointID != last || info.PreviousParallelism != 3 || info.Parallelism != 2 {
			t.Fatalf("restored: %+v, want checkpoint %d, previous parallelism 3, parallelism 2", info, last)
		}
	}
}

// discoveringSource starts with the splits in initial and discovers those
// in available; each split emits "<id>-0", "<id>-1", "<id>-2" and waits.
type discoveringSource struct {
	initial   []string
	mu        sync.Mutex
	available []string
	restored  []byte // the state its enumerator was opened with
}

func (s *discoveringSource) Splits(context.Context) ([]weir.Split, error) {
	out := make([]weir.Split, len(s.initial))
	for i, id := range s.initial {
		out[i] = weir.Split{ID: id}
	}
	return out, nil
}
func (s *discoveringSource) Bounded() bool { return false }
func (s *discoveringSource) OpenSplit(_ context.Context, sp weir.Split, pos []byte) (weir.SplitReader[string], error) {
	r := &threeReader{id: sp.ID}
	if pos != nil {
		r.next, _ = strconv.Atoi(string(pos))
	}
	return r, nil
}

func (s *discoveringSource) Enumerator(_ context.Context, state []byte) (weir.SplitEnumerator, error) {
	s.mu.Lock()
	s.restored = state
	s.mu.Unlock()
	return &listEnumerator{s: s}, nil
}

type listEnumerator struct {
	s    *discoveringSource
	seen []string
}

func (e *listEnumerator) Discover(context.Context) ([]weir.Split, error) {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	var out []weir.Split
	for _, id := range e.s.available {
		out = append(out, weir.Split{ID: id})
		if !slices.Contains(e.seen, id) {
			e.seen = append(e.seen, id)
		}
	}
	return out, nil
}
func (e *listEnumerator) State() ([]byte, error) { return []byte(strings.Join(e.seen, ",")), nil }
func (e *listEnumerator) Close() error           { return nil }

type threeReader struct {
	id   string
	next int
}

func (r *threeReader) Poll(out weir.SourceOutput[string], _ int) (weir.PollStatus, error) {
	for ; r.next < 3; r.next++ {
		out.Emit(fmt.Sprintf("%s-%d", r.id, r.next), int64(r.next))
	}
	return weir.Wait, nil
}
func (r *threeReader) Position() []byte { return strconv.AppendInt(nil, int64(r.next), 10) }
func (r *threeReader) Close() error     { return nil }
func (r *threeReader) SetWake(func())   {}

// A source discovers splits while the job runs and reads each once; its
// enumerator's state and the discovered splits' positions are in the
// savepoint, so a restore at another parallelism reads only what is new.
func TestSplitDiscovery(t *testing.T) {
	dir := t.TempDir()
	runUntil := func(src *discoveringSource, p int, want int, opts ...weir.Option) []string {
		t.Helper()
		stop := make(chan struct{})
		var (
			mu  sync.Mutex
			got []string
		)
		env := weir.New(append([]weir.Option{weir.Parallelism(p), weir.Checkpoints(time.Hour, dir), weir.StopOn(stop)}, opts...)...)
		s := weir.From(env, weir.Source[string](src), weir.DiscoveryInterval(time.Millisecond)).ID("files")
		weir.To(s, weir.Sink[string](sinkFunc[string](func(v string) {
			mu.Lock()
			defer mu.Unlock()
			if got = append(got, v); len(got) == want {
				close(stop)
			}
		}))).Parallelism(1)
		run(t, env)
		slices.Sort(got)
		return got
	}
	first := &discoveringSource{initial: []string{"a"}, available: []string{"a", "b", "c"}}
	got := runUntil(first, 2, 9)
	want := []string{"a-0", "a-1", "a-2", "b-0", "b-1", "b-2", "c-0", "c-1", "c-2"}
	if !slices.Equal(got, want) {
		t.Fatalf("first run read %v, want %v", got, want)
	}
	second := &discoveringSource{initial: []string{"a"}, available: []string{"a", "b", "c", "d"}}
	got = runUntil(second, 3, 3, weir.Restore("latest"))
	if want := []string{"d-0", "d-1", "d-2"}; !slices.Equal(got, want) {
		t.Fatalf("restored run read %v, want only the new split's %v", got, want)
	}
	if string(second.restored) != "a,b,c" {
		t.Fatalf("the restored enumerator got state %q, want %q", second.restored, "a,b,c")
	}
}
