package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir/internal/failpoint"
	"github.com/weirstream/weir/internal/state"
)

// CheckpointStore is where the coordinator writes checkpoints.
//
// WriteState is called from several writer goroutines at once, for
// different operator subtasks of one checkpoint; Complete and Discard are
// called from the coordinator's goroutine only, never while a WriteState of
// their checkpoint is running.
type CheckpointStore interface {
	// WriteState writes one operator subtask's state snapshot of checkpoint
	// (or savepoint) id and returns the name of the file it wrote and its
	// size in bytes. It must return soon after ctx is canceled (the
	// checkpoint failed or timed out, or the job stops): the coordinator
	// waits for it before it discards the checkpoint. It does not release
	// the snapshot; the coordinator does.
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
	// File is where the State snapshot was written and Size its length in
	// bytes; empty when the operator has no backend.
	File string
	Size int64
}

// CheckpointConfig configures the coordinator.
type CheckpointConfig struct {
	// Interval between the start of one checkpoint and the trigger of the
	// next.
	Interval time.Duration
	// Timeout fails a checkpoint that has not completed in time: every
	// task acknowledged and every state file written.
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
	// Writers bounds how many state files are written at once; zero means
	// DefaultCheckpointWriters.
	Writers int
	// Report, if set, is called on the coordinator's goroutine after each
	// checkpoint completes or fails.
	Report func(CheckpointStats)
}

// DefaultCheckpointWriters returns the number of state files the
// coordinator writes at once unless configured otherwise: GOMAXPROCS, at
// least 2 and at most 4. Writing a snapshot is encoding (CPU, taken from
// the tasks, which keep running) and then waiting for the disk (fsync); two
// writers let one encode while the other waits even on one core, and more
// than four seldom helps a single disk while it takes cores from the job.
func DefaultCheckpointWriters() int {
	return min(4, max(2, goruntime.GOMAXPROCS(0)))
}

// CheckpointStats describe one checkpoint or savepoint that completed or
// failed.
type CheckpointStats struct {
	ID        int64
	Savepoint bool
	// Stop marks the savepoint of a stop-with-savepoint, with which the
	// job ends; Final the checkpoint taken when every source had ended.
	Stop, Final bool
	// Duration is the time from the trigger to the completion (or the
	// failure): the barriers' way through the job, the writes and the
	// metadata.
	Duration time.Duration
	// SyncDuration is the time from the trigger to the last task's
	// acknowledgement: the barriers' way through the job, alignment
	// included, and the tasks' synchronous snapshots. Writes of the tasks
	// that acknowledged earlier run meanwhile. It is zero for a checkpoint
	// that failed before every task acknowledged.
	SyncDuration time.Duration
	// AsyncDuration is the time from the last acknowledgement until the
	// last state file was written: the writes the checkpoint still waited
	// for once the barriers were through. It is zero when every file was
	// written by then, and for a checkpoint that failed before its writes
	// finished.
	AsyncDuration time.Duration
	// MetadataDuration is the time the store took to complete the
	// checkpoint (CheckpointStore.Complete: writing the metadata); zero
	// for a checkpoint that failed before. What Duration holds beyond the
	// three is the coordinator's own handling, such as telling the tasks.
	MetadataDuration time.Duration
	// Bytes is the size of the state files written.
	Bytes int64
	// Alignment is the longest time a task waited between the first and
	// the last barrier on its inputs.
	Alignment time.Duration
	// Err is why the checkpoint failed; nil when it completed.
	Err error
}

