package weir

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
)

// RestartStrategy says how a job that fails restarts itself in the same
// process: it waits a backoff that grows exponentially from InitialBackoff
// by Multiplier up to MaxBackoff (each wait varied by ±Jitter of itself, so
// that many jobs failing together do not restart together), then restores
// its latest completed checkpoint and runs again. After MaxAttempts
// restarts in a row it fails. A run that lasted ResetAfter before it failed
// starts the count and the backoff over, so a job that runs for months
// with a failure now and then is not worn down to its last attempt. The
// knobs and their defaults are those of Flink's exponential-delay restart
// strategy, with a bound on the attempts.
//
// A zero field takes its default.
type RestartStrategy struct {
	// MaxAttempts is the most restarts in a row (default 10).
	MaxAttempts int
	// InitialBackoff is the wait before the first restart (default 1s).
	InitialBackoff time.Duration
	// MaxBackoff bounds the wait (default 1 minute).
	MaxBackoff time.Duration
	// Multiplier grows the wait after each restart in a row (default 1.5).
	Multiplier float64
	// Jitter varies each wait by up to this fraction of it (default 0.1;
	// negative for none).
	Jitter float64
	// ResetAfter is how long a run must last before its failure counts as
	// the first in a row again (default 1 hour).
	ResetAfter time.Duration
}

// Restarts makes a failing job restore its latest completed checkpoint and
// run again, as s says. It needs Checkpoints: without a checkpoint to go
// back to, a restart would read the input again from its start and repeat
// output that was already written. Until the first checkpoint of the run
// completes, a restart starts where the run started (empty, or the
// checkpoint Restore named): exactly-once sinks have committed nothing of
// the run by then.
//
// Only failures a restart can fix are retried: an operator's error or
// panic, a source or sink that failed while reading or writing, too many
// failed checkpoints. A job that cannot be built or restored (an invalid
// graph, a source that lists no splits when the job starts, a state
// declared wrong, a checkpoint that does not match the job or cannot be
// read) fails at once, and so does a job whose context was
// canceled or that was stopping (StopOn), or whose error a function marked
// with Permanent. Canceling the context or closing
// StopOn's channel while the job waits to restart ends it then, with the
// failure.
//
// Without Restarts a job does not restart: Run returns its first failure.
func Restarts(s RestartStrategy) Option {
	return optionFunc(func(c *config) { c.restart = &s })
}

// OnRestart calls f before each restart, after the failed run has
// stopped and before the backoff, with what failed and where the job will
// restart from. f runs on Run's goroutine.
func OnRestart(f func(Restart)) Option {
	return optionFunc(func(c *config) { c.onRestart = f })
}

// Restart describes one restart of a job.
type Restart struct {
	// Attempt counts the restarts of this Run, from 1.
	Attempt int
	// InARow counts the restarts since the job last ran for ResetAfter;
	// the job fails instead of restarting when it would exceed
	// MaxAttempts.
	InARow int
	// Cause is the failure that ended the previous run.
	Cause error
	// Backoff is the wait before the restart.
	Backoff time.Duration
	// From is the checkpoint or savepoint the job restores, or empty when
	// it starts over (no checkpoint of the run has completed and it did not
	// start from one).
	From string
	// Time is when the previous run failed.
	Time time.Time
}

// ErrRestartsExhausted is wrapped by the error of a job that failed more
// times in a row than its RestartStrategy allows.
var ErrRestartsExhausted = errors.New("weir: the job failed after its last restart")

func (s RestartStrategy) withDefaults() RestartStrategy {
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 10
	}
	if s.InitialBackoff == 0 {
		s.InitialBackoff = time.Second
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = max(time.Minute, s.InitialBackoff)
	}
	if s.Multiplier == 0 {
		s.Multiplier = 1.5
	}
	if s.Jitter == 0 {
		s.Jitter = 0.1
	}
	if s.ResetAfter == 0 {
		s.ResetAfter = time.Hour
	}
	return s
}

