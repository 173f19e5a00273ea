package weir

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/runtime"
)

// Env is a job being described: the graph of sources, operators and sinks
// built with From, Map, KeyBy, Process, To and friends, and the settings it
// runs with. Nothing runs until Run.
type Env struct {
	cfg   config
	nodes []*node
	errs  []error
	ran   bool

	// running is the job while Run runs, for Savepoint.
	running struct {
		sync.Mutex
		coord    *runtime.Coordinator
		store    *checkpointStore
		done     chan struct{}
		counters []*counters
	}
	// stats are the job's checkpoints and restarts, across its runs.
	stats jobStats

	// graphMu keeps Graph from validating while Run does; graph is the
	// graph Run validated.
	graphMu sync.Mutex
	graph   *JobGraph
}

type config struct {
	parallelism    int
	maxParallelism int
	batchSize      int
	queueCapacity  int
	inFlightTarget time.Duration
	inFlightSet    bool // InFlightTarget was given; otherwise the default applies
	bufferTimeout  time.Duration
	pollInterval   time.Duration
	// watermarkInterval paces watermarks within a poll or a batch.
	watermarkInterval time.Duration
	chaining          bool
	// unboundedQueues lifts the exchange bounds; only tests use it, to show
	// what the bounds prevent.
	unboundedQueues   bool
	checkpoint        checkpointConfig
	onError           ErrorPolicy
	deadLetters       string
	appendDeadLetters bool
	backend           Backend
	logger            *slog.Logger
	restart           *RestartStrategy
	onRestart         func(Restart)
	commitRetry       retryPolicy
}

// Option configures an Env.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Parallelism sets the default number of parallel subtasks of every
// operator (default 1).
func Parallelism(n int) Option { return optionFunc(func(c *config) { c.parallelism = n }) }

// MaxParallelism sets the number of key groups (default 128): the upper
// bound of any operator's parallelism and the unit in which keyed state is
// rescaled. It is recorded with the job's state and cannot change across a
// restore.
func MaxParallelism(n int) Option { return optionFunc(func(c *config) { c.maxParallelism = n }) }

// BatchSize sets how many records an exchange batch holds (default 256).
func BatchSize(n int) Option { return optionFunc(func(c *config) { c.batchSize = n }) }

// QueueCapacity sets how many batches each channel between two subtasks
// holds before the sender blocks (default 8).
func QueueCapacity(n int) Option { return optionFunc(func(c *config) { c.queueCapacity = n }) }

// DefaultInFlightTarget is the in-flight target of a job that takes
// checkpoints or savepoints and sets no InFlightTarget of its own: the
// target Flink's buffer debloating aims at.
const DefaultInFlightTarget = time.Second

// InFlightTarget bounds each channel between two subtasks to about d of
// what its consumer reads, re-measured every 200 ms as the job runs: the
// writer sends its batches once they hold rate × d ÷ QueueCapacity
// records, at least one and at most BatchSize, where rate is what the
// consumer reads while the channel holds records (time spent waiting for
// input does not count, so a consumer that keeps up keeps full batches).
// A checkpoint barrier waits behind every record queued before it, so
// behind a slow operator or sink a fixed bound of QueueCapacity full
// batches makes aligned checkpoints slow (a 1 ms per record sink holds them
// for 5–12 s at the default sizes); this bound keeps the wait near d per
// exchange.
//
// A job with a checkpoint directory (Checkpoints) gets
// DefaultInFlightTarget unless it sets its own; a job without one keeps the
// fixed bound. InFlightTarget(0) turns the bound off.
func InFlightTarget(d time.Duration) Option {
	return optionFunc(func(c *config) { c.inFlightTarget, c.inFlightSet = d, true })
}

// inFlight is the in-flight target the job's channels get: the one set
// with InFlightTarget, else DefaultInFlightTarget when barriers flow
// (checkpoints or savepoints), else none.
func (c config) inFlight() time.Duration {
	switch {
	case c.inFlightSet:
		return c.inFlightTarget
	case c.checkpoint.dir != "":
		return DefaultInFlightTarget
	}
	return 0
}

// BufferTimeout sets how long a partially filled batch may wait while its
// task is busy before it is sent anyway (default 5ms). A task that runs out
// of input sends its partial batches at once.
func BufferTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.bufferTimeout = d })
}

// DisableChaining runs every operator in a task of its own.
func DisableChaining() Option { return optionFunc(func(c *config) { c.chaining = false }) }

// New returns an empty job description.
func New(opts ...Option) *Env {
	e := &Env{cfg: config{
		parallelism:       1,
		maxParallelism:    keygroup.DefaultMaxParallelism,
		batchSize:         256,
		queueCapacity:     8,
		bufferTimeout:     5 * time.Millisecond,
		pollInterval:      5 * time.Millisecond,
		watermarkInterval: DefaultWatermarkInterval,
		chaining:          true,
		backend:           defaultBackend,
		commitRetry:       defaultRetry,
		checkpoint: checkpointConfig{
			timeout:           10 * time.Minute,
			tolerableFailures: 3,
			writers:           runtime.DefaultCheckpointWriters(),
			retain:            3,
		},
	}}
	for _, o := range opts {
		o.apply(&e.cfg)
	}
	return e
}

func (c config) validate() error {
	var errs []error
	if err := keygroup.Validate(c.maxParallelism, max(c.parallelism, 1)); err != nil {
		errs = append(errs, fmt.Errorf("MaxParallelism: %w", err))
	}
	if c.parallelism <= 0 {
		errs = append(errs, fmt.Errorf("Parallelism: %d must be positive", c.parallelism))
	}
	if c.batchSize <= 0 {
		errs = append(errs, fmt.Errorf("BatchSize: %d must be positive", c.batchSize))
	}
	if c.queueCapacity <= 0 {
		errs = append(errs, fmt.Errorf("QueueCapacity: %d must be positive", c.queueCapacity))
	}
	if c.inFlightTarget < 0 {
		errs = append(errs, fmt.Errorf("InFlightTarget: %v must not be negative", c.inFlightTarget))
	}
	if c.watermarkInterval < 0 {
		errs = append(errs, fmt.Errorf("WatermarkInterval: %v must not be negative", c.watermarkInterval))
	}
	if c.bufferTimeout < 0 {
		errs = append(errs, fmt.Errorf("BufferTimeout: %v must not be negative", c.bufferTimeout))
	}
	switch {
	case c.backend.open == nil:
		errs = append(errs, errors.New("StateBackend: no backend (use MemoryBackend, BytesBackend, PebbleBackend or ParseBackend)"))
	case c.backend.err != nil:
		errs = append(errs, fmt.Errorf("StateBackend: %w", c.backend.err))
	}
	if err := c.commitRetry.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.checkpoint.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.restart != nil {
		if err := c.restart.validate(); err != nil {
			errs = append(errs, err)
		}
		if c.checkpoint.interval <= 0 {
			errs = append(errs, errors.New("Restarts: restarting needs Checkpoints; without a checkpoint to go back to, a restart would read the input again and repeat output"))
		}
	}
	return errors.Join(errs...)
}

// fail records a mistake made while describing the job; Build and Run
// report it.
func (e *Env) fail(err error) { e.errs = append(e.errs, err) }
