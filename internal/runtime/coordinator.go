package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/failpoint"
)

// CheckpointStore is where the coordinator writes checkpoints.
type CheckpointStore interface {
	// WriteState writes one operator subtask's state snapshot of checkpoint
	// (or savepoint) id and returns the name of the file it wrote and its
	// size in bytes.
	WriteState(ctx context.Context, id int64, savepoint bool, st OperatorState) (file string, size int64, err error)
	// Complete records checkpoint id with the states of every operator
	// subtask; the checkpoint exists once Complete has returned.
	Complete(ctx context.Context, c CompletedCheckpoint) error
	// Discard removes what was written for a checkpoint (or savepoint) that
	// did not complete.
	Discard(ctx context.Context, id int64, savepoint bool) error
}

// CompletedCheckpoint is what the coordinator hands the store for a
// checkpoint every task acknowledged.
type CompletedCheckpoint struct {
	ID   int64
	Time time.Time
	// Savepoint marks a savepoint: taken on request, kept until deleted.
	Savepoint bool
	States    []WrittenState
}

// WrittenState is an operator subtask's part of a completed checkpoint.
type WrittenState struct {
	OperatorState
	// File is where the State snapshot was written; empty when the
	// operator has no backend.
	File string
}

// CheckpointConfig configures the coordinator.
type CheckpointConfig struct {
	// Interval between the start of one checkpoint and the trigger of the
	// next.
	Interval time.Duration
	// Timeout fails a checkpoint that has not completed in time.
	Timeout time.Duration
	// MinPause is the least time between the end of one checkpoint and the
	// start of the next.
	MinPause time.Duration
	// TolerableFailures is how many checkpoints in a row may fail before
	// the job fails.
	TolerableFailures int
	// FirstID is the ID of the first checkpoint (one more than the ID of
	// the checkpoint the job restored from).
	FirstID int64
	// Report, if set, is called on the coordinator's goroutine after each
	// checkpoint completes or fails.
	Report func(CheckpointStats)
}

// CheckpointStats describe one checkpoint or savepoint that completed or
// failed.
type CheckpointStats struct {
	ID        int64
	Savepoint bool
	// Duration is the time from the trigger to the completion (or the
	// failure): the barriers' way through the job, the writes and the
	// metadata.
	Duration time.Duration
	// Bytes is the size of the state files written.
	Bytes int64
	// Alignment is the longest time a task waited between the first and
	// the last barrier on its inputs.
	Alignment time.Duration
	// Err is why the checkpoint failed; nil when it completed.
	Err error
}

// Coordinator triggers checkpoints, collects the tasks' snapshots, writes
// them and completes checkpoints, at most one at a time. When every source
// has ended it takes a final checkpoint; its completion lets the tasks
// finish.
type Coordinator struct {
	cfg     CheckpointConfig
	store   CheckpointStore
	tasks   []*Task
	sources []*Task

	wake chan struct{}
	mu   struct {
		sync.Mutex
		events []coordEvent
	}
}

type coordEvent struct {
	kind      uint8 // ack, decline, source ended, stop or savepoint
	id        int64
	task      int
	alignment time.Duration
	states    []OperatorState
	err       error
	reply     chan<- SavepointResult // for savepoint requests
}

// SavepointResult is the outcome of a requested savepoint.
type SavepointResult struct {
	ID  int64
	Err error
}

const (
	evAck uint8 = iota
	evDecline
	evSourceEnded
	evStop
	evSavepoint
)

// NewCoordinator returns a coordinator for the tasks; it sets itself as
// every task's Checkpointer and numbers the tasks.
func NewCoordinator(cfg CheckpointConfig, store CheckpointStore, tasks []*Task) *Coordinator {
	if cfg.FirstID <= 0 {
		cfg.FirstID = 1
	}
	c := &Coordinator{cfg: cfg, store: store, tasks: tasks, wake: make(chan struct{}, 1)}
	for i, t := range tasks {
		t.Index = i
		t.Checkpointer = c
		if t.Source != nil {
			c.sources = append(c.sources, t)
		}
	}
	return c
}

