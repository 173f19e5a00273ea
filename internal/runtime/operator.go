package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/state"
)

// Pusher receives records of type T inside a chain. The record's event time
// and origin are in the task's Meta, so a chain passes bare values from one
// operator to the next.
type Pusher[T any] interface {
	Push(v T) error
}

// Fanout pushes every record to several pushers in order: a stream with
// several consumers.
type Fanout[T any] []Pusher[T]

// Push implements Pusher.
func (f Fanout[T]) Push(v T) error {
	for _, p := range f {
		if err := p.Push(v); err != nil {
			return err
		}
	}
	return nil
}

// Discard is a Pusher that drops what it gets: the output of an operator
// nobody consumes.
type Discard[T any] struct{}

// Push implements Pusher.
func (Discard[T]) Push(T) error { return nil }

// Operator is one operator of a chain as the task loop sees it. Records
// reach it through its typed Pusher, built when the chain is built.
type Operator interface {
	// Name is the operator's name as users see it in errors.
	Name() string
	// Open prepares the operator; it runs before any task starts, on a
	// goroutine of its own per task, so the tasks of a job open in
	// parallel. ctx is the job's: canceled when the job stops or fails.
	Open(ctx context.Context) error
	// OnWatermark is called in chain order when the task's watermark
	// advances: the operator fires its event-time timers up to wm.
	OnWatermark(wm int64) error
	// EndInput is called in chain order after the final watermark when all
	// input has ended.
	EndInput() error
	// Close releases resources; it is called once, also after a failure.
	Close() error
}

// ProcessingTimer is implemented by operators with processing-time timers.
type ProcessingTimer interface {
	// NextProcessingTime returns the earliest pending timer, or
	// MaxWatermark if there is none.
	NextProcessingTime() int64
	// OnProcessingTime fires the timers due at now.
	OnProcessingTime(now int64) error
}

// Publisher is implemented by operators that keep counts: Publish makes
// them visible to other goroutines. The task calls it every few hundred
// milliseconds and before it closes the operator.
type Publisher interface {
	Publish()
}

// Housekeeper is implemented by operators with periodic cleanup work, such as
// removing expired state.
type Housekeeper interface {
	Housekeep()
}

// OperatorState is one operator subtask's part of a checkpoint.
type OperatorState struct {
	OperatorID string
	Subtask    int
	// State is the snapshot of the operator's state backend, written out
	// after the task has moved on; nil when the operator has no backend.
	State state.Snapshot
	// Splits are a source's split positions and watermarks.
	Splits []SplitState
	// Committables are what a two-phase sink prepared at the barrier.
	Committables [][]byte
	// Enumerator is the state of a source's split enumerator, kept by the
	// source's subtask 0.
	Enumerator *EnumeratorState
}

// EnumeratorState is a split enumerator's part of a checkpoint.
type EnumeratorState struct {
	// State is what the enumerator returned for itself.
	State []byte `json:"state,omitempty"`
	// Splits are the IDs of every split the job knew at the barrier,
	// handed to a reader or not yet: a restore reads from the beginning
	// those no reader's state holds.
	Splits []string `json:"splits,omitempty"`
}

// SplitState is where a source split stands in a checkpoint.
type SplitState struct {
	Split     string `json:"split"`
	Position  []byte `json:"position,omitempty"`
	Watermark int64  `json:"watermark"`
	// Ended splits are kept so that a restored job does not read them
	// again.
	Ended bool `json:"ended,omitempty"`
}

// BarrierPreparer is implemented by operators that hold records back, such
// as a pre-aggregation in front of an exchange. PrepareBarrier emits what
// they hold before the chain snapshots and the barrier goes downstream, so
// those records are on the checkpoint's side of the barrier without being
// state.
type BarrierPreparer interface {
	PrepareBarrier() error
}

// WatermarkHolder is implemented by operators whose output for a record
// can come after the watermark that followed the record in (async I/O: a
// result is emitted when its request completes). HeldWatermark returns the
// latest watermark the operator has given that has no earlier record's
// output still to come; the operators after it in the chain and the task's
// outputs get no later watermark than that. The task asks again after it
// has run the operator's mailbox actions and processing timers, where such
// an operator emits what completed. While any operator of the chain holds
// records (Holding), the task's output does not go idle: records still to
// come on an idle channel could be late downstream.
type WatermarkHolder interface {
	HeldWatermark() int64
	Holding() bool
}

// WatermarkGenerator is implemented by operators that make the watermark
// of the operators after them from the event times of the records they
// see, in place of the one they are given (a timestamp step that is not
// read per split by its source). GeneratedWatermark gets the watermark
// that reaches the operator and returns the one the operators after it
// and the task's outputs get: its own, except that the final watermark
// (MaxWatermark) passes through. The operators after it must all be its
// descendants: the builder makes it the head of its chain or chains it
// only behind operators that have no other output. The task asks after
// every round that delivered records, and whenever an operator calls
// Task.WatermarkProgress.
type WatermarkGenerator interface {
	GeneratedWatermark(in int64) int64
}

