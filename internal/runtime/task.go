package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Input is one channel into a task: its queue, the typed function that feeds
// a data batch to the chain, and the channel's time and alignment state.
type Input struct {
	Queue *Queue
	// Deliver feeds one data batch to the chain head.
	Deliver func(batch any) error

	wm       int64
	idle     bool
	ended    bool // end of input: no more data or watermarks
	finished bool // closed: no more messages at all
	blocked  bool // delivered the barrier being aligned
}

// Source drives the source operator at the head of a source task. The task
// loop calls it; it calls the chain.
type Source interface {
	// Poll reads from the splits once and pushes what it read into the
	// chain. It reports whether it pushed anything and whether every split
	// has ended. ctx is the job's.
	Poll(ctx context.Context, now time.Time) (progressed, ended bool, err error)
	// Watermark returns the subtask's watermark — the minimum over its
	// active splits — and whether every unfinished split is idle.
	Watermark(now time.Time) (wm int64, idle bool)
	// NextPoll returns when the task must poll again if nothing wakes it
	// first (a split that cannot wake its task, an idle timeout running
	// out), or the zero Time when only a wake-up (Task.Notify) calls for
	// another poll.
	NextPoll(now time.Time) time.Time
	// Close closes the split readers.
	Close() error
}

// Task is one goroutine running the chain of one parallel subtask: its
// inputs (or its source), its operators in chain order and its outputs. All
// user code, state and timers of the chain run on the task's goroutine.
type Task struct {
	Name        string // the chain's vertex name, for errors
	Subtask     int
	Parallelism int

	Inputs  []*Input
	Source  Source
	Ops     []Operator
	OpIDs   []string
	Outputs []Output
	Meta    *Meta

	// Wake is the channel every input queue signals; make it with
	// capacity one.
	Wake chan struct{}
	// Mailbox carries actions from outside the task (checkpoint triggers,
	// notifications of completed checkpoints) to run on the task goroutine.
	Mailbox chan func(context.Context) error
	// Index is the task's position in the job, for the Checkpointer.
	Index int
	// Checkpointer, when set, receives the task's snapshots; the task then
	// stays alive after its input ends until a checkpoint taken after every
	// source ended has completed, so that sinks commit the tail.
	Checkpointer Checkpointer

	BufferTimeout time.Duration
	// Origins resolves Origin.Split for errors.
	Origins *OriginTable

	wm   int64   // the chain's input watermark: the minimum over its inputs or its source's
	opWm []int64 // the watermark each operator was last given
	// opWmPub publishes opWm to other goroutines (metrics); it is stored
	// when a watermark advances, never per record.
	opWmPub    atomic.Pointer[[]atomic.Int64]
	outWm      int64 // the last watermark sent downstream
	holders    []WatermarkHolder
	generators int  // operators that implement WatermarkGenerator
	inIdle     bool // every open input (or split) is idle
	outIdle    bool // the task has told its outputs it is idle
	aligning   int64
	alignStart time.Time     // when the first barrier of the alignment arrived
	alignment  time.Duration // how long the alignment of the barrier being triggered took
	rr         int           // round-robin start over inputs
	lastFlush  time.Time
	lastHouse  time.Time
	procTimers []ProcessingTimer
	house      []Housekeeper
	pubs       []Publisher
	stateful   []int // indexes of operators that implement Stateful
	preparers  []int // indexes of operators that implement BarrierPreparer
	listeners  []int // indexes of operators that implement CheckpointListener
	opened     int
	ended      bool // the task's input ended and it has finished its operators
	finalDone  bool // the final checkpoint completed (or there is none)
}

// housekeepInterval is how often operators get to clean up expired state.
const housekeepInterval = 250 * time.Millisecond

