package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countedSnapshot is a state snapshot that counts its releases, like one
// that holds a resource until released.
type countedSnapshot struct {
	name     string
	size     int
	released atomic.Int32
}

func (s *countedSnapshot) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(make([]byte, s.size))
	return int64(n), err
}

func (s *countedSnapshot) Release() { s.released.Add(1) }

// coordStore is a CheckpointStore that records what the coordinator asks
// of it and what it must never see: a write into a checkpoint already
// discarded, a Discard or Complete while a write runs, a completed
// checkpoint without a state file.
type coordStore struct {
	// write, when set, runs before each write; an error fails it.
	write func(ctx context.Context, id int64, st OperatorState) error
	// complete, when set, fails Complete with what it returns.
	complete func(id int64) error

	mu         sync.Mutex
	running    int
	maxRunning int
	written    []string // "id operator/subtask"
	discarded  []int64
	completed  []CompletedCheckpoint
	problems   []string
}

func (s *coordStore) WriteState(ctx context.Context, id int64, _ bool, st OperatorState) (string, int64, error) {
	name := fmt.Sprintf("%s-%d", st.OperatorID, st.Subtask)
	s.mu.Lock()
	s.running++
	s.maxRunning = max(s.maxRunning, s.running)
	if slices.Contains(s.discarded, id) {
		s.problems = append(s.problems, fmt.Sprintf("%s written into checkpoint %d after Discard", name, id))
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
	}()
	if s.write != nil {
		if err := s.write(ctx, id, st); err != nil {
			return "", 0, err
		}
	}
	n, err := st.State.WriteTo(io.Discard)
	if err != nil {
		return "", 0, err
	}
	s.mu.Lock()
	s.written = append(s.written, fmt.Sprintf("%d %s/%d", id, st.OperatorID, st.Subtask))
	s.mu.Unlock()
	return name, n, nil
}

func (s *coordStore) Complete(_ context.Context, c CompletedCheckpoint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running > 0 {
		s.problems = append(s.problems, fmt.Sprintf("checkpoint %d completed while %d writes run", c.ID, s.running))
	}
	for _, w := range c.States {
		if w.OperatorID != "c" && w.File == "" {
			s.problems = append(s.problems, fmt.Sprintf("checkpoint %d completed without the file of %s/%d", c.ID, w.OperatorID, w.Subtask))
		}
	}
	if s.complete != nil {
		if err := s.complete(c.ID); err != nil {
			return err
		}
	}
	s.completed = append(s.completed, c)
	return nil
}

func (s *coordStore) Discard(_ context.Context, id int64, _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running > 0 {
		s.problems = append(s.problems, fmt.Sprintf("checkpoint %d discarded while %d writes run", id, s.running))
	}
	s.discarded = append(s.discarded, id)
	return nil
}

// storeView is what a coordStore has seen so far.
type storeView struct {
	running, maxRunning int
	written             []string // sorted
	discarded           []int64
	completed           []CompletedCheckpoint
}

func (s *coordStore) view() storeView {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := storeView{running: s.running, maxRunning: s.maxRunning, written: slices.Clone(s.written),
		discarded: slices.Clone(s.discarded), completed: slices.Clone(s.completed)}
	slices.Sort(v.written)
	return v
}

// coordHarness runs a coordinator over n source tasks. Each task's chain
// has operators "a" and "b", whose snapshots are countedSnapshots, and
// "c", which has positions but no state file. A goroutine per task runs its
// mailbox, as the task loop would.
type coordHarness struct {
	t     *testing.T
	store *coordStore
	tasks []*Task
	coord *Coordinator

	// onSnapshot, when set, runs before each of a task's snapshots; it
	// may block (holding the acknowledgement back) or fail (declining).
	onSnapshot func(ctx context.Context, task int, op string, id int64) error

	mu        sync.Mutex
	snaps     []*countedSnapshot
	stats     []CheckpointStats
	completes []string // "task id" of every CheckpointComplete
	runErr    error
	runDone   bool
	// writesAtReturn is how many writes ran when Run returned.
	writesAtReturn int

	stopDrivers context.CancelFunc
	wg          sync.WaitGroup
}

type harnessOp struct {
	h    *coordHarness
	task int
	id   string
}

func (o *harnessOp) Name() string               { return o.id }
func (o *harnessOp) Open(context.Context) error { return nil }
func (o *harnessOp) OnWatermark(int64) error    { return nil }
func (o *harnessOp) EndInput() error            { return nil }
func (o *harnessOp) Close() error               { return nil }

