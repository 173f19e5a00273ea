package weir

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// CheckpointWriters sizes the coordinator's pool of writers; without it the
// pool has the runtime's default size.
func TestCheckpointWritersReachCoordinator(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"default", nil, runtime.DefaultCheckpointWriters()},
		{"one", []Option{CheckpointWriters(1)}, 1},
		{"seven", []Option{CheckpointWriters(7)}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env *Env
			var got []int
			seen := func(CheckpointMetrics) {
				// On the coordinator's goroutine, while the job runs.
				env.running.Lock()
				got = append(got, env.running.coord.Writers())
				env.running.Unlock()
			}
			env = New(append([]Option{Checkpoints(time.Hour, t.TempDir()), OnCheckpoint(seen)}, tc.opts...)...)
			Collect(From(env, Slice(1, 2, 3)))
			if err := env.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 || got[0] != tc.want {
				t.Errorf("the coordinator writes %v state files at once, want %d", got, tc.want)
			}
		})
	}
}

// CheckpointWriters below 1 fails Validate, naming the option and the value.
func TestCheckpointWritersInvalid(t *testing.T) {
	for _, n := range []int{0, -3} {
		env := New(Checkpoints(time.Hour, t.TempDir()), CheckpointWriters(n))
		Collect(From(env, Slice(1, 2, 3)))
		err := env.Validate()
		if want := fmt.Sprintf("CheckpointWriters: %d must be at least 1", n); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckpointWriters(%d): Validate = %v, want an error containing %q", n, err, want)
		}
	}
}
