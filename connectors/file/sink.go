package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/weirstream/weir"
)

// Sink writes records to part files under a base directory and makes them
// visible exactly once, in step with checkpoints. Its writers implement
// weir.SinkWriter, weir.TwoPhaseWriter and weir.EventTimeWriter.
//
// A Sink value draws one attempt ID for each run of the job it is given to:
// the first when it is made, another for each restart inside the process
// (weir.SinkInfo.Attempt), so the files a failed run left hidden are told
// from the new run's and removed. A job started again in a new process
// makes a new Sink with New.
type Sink[T any] struct {
	cfg     Config[T]
	attempt string

	mu       sync.Mutex
	restarts map[int]string // attempt IDs of the runs after restarts, by restart
}

var _ weir.Sink[int] = (*Sink[int])(nil)

// New returns a sink configured by cfg, or the error of cfg.Validate. It
// draws the sink's attempt ID.
func New[T any](cfg Config[T]) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Sink[T]{cfg: cfg.withDefaults(), attempt: newAttempt()}, nil
}

// Attempt returns the sink's attempt ID, the part of its file names that
// tells this run's files from those of earlier runs.
func (s *Sink[T]) Attempt() string { return s.attempt }

// attemptOf returns the attempt ID of the run after restart n (0: the
// first run); every subtask of that run gets the same one.
func (s *Sink[T]) attemptOf(n int) string {
	if n == 0 {
		return s.attempt
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.restarts == nil {
		s.restarts = map[int]string{}
	}
	a, ok := s.restarts[n]
	if !ok {
		a = newAttempt()
		s.restarts[n] = a
	}
	return a
}

// Open implements weir.Sink: it creates the base directory if needed and
// returns the writer of one subtask, a *Writer[T].
func (s *Sink[T]) Open(_ context.Context, info weir.SinkInfo) (weir.SinkWriter[T], error) {
	return s.OpenWriter(info)
}

// OpenWriter is Open with the concrete result type.
func (s *Sink[T]) OpenWriter(info weir.SinkInfo) (*Writer[T], error) {
	if info.Subtask < 0 {
		return nil, fmt.Errorf("file sink %s: subtask %d must not be negative", s.cfg.Dir, info.Subtask)
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	// The base directory's own entry must survive a crash as well as the
	// files in it.
	if err := syncDir(filepath.Dir(filepath.Clean(s.cfg.Dir))); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	root, err := os.OpenRoot(s.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return &Writer[T]{
		cfg:     &s.cfg,
		attempt: s.attemptOf(info.Attempt),
		subtask: info.Subtask,
		root:    root,
		open:    map[string]*partFile[T]{},
		made:    map[string]bool{},
		synced:  map[string]bool{},
	}, nil
}

func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