func (c *Coordinator) post(e coordEvent) {
	c.mu.Lock()
	c.mu.events = append(c.mu.events, e)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Coordinator) take() []coordEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := c.mu.events
	c.mu.events = nil
	return ev
}

// Acknowledge implements Checkpointer.
func (c *Coordinator) Acknowledge(id int64, task int, alignment time.Duration, states []OperatorState) {
	c.post(coordEvent{kind: evAck, id: id, task: task, alignment: alignment, states: states})
}

// Decline implements Checkpointer.
func (c *Coordinator) Decline(id int64, task int, err error) {
	c.post(coordEvent{kind: evDecline, id: id, task: task, err: err})
}

// SourceEnded implements Checkpointer.
func (c *Coordinator) SourceEnded(task int) {
	c.post(coordEvent{kind: evSourceEnded, task: task})
}

// Stop asks for stop-with-savepoint: once no checkpoint is in flight, the
// sources take a savepoint and stop reading — no final watermark, so
// pending event-time timers stay in the savepoint —, sinks commit what the
// savepoint covers, and the job ends. It does not block.
func (c *Coordinator) Stop() {
	c.post(coordEvent{kind: evStop})
}

// Savepoint asks for a savepoint of the running job: taken like a
// checkpoint, as soon as none is in flight, but kept until deleted. The
// result arrives on reply (which must have room for it) when the savepoint
// has completed or failed.
func (c *Coordinator) Savepoint(reply chan<- SavepointResult) {
	c.post(coordEvent{kind: evSavepoint, reply: reply})
}

// pending is the checkpoint in flight.
type pending struct {
	id        int64
	started   time.Time
	final     bool // taken after every source ended: the job ends with it
	stop      bool // a stop-with-savepoint: the job ends with it
	savepoint bool
	replies   []chan<- SavepointResult
	acked     map[int][]OperatorState
	alignment time.Duration // the longest of the acknowledging tasks'
	bytes     int64         // state files written
}

func (p *pending) stats(err error) CheckpointStats {
	return CheckpointStats{ID: p.id, Savepoint: p.savepoint, Duration: time.Since(p.started),
		Bytes: p.bytes, Alignment: p.alignment, Err: err}
}

// done reports the outcome to those who asked for the savepoint.
func (p *pending) done(err error) {
	for _, r := range p.replies {
		r <- SavepointResult{ID: p.id, Err: err}
	}
}

// ErrTooManyCheckpointFailures fails a job whose checkpoints keep failing.
var ErrTooManyCheckpointFailures = errors.New("too many checkpoint failures in a row")