// Coordinator triggers checkpoints, collects the tasks' snapshots, writes
// them and completes checkpoints, at most one at a time. Each task's state
// snapshots are written as soon as the task acknowledges, by up to
// CheckpointConfig.Writers writer goroutines that Run starts and waits for;
// a checkpoint completes once every task has acknowledged and every write
// has finished. When every source has ended it takes a final checkpoint;
// its completion lets the tasks finish.
//
// Every snapshot handed to Acknowledge that has a Release method is
// released exactly once: after it was written, or when its checkpoint
// failed, or when Run returns — also when it arrives after that.
type Coordinator struct {
	cfg     CheckpointConfig
	store   CheckpointStore
	tasks   []*Task
	sources []*Task

	wake chan struct{}
	// savepoint is the ID of the newest savepoint triggered, which tasks
	// read at its barrier (IsSavepoint).
	savepoint atomic.Int64
	mu        struct {
		sync.Mutex
		events []coordEvent
		// closed is set when Run returns: later events are dropped, their
		// snapshots released.
		closed bool
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
	// at is when an acknowledgement or a finished write was posted: the
	// coordinator may take it a little later.
	at time.Time
	// A written state: states[index] of the task's acknowledgement went
	// to file, of size bytes (or failed with err).
	index int
	file  string
	size  int64
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
	evWritten
)

// NewCoordinator returns a coordinator for the tasks; it sets itself as
// every task's Checkpointer and numbers the tasks.
func NewCoordinator(cfg CheckpointConfig, store CheckpointStore, tasks []*Task) *Coordinator {
	if cfg.FirstID <= 0 {
		cfg.FirstID = 1
	}
	if cfg.Writers <= 0 {
		cfg.Writers = DefaultCheckpointWriters()
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

// Writers returns how many state files the coordinator writes at once.
func (c *Coordinator) Writers() int { return c.cfg.Writers }

func (c *Coordinator) post(e coordEvent) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		releaseStates(e.states)
		return
	}
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
	c.post(coordEvent{kind: evAck, id: id, task: task, alignment: alignment, states: states, at: time.Now()})
}

// Decline implements Checkpointer.
func (c *Coordinator) Decline(id int64, task int, err error) {
	c.post(coordEvent{kind: evDecline, id: id, task: task, err: err})
}

// IsSavepoint reports whether id is a savepoint; tasks ask at its barrier,
// so that operators snapshot for a savepoint (see Stateful).
func (c *Coordinator) IsSavepoint(id int64) bool { return c.savepoint.Load() == id }

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
	// cancel cancels the context of the checkpoint's writes: it stops
	// them when the checkpoint fails or the job stops.
	cancel context.CancelFunc
	// acked holds, for each task that acknowledged, its states in its
	// order, without their snapshots; File and Size are filled in as the
	// writes finish.
	acked map[int][]WrittenState
	// queued are the acknowledged snapshots no writer has taken yet, in
	// the order they arrived; writing are those being written. A snapshot
	// is released by the writer that took it, or by releaseQueued if none did.
	queued    []stateWrite
	writing   map[stateKey]bool
	alignment time.Duration // the longest of the acknowledging tasks'
	bytes     int64         // state files written
	// lastAck is when the last task acknowledged, lastWrite when the
	// latest write finished (zero until then); written is set once both
	// are done, metadata to how long the store's Complete took.
	lastAck, lastWrite time.Time
	written            bool
	metadata           time.Duration
}

// stateKey names an acknowledged state: states[index] of task's
// acknowledgement.
type stateKey struct{ task, index int }

// stateWrite is a snapshot to write.
type stateWrite struct {
	stateKey
	st OperatorState
}

func (p *pending) stats(err error) CheckpointStats {
	s := CheckpointStats{ID: p.id, Savepoint: p.savepoint, Stop: p.stop, Final: p.final, Duration: time.Since(p.started),
		Bytes: p.bytes, Alignment: p.alignment, MetadataDuration: p.metadata, Err: err}
	if !p.lastAck.IsZero() {
		s.SyncDuration = p.lastAck.Sub(p.started)
	}
	if p.written && p.lastWrite.After(p.lastAck) {
		s.AsyncDuration = p.lastWrite.Sub(p.lastAck)
	}
	return s
}

// done reports the outcome to those who asked for the savepoint.
func (p *pending) done(err error) {
	for _, r := range p.replies {
		r <- SavepointResult{ID: p.id, Err: err}
	}
}

// releaseQueued releases the snapshots no writer took.
func (p *pending) releaseQueued() {
	for _, w := range p.queued {
		release(w.st.State)
	}
	p.queued = nil
}

// name names an acknowledged state for errors.
func (p *pending) name(k stateKey) string {
	w := p.acked[k.task][k.index]
	return fmt.Sprintf("operator %s subtask %d", w.OperatorID, w.Subtask)
}

// release releases a snapshot that holds a resource (see state.Snapshot).
func release(s state.Snapshot) {
	if r, ok := s.(interface{ Release() }); ok {
		r.Release()
	}
}

func releaseStates(states []OperatorState) {
	for _, st := range states {
		if st.State != nil {
			release(st.State)
		}
	}
}

// ErrTooManyCheckpointFailures fails a job whose checkpoints keep failing.
var ErrTooManyCheckpointFailures = errors.New("too many checkpoint failures in a row")

