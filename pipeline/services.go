package pipeline

import (
	"context"
	"errors"
	"sync"
)

// Run runs the job: the Env it was built into, and while it runs the
// services of the pipeline — the HTTP server of each http input. When the
// Env's run returns, the services are stopped and what Build opened (the
// lookup clients of enrich steps, the journals of http inputs) is closed.
// A pipeline without http inputs may be run with the Env's Run instead,
// followed by Close.
func (j *Job) Run(ctx context.Context) error {
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make([]error, len(j.services))
	for i, serve := range j.services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = serve(sctx)
		}()
	}
	err := j.env.Run(ctx)
	stop()
	wg.Wait()
	return errors.Join(append([]error{err}, append(errs, j.Close())...)...)
}

// Close releases what Build opened: the lookup clients of enrich steps
// and the journals and listeners of http inputs. Run closes them itself;
// Close is for a job built and not run. It may be called more than once.
func (j *Job) Close() error {
	var errs []error
	for i := len(j.closers) - 1; i >= 0; i-- {
		errs = append(errs, j.closers[i]())
	}
	j.closers = nil
	return errors.Join(errs...)
}
