package runtime

import (
	"math"
	"testing"
	"time"
)

// A debloating queue's batch limit follows its consumer's rate: 512
// records read per second with a one-second target and a capacity of 8
// messages ask for batches of 64; a fast consumer lifts the limit again.
func TestQueueInFlightTargetFollowsConsumerRate(t *testing.T) {
	q := NewQueue(8, make(chan struct{}, 1), make(chan struct{}))
	clock := time.Unix(0, 0)
	q.setInFlightTarget(time.Second, func() time.Time { return clock })
	if got := q.BatchLimit(); got != math.MaxInt64 {
		t.Fatalf("batch limit before any poll = %d, want unlimited", got)
	}
	batch := func(n int) Message {
		return Message{Kind: Data, Batch: &Batch[int]{Recs: make([]Rec[int], n)}}
	}
	// A slow consumer: a batch of 256 every 500 ms.
	for range 2 {
		if err := q.Put(batch(256)); err != nil {
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
	// Barriers and watermarks count no records; a consumer that reads
	// 100 000 records in a window lifts the limit above any batch size.
	for range 10 {
		if err := q.Put(batch(10_000)); err != nil {
			t.Fatal(err)
		}
		if err := q.Put(Message{Kind: Barrier, Value: 1}); err != nil {
			t.Fatal(err)
		}
		q.Poll()
		q.Poll()
	}
	clock = clock.Add(debloatWindow)
	q.Put(batch(0))
	q.Poll()
	if got, want := q.BatchLimit(), int64(62_500); got < want-1 || got > want {
		t.Fatalf("batch limit after reading 500 000 records/s = %d, want about %d", got, want)
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
}