func (o *harnessOp) Snapshot(ctx context.Context, id int64, _ bool) (OperatorState, error) {
	h := o.h
	if h.onSnapshot != nil {
		if err := h.onSnapshot(ctx, o.task, o.id, id); err != nil {
			return OperatorState{}, err
		}
	}
	if o.id == "c" {
		return OperatorState{Splits: []SplitState{{Split: fmt.Sprint(o.task)}}}, nil
	}
	s := &countedSnapshot{name: fmt.Sprintf("%d %s/%d", id, o.id, o.task), size: 100*o.task + len(o.id)}
	h.mu.Lock()
	h.snaps = append(h.snaps, s)
	h.mu.Unlock()
	return OperatorState{State: s}, nil
}

func (o *harnessOp) CheckpointComplete(_ context.Context, id int64) error {
	if o.id == "a" {
		o.h.mu.Lock()
		o.h.completes = append(o.h.completes, fmt.Sprintf("%d %d", o.task, id))
		o.h.mu.Unlock()
	}
	return nil
}

// idleSource is a Source that never reads anything.
type idleSource struct{}

func (idleSource) Poll(context.Context, time.Time) (bool, bool, error) { return false, false, nil }
func (idleSource) Watermark(time.Time) (int64, bool)                   { return MinWatermark, false }
func (idleSource) NextPoll(time.Time) time.Time                        { return time.Time{} }
func (idleSource) Close() error                                        { return nil }

// newCoordHarness builds the tasks and the coordinator; start runs them.
func newCoordHarness(t *testing.T, n int, cfg CheckpointConfig) *coordHarness {
	h := &coordHarness{t: t, store: &coordStore{}}
	for i := range n {
		task := &Task{
			Name: "src", Subtask: i, Parallelism: n, Meta: &Meta{}, Source: idleSource{},
			OpIDs: []string{"a", "b", "c"}, Mailbox: make(chan func(context.Context) error, 4),
		}
		for _, id := range task.OpIDs {
			task.Ops = append(task.Ops, &harnessOp{h: h, task: i, id: id})
		}
		h.tasks = append(h.tasks, task)
	}
	cfg.Report = func(s CheckpointStats) {
		h.mu.Lock()
		h.stats = append(h.stats, s)
		h.mu.Unlock()
	}
	h.coord = NewCoordinator(cfg, h.store, h.tasks)
	return h
}

// start opens the tasks and runs the coordinator and the mailboxes until
// ctx is canceled (the coordinator) or stop is called (the mailboxes).
func (h *coordHarness) start(ctx context.Context) {
	h.t.Cleanup(h.shutdown)
	for _, task := range h.tasks {
		if err := task.Open(ctx); err != nil {
			h.t.Fatal(err)
		}
	}
	dctx, cancel := context.WithCancel(context.Background())
	h.stopDrivers = cancel
	for _, task := range h.tasks {
		h.wg.Go(func() {
			for {
				select {
				case f := <-task.Mailbox:
					if err := f(dctx); err != nil {
						h.t.Errorf("task %d: %v", task.Subtask, err)
					}
				case <-dctx.Done():
					return
				}
			}
		})
	}
	h.wg.Go(func() {
		err := h.coord.Run(ctx)
		running := h.store.view().running
		h.mu.Lock()
		h.runErr, h.runDone, h.writesAtReturn = err, true, running
		h.mu.Unlock()
	})
}

// stop ends the mailboxes, waits for every goroutine and checks what must
// hold whatever the test did: the store saw no write into a discarded
// checkpoint and no Discard during a write, and every snapshot was
// released exactly once.
func (h *coordHarness) stop() {
	h.t.Helper()
	h.shutdown()
	for _, p := range h.store.problems {
		h.t.Error(p)
	}
	for _, s := range h.snaps {
		if n := s.released.Load(); n != 1 {
			h.t.Errorf("snapshot %s released %d times, want once", s.name, n)
		}
	}
}

// shutdown stops the mailboxes and waits for every goroutine; the test has
// canceled the coordinator's context (or fails, which cancels it).
func (h *coordHarness) shutdown() {
	h.stopDrivers()
	h.wg.Wait()
}

// released returns the names of the snapshots released so far.
func (h *coordHarness) released() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, s := range h.snaps {
		if s.released.Load() > 0 {
			out = append(out, s.name)
		}
	}
	slices.Sort(out)
	return out
}

