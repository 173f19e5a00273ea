package connectortest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

const (
	// checkpointInterval is short, so that jobs of a few hundred records
	// take several checkpoints.
	checkpointInterval = 10 * time.Millisecond
	// discoveryInterval is how often a discovering source looks for splits.
	discoveryInterval = 5 * time.Millisecond
	// jobTimeout bounds every wait for a job: a connector that never
	// delivers fails its check instead of hanging the test.
	jobTimeout = time.Minute
	// cancelLimit is how long a canceled job may take to return: generous,
	// since the point is that it returns, not how fast.
	cancelLimit = 20 * time.Second
)

// Operator IDs of the suite's jobs: restored runs find their state by them.
const (
	sourceID   = "connectortest-source"
	failID     = "connectortest-fail-once"
	decodeID   = "connectortest-decode"
	sinkID     = "connectortest-sink"
	sourceName = "connectortest source"
)

var errInjected = errors.New("connectortest: the failure injected once after a checkpoint")

// jobSpec is what varies between the runs of the suite's jobs.
type jobSpec struct {
	parallelism int
	restore     bool // from the latest checkpoint or savepoint
	// noCheckpoints runs the job without checkpoints (and without stop).
	noCheckpoints bool
	restarts      bool
	// failOnce, when set, fails the job once, soon after it is armed.
	failOnce *failOnce
	// deadLetters is the dead-letter directory of a job that decodes.
	deadLetters string
}

// failAfter is how many records pass the failing operator after it is
// armed before one fails: they reach the sink after the checkpoint, so the
// restored job has output to drop or to write again.
const failAfter = 20

// failOnce is an operator that fails the job once, when armed, on the
// failAfter+1st record it sees after that.
type failOnce struct {
	armed  atomic.Bool
	seen   atomic.Int64
	failed atomic.Bool
}

func (f *failOnce) check() error {
	if f.armed.Load() && f.seen.Add(1) > failAfter && f.failed.CompareAndSwap(false, true) {
		return errInjected
	}
	return nil
}

// options returns the options of a run with its stop channel and hooks.
func (s jobSpec) options(dir string, stop chan struct{}, onCheckpoint func(int64), onRestart func(weir.Restart)) []weir.Option {
	opts := []weir.Option{weir.Parallelism(s.parallelism)}
	if s.noCheckpoints {
		return opts
	}
	opts = append(opts, weir.Checkpoints(checkpointInterval, dir), weir.StopOn(stop),
		weir.OnCheckpoint(func(c weir.CheckpointMetrics) { onCheckpoint(c.ID) }))
	if s.restore {
		opts = append(opts, weir.Restore("latest"))
	}
	if s.restarts {
		opts = append(opts, weir.Restarts(weir.RestartStrategy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}),
			weir.OnRestart(onRestart))
	}
	if s.deadLetters != "" {
		opts = append(opts, weir.DeadLetters(s.deadLetters))
	}
	return opts
}

// running is a job running on a goroutine of its own.
type running struct {
	t      *testing.T
	env    *weir.Env
	cancel context.CancelFunc
	done   chan error
	stopCh chan struct{}
	stop1  sync.Once
	// checkpoints are the IDs of completed checkpoints, restarts the
	// restarts, both of this run.
	mu          sync.Mutex
	checkpoints []int64
	restarts    []weir.Restart
	onCkpt      func(id int64)
	ended       bool
	err         error
}

func newRunning(t *testing.T) *running {
	return &running{t: t, done: make(chan error, 1), stopCh: make(chan struct{})}
}

func (r *running) checkpointed(id int64) {
	r.mu.Lock()
	r.checkpoints = append(r.checkpoints, id)
	f := r.onCkpt
	r.mu.Unlock()
	if f != nil {
		f(id)
	}
}

func (r *running) restarted(rs weir.Restart) {
	r.mu.Lock()
	r.restarts = append(r.restarts, rs)
	r.mu.Unlock()
}

func (r *running) restartCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.restarts)
}

// start runs env.
func (r *running) start(env *weir.Env) {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	r.env, r.cancel = env, cancel
	go func() { r.done <- env.Run(ctx) }()
	r.t.Cleanup(func() {
		// A check that failed half way leaves no job behind.
		cancel()
		r.result(cancelLimit)
	})
}

// result waits up to d for Run to return; ok is false when it has not.
func (r *running) result(d time.Duration) (ok bool, err error) {
	if r.ended {
		return true, r.err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-r.done:
		r.ended, r.err = true, err
		return true, err
	case <-t.C:
		return false, nil
	}
}

// stop asks the job to stop with a savepoint.
func (r *running) stop() { r.stop1.Do(func() { close(r.stopCh) }) }

// wait waits for Run to return and returns its error.
func (r *running) wait(what string) error {
	r.t.Helper()
	ok, err := r.result(jobTimeout)
	if !ok {
		r.cancel()
		r.t.Fatalf("%s: the job did not end within %v", what, jobTimeout)
	}
	return err
}

// mustEnd waits for Run to return nil.
func (r *running) mustEnd(what string) {
	r.t.Helper()
	if err := r.wait(what); err != nil {
		r.t.Fatalf("%s: Run: %v", what, err)
	}
}

// waitFor waits until ch is closed; the job ending first, or the time
// running out, fails the check with progress, which says how far it got.
func (r *running) waitFor(ch <-chan struct{}, what string, progress func() string) {
	r.t.Helper()
	t := time.NewTimer(jobTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return
	case err := <-r.done:
		r.ended, r.err = true, err
		r.t.Fatalf("the job ended (Run: %v) before %s; %s", err, what, progress())
	case <-t.C:
		r.cancel()
		r.t.Fatalf("after %v, still waiting for %s; %s", jobTimeout, what, progress())
	}
}

// cancelled cancels the job and checks that Run returns the cancellation
// within cancelLimit.
func (r *running) cancelled(what string) {
	r.t.Helper()
	r.cancel()
	ok, err := r.result(cancelLimit)
	if !ok {
		r.t.Fatalf("%s: Run had not returned %v after its context was canceled", what, cancelLimit)
	}
	if !errors.Is(err, context.Canceled) {
		r.t.Fatalf("%s: Run after cancel = %v, want context.Canceled", what, err)
	}
}

// checkpointAfter returns a channel closed when a checkpoint completes
// after the call.
func (r *running) checkpointAfter() <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	r.mu.Lock()
	r.onCkpt = func(int64) { once.Do(func() { close(ch) }) }
	r.mu.Unlock()
	return ch
}

// progress describes how many of want the keys cover.
func progress(got func() []string, want []string) func() string {
	return func() string {
		if c := covers(got(), want); c != "" {
			return c
		}
		return fmt.Sprintf("all %d records there", len(want))
	}
}