// Open opens the chain's operators in order with the job's context. On
// failure the caller closes the task, which closes those it opened.
func (t *Task) Open(ctx context.Context) error {
	t.wm, t.outWm = MinWatermark, MinWatermark
	t.opWm = make([]int64, len(t.Ops))
	pub := make([]atomic.Int64, len(t.Ops))
	for i := range t.opWm {
		t.opWm[i] = MinWatermark
		pub[i].Store(MinWatermark)
	}
	t.opWmPub.Store(&pub)
	for i := range t.Inputs {
		t.Inputs[i].wm = MinWatermark
	}
	for i, op := range t.Ops {
		t.Meta.Op = i
		if err := op.Open(ctx); err != nil {
			return t.opError(i, err, false)
		}
		t.opened = i + 1
		if pt, ok := op.(ProcessingTimer); ok {
			t.procTimers = append(t.procTimers, pt)
		}
		if h, ok := op.(Housekeeper); ok {
			t.house = append(t.house, h)
		}
		if p, ok := op.(Publisher); ok {
			t.pubs = append(t.pubs, p)
		}
		if _, ok := op.(Stateful); ok {
			t.stateful = append(t.stateful, i)
		}
		if _, ok := op.(BarrierPreparer); ok {
			t.preparers = append(t.preparers, i)
		}
		if _, ok := op.(CheckpointListener); ok {
			t.listeners = append(t.listeners, i)
		}
		if h, ok := op.(WatermarkHolder); ok {
			t.holders = append(t.holders, h)
		}
		if _, ok := op.(WatermarkGenerator); ok {
			t.generators++
		}
	}
	t.finalDone = t.Checkpointer == nil
	return nil
}

// Close closes the operators that were opened and the source.
func (t *Task) Close() error {
	for _, p := range t.pubs {
		p.Publish()
	}
	var errs []error
	if t.Source != nil {
		errs = append(errs, t.Source.Close())
	}
	for i := t.opened - 1; i >= 0; i-- {
		if err := t.Ops[i].Close(); err != nil {
			errs = append(errs, t.opError(i, err, false))
		}
	}
	t.opened = 0
	return errors.Join(errs...)
}

// Run runs the task loop until the task has finished, an operator fails or
// ctx is canceled.
//
// A task finishes in three steps. When its input ends (every input channel
// delivered EndOfInput, or every split of its source ended) it advances to
// the final watermark, ends its operators' input and sends EndOfInput. It
// then keeps serving barriers and its mailbox until every input channel is
// Finished and, with checkpoints, until a checkpoint taken after every
// source ended has completed, so that sinks commit everything. Then it sends
// Finished and returns.
func (t *Task) Run(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = t.opError(t.Meta.Op, fmt.Errorf("panic: %v\n%s", r, debug.Stack()), false)
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	now := time.Now()
	t.lastFlush, t.lastHouse = now, now
	done := ctx.Done()
	for {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		progressed := false
		if t.Source != nil && !t.ended {
			p, ended, err := t.Source.Poll(ctx, now)
			if err != nil {
				return err
			}
			progressed = p
			if ended {
				if err := t.finishInput(); err != nil {
					return err
				}
				if t.Checkpointer != nil {
					t.Checkpointer.SourceEnded(t.Index)
				}
			} else {
				wm, idle := t.Source.Watermark(now)
				if err := t.sourceTime(wm, idle); err != nil {
					return err
				}
			}
		}
		for i := range t.Inputs {
			in := t.Inputs[(t.rr+i)%len(t.Inputs)]
			if in.finished || in.blocked {
				continue
			}
			m, ok := in.Queue.Poll()
			if !ok {
				continue
			}
			progressed = true
			if err := t.handle(ctx, in, m); err != nil {
				return err
			}
		}
		if len(t.Inputs) > 0 {
			t.rr = (t.rr + 1) % len(t.Inputs)
		}
		if err := t.drainMailbox(ctx); err != nil {
			return err
		}
		if err := t.released(); err != nil {
			return err
		}
		if t.ended && t.finalDone && t.allFinished() {
			return t.broadcast(Message{Kind: Finished})
		}
		now = time.Now()
		next, err := t.fireProcessingTimers(now)
		if err != nil {
			return err
		}
		if err := t.released(); err != nil {
			return err
		}
		if now.Sub(t.lastHouse) >= housekeepInterval {
			for _, h := range t.house {
				h.Housekeep()
			}
			for _, p := range t.pubs {
				p.Publish()
			}
			t.lastHouse = now
		}
		if progressed && now.Sub(t.lastFlush) < t.BufferTimeout {
			continue
		}
		if err := t.flush(now); err != nil {
			return err
		}
		if progressed {
			continue
		}
		wait := time.Hour
		if next != MaxWatermark {
			wait = time.Duration(next-now.UnixMilli()) * time.Millisecond
		}
		if t.Source != nil && !t.ended {
			if np := t.Source.NextPoll(now); !np.IsZero() {
				wait = min(wait, max(np.Sub(now), time.Millisecond))
			}
		}
		if (len(t.house) > 0 || len(t.pubs) > 0) && wait > housekeepInterval {
			wait = housekeepInterval
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-t.Wake:
			case <-timer.C:
			case f := <-t.Mailbox:
				if err := f(ctx); err != nil {
					return err
				}
				if err := t.released(); err != nil {
					return err
				}
			case <-done:
				return ctx.Err()
			}
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		now = time.Now()
	}
}