func (h *coordHarness) reports() []CheckpointStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.stats)
}

// gate returns a channel to close and a hook that waits on it.
func gate() (chan struct{}, func(ctx context.Context) error) {
	ch := make(chan struct{})
	return ch, func(ctx context.Context) error {
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// A task's snapshots are written as soon as it acknowledges, while another
// task has not yet; the checkpoint completes, with every file and its
// size, once the last task has acknowledged and its files are written.
func TestCoordinatorWritesEachTaskOnAcknowledge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 3, CheckpointConfig{Interval: time.Minute})
		open, wait := gate()
		h.onSnapshot = func(ctx context.Context, task int, op string, id int64) error {
			if task == 2 && op == "a" {
				return wait(ctx)
			}
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()

		early := []string{"1 a/0", "1 a/1", "1 b/0", "1 b/1"}
		if got := h.store.view().written; !slices.Equal(got, early) {
			t.Errorf("before the last acknowledgement: written %q, want %q", got, early)
		}
		if got := h.released(); !slices.Equal(got, early) {
			t.Errorf("before the last acknowledgement: released %q, want the written ones %q", got, early)
		}
		if len(h.store.view().completed) != 0 || len(h.reports()) != 0 {
			t.Fatal("the checkpoint completed before every task acknowledged")
		}

		close(open)
		synctest.Wait()
		if len(h.store.view().completed) != 1 {
			t.Fatalf("%d checkpoints completed, want 1", len(h.store.view().completed))
		}
		c := h.store.view().completed[0]
		var got []string
		var bytes int64
		for _, w := range c.States {
			got = append(got, fmt.Sprintf("%s/%d %s %d %d", w.OperatorID, w.Subtask, w.File, w.Size, len(w.Splits)))
			if w.State != nil {
				t.Errorf("%s/%d: the completed checkpoint holds the snapshot", w.OperatorID, w.Subtask)
			}
			bytes += w.Size
		}
		want := []string{
			"a/0 a-0 1 0", "b/0 b-0 1 0", "c/0  0 1",
			"a/1 a-1 101 0", "b/1 b-1 101 0", "c/1  0 1",
			"a/2 a-2 201 0", "b/2 b-2 201 0", "c/2  0 1",
		}
		if !slices.Equal(got, want) {
			t.Errorf("completed states:\n got %q\nwant %q", got, want)
		}
		r := h.reports()
		if len(r) != 1 || r[0].ID != 1 || r[0].Err != nil || r[0].Bytes != bytes || bytes != 606 {
			t.Errorf("reports %+v, want checkpoint 1 completed with %d bytes", r, bytes)
		}
		h.mu.Lock()
		completes := slices.Clone(h.completes)
		h.mu.Unlock()
		slices.Sort(completes)
		if want := []string{"0 1", "1 1", "2 1"}; !slices.Equal(completes, want) {
			t.Errorf("tasks told of completions %q, want %q", completes, want)
		}
		cancel()
		synctest.Wait()
		h.stop()
		if !errors.Is(h.runErr, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", h.runErr)
		}
	})
}

// No more states are written at once than the pool has writers, and they
// are written in parallel up to that.
func TestCoordinatorBoundsConcurrentWrites(t *testing.T) {
	for _, writers := range []int{1, 2, 5} {
		t.Run(fmt.Sprint(writers), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newCoordHarness(t, 6, CheckpointConfig{Interval: time.Minute, Writers: writers})
				open, wait := gate()
				h.store.write = func(ctx context.Context, _ int64, _ OperatorState) error { return wait(ctx) }
				ctx, cancel := context.WithCancel(t.Context())
				h.start(ctx)
				time.Sleep(time.Minute)
				synctest.Wait()
				if running := h.store.view().running; running != writers {
					t.Errorf("%d writes running, want %d", running, writers)
				}
				close(open)
				synctest.Wait()
				if h.store.view().maxRunning != writers {
					t.Errorf("at most %d writes ran at once, want %d", h.store.view().maxRunning, writers)
				}
				if len(h.store.view().completed) != 1 || len(h.store.view().written) != 12 {
					t.Errorf("%d checkpoints completed with %d states written, want 1 with 12", len(h.store.view().completed), len(h.store.view().written))
				}
				cancel()
				synctest.Wait()
				h.stop()
			})
		})
	}
}