func (s RestartStrategy) validate() error {
	var errs []error
	if s.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("Restarts: MaxAttempts %d must not be negative", s.MaxAttempts))
	}
	if s.InitialBackoff < 0 || s.MaxBackoff < 0 || s.ResetAfter < 0 {
		errs = append(errs, fmt.Errorf("Restarts: InitialBackoff %v, MaxBackoff %v and ResetAfter %v must not be negative",
			s.InitialBackoff, s.MaxBackoff, s.ResetAfter))
	}
	if d := s.withDefaults(); d.MaxBackoff < d.InitialBackoff {
		errs = append(errs, fmt.Errorf("Restarts: MaxBackoff %v is below InitialBackoff %v", d.MaxBackoff, d.InitialBackoff))
	}
	if s.Multiplier != 0 && s.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("Restarts: Multiplier %v must be at least 1", s.Multiplier))
	}
	if s.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("Restarts: Jitter %v must be below 1", s.Jitter))
	}
	return errors.Join(errs...)
}

// backoff returns the wait before restart n in a row (from 1), without
// jitter: InitialBackoff × Multiplier^(n−1), at most MaxBackoff.
func (s RestartStrategy) backoff(n int) time.Duration {
	d := float64(s.InitialBackoff)
	for range n - 1 {
		d *= s.Multiplier
		if d >= float64(s.MaxBackoff) {
			return s.MaxBackoff
		}
	}
	return min(time.Duration(d), s.MaxBackoff)
}

// jittered varies d by up to ±Jitter of itself.
func (s RestartStrategy) jittered(d time.Duration) time.Duration {
	if s.Jitter <= 0 || d <= 0 {
		return d
	}
	return d + time.Duration((rand.Float64()*2-1)*s.Jitter*float64(d))
}

// permanentError marks a failure a restart cannot fix: the job or the
// checkpoint it restores is wrong, not the world it runs in; or a user
// function said so with Permanent.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent marks err as one a restart cannot fix; nil stays nil.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

// Permanent marks err as one that trying again cannot fix — a record the
// service answers 404 for, a request it rejects as malformed — as opposed
// to a timeout or an unavailable service. A function returns it to stop
// what would retry it:
//
//   - AsyncMap does not retry it (AsyncRetries): the record meets the
//     operator's error policy at once;
//   - a sink's Commit or a source reader's CheckpointComplete that returns
//     it is not retried (CommitRetries): the job fails at once;
//   - a run that fails with it is not restarted (Restarts): the restart
//     would read the same record again and fail the same way.
//
// The error reads as err, and errors.Is and errors.As see err through it;
// nil stays nil.
func Permanent(err error) error { return permanent(err) }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent (or is one of the engine's own failures that a restart cannot
// fix, such as a checkpoint that does not match the job).
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// restartable reports whether a restart may fix the failure err of a job
// run under ctx.
func restartable(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !IsPermanent(err)
}

// restartPoint returns what a restart restores: the newest completed
// checkpoint or savepoint of this run (ID above before, the highest in the
// directory when the run began), or else what the run began with. It must
// be the newest: sinks may have committed the output of any checkpoint that
// completed, and a restore from an older one would write that output
// again.
func restartPoint(ctx context.Context, store *checkpointStore, before int64, began string) (string, error) {
	info, err := checkpoint.Latest(ctx, store.dir)
	switch {
	case errors.Is(err, checkpoint.ErrNotFound):
		return began, nil
	case err != nil:
		return "", fmt.Errorf("restart: finding the latest checkpoint in %s: %w", store.dir.Location(), err)
	case info.Ref.ID <= before:
		return began, nil
	}
	return info.Location, nil
}

// wait waits d unless ctx is done or stop is closed first; it reports
// whether the whole wait passed.
func wait(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-stop:
	}
	return false
}
