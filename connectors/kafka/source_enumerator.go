package kafka

import (
	"context"
	"sync"

	"github.com/weirstream/weir"
)

// Enumerator implements weir.SplitDiscoverer: it lists the partitions of
// the topics (those of new topics matching TopicRegex too) every
// weir.DiscoveryInterval. It keeps no state of its own.
func (s *Source[T]) Enumerator(ctx context.Context, _ []byte) (weir.SplitEnumerator, error) {
	f, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	e := &enumerator[T]{src: s, f: f, cancel: cancel, kick: make(chan struct{}, 1)}
	e.wg.Add(1)
	go e.run(lctx)
	return e, nil
}

// enumerator lists the source's partitions on a goroutine of its own, so
// that Discover never waits for the brokers: each Discover returns what
// the last listing found and asks for another.
type enumerator[T any] struct {
	src    *Source[T]
	f      *fetcher
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}

	mu struct {
		sync.Mutex
		found []weir.Split
		err   error
	}
}

// Discover implements weir.SplitEnumerator. A listing that failed for a
// reason that goes away by itself (the brokers are away) is tried again at
// the next Discover; another failure fails the job.
func (e *enumerator[T]) Discover(context.Context) ([]weir.Split, error) {
	e.mu.Lock()
	found, err := e.mu.found, e.mu.err
	e.mu.found, e.mu.err = nil, nil
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default: // a listing is asked for already
	}
	return found, err
}

// run lists the partitions each time Discover asks, until ctx is canceled.
func (e *enumerator[T]) run(ctx context.Context) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		lctx, cancel := context.WithTimeout(ctx, sourceStartTimeout(e.src.cfg.Conn))
		tps, err := e.src.list(lctx, e.f.adm, false)
		cancel()
		if ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		switch {
		case err == nil:
			e.mu.found = e.mu.found[:0]
			for _, tp := range tps {
				e.mu.found = append(e.mu.found, weir.Split{ID: tp.String()})
			}
		case !retriable(err):
			e.mu.err = err
		}
		e.mu.Unlock()
	}
}

// State implements weir.SplitEnumerator: the runtime keeps the splits it
// knows, which is all the enumerator needs.
func (e *enumerator[T]) State() ([]byte, error) { return nil, nil }

// Close implements weir.SplitEnumerator.
func (e *enumerator[T]) Close() error {
	e.cancel()
	e.wg.Wait()
	e.src.release()
	return nil
}
