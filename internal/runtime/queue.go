package runtime

import (
	"errors"
	"sync"
	"time"
)

// ErrCanceled is returned by a blocked Put when the job is canceled.
var ErrCanceled = errors.New("runtime: job canceled")

// Queue is one channel between an upstream subtask and a downstream subtask:
// a bounded FIFO of messages. Put blocks while the queue is full, which is
// how backpressure reaches the producer; the consumer never blocks on a
// single queue but waits on its task's wake channel, so one task can read
// many queues and leave some of them unread (barrier alignment).
type Queue struct {
	// capacity is the bound in messages; zero means unbounded, which only
	// tests use to show what the bound prevents.
	capacity int
	// wake is the consumer task's channel (capacity one): a Put into an
	// empty queue signals it.
	wake chan<- struct{}
	// space is signalled when a full queue loses a message.
	space chan struct{}
	// done is closed when the job is canceled.
	done <-chan struct{}
	// debloat, when set, measures the consumer's rate to bound the size of
	// the batches sent into the queue (SetInFlightTarget).
	debloat *debloat

	mu struct {
		sync.Mutex
		ring       []Message
		head, size int
		// blocked is the time Puts have waited for space — the backpressure
		// the producer felt — and waiting when the current wait began.
		// They change only when a Put blocks, so a Put that finds room
		// costs nothing more.
		blocked time.Duration
		waiting time.Time
	}
}

// NewQueue returns a queue holding at most capacity messages (zero for
// unbounded) whose consumer waits on wake.
func NewQueue(capacity int, wake chan<- struct{}, done <-chan struct{}) *Queue {
	n := capacity
	if n == 0 {
		n = 16
	}
	q := &Queue{capacity: capacity, wake: wake, space: make(chan struct{}, 1), done: done}
	q.mu.ring = make([]Message, n)
	return q
}

// Put appends m, blocking while the queue is full. It returns ErrCanceled if
// the job is canceled first.
func (q *Queue) Put(m Message) error {
	blocked := false
	for {
		q.mu.Lock()
		if q.capacity == 0 || q.mu.size < q.capacity {
			q.pushLocked(m)
			wasEmpty := q.mu.size == 1
			if wasEmpty && q.debloat != nil {
				q.debloat.filledLocked()
			}
			if blocked {
				q.endWaitLocked()
			}
			q.mu.Unlock()
			if wasEmpty {
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			return nil
		}
		if !blocked {
			blocked = true
			q.mu.waiting = time.Now()
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-q.done:
			q.mu.Lock()
			q.endWaitLocked()
			q.mu.Unlock()
			return ErrCanceled
		}
	}
}

func (q *Queue) pushLocked(m Message) {
	if q.mu.size == len(q.mu.ring) {
		grown := make([]Message, 2*len(q.mu.ring))
		n := copy(grown, q.mu.ring[q.mu.head:])
		copy(grown[n:], q.mu.ring[:q.mu.head])
		q.mu.ring, q.mu.head = grown, 0
	}
	q.mu.ring[(q.mu.head+q.mu.size)%len(q.mu.ring)] = m
	q.mu.size++
}

// Poll removes and returns the oldest message, if any. It never blocks.
func (q *Queue) Poll() (Message, bool) {
	q.mu.Lock()
	if q.mu.size == 0 {
		q.mu.Unlock()
		return Message{}, false
	}
	m := q.mu.ring[q.mu.head]
	q.mu.ring[q.mu.head] = Message{}
	q.mu.head = (q.mu.head + 1) % len(q.mu.ring)
	if q.debloat != nil {
		q.debloat.polledLocked(q, m, q.mu.size == 1)
	}
	wasFull := q.capacity > 0 && q.mu.size == q.capacity
	q.mu.size--
	q.mu.Unlock()
	if wasFull {
		select {
		case q.space <- struct{}{}:
		default:
		}
	}
	return m, true
}

// Len returns the number of queued messages.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.mu.size
}

func (q *Queue) endWaitLocked() {
	q.mu.blocked += time.Since(q.mu.waiting)
	q.mu.waiting = time.Time{}
}

// Blocked returns how long Puts have waited for space in all, the wait
// going on included: the time the producer was backpressured by this
// channel. Any goroutine may call it.
func (q *Queue) Blocked() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.mu.blocked
	if !q.mu.waiting.IsZero() {
		d += time.Since(q.mu.waiting)
	}
	return d
}