// Notify wakes the task if it is waiting, so that it polls its source
// again. It may be called from any goroutine and never blocks; wake-ups
// that arrive while the task is running coalesce into one more round.
func (t *Task) Notify() {
	select {
	case t.Wake <- struct{}{}:
	default:
	}
}

func (t *Task) drainMailbox(ctx context.Context) error {
	for {
		select {
		case f := <-t.Mailbox:
			if err := f(ctx); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

func (t *Task) flush(now time.Time) error {
	for _, o := range t.Outputs {
		if err := o.Flush(); err != nil {
			return err
		}
	}
	t.lastFlush = now
	return nil
}

func (t *Task) fireProcessingTimers(now time.Time) (next int64, err error) {
	next = MaxWatermark
	ms := now.UnixMilli()
	for _, pt := range t.procTimers {
		if pt.NextProcessingTime() <= ms {
			if err := pt.OnProcessingTime(ms); err != nil {
				return 0, err
			}
		}
		next = min(next, pt.NextProcessingTime())
	}
	return next, nil
}

func (t *Task) handle(ctx context.Context, in *Input, m Message) error {
	switch m.Kind {
	case Data:
		return in.Deliver(m.Batch)
	case Watermark:
		in.wm = max(in.wm, m.Value)
		return t.inputTime()
	case Idle:
		in.idle = true
		return t.inputTime()
	case Active:
		in.idle = false
		return t.inputTime()
	case EndOfInput:
		in.ended = true
		if t.ended {
			return nil
		}
		if t.allEnded() {
			// Before anything that follows on any channel (the final
			// barrier) is handled.
			return t.finishInput()
		}
		return t.inputTime()
	case Finished:
		in.ended, in.finished, in.blocked = true, true, false
		if !t.ended && t.allFinished() {
			// Finished without end of input: the job stops with a
			// savepoint, and this task ends as its inputs did, without a
			// final watermark.
			t.ended = true
		}
		return t.maybeAligned(ctx)
	case Barrier:
		return t.barrier(ctx, in, m.Value)
	}
	return fmt.Errorf("task %s: unknown message kind %v", t.Name, m.Kind)
}

func (t *Task) allEnded() bool {
	for _, in := range t.Inputs {
		if !in.ended {
			return false
		}
	}
	return true
}

func (t *Task) allFinished() bool {
	for _, in := range t.Inputs {
		if !in.finished {
			return false
		}
	}
	return true
}

// inputTime recomputes the task's watermark from its inputs: the minimum
// over the inputs that are neither idle nor ended. When every open input is
// idle the task's output goes idle.
func (t *Task) inputTime() error {
	wm, active, open := MaxWatermark, false, false
	for _, in := range t.Inputs {
		if in.ended {
			continue
		}
		open = true
		if in.idle {
			continue
		}
		active = true
		wm = min(wm, in.wm)
	}
	if open && !active {
		return t.setIdle(true)
	}
	if err := t.setIdle(false); err != nil {
		return err
	}
	return t.advance(wm)
}

func (t *Task) sourceTime(wm int64, idle bool) error {
	if idle {
		return t.setIdle(true)
	}
	if err := t.setIdle(false); err != nil {
		return err
	}
	return t.advance(wm)
}

func (t *Task) setIdle(idle bool) error {
	t.inIdle = idle
	return t.applyIdle()
}

// applyIdle tells the outputs whether the task is idle: when its inputs
// are and no operator holds records whose output is still to come.
func (t *Task) applyIdle() error {
	idle := t.inIdle
	for _, h := range t.holders {
		if !idle {
			break
		}
		idle = !h.Holding()
	}
	if idle == t.outIdle {
		return nil
	}
	t.outIdle = idle
	kind := Active
	if idle {
		kind = Idle
	}
	return t.broadcast(Message{Kind: kind})
}

// advance moves the chain's watermark forward: each operator in chain order
// fires its event-time timers, then the watermark goes downstream. A
// watermark never moves backwards. An operator that holds the watermark
// back (WatermarkHolder) passes on only what it has released: the
// operators after it and the outputs get the lowest watermark held before
// them.
func (t *Task) advance(wm int64) error {
	if wm <= t.wm {
		return nil
	}
	t.wm = wm
	return t.propagate()
}

// propagate gives each operator the watermark that reaches it and sends
// what reaches the end of the chain downstream, each only when it has moved
// forward.
func (t *Task) propagate() error {
	wm := t.wm
	for i, op := range t.Ops {
		if wm > t.opWm[i] {
			t.opWm[i] = wm
			(*t.opWmPub.Load())[i].Store(wm)
			t.Meta.Op = i
			if err := op.OnWatermark(wm); err != nil {
				return t.wrap(i, err, true)
			}
		}
		if len(t.holders) > 0 {
			if h, ok := op.(WatermarkHolder); ok {
				wm = min(wm, h.HeldWatermark())
			}
		}
		if t.generators > 0 {
			if g, ok := op.(WatermarkGenerator); ok {
				wm = g.GeneratedWatermark(wm)
			}
		}
	}
	if wm <= t.outWm {
		return nil
	}
	t.outWm = wm
	return t.broadcast(Message{Kind: Watermark, Value: wm})
}

// released passes on what operators holding the watermark have released
// since the watermark last moved, and what watermark generators have made
// of the records since, and lets the task go idle once holders hold
// nothing.
func (t *Task) released() error {
	if len(t.holders) == 0 && t.generators == 0 {
		return nil
	}
	if err := t.propagate(); err != nil {
		return err
	}
	return t.applyIdle()
}

// WatermarkProgress sends the chain's watermark in the middle of a source's
// poll or an input batch, so that a long poll or batch does not hold it
// back until its end (weir.WatermarkInterval): a source task takes its
// source's watermark again, and what watermark generators have made of the
// records so far goes to the operators after them. An operator calls it on
// the task goroutine between two records, when nothing of the chain is in
// the middle of a record after it.
func (t *Task) WatermarkProgress(now time.Time) error {
	if t.ended {
		return nil
	}
	if t.Source != nil {
		wm, idle := t.Source.Watermark(now)
		if err := t.sourceTime(wm, idle); err != nil {
			return err
		}
	}
	if t.generators > 0 {
		return t.propagate()
	}
	return nil
}

func (t *Task) broadcast(m Message) error {
	for _, o := range t.Outputs {
		if err := o.Broadcast(m); err != nil {
			return err
		}
	}
	return nil
}

func (t *Task) barrier(ctx context.Context, in *Input, id int64) error {
	if id < t.aligning {
		return nil // a barrier of a checkpoint already given up
	}
	if id > t.aligning {
		// A newer checkpoint supersedes the one being aligned.
		for _, other := range t.Inputs {
			other.blocked = false
		}
		t.aligning = id
		t.alignStart = time.Now()
	}
	in.blocked = true
	return t.maybeAligned(ctx)
}

// maybeAligned completes the alignment when every input that is not
// finished has delivered the barrier: snapshot, forward the barrier, read
// all inputs again.
func (t *Task) maybeAligned(ctx context.Context) error {
	if t.aligning == 0 {
		return nil
	}
	for _, in := range t.Inputs {
		if !in.finished && !in.blocked {
			return nil
		}
	}
	id := t.aligning
	t.aligning = 0
	for _, in := range t.Inputs {
		in.blocked = false
	}
	t.alignment = time.Since(t.alignStart)
	return t.TriggerBarrier(ctx, id)
}

// TriggerBarrier snapshots the chain's operators for checkpoint id, hands
// the snapshots to the Checkpointer and sends the barrier downstream, after
// the batches already emitted. Operators that hold records back emit them
// first. Source tasks run it from their mailbox when
// the coordinator triggers a checkpoint; other tasks when their inputs are
// aligned. A snapshot that fails declines the checkpoint, not the job.
func (t *Task) TriggerBarrier(ctx context.Context, id int64) error {
	for _, i := range t.preparers {
		t.Meta.Op = i
		if err := t.Ops[i].(BarrierPreparer).PrepareBarrier(); err != nil {
			return t.wrap(i, err, false)
		}
	}
	defer func() { t.alignment = 0 }()
	if t.Checkpointer != nil {
		states := make([]OperatorState, 0, len(t.stateful))
		var failed error
		sp, _ := t.Checkpointer.(interface{ IsSavepoint(id int64) bool })
		savepoint := sp != nil && sp.IsSavepoint(id)
		for _, i := range t.stateful {
			t.Meta.Op = i
			st, err := t.Ops[i].(Stateful).Snapshot(ctx, id, savepoint)
			if err != nil {
				failed = t.opError(i, fmt.Errorf("snapshot for checkpoint %d: %w", id, err), false)
				break
			}
			st.OperatorID, st.Subtask = t.OpIDs[i], t.Subtask
			states = append(states, st)
		}
		if failed != nil {
			t.Checkpointer.Decline(id, t.Index, failed)
		} else {
			t.Checkpointer.Acknowledge(id, t.Index, t.alignment, states)
		}
	}
	return t.broadcast(Message{Kind: Barrier, Value: id})
}

// StopAtBarrier is TriggerBarrier for a stop-with-savepoint on a source
// task: after the barrier the source reads no more, and the task ends
// without a final watermark, so event-time timers stay pending in the
// savepoint instead of firing.
func (t *Task) StopAtBarrier(ctx context.Context, id int64) error {
	if err := t.TriggerBarrier(ctx, id); err != nil {
		return err
	}
	t.ended = true
	return nil
}

// CheckpointComplete tells the chain's operators that checkpoint id has
// completed; final says it was taken after every source ended, so the task
// may finish. The coordinator runs it through the mailbox.
func (t *Task) CheckpointComplete(ctx context.Context, id int64, final bool) error {
	for _, i := range t.listeners {
		t.Meta.Op = i
		if err := t.Ops[i].(CheckpointListener).CheckpointComplete(ctx, id); err != nil {
			return t.opError(i, fmt.Errorf("checkpoint %d complete: %w", id, err), false)
		}
	}
	if final {
		t.finalDone = true
	}
	return nil
}

// finishInput ends the task's input: the final watermark fires every
// pending event-time timer, each operator ends its input, and end of input
// goes downstream.
func (t *Task) finishInput() error {
	t.ended = true
	if err := t.setIdle(false); err != nil {
		return err
	}
	if err := t.advance(MaxWatermark); err != nil {
		return err
	}
	for i, op := range t.Ops {
		t.Meta.Op = i
		if err := op.EndInput(); err != nil {
			return t.wrap(i, err, false)
		}
	}
	return t.broadcast(Message{Kind: EndOfInput})
}

// wrap attributes err to operator i unless an operator already claimed it.
func (t *Task) wrap(i int, err error, timer bool) error {
	if err == nil || IsOperatorError(err) || errors.Is(err, ErrCanceled) {
		return err
	}
	return t.opError(i, err, timer)
}

func (t *Task) opError(i int, err error, timer bool) error {
	oe := &OperatorError{Subtask: t.Subtask, Parallelism: t.Parallelism, Timer: timer, Err: err}
	if i >= 0 && i < len(t.Ops) {
		oe.Operator = t.Ops[i].Name()
		oe.OperatorID = t.OpIDs[i]
	} else {
		oe.Operator = t.Name
	}
	if info, ok := t.Origins.Lookup(t.Meta.Origin); ok {
		oe.Origin = &RecordOrigin{Source: info.Source, Split: info.Split, Offset: t.Meta.Origin.Offset, Unit: info.Unit}
	}
	return oe
}

// RecordError attributes err, returned by the user code of operator i, to
// that operator and the current record's origin. An error that already
// names its operator is returned as it is.
func (t *Task) RecordError(i int, err error) error {
	return t.wrap(i, err, false)
}

// TimerError attributes err, returned by a timer of operator i, to that
// operator.
func (t *Task) TimerError(i int, err error) error {
	return t.wrap(i, err, true)
}

// Watermark returns the watermark operator i of the chain was last given
// (MinWatermark before the first); any goroutine may call it.
func (t *Task) Watermark(i int) int64 {
	pub := t.opWmPub.Load()
	if pub == nil || i < 0 || i >= len(*pub) {
		return MinWatermark
	}
	return (*pub)[i].Load()
}