// Stateful is implemented by operators that take part in checkpoints.
type Stateful interface {
	// Snapshot captures the operator's state for checkpoint id. It runs on
	// the task goroutine while the barrier passes, so it must be cheap:
	// copy-on-write snapshots, positions, a sink's prepare. savepoint says
	// id is a savepoint, whose state is written in full in the snapshot
	// format (state.SnapshotFor), never as a backend's own files shared
	// with other checkpoints.
	Snapshot(ctx context.Context, id int64, savepoint bool) (OperatorState, error)
}

// CheckpointListener is implemented by operators that act when a
// checkpoint completes, such as sinks that commit.
type CheckpointListener interface {
	CheckpointComplete(ctx context.Context, id int64) error
}

// Checkpointer receives what tasks snapshot. Its methods are called on task
// goroutines and must not block.
type Checkpointer interface {
	// Acknowledge hands over the snapshots of one task for checkpoint id
	// and how long the task waited for the barrier on all its inputs
	// (alignment; zero for a source or a single input).
	Acknowledge(id int64, task int, alignment time.Duration, states []OperatorState)
	// Decline reports that a task could not snapshot for checkpoint id.
	Decline(id int64, task int, err error)
	// SourceEnded reports that the input of a source task has ended.
	SourceEnded(task int)
}

// Output is the sending side of an exchange as the task loop sees it: the
// typed Pusher fills batches, the task flushes them and sends control
// messages in order with them.
type Output interface {
	// Flush sends every partial batch.
	Flush() error
	// Broadcast flushes and then sends m on every channel.
	Broadcast(m Message) error
}

// OriginInfo names a split of the job for error messages.
type OriginInfo struct {
	Source string
	Split  string
	// Unit names the split's offsets in messages: "line" for a source of
	// lines, "offset" when empty.
	Unit string
}

// OriginTable names the job's source splits for errors. Sources add the
// splits they discover while the job runs, so it is safe for concurrent
// use; its lock is a leaf.
type OriginTable struct {
	mu    sync.RWMutex
	infos []OriginInfo
}

// NewOriginTable returns a table holding infos, the first one at index 1.
func NewOriginTable(infos []OriginInfo) *OriginTable {
	return &OriginTable{infos: infos}
}

// Add names one more split and returns its index.
func (t *OriginTable) Add(info OriginInfo) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.infos = append(t.infos, info)
	return int32(len(t.infos))
}

// Lookup returns the split an origin names, if the table has it. A nil
// table has none.
func (t *OriginTable) Lookup(o Origin) (OriginInfo, bool) {
	if t == nil || !o.Known() {
		return OriginInfo{}, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(o.Split) > len(t.infos) {
		return OriginInfo{}, false
	}
	return t.infos[o.Split-1], true
}

// RecordOrigin is a resolved Origin.
type RecordOrigin struct {
	Source string
	Split  string
	Offset int64
	// Unit names Offset: "line" for a source of lines, "offset" when
	// empty.
	Unit string
}

func (o RecordOrigin) String() string {
	unit := o.Unit
	if unit == "" {
		unit = "offset"
	}
	return fmt.Sprintf("source %q split %q %s %d", o.Source, o.Split, unit, o.Offset)
}

// OperatorError is how a failure in user code reaches the caller of a job:
// which operator, which subtask and, where known, the record's origin.
type OperatorError struct {
	Operator   string
	OperatorID string
	// Subtask counts from 0, as everywhere in Weir (dead letters, part
	// file names, SinkInfo): the message says "subtask 0 of 2".
	Subtask     int
	Parallelism int
	// Origin is nil when the failing record had no known origin, for
	// example when a timer fired.
	Origin *RecordOrigin
	// Timer is set when the failure happened while firing a timer.
	Timer bool
	Err   error
}

func (e *OperatorError) Error() string {
	where := ""
	switch {
	case e.Origin != nil:
		where = " on record from " + e.Origin.String()
	case e.Timer:
		where = " in a timer"
	}
	return fmt.Sprintf("operator %q (id %s, subtask %d of %d) failed%s: %v",
		e.Operator, e.OperatorID, e.Subtask, e.Parallelism, where, e.Err)
}

func (e *OperatorError) Unwrap() error { return e.Err }

// IsOperatorError reports whether err already names its operator, so it is
// not wrapped again on its way up a chain.
func IsOperatorError(err error) bool {
	var oe *OperatorError
	return errors.As(err, &oe)
}
