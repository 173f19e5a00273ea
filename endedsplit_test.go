package weir_test

import (
	"context"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// endingSource is an unbounded source (it could discover more splits)
// whose one split emits records and ends.
type endingSource struct{ times []int64 }

func (s endingSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: "only"}}, nil
}
func (s endingSource) Bounded() bool { return false }
func (s endingSource) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[int64], error) {
	return &endingReader{times: s.times}, nil
}

type endingReader struct {
	times []int64
	next  int
}

func (r *endingReader) Poll(out weir.SourceOutput[int64], max int) (weir.PollStatus, error) {
	for ; max > 0 && r.next < len(r.times); max-- {
		out.Emit(r.times[r.next], int64(r.next))
		r.next++
	}
	if r.next == len(r.times) {
		return weir.End, nil
	}
	return weir.More, nil
}
func (r *endingReader) Position() []byte { return nil }
func (r *endingReader) Close() error     { return nil }

// When a subtask's last split ends, the watermark its records made still
// reaches the windows downstream before the subtask goes idle: the last
// window that closes before it fires, though the source goes on (it could
// find new splits).
func TestEndedSplitsWatermarkIsSent(t *testing.T) {
	// Records at 0–2 s and one at 65 s: the window [0, 60 s) closes when
	// the watermark passes 60 s, which only the last record makes.
	times := []int64{0, 1000, 2000, 65_000}
	env := weir.New(weir.Parallelism(1))
	in := weir.From(env, weir.Source[int64](endingSource{times}),
		weir.EventTime(func(ms int64) time.Time { return time.UnixMilli(ms) }, 0))
	counts := weir.Aggregate(weir.Windowed(weir.KeyBy(in, func(int64) string { return "k" }),
		weir.TumblingEventTime(time.Minute)), countOf[int64]{})
	out := make(chan weir.WindowResult[string, int64], 4)
	weir.To(counts, weir.Sink[weir.WindowResult[string, int64]](chanSink[weir.WindowResult[string, int64]]{out}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	select {
	case r := <-out:
		if r.Value != 3 || r.Window.Start != 0 {
			t.Errorf("window %v counted %d; want [0, 60 s) with 3", r.Window, r.Value)
		}
	case err := <-done:
		t.Fatalf("the job ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the window [0, 60 s) never fired: the ended split's watermark was not sent")
	}
	cancel()
	<-done
}