// The checkpoint timeout covers the writes: a checkpoint whose writes hang
// fails, naming them; the writes are canceled and the checkpoint is
// discarded only after they returned; the next checkpoint completes.
func TestCoordinatorTimeoutCoversWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 3, CheckpointConfig{Interval: time.Minute, Timeout: 10 * time.Second, TolerableFailures: 1, Writers: 6})
		h.store.write = func(ctx context.Context, id int64, st OperatorState) error {
			if id == 1 && st.Subtask == 1 {
				<-ctx.Done()
				// A write takes a moment to notice: Discard must wait.
				time.Sleep(time.Second)
				return ctx.Err()
			}
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		if len(h.reports()) != 0 {
			t.Fatalf("checkpoint 1 ended before its timeout: %+v", h.reports())
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if len(h.store.view().discarded) != 0 {
			t.Fatal("checkpoint 1 discarded while its writes were still returning")
		}
		time.Sleep(time.Second) // the writes return
		synctest.Wait()
		r := h.reports()
		want := "checkpoint 1 timed out after 10s, still writing the state of operator a subtask 1, operator b subtask 1"
		if len(r) != 1 || r[0].Err == nil || r[0].Err.Error() != want {
			t.Fatalf("reports %+v, want checkpoint 1 failed with %q", r, want)
		}
		if !slices.Equal(h.store.view().discarded, []int64{1}) {
			t.Errorf("discarded %v, want [1]", h.store.view().discarded)
		}

		// The next checkpoint is due one interval after the first began.
		time.Sleep(49 * time.Second)
		synctest.Wait()
		r = h.reports()
		if len(r) != 2 || r[1].ID != 2 || r[1].Err != nil {
			t.Errorf("reports %+v, want checkpoint 2 completed", r)
		}
		cancel()
		synctest.Wait()
		h.stop()
	})
}

// A timeout before every task acknowledged names the tasks still missing
// and the writes still running, and the late acknowledgement's snapshots
// are released without being written.
func TestCoordinatorTimeoutNamesMissingTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 3, CheckpointConfig{Interval: time.Minute, Timeout: 10 * time.Second, Writers: 1})
		open, wait := gate()
		h.onSnapshot = func(ctx context.Context, task int, op string, id int64) error {
			if task == 2 && op == "a" {
				return wait(ctx)
			}
			return nil
		}
		h.store.write = func(ctx context.Context, id int64, st OperatorState) error {
			<-ctx.Done()
			return ctx.Err()
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute + 10*time.Second)
		synctest.Wait()
		r := h.reports()
		// Which of the acknowledged states is written first depends on
		// which task acknowledged first.
		want := regexp.MustCompile(`^checkpoint 1 timed out after 10s, still writing the state of operator a subtask [01] \(3 more waiting for a writer\); ` +
			`waiting for 1 of 3 tasks to acknowledge: src subtask 2$`)
		if len(r) != 1 || r[0].Err == nil || !want.MatchString(r[0].Err.Error()) {
			t.Fatalf("reports %+v, want checkpoint 1 failed with %q", r, want)
		}
		if got, want := h.released(), []string{"1 a/0", "1 a/1", "1 b/0", "1 b/1"}; !slices.Equal(got, want) {
			t.Errorf("released %q after the failure, want %q", got, want)
		}
		close(open)
		synctest.Wait()
		if len(h.store.view().written) != 0 {
			t.Errorf("written %q, want nothing", h.store.view().written)
		}
		cancel()
		synctest.Wait()
		h.stop() // checks the late snapshots were released
	})
}

// A write that fails fails the checkpoint at once, naming the operator
// subtask, without waiting for the tasks that have not acknowledged; their
// late snapshots are released, not written.
func TestCoordinatorWriteErrorFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 3, CheckpointConfig{Interval: time.Minute, TolerableFailures: 1})
		open, wait := gate()
		h.onSnapshot = func(ctx context.Context, task int, op string, id int64) error {
			if task == 2 && op == "a" {
				return wait(ctx)
			}
			return nil
		}
		full := errors.New("no space left on device")
		h.store.write = func(_ context.Context, id int64, st OperatorState) error {
			if st.OperatorID == "b" && st.Subtask == 1 {
				return full
			}
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		r := h.reports()
		if len(r) != 1 || !errors.Is(r[0].Err, full) || !strings.Contains(r[0].Err.Error(), "checkpoint 1: operator b subtask 1: ") {
			t.Fatalf("reports %+v, want checkpoint 1 failed by the write of operator b subtask 1", r)
		}
		if !slices.Equal(h.store.view().discarded, []int64{1}) {
			t.Errorf("discarded %v, want [1]", h.store.view().discarded)
		}
		close(open)
		synctest.Wait()
		if w := h.store.view().written; slices.ContainsFunc(w, func(s string) bool { return strings.HasSuffix(s, "/2") }) {
			t.Errorf("written %q: the late acknowledgement's states were written", w)
		}
		cancel()
		synctest.Wait()
		h.stop()
	})
}

