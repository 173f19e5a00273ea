package runtime

import (
	"math"
	"testing"
	"time"
)

func batchOf(n int) Message {
	return Message{Kind: Data, Batch: &Batch[int]{Recs: make([]Rec[int], n)}}
}

// A debloating queue's batch limit follows its consumer's rate while the
// queue holds messages: 512 records read per second with a one-second
// target and a capacity of 8 messages ask for batches of 64; a consumer
// that reads 10 M records a second lifts the limit above any batch size.
func TestQueueInFlightTargetFollowsConsumerRate(t *testing.T) {
	q := NewQueue(8, make(chan struct{}, 1), make(chan struct{}))
	clock := time.Unix(0, 0)
	q.setInFlightTarget(time.Second, func() time.Time { return clock })
	if got := q.BatchLimit(); got != math.MaxInt64 {
		t.Fatalf("batch limit before any poll = %d, want unlimited", got)
	}
	// A slow consumer: a batch of 256 every 500 ms, with more waiting.
	for range 2 {
		if err := q.Put(batchOf(256)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		clock = clock.Add(500 * time.Millisecond)
		if _, ok := q.Poll(); !ok {
			t.Fatal("poll of a non-empty queue found nothing")
		}
	}
	if got := q.BatchLimit(); got != 64 {
		t.Fatalf("batch limit after reading 512 records/s, 1 s target, 8 messages = %d, want 64", got)
	}
	// A fast consumer: 10 batches of 10 000, each read 1 ms after it was
	// sent; barriers count no records.
	for range 10 {
		if err := q.Put(batchOf(10_000)); err != nil {
			t.Fatal(err)
		}
		if err := q.Put(Message{Kind: Barrier, Value: 1}); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Millisecond)
		q.Poll()
		q.Poll()
	}
	clock = clock.Add(debloatWindow)
	q.Put(batchOf(0))
	q.Poll()
	if got, want := q.BatchLimit(), int64(1_250_000); got != want {
		t.Fatalf("batch limit after reading 100 000 records in 10 ms = %d, want %d", got, want)
	}
}

// Time the queue waits empty is not the consumer's: a batch of 256 read
// 1 ms after it came, after 10 s without input, measures 256 000 records/s,
// not 25.6, so a slow source does not shrink the batches of a consumer
// that keeps up.
func TestQueueInFlightTargetIgnoresIdleTime(t *testing.T) {
	q := NewQueue(8, make(chan struct{}, 1), make(chan struct{}))
	clock := time.Unix(0, 0)
	q.setInFlightTarget(time.Second, func() time.Time { return clock })
	clock = clock.Add(10 * time.Second)
	if err := q.Put(batchOf(256)); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Millisecond)
	if _, ok := q.Poll(); !ok {
		t.Fatal("poll of a non-empty queue found nothing")
	}
	if got, want := q.BatchLimit(), int64(32_000); got != want {
		t.Fatalf("batch limit = %d, want %d (256 records in the 1 ms the queue held them)", got, want)
	}
	// Records read as soon as they came: the consumer keeps up.
	clock = clock.Add(time.Second)
	q.Put(batchOf(256))
	q.Poll()
	if got := q.BatchLimit(); got != math.MaxInt64 {
		t.Fatalf("batch limit after a batch read at once = %d, want unlimited", got)
	}
}

// Without a target, or on an unbounded queue, batches are not limited.
func TestQueueInFlightTargetOff(t *testing.T) {
	q := NewQueue(8, make(chan struct{}, 1), make(chan struct{}))
	q.SetInFlightTarget(0)
	u := NewQueue(0, make(chan struct{}, 1), make(chan struct{}))
	u.SetInFlightTarget(time.Second)
	if q.BatchLimit() != math.MaxInt64 || u.BatchLimit() != math.MaxInt64 {
		t.Fatal("a zero target or an unbounded queue limits batches")
	}
	if q.InFlightTarget() != 0 || u.InFlightTarget() != 0 {
		t.Fatal("a zero target or an unbounded queue reports a target")
	}
}