// Run drives checkpoints until the final one has completed (it returns nil
// then), the job is canceled, or more checkpoints fail in a row than are
// tolerated.
func (c *Coordinator) Run(ctx context.Context) error {
	var (
		next      = c.cfg.FirstID
		cur       *pending
		failures  int
		ended     = map[int]bool{}
		lastStart = time.Now() // the first checkpoint comes one interval in
		lastEnd   time.Time
		lastErr   error
		stopping  bool
		requested []chan<- SavepointResult // savepoints asked for, not started
	)
	timer := time.NewTimer(c.cfg.Interval)
	defer timer.Stop()
	fail := func(reason error) error {
		failures++
		lastErr = reason
		if err := c.store.Discard(ctx, cur.id, cur.savepoint); err != nil {
			lastErr = errors.Join(lastErr, err)
		}
		cur.done(reason)
		if c.cfg.Report != nil {
			c.cfg.Report(cur.stats(reason))
		}
		cur, lastEnd = nil, time.Now()
		if failures > c.cfg.TolerableFailures {
			return fmt.Errorf("%w (%d): %w", ErrTooManyCheckpointFailures, failures, lastErr)
		}
		return nil
	}
	for {
		now := time.Now()
		allEnded := len(ended) == len(c.sources)
		if cur == nil {
			due := lastStart.Add(c.cfg.Interval)
			if pause := lastEnd.Add(c.cfg.MinPause); pause.After(due) {
				due = pause
			}
			stop := stopping && !allEnded
			if allEnded || stop || len(requested) > 0 || !now.Before(due) {
				cur = &pending{id: next, started: now, final: allEnded, stop: stop, acked: map[int][]OperatorState{},
					savepoint: stop || len(requested) > 0, replies: requested}
				requested = nil
				next++
				lastStart = now
				if err := c.trigger(ctx, cur.id, stop); err != nil {
					return err
				}
			}
		}
		if cur != nil && c.cfg.Timeout > 0 && now.Sub(cur.started) >= c.cfg.Timeout {
			if err := fail(fmt.Errorf("checkpoint %d timed out after %v", cur.id, c.cfg.Timeout)); err != nil {
				return err
			}
			continue
		}
		for _, e := range c.take() {
			switch e.kind {
			case evSourceEnded:
				ended[e.task] = true
			case evStop:
				stopping = true
			case evSavepoint:
				requested = append(requested, e.reply)
			case evDecline:
				if cur != nil && e.id == cur.id {
					if err := fail(e.err); err != nil {
						return err
					}
				}
			case evAck:
				if cur != nil && e.id == cur.id {
					cur.acked[e.task] = e.states
					cur.alignment = max(cur.alignment, e.alignment)
				}
			}
		}
		if cur != nil && len(cur.acked) == len(c.tasks) {
			if err := c.complete(ctx, cur); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				if err := fail(err); err != nil {
					return err
				}
				continue
			}
			failures = 0
			cur.done(nil)
			if c.cfg.Report != nil {
				c.cfg.Report(cur.stats(nil))
			}
			last := cur.final || cur.stop
			cur, lastEnd = nil, time.Now()
			if last {
				return nil
			}
			continue
		}
		wait := time.Hour
		if cur == nil {
			wait = time.Until(lastStart.Add(c.cfg.Interval))
			if w := time.Until(lastEnd.Add(c.cfg.MinPause)); w > wait {
				wait = w
			}
		} else if c.cfg.Timeout > 0 {
			wait = time.Until(cur.started.Add(c.cfg.Timeout))
		}
		if wait <= 0 || (cur == nil && (stopping || len(requested) > 0 || len(ended) == len(c.sources))) {
			// Due, or an event just asked for a final or stopping
			// checkpoint.
			continue
		}
		timer.Reset(wait)
		select {
		case <-c.wake:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// trigger asks every source task to inject the barrier of checkpoint id,
// and with stop to stop reading after it.
func (c *Coordinator) trigger(ctx context.Context, id int64, stop bool) error {
	for _, t := range c.sources {
		f := func(ctx context.Context) error { return t.TriggerBarrier(ctx, id) }
		if stop {
			f = func(ctx context.Context) error { return t.StopAtBarrier(ctx, id) }
		}
		select {
		case t.Mailbox <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// complete writes the acknowledged snapshots, records the checkpoint and
// tells every task.
func (c *Coordinator) complete(ctx context.Context, p *pending) error {
	var written []WrittenState
	for task := range c.tasks {
		for _, st := range p.acked[task] {
			w := WrittenState{OperatorState: st}
			if st.State != nil {
				file, size, err := c.store.WriteState(ctx, p.id, p.savepoint, st)
				if err != nil {
					return fmt.Errorf("checkpoint %d: operator %s subtask %d: %w", p.id, st.OperatorID, st.Subtask, err)
				}
				w.File = file
				p.bytes += size
				failpoint.Hit(failpoint.StateWritten)
			}
			w.State = nil
			written = append(written, w)
		}
	}
	if err := c.store.Complete(ctx, CompletedCheckpoint{ID: p.id, Time: time.Now(), Savepoint: p.savepoint, States: written}); err != nil {
		return fmt.Errorf("checkpoint %d: %w", p.id, err)
	}
	id, final := p.id, p.final || p.stop
	for _, t := range c.tasks {
		f := func(ctx context.Context) error { return t.CheckpointComplete(ctx, id, final) }
		select {
		case t.Mailbox <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
