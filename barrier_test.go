package weir_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// barrierLog records, per subtask, the records and checkpoint barriers a
// keyed function sees, in order.
type barrierLog struct {
	mu      *sync.Mutex
	logs    map[int][]string
	seen    chan<- struct{}
	subtask int
}

var _ weir.BarrierHandler = (*barrierLog)(nil)

func (f *barrierLog) Open(c weir.KeyedOpenContext[int]) error {
	f.subtask = c.Subtask()
	return nil
}

func (f *barrierLog) Process(_ weir.KeyedContext[int], v int, _ weir.Out[int]) error {
	f.mu.Lock()
	f.logs[f.subtask] = append(f.logs[f.subtask], fmt.Sprint("rec ", v))
	f.mu.Unlock()
	f.seen <- struct{}{}
	return nil
}

func (f *barrierLog) OnBarrier(id int64) error {
	f.mu.Lock()
	f.logs[f.subtask] = append(f.logs[f.subtask], fmt.Sprint("barrier ", id))
	f.mu.Unlock()
	return nil
}

// Every subtask of a keyed function that implements BarrierHandler is told
// of every checkpoint's barrier, after the records before it.
func TestBarrierHandlerSeesEveryBarrier(t *testing.T) {
	views := make(chan int)
	seen := make(chan struct{}, 100)
	fn := &barrierLog{mu: &sync.Mutex{}, logs: map[int][]string{}, seen: seen}
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(time.Hour, t.TempDir()))
	in := weir.FromChannel(env, views).ID("in")
	weir.Process(weir.KeyBy(in, func(v int) int { return v }), fn).ID("log")
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	for i := range 10 {
		views <- i
		<-seen
	}
	if _, err := env.Savepoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 20; i++ {
		views <- i
		<-seen
	}
	close(views)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var barriers [][]string
	for sub := range 2 {
		var bs []string
		for _, e := range fn.logs[sub] {
			var v int
			if _, err := fmt.Sscanf(e, "rec %d", &v); err != nil {
				bs = append(bs, e)
				continue
			}
			// Records 0-9 were processed before the savepoint, 10-19
			// after it.
			if before := v < 10; before != (len(bs) == 0) {
				t.Errorf("subtask %d: record %d on the wrong side of the savepoint's barrier: %v", sub, v, fn.logs[sub])
			}
		}
		if len(bs) < 2 {
			t.Fatalf("subtask %d saw barriers %v; want the savepoint's and the final checkpoint's", sub, bs)
		}
		barriers = append(barriers, bs)
	}
	if !slices.Equal(barriers[0], barriers[1]) {
		t.Fatalf("the subtasks saw different barriers: %v and %v", barriers[0], barriers[1])
	}
}