// A decline fails the checkpoint at once and cancels the writes running
// for it; the checkpoint is discarded after they have returned.
func TestCoordinatorDeclineCancelsWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 2, CheckpointConfig{Interval: time.Minute, TolerableFailures: 1})
		open, wait := gate()
		broken := errors.New("snapshot broke")
		h.onSnapshot = func(ctx context.Context, task int, op string, id int64) error {
			if task == 1 && op == "a" {
				wait(ctx)
				return broken
			}
			return nil
		}
		h.store.write = func(ctx context.Context, id int64, st OperatorState) error {
			<-ctx.Done()
			time.Sleep(time.Second)
			return ctx.Err()
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		if running := h.store.view().running; running != 2 {
			t.Fatalf("%d writes running before the decline, want 2", running)
		}
		close(open)
		time.Sleep(time.Second) // the writes return
		synctest.Wait()
		r := h.reports()
		if len(r) != 1 || !errors.Is(r[0].Err, broken) {
			t.Fatalf("reports %+v, want checkpoint 1 declined", r)
		}
		if !slices.Equal(h.store.view().discarded, []int64{1}) || len(h.store.view().written) != 0 {
			t.Errorf("discarded %v and written %q, want [1] and nothing", h.store.view().discarded, h.store.view().written)
		}
		cancel()
		synctest.Wait()
		h.stop()
	})
}

// Canceling the job cancels the writes; Run returns only after every
// writer has, and snapshots nobody wrote are released — also those
// acknowledged after Run returned.
func TestCoordinatorCancelWaitsForWriters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 4, CheckpointConfig{Interval: time.Minute, Writers: 2})
		open, wait := gate()
		h.onSnapshot = func(ctx context.Context, task int, op string, id int64) error {
			if task == 3 && op == "a" {
				return wait(ctx)
			}
			return nil
		}
		h.store.write = func(ctx context.Context, id int64, st OperatorState) error {
			<-ctx.Done()
			time.Sleep(time.Second)
			return ctx.Err()
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		time.Sleep(time.Second) // the writes return
		synctest.Wait()
		h.mu.Lock()
		done, err, running := h.runDone, h.runErr, h.writesAtReturn
		h.mu.Unlock()
		if !done || !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: done %v, %v; want it returned context.Canceled", done, err)
		}
		if running != 0 {
			t.Errorf("Run returned while %d writes ran", running)
		}
		if got := len(h.released()); got != 6 {
			t.Errorf("%d snapshots released when Run returned, want the 6 acknowledged", got)
		}
		if len(h.reports()) != 0 || len(h.store.view().discarded) != 0 {
			t.Errorf("reports %+v, discarded %v: a canceled job reports and discards nothing", h.reports(), h.store.view().discarded)
		}
		close(open) // task 3 acknowledges after Run returned
		synctest.Wait()
		h.stop()
	})
}

// setWriters sets the size of the writer pool for the benchmark.
func setWriters(cfg *CheckpointConfig, n int) { cfg.Writers = n }

// A checkpoint whose metadata cannot be written fails after its writes and
// is discarded; the tasks are not told it completed.
func TestCoordinatorCompleteFailureDiscards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newCoordHarness(t, 2, CheckpointConfig{Interval: time.Minute, TolerableFailures: 1})
		readOnly := errors.New("read-only file system")
		h.store.complete = func(id int64) error {
			if id == 1 {
				return readOnly
			}
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		h.start(ctx)
		time.Sleep(time.Minute)
		synctest.Wait()
		r := h.reports()
		if len(r) != 1 || !errors.Is(r[0].Err, readOnly) || !strings.HasPrefix(r[0].Err.Error(), "checkpoint 1: ") {
			t.Fatalf("reports %+v, want checkpoint 1 failed by its metadata", r)
		}
		v := h.store.view()
		if len(v.written) != 4 || !slices.Equal(v.discarded, []int64{1}) {
			t.Errorf("written %q, discarded %v; want the 4 states written, then checkpoint 1 discarded", v.written, v.discarded)
		}
		h.mu.Lock()
		completes := len(h.completes)
		h.mu.Unlock()
		if completes != 0 {
			t.Errorf("tasks told of %d completions, want none", completes)
		}
		cancel()
		synctest.Wait()
		h.stop()
	})
}

