package weir

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/weirstream/weir/internal/state"
)

// backendSpy records the type of the backend its subtask's state is in.
// Subtasks open in parallel, so it writes under a lock.
type backendSpy struct{ got *string }

var backendSpyMu sync.Mutex

func (s *backendSpy) Open(oc KeyedOpenContext[int64]) error {
	backendSpyMu.Lock()
	defer backendSpyMu.Unlock()
	*s.got = fmt.Sprintf("%T", oc.(*keyedOpenCtx[int64]).backend)
	return nil
}

func (s *backendSpy) Process(KeyedContext[int64], int64, Out[int64]) error { return nil }

// The StateBackend option decides the backend keyed operators open.
func TestStateBackendOptionPicksTheBackend(t *testing.T) {
	for _, tc := range []struct {
		b    Backend
		want string
	}{
		{MemoryBackend, "*state.Memory"},
		{BytesBackend, "*state.StoreBackend"},
		{PebbleBackend(PebbleOptions{Dir: t.TempDir()}), "*state.StoreBackend"},
	} {
		var got string
		env := New(StateBackend(tc.b))
		src := From(env, Generator(GeneratorSpec{Count: 3}, func(seq int64) int64 { return seq }))
		Collect(Process(KeyBy(src, func(v int64) int64 { return v }), &backendSpy{got: &got}))
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Fatalf("StateBackend(%v): the operator's state is in a %s; want %s", tc.b, got, tc.want)
		}
	}
}

// A backend made per job learns how many operator subtasks hold state:
// the keyed operators' and the async maps' subtasks, not the others'.
func TestBackendForJobCountsStatefulSubtasks(t *testing.T) {
	var stores []int
	b := MemoryBackend
	b.perJob = func(n int) func(state.Config) (state.Backend, error) {
		stores = append(stores, n)
		return MemoryBackend.open
	}
	env := New(StateBackend(b), Parallelism(3))
	src := From(env, Generator(GeneratorSpec{Count: 3}, func(seq int64) int64 { return seq }))
	var got string
	keyed := Process(KeyBy(src, func(v int64) int64 { return v }), &backendSpy{got: &got})
	async := AsyncMap(Map(keyed, func(v int64) int64 { return v }), func(_ context.Context, v int64) (int64, error) { return v, nil })
	Collect(async)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(stores) != 1 || stores[0] != 6 {
		t.Errorf("the job's backend was made for %v stateful subtasks; want [6] (a keyed operator and an async map at parallelism 3)", stores)
	}
}
