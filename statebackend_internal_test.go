package weir

import (
	"context"
	"fmt"
	"testing"
)

// backendSpy records the type of the backend its subtask's state is in.
type backendSpy struct{ got *string }

func (s *backendSpy) Open(oc KeyedOpenContext[int64]) error {
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
