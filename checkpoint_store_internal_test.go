package weir

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/runtime"
)

// pieceSnapshot writes size bytes in pieces of 100, calling each before the
// piece numbered at, or fails with err at that piece, and calls last after
// the last piece; written is how many bytes its writer took.
type pieceSnapshot struct {
	size    int
	at      int
	each    func()
	err     error
	last    func()
	written int64
}

func (s *pieceSnapshot) WriteTo(w io.Writer) (int64, error) {
	var n int64
	piece := make([]byte, 100)
	for i := 0; n < int64(s.size); i++ {
		if i == s.at && s.each != nil {
			s.each()
		}
		if i == s.at && s.err != nil {
			return n, s.err
		}
		m, err := w.Write(piece[:min(len(piece), s.size-int(n))])
		n += int64(m)
		s.written = n
		if err != nil {
			return n, err
		}
	}
	if s.last != nil {
		s.last()
	}
	return n, nil
}

// storeForTest opens a checkpoint store for a job with an operator
// of parallelism p and returns it with that operator's ID.
func storeForTest(t testing.TB, p int) (*checkpointStore, string) {
	t.Helper()
	env := New(Parallelism(p), Checkpoints(time.Hour, t.TempDir()))
	src := From(env, Generator(GeneratorSpec{Count: 3}, func(seq int64) int64 { return seq }))
	Collect(Map(src, func(v int64) int64 { return v }).Name("wide").Parallelism(p))
	pl, err := env.validate()
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, v := range pl.vertices {
		for _, n := range v.nodes {
			if n.name == "wide" {
				id = n.id
			}
		}
	}
	if id == "" {
		t.Fatal("no operator named wide")
	}
	s, err := openCheckpointStore(t.Context(), pl.cfg.checkpoint.dir, pl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	return s, id
}

// The coordinator's writers call WriteState at once for many subtasks: each
// file is complete, and the metadata lists each with its size.
func TestCheckpointStoreConcurrentWrites(t *testing.T) {
	const p = 16
	s, op := storeForTest(t, p)
	ctx := context.Background()
	states := make([]runtime.WrittenState, p)
	var wg sync.WaitGroup
	errs := make([]error, p)
	for i := range p {
		wg.Go(func() {
			st := runtime.OperatorState{OperatorID: op, Subtask: i, State: &pieceSnapshot{size: 1000 + 37*i, at: -1}}
			file, size, err := s.WriteState(ctx, 1, false, st)
			st.State = nil
			states[i], errs[i] = runtime.WrittenState{OperatorState: st, File: file, Size: size}, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(ctx, runtime.CompletedCheckpoint{ID: 1, Time: time.Now(), States: states}); err != nil {
		t.Fatal(err)
	}
	ref := checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 1}
	m, err := s.dir.ReadMetadata(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.dir.Verify(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if len(m.Operators) != 1 || len(m.Operators[0].Subtasks) != p {
		t.Fatalf("metadata lists %+v, want one operator with %d subtasks", m.Operators, p)
	}
	for i, f := range m.Operators[0].Subtasks {
		if want := int64(1000 + 37*i); f.Size != want {
			t.Errorf("subtask %d: %s listed with %d bytes, want %d", i, f.Name, f.Size, want)
		}
	}
}

// A write whose context is canceled stops at the snapshot's next piece
// instead of writing the rest; a write that is canceled or fails gives its
// file up without syncing it, and the checkpoint's discard removes it.
func TestCheckpointStoreWriteGivesUpWithoutSync(t *testing.T) {
	broken := errors.New("snapshot broke")
	for _, tc := range []struct {
		name string
		// snap returns the snapshot to write and the context to write it
		// with.
		snap func() (*pieceSnapshot, context.Context)
		want error
		// written is how many bytes the snapshot's writer took.
		written int64
	}{
		{"canceled midway", func() (*pieceSnapshot, context.Context) {
			ctx, cancel := context.WithCancel(context.Background())
			return &pieceSnapshot{size: 1 << 20, at: 3, each: cancel}, ctx
		}, context.Canceled, 300},
		{"canceled after the last piece", func() (*pieceSnapshot, context.Context) {
			ctx, cancel := context.WithCancel(context.Background())
			return &pieceSnapshot{size: 1 << 20, at: -1, last: cancel}, ctx
		}, context.Canceled, 1 << 20},
		{"snapshot fails", func() (*pieceSnapshot, context.Context) {
			return &pieceSnapshot{size: 1 << 20, at: 5, err: broken}, context.Background()
		}, broken, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, op := storeForTest(t, 1)
			var syncs atomic.Int32
			s.dir.(*checkpoint.Dir).Failpoints = func(name string) error {
				if name == checkpoint.FailpointStateFileSynced {
					syncs.Add(1)
				}
				return nil
			}
			snap, ctx := tc.snap()
			_, _, err := s.WriteState(ctx, 1, false, runtime.OperatorState{OperatorID: op, State: snap})
			if !errors.Is(err, tc.want) {
				t.Fatalf("WriteState returned %v, want %v", err, tc.want)
			}
			if snap.written != tc.written {
				t.Errorf("the snapshot wrote %d bytes, want %d", snap.written, tc.written)
			}
			if n := syncs.Load(); n != 0 {
				t.Errorf("the state file was synced %d times, want none", n)
			}
			if err := s.Discard(context.Background(), 1, false); err != nil {
				t.Fatal(err)
			}
			if entries, err := os.ReadDir(s.dir.Location()); err != nil || len(entries) != 0 {
				t.Errorf("after the discard the checkpoint directory holds %v (%v), want nothing", entries, err)
			}

			// The hook counts the sync of a write that succeeds.
			if _, _, err := s.WriteState(context.Background(), 2, false, runtime.OperatorState{OperatorID: op, State: &pieceSnapshot{size: 1000, at: -1}}); err != nil {
				t.Fatal(err)
			}
			if n := syncs.Load(); n != 1 {
				t.Errorf("%d syncs after a write that succeeded, want 1", n)
			}
		})
	}
}
