package weir

import (
	"context"
	"encoding/binary"
	"fmt"
)

// channelHandoff is how many records a channel source takes off the
// channel ahead of its task: enough to fill part of a batch at a time, few
// enough that a sender feels the job's backpressure soon.
const channelHandoff = 64

// FromChannel adds a source that emits what is sent on ch, in the order it
// is sent, and ends when ch is closed: a push source for tests, and for
// control streams fed by the program itself, such as rules changed at run
// time (Broadcast, ProcessBroadcast). The source has one subtask; use
// Rebalance to spread its records. A record's offset is its number, from 0,
// among the records the source has read since the job first started.
//
// The task sleeps while ch is empty: a goroutine of the source's own waits
// on ch and wakes the task when a record arrives, so an idle channel costs
// no polling. It takes at most a few dozen records ahead of the task, so a
// sender blocks when the job falls behind (backpressure). The goroutine
// ends when ch is closed or the job stops (end, cancel, failure, stop with
// savepoint).
//
// A channel cannot be read again, so this source is at most once, like
// Flink's socket source, not exactly once: a checkpoint holds the number of
// records read, not the records. After a failure (Restarts) or a restore
// (Restore), the job goes on with what ch delivers next — the same channel
// in the same process, or the one the restoring program passes —, and the
// records read after the restored checkpoint are lost: the state they
// changed is rolled back and they are not read again, and an exactly-once
// sink never commits their output; so are the few records the goroutine
// had taken off ch that the task had not read yet when the job stopped,
// failed or was canceled. Records read before it are in the
// checkpoint's state as usual; broadcast state keeps the rules pushed
// before it. A program that must not lose a record sends it again, or uses
// a replayable source. A restore from a checkpoint taken after ch was
// closed reads nothing: the source had ended.
func FromChannel[T any](e *Env, ch <-chan T, opts ...SourceOption) Stream[T] {
	s := From[T](e, &channelSource[T]{ch: ch}, opts...)
	s.n.kind = "channel"
	s.n.parallelism = 1
	return s
}

// channelSource reads one channel as one split.
type channelSource[T any] struct {
	ch <-chan T
}

// Splits implements Source.
func (s *channelSource[T]) Splits(context.Context) ([]Split, error) {
	return []Split{{ID: "channel"}}, nil
}

// Bounded implements Source: the split ends when the channel is closed.
func (s *channelSource[T]) Bounded() bool { return true }

// OpenSplit implements Source. The position counts the records read
// before; it only numbers the next ones.
func (s *channelSource[T]) OpenSplit(_ context.Context, split Split, pos []byte) (SplitReader[T], error) {
	r := &channelReader[T]{ch: s.ch, buf: make(chan T, channelHandoff), quit: make(chan struct{}), done: make(chan struct{})}
	if pos != nil {
		n, k := binary.Varint(pos)
		if k <= 0 || n < 0 {
			return nil, fmt.Errorf("channel: split %q: bad position %x", split.ID, pos)
		}
		r.next = n
	}
	return r, nil
}

// channelReader hands the records of a channel to the task. Its goroutine
// (forward) moves them from ch to buf and wakes the task; Poll takes them
// from buf without blocking. buf is closed once ch is.
type channelReader[T any] struct {
	ch      <-chan T
	buf     chan T
	quit    chan struct{} // closed by Close: the goroutine returns
	done    chan struct{} // closed by the goroutine when it returns
	started bool
	next    int64 // records read so far, with those before the restore
}

// SetWake implements WakingReader: the goroutine starts with the function
// that wakes the task.
func (r *channelReader[T]) SetWake(wake func()) {
	r.started = true
	go r.forward(wake)
}

func (r *channelReader[T]) forward(wake func()) {
	defer close(r.done)
	for {
		select {
		case v, ok := <-r.ch:
			if !ok {
				close(r.buf)
				wake()
				return
			}
			select {
			case r.buf <- v:
			case <-r.quit:
				return
			}
			// After the record is in buf: a Poll that found buf empty
			// is followed by this wake-up.
			wake()
		case <-r.quit:
			return
		}
	}
}

// Poll implements SplitReader.
func (r *channelReader[T]) Poll(out SourceOutput[T], max int) (PollStatus, error) {
	for ; max > 0; max-- {
		select {
		case v, ok := <-r.buf:
			if !ok {
				return End, nil
			}
			out.Emit(v, r.next)
			r.next++
		default:
			return Wait, nil
		}
	}
	return More, nil
}

// Position implements SplitReader.
func (r *channelReader[T]) Position() []byte { return binary.AppendVarint(nil, r.next) }

// Close implements SplitReader: it stops the goroutine and waits for it.
func (r *channelReader[T]) Close() error {
	if r.started {
		close(r.quit)
		<-r.done
		r.started = false
	}
	return nil
}

var _ WakingReader = (*channelReader[int])(nil)
