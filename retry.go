package weir

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// retryPolicy is how a failed commit is retried: up to attempts calls in
// all, waiting backoff after the first failure and twice as long after each
// next one, up to maxBackoff.
type retryPolicy struct {
	attempts   int
	backoff    time.Duration
	maxBackoff time.Duration
}

var defaultRetry = retryPolicy{attempts: 5, backoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second}

// CommitRetries sets how a failed commit — a two-phase sink's Commit, a
// source reader's CheckpointComplete — is retried before the job fails: up
// to attempts calls in all, the first retry after backoff and each next one
// after twice the wait before it, up to 5 s (default 5 attempts from
// 100 ms). Commits are idempotent (TwoPhaseWriter), so a retry after a
// commit that took effect but reported an error is harmless. An error
// marked Permanent is not retried. The task
// waits while it retries: its records stay behind it, and the
// backpressure shows upstream.
func CommitRetries(attempts int, backoff time.Duration) Option {
	return optionFunc(func(c *config) { c.commitRetry.attempts, c.commitRetry.backoff = attempts, backoff })
}

func (p retryPolicy) validate() error {
	if p.attempts < 1 || p.backoff < 0 {
		return fmt.Errorf("CommitRetries: %d attempts must be at least 1 and backoff %v not negative", p.attempts, p.backoff)
	}
	return nil
}

// do calls f until it succeeds, the attempts run out or ctx is canceled;
// the error names what failed and how often.
func (p retryPolicy) do(ctx context.Context, what string, f func(context.Context) error) error {
	wait := p.backoff
	var errs []error
	for attempt := 1; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || IsPermanent(err) {
			return fmt.Errorf("%s: %w", what, err)
		}
		errs = append(errs, err)
		if attempt >= p.attempts {
			if attempt == 1 {
				return fmt.Errorf("%s: %w", what, err)
			}
			return fmt.Errorf("%s: failed %d times: %w", what, attempt, errors.Join(errs...))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: canceled while retrying: %w", what, errors.Join(append(errs, ctx.Err())...))
		}
		wait = min(2*wait, max(p.maxBackoff, p.backoff))
	}
}