// Run drives checkpoints until the final one has completed (it returns nil
// then), the job is canceled, or more checkpoints fail in a row than are
// tolerated. It is called once. Every writer goroutine it starts has
// returned when it returns.
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
		writers   sync.WaitGroup           // the writer goroutines, all writing cur
		writeCtx  context.Context          // the context of cur's writes
		evs       []coordEvent             // taken and not handled yet
	)
	timer := time.NewTimer(c.cfg.Interval)
	defer timer.Stop()
	defer func() {
		if cur != nil {
			cur.cancel()
			cur.releaseQueued()
		}
		writers.Wait()
		c.mu.Lock()
		c.mu.closed = true
		evs = append(evs, c.mu.events...)
		c.mu.events = nil
		c.mu.Unlock()
		for _, e := range evs {
			releaseStates(e.states)
		}
	}()
	fail := func(reason error) error {
		// No file may be written into the checkpoint once it is
		// discarded: stop the writes and wait for them first.
		cur.cancel()
		cur.releaseQueued()
		writers.Wait()
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
				cur = &pending{id: next, started: now, final: allEnded, stop: stop,
					acked: map[int][]WrittenState{}, writing: map[stateKey]bool{},
					savepoint: stop || len(requested) > 0, replies: requested}
				writeCtx, cur.cancel = context.WithCancel(ctx)
				requested = nil
				next++
				lastStart = now
				if cur.savepoint {
					c.savepoint.Store(cur.id)
				}
				if err := c.trigger(ctx, cur.id, stop); err != nil {
					return err
				}
			}
		}
		if cur != nil && c.cfg.Timeout > 0 && now.Sub(cur.started) >= c.cfg.Timeout {
			if err := fail(c.timedOut(cur)); err != nil {
				return err
			}
			continue
		}
		evs = c.take()
		for len(evs) > 0 {
			e := evs[0]
			evs = evs[1:]
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
				c.acknowledged(cur, e)
			case evWritten:
				if cur == nil || e.id != cur.id {
					continue // of a checkpoint that failed; the writer released the snapshot
				}
				k := stateKey{e.task, e.index}
				delete(cur.writing, k)
				if e.err != nil {
					if err := ctx.Err(); err != nil {
						return err
					}
					if err := fail(fmt.Errorf("checkpoint %d: %s: %w", cur.id, cur.name(k), e.err)); err != nil {
						return err
					}
					continue
				}
				w := &cur.acked[e.task][e.index]
				w.File, w.Size = e.file, e.size
				cur.bytes += e.size
				if e.at.After(cur.lastWrite) {
					cur.lastWrite = e.at
				}
			}
		}
		for cur != nil && len(cur.queued) > 0 && len(cur.writing) < c.cfg.Writers {
			w := cur.queued[0]
			cur.queued = cur.queued[1:]
			cur.writing[w.stateKey] = true
			wctx, id, savepoint := writeCtx, cur.id, cur.savepoint
			writers.Go(func() {
				file, size, err := c.store.WriteState(wctx, id, savepoint, w.st)
				at := time.Now() // the release may take a while
				if err == nil {
					failpoint.Hit(failpoint.StateWritten)
				}
				release(w.st.State)
				c.post(coordEvent{kind: evWritten, id: id, task: w.task, index: w.index, file: file, size: size, err: err, at: at})
			})
		}
		if cur != nil && len(cur.acked) == len(c.tasks) && len(cur.queued) == 0 && len(cur.writing) == 0 {
			cur.written = true
			if err := c.complete(ctx, cur); err != nil {
				if errors.Is(err, context.Canceled) {
					return err
				}
				if err := fail(err); err != nil {
					return err
				}
				continue
			}
			cur.cancel()
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

// acknowledged takes a task's acknowledgement: for the checkpoint in
// flight its snapshots join the queue of writes; those of any other
// (one that failed, or a second acknowledgement) are released.
func (c *Coordinator) acknowledged(cur *pending, e coordEvent) {
	if cur == nil || e.id != cur.id {
		releaseStates(e.states)
		return
	}
	if _, dup := cur.acked[e.task]; dup {
		releaseStates(e.states)
		return
	}
	ws := make([]WrittenState, len(e.states))
	for i, st := range e.states {
		if st.State != nil {
			cur.queued = append(cur.queued, stateWrite{stateKey{e.task, i}, st})
		}
		st.State = nil
		ws[i] = WrittenState{OperatorState: st}
	}
	cur.acked[e.task] = ws
	cur.alignment = max(cur.alignment, e.alignment)
	if len(cur.acked) == len(c.tasks) {
		cur.lastAck = e.at
	}
}

// timedOut is the failure of a checkpoint that timed out: it names what
// the checkpoint was still waiting for.
func (c *Coordinator) timedOut(p *pending) error {
	const most = 8 // names listed; the rest are counted
	list := func(names []string) string {
		if len(names) > most {
			return fmt.Sprintf("%s and %d more", strings.Join(names[:most], ", "), len(names)-most)
		}
		return strings.Join(names, ", ")
	}
	var what []string
	if len(p.writing) > 0 {
		keys := make([]stateKey, 0, len(p.writing))
		for k := range p.writing {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b stateKey) int {
			return cmp.Or(cmp.Compare(a.task, b.task), cmp.Compare(a.index, b.index))
		})
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = p.name(k)
		}
		s := "writing the state of " + list(names)
		if n := len(p.queued); n > 0 {
			s += fmt.Sprintf(" (%d more waiting for a writer)", n)
		}
		what = append(what, s)
	}
	var missing []string
	for i, t := range c.tasks {
		if _, ok := p.acked[i]; !ok {
			missing = append(missing, fmt.Sprintf("%s subtask %d", t.Name, t.Subtask))
		}
	}
	if len(missing) > 0 {
		what = append(what, fmt.Sprintf("waiting for %d of %d tasks to acknowledge: %s", len(missing), len(c.tasks), list(missing)))
	}
	return fmt.Errorf("checkpoint %d timed out after %v, still %s", p.id, c.cfg.Timeout, strings.Join(what, "; "))
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

// complete records a checkpoint whose states are all written and tells
// every task.
func (c *Coordinator) complete(ctx context.Context, p *pending) error {
	var written []WrittenState
	for task := range c.tasks {
		written = append(written, p.acked[task]...)
	}
	start := time.Now()
	err := c.store.Complete(ctx, CompletedCheckpoint{ID: p.id, Time: start, Savepoint: p.savepoint, States: written})
	p.metadata = time.Since(start)
	if err != nil {
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
