package weir

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// quietReader has no data and cannot wake its task; quietWakingReader
// can.
type quietReader struct{}

func (quietReader) Poll(SourceOutput[int], int) (PollStatus, error) { return Wait, nil }
func (quietReader) Position() []byte                                { return nil }
func (quietReader) Close() error                                    { return nil }

type quietWakingReader struct{ quietReader }

func (quietWakingReader) SetWake(func()) {}

type quietSource struct{}

func (s quietSource) Splits(context.Context) ([]Split, error) { return nil, nil }
func (s quietSource) Bounded() bool                           { return false }
func (s quietSource) OpenSplit(_ context.Context, sp Split, _ []byte) (SplitReader[int], error) {
	if sp.ID == "waking" {
		return quietWakingReader{}, nil
	}
	return quietReader{}, nil
}

// A source task whose splits can all wake it sets no poll deadline, so it
// sleeps until woken; one split that cannot makes it poll every poll
// interval; an idle timeout sets a deadline when it runs out.
func TestSourceNextPoll(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name   string
		splits []string
		idle   time.Duration
		want   time.Duration // 0: no deadline
	}{
		{"waking", []string{"waking", "waking"}, 0, 0},
		{"one polled", []string{"waking", "polled"}, 0, 5 * time.Millisecond},
		{"idle timeout", []string{"waking"}, time.Second, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := &runtime.Task{Wake: make(chan struct{}, 1)}
			op := &sourceOp[int]{
				opBase: opBase{meta: runtime.NewMeta(), task: task, c: &counters{}},
				src:    quietSource{}, next: runtime.Discard[int]{},
				pollInterval: 5 * time.Millisecond, idleTimeout: tc.idle, batchSize: 8,
			}
			for _, id := range tc.splits {
				op.splits = append(op.splits, assignedSplit{split: Split{ID: id}})
			}
			if err := op.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, r := range op.runs {
				r.lastActive = now
			}
			if _, _, err := op.Poll(context.Background(), now); err != nil {
				t.Fatal(err)
			}
			got := op.NextPoll(now)
			if tc.want == 0 && !got.IsZero() || tc.want != 0 && !got.Equal(now.Add(tc.want)) {
				t.Fatalf("NextPoll = %v after now, want %v (0: none)", got.Sub(now), tc.want)
			}
		})
	}
}