// A checkpoint's report splits its duration: until the last task
// acknowledged (sync), the writes still running then (async), and the
// metadata. Snapshots, writes and the metadata take known fake time.
func TestCoordinatorReportsWhereTimeGoes(t *testing.T) {
	const s = time.Second
	cases := []struct {
		name string
		// lastAck is when task 1, the last, acknowledges after the
		// trigger; writes[i] is how long each of task i's writes takes.
		lastAck  time.Duration
		writes   [2]time.Duration
		metadata time.Duration
		// timeout, when set, fails the checkpoint; metadataFails fails
		// its Complete.
		timeout       time.Duration
		metadataFails bool

		sync, async, meta, duration time.Duration
	}{
		{name: "writes after the last acknowledgement", lastAck: 3 * s, writes: [2]time.Duration{5 * s, 4 * s}, metadata: s,
			sync: 3 * s, async: 4 * s, meta: s, duration: 8 * s},
		{name: "an earlier task's write is the last", lastAck: 3 * s, writes: [2]time.Duration{9 * s, s}, metadata: 2 * s,
			sync: 3 * s, async: 6 * s, meta: 2 * s, duration: 11 * s},
		{name: "every write done at the last acknowledgement", lastAck: 6 * s, writes: [2]time.Duration{5 * s, 0}, metadata: s,
			sync: 6 * s, async: 0, meta: s, duration: 7 * s},
		{name: "no time spent writing", writes: [2]time.Duration{0, 0},
			sync: 0, async: 0, meta: 0, duration: 0},
		{name: "the metadata fails", lastAck: 2 * s, writes: [2]time.Duration{s, 3 * s}, metadata: 4 * s, metadataFails: true,
			sync: 2 * s, async: 3 * s, meta: 4 * s, duration: 9 * s},
		{name: "timed out writing", lastAck: 2 * s, writes: [2]time.Duration{5 * s, time.Hour}, timeout: 10 * s,
			sync: 2 * s, async: 0, meta: 0, duration: 10 * s},
		{name: "timed out before the last acknowledgement", lastAck: time.Hour, writes: [2]time.Duration{s, s}, timeout: 10 * s,
			sync: 0, async: 0, meta: 0, duration: 10 * s},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newCoordHarness(t, 2, CheckpointConfig{Interval: time.Minute, Timeout: tc.timeout, TolerableFailures: 1, Writers: 4})
				h.onSnapshot = func(ctx context.Context, task int, op string, id int64) error {
					if task == 1 && op == "a" && tc.lastAck > 0 {
						select {
						case <-time.After(tc.lastAck):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					return nil
				}
				h.store.write = func(ctx context.Context, _ int64, st OperatorState) error {
					if d := tc.writes[st.Subtask]; d > 0 {
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return ctx.Err()
						}
					}
					return nil
				}
				broken := errors.New("metadata not written")
				h.store.complete = func(int64) error {
					time.Sleep(tc.metadata)
					if tc.metadataFails {
						return broken
					}
					return nil
				}
				ctx, cancel := context.WithCancel(t.Context())
				h.start(ctx)
				time.Sleep(time.Minute + 30*s)
				synctest.Wait()
				r := h.reports()
				if len(r) != 1 {
					t.Fatalf("reports %+v, want one", r)
				}
				got := r[0]
				if failed := tc.timeout > 0 || tc.metadataFails; failed != (got.Err != nil) {
					t.Errorf("checkpoint error %v, want failed %v", got.Err, failed)
				}
				if got.SyncDuration != tc.sync || got.AsyncDuration != tc.async || got.MetadataDuration != tc.meta || got.Duration != tc.duration {
					t.Errorf("sync %v, async %v, metadata %v, duration %v; want %v, %v, %v, %v",
						got.SyncDuration, got.AsyncDuration, got.MetadataDuration, got.Duration, tc.sync, tc.async, tc.meta, tc.duration)
				}
				cancel()
				synctest.Wait()
				h.stop()
			})
		})
	}
}
