package runtime

import (
	"context"
	"errors"
	"sync"
)

// Execute opens every task, runs each on a goroutine of its own until all
// have finished, and closes them; with a coordinator (nil for a job without
// checkpoints) it runs that on a goroutine too. The first task to fail
// cancels the others through cancel, which must cancel ctx; Execute returns
// that first failure rather than the cancellations it caused. Every
// goroutine it starts has returned when it returns.
func Execute(ctx context.Context, cancel context.CancelFunc, tasks []*Task, coord *Coordinator) error {
	defer cancel()
	if err := openAll(ctx, cancel, tasks); err != nil {
		return err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		first    error
		canceled bool
	)
	runs := make([]func(context.Context) error, 0, len(tasks)+1)
	for _, t := range tasks {
		runs = append(runs, t.Run)
	}
	if coord != nil {
		runs = append(runs, coord.Run)
	}
	for _, run := range runs {
		wg.Go(func() {
			err := run(ctx)
			if err == nil {
				return
			}
			mu.Lock()
			if isCancellation(err) {
				canceled = true
			} else if first == nil {
				first = err
			}
			mu.Unlock()
			cancel()
		})
	}
	wg.Wait()
	var closeErrs []error
	for _, t := range tasks {
		closeErrs = append(closeErrs, t.Close())
	}
	if first != nil {
		return first
	}
	if err := context.Cause(ctx); canceled && err != nil {
		// Canceled from outside: report why.
		if cerr := errors.Join(closeErrs...); cerr != nil {
			return errors.Join(err, cerr)
		}
		return err
	}
	return errors.Join(closeErrs...)
}

func isCancellation(err error) bool {
	return errors.Is(err, ErrCanceled) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// openAll opens the tasks in parallel — opening connects to external
// systems, restores state and commits restored output, and one slow
// subtask should not make the others wait — and returns once every Open
// has returned, so that no record flows before every task is ready. The
// first failure cancels the others' context; then every task is closed
// (Close closes only what Open opened) and the failures are returned, the
// first one first.
func openAll(ctx context.Context, cancel context.CancelFunc, tasks []*Task) error {
	errs := make([]error, len(tasks))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first = -1
	)
	for i, t := range tasks {
		wg.Go(func() {
			if errs[i] = t.Open(ctx); errs[i] == nil {
				return
			}
			mu.Lock()
			if first < 0 || (isCancellation(errs[first]) && !isCancellation(errs[i])) {
				first = i
			}
			mu.Unlock()
			cancel()
		})
	}
	wg.Wait()
	if first < 0 {
		return nil
	}
	out := []error{errs[first]}
	for i, t := range tasks {
		if i != first && errs[i] != nil && !isCancellation(errs[i]) {
			out = append(out, errs[i])
		}
		out = append(out, t.Close())
	}
	return errors.Join(out...)
}
