package runtime

import (
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
)

// benchSnapshot writes size bytes in 64 KiB pieces.
type benchSnapshot struct{ size int }

func (s benchSnapshot) WriteTo(w io.Writer) (int64, error) {
	piece := make([]byte, 64<<10)
	var n int64
	for n < int64(s.size) {
		m, err := w.Write(piece[:min(len(piece), s.size-int(n))])
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// benchOp snapshots a benchSnapshot after waiting delay: the time the
// barrier takes to reach its task.
type benchOp struct {
	delay time.Duration
	size  int
}

func (o *benchOp) Name() string               { return "op" }
func (o *benchOp) Open(context.Context) error { return nil }
func (o *benchOp) OnWatermark(int64) error    { return nil }
func (o *benchOp) EndInput() error            { return nil }
func (o *benchOp) Close() error               { return nil }
func (o *benchOp) Snapshot(context.Context, int64, bool) (OperatorState, error) {
	time.Sleep(o.delay)
	return OperatorState{State: benchSnapshot{o.size}}, nil
}

type benchSource struct{}

func (benchSource) Poll(context.Context, time.Time) (bool, bool, error) { return false, false, nil }
func (benchSource) Watermark(time.Time) (int64, bool)                   { return MinWatermark, false }
func (benchSource) NextPoll(time.Time) time.Time                        { return time.Time{} }
func (benchSource) Close() error                                        { return nil }

// sleepStore's writes take a fixed time each, like a disk that is the
// limit; it writes nothing.
type sleepStore struct{ write time.Duration }

func (s sleepStore) WriteState(ctx context.Context, _ int64, _ bool, st OperatorState) (string, int64, error) {
	select {
	case <-time.After(s.write):
	case <-ctx.Done():
		return "", 0, ctx.Err()
	}
	n, err := st.State.WriteTo(io.Discard)
	return fmt.Sprintf("%s-%d", st.OperatorID, st.Subtask), n, err
}
func (sleepStore) Complete(context.Context, CompletedCheckpoint) error { return nil }
func (sleepStore) Discard(context.Context, int64, bool) error          { return nil }

// dirStore writes state files into a checkpoint.Dir: created, written,
// fsynced on close, as a job's checkpoints are.
type dirStore struct{ dir *checkpoint.Dir }

func (s dirStore) WriteState(ctx context.Context, id int64, _ bool, st OperatorState) (string, int64, error) {
	name := checkpoint.StateFileName(st.OperatorID, st.Subtask)
	w, err := s.dir.Create(ctx, checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id}, name)
	if err != nil {
		return "", 0, err
	}
	n, err := st.State.WriteTo(w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return name, n, err
}
func (dirStore) Complete(context.Context, CompletedCheckpoint) error { return nil }
func (s dirStore) Discard(ctx context.Context, id int64, _ bool) error {
	return s.dir.Delete(ctx, checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: id})
}

// BenchmarkCheckpointWrites measures how long a checkpoint takes, from the
// trigger to its completion (ms/checkpoint), with 8 tasks whose
// acknowledgements arrive 5 ms apart (the barrier travelling through the
// job), each with one snapshot, by the number of writers. "sleep": each
// write takes 20 ms; "files": each snapshot is 4 MiB written into a state
// file and fsynced.
func BenchmarkCheckpointWrites(b *testing.B) {
	const tasks, stagger = 8, 5 * time.Millisecond
	for _, kind := range []string{"sleep", "files"} {
		for _, writers := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("%s/writers=%d", kind, writers), func(b *testing.B) {
				var store CheckpointStore = sleepStore{write: 20 * time.Millisecond}
				size := 1 << 10
				if kind == "files" {
					d, err := checkpoint.OpenDir(b.TempDir())
					if err != nil {
						b.Fatal(err)
					}
					defer d.Close()
					store, size = dirStore{d}, 4<<20
				}
				var total time.Duration
				for i := 0; b.Loop(); i++ {
					total += benchCheckpoint(b, store, tasks, stagger, size, writers, int64(i+1))
					if ds, ok := store.(dirStore); ok {
						ds.Discard(context.Background(), int64(i+1), false)
					}
				}
				b.ReportMetric(float64(total.Microseconds())/1e3/float64(b.N), "ms/checkpoint")
			})
		}
	}
}

// benchCheckpoint runs a coordinator until checkpoint id has completed and
// returns its duration.
func benchCheckpoint(b *testing.B, store CheckpointStore, n int, stagger time.Duration, size, writers int, id int64) time.Duration {
	ts := make([]*Task, n)
	for i := range ts {
		ts[i] = &Task{
			Name: "src", Subtask: i, Parallelism: n, Meta: &Meta{}, Source: benchSource{},
			OpIDs: []string{"op"}, Ops: []Operator{&benchOp{delay: time.Duration(i) * stagger, size: size}},
			Mailbox: make(chan func(context.Context) error, 4),
		}
	}
	done := make(chan CheckpointStats, 1)
	cfg := CheckpointConfig{Interval: time.Millisecond, MinPause: time.Hour, FirstID: id, Report: func(s CheckpointStats) { done <- s }}
	setWriters(&cfg, writers)
	coord := NewCoordinator(cfg, store, ts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, t := range ts {
		if err := t.Open(ctx); err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for {
				select {
				case f := <-t.Mailbox:
					f(ctx)
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() { coord.Run(ctx) })
	s := <-done
	cancel()
	wg.Wait()
	if s.Err != nil {
		b.Fatal(s.Err)
	}
	return s.Duration
}
