package weir_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

var (
	errNotFound    = errors.New("404 not found")
	errUnavailable = errors.New("503 unavailable")
)

// lookup is a service that knows no record 3 and is unavailable for
// record 5 on its first two calls; it counts the calls per record.
type lookup struct {
	mu        sync.Mutex
	calls     map[int64]int
	permanent bool // mark the 404 with weir.Permanent
}

func (l *lookup) call(_ context.Context, v int64) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls == nil {
		l.calls = map[int64]int{}
	}
	l.calls[v]++
	switch {
	case v == 3 && l.permanent:
		return 0, weir.Permanent(errNotFound)
	case v == 3:
		return 0, errNotFound
	case v == 5 && l.calls[v] <= 2:
		return 0, errUnavailable
	}
	return 10 * v, nil
}

func (l *lookup) attempts(v int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[v]
}

// Only the errors the filter calls retryable are retried: the 404 meets
// the error policy after one attempt, the 503 is retried until it
// succeeds. Without a filter or a Permanent mark the 404 is retried to the
// limit.
func TestAsyncRetryIf(t *testing.T) {
	items := []int64{0, 1, 2, 3, 4, 5, 6}
	for _, tc := range []struct {
		name      string
		permanent bool
		opts      []weir.AsyncOption
		want404   int
	}{
		{name: "every error retried", want404: 4},
		{name: "retry filter", want404: 1,
			opts: []weir.AsyncOption{weir.AsyncRetryIf(func(err error) bool { return errors.Is(err, errUnavailable) })}},
		{name: "permanent", permanent: true, want404: 1},
		{name: "permanent beats the filter", permanent: true, want404: 1,
			opts: []weir.AsyncOption{weir.AsyncRetryIf(func(error) bool { return true })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &lookup{permanent: tc.permanent}
			env := weir.New()
			src := weir.From(env, weir.Slice(items...))
			opts := append([]weir.AsyncOption{weir.AsyncRetries(3, time.Microsecond)}, tc.opts...)
			got := weir.Collect(weir.AsyncMap(src, l.call, opts...).OnError(weir.Skip))
			run(t, env)
			if want := []int64{0, 10, 20, 40, 50, 60}; !slices.Equal(got.Values(), want) {
				t.Fatalf("got %v, want %v", got.Values(), want)
			}
			if a := l.attempts(3); a != tc.want404 {
				t.Fatalf("the 404 took %d attempts, want %d", a, tc.want404)
			}
			if a := l.attempts(5); a != 3 {
				t.Fatalf("the 503 took %d attempts, want 3", a)
			}
		})
	}
}

// A job that fails with an error its function marked Permanent is not
// restarted: the restart would meet the same record and fail again.
func TestPermanentFailureIsNotRestarted(t *testing.T) {
	dir := t.TempDir()
	var rs restarts
	env := weir.New(weir.Checkpoints(time.Hour, dir), weir.Restarts(quick), weir.OnRestart(rs.add))
	src := weir.From(env, weir.Slice[int64](1, 2, 3))
	weir.Collect(weir.TryMap(src, func(v int64) (int64, error) {
		if v == 2 {
			return 0, weir.Permanent(errNotFound)
		}
		return v, nil
	}))
	err := env.Run(context.Background())
	if !errors.Is(err, errNotFound) || !weir.IsPermanent(err) {
		t.Fatalf("Run = %v, want the permanent 404", err)
	}
	if len(rs.rs) != 0 {
		t.Fatalf("the job restarted %d times, want none", len(rs.rs))
	}
	if err.Error() == "" || weir.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) must be nil")
	}
}
