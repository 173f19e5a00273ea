package connectortest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectortest"
)

// generator is the fixture of a bounded source made by wrap around the
// generator source.
func generator(wrap func(weir.Source[int64]) weir.Source[int64]) connectortest.Source[int64] {
	return connectortest.Source[int64]{
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[int64] {
			n := int64(in.Records)
			d := connectortest.SourceData[int64]{Source: func() weir.Source[int64] {
				return wrap(weir.Generator(weir.GeneratorSpec{Splits: in.Splits, Count: n}, func(seq int64) int64 { return seq }))
			}}
			for seq := range n {
				d.Good = append(d.Good, seq)
			}
			return d
		},
	}
}

// forgetful opens every split at its beginning, whatever the position.
type forgetful struct{ weir.Source[int64] }

func (s forgetful) OpenSplit(ctx context.Context, sp weir.Split, _ []byte) (weir.SplitReader[int64], error) {
	return s.Source.OpenSplit(ctx, sp, nil)
}

// greedy's readers emit more records than Poll asks for.
type greedy struct{ weir.Source[int64] }

func (s greedy) OpenSplit(ctx context.Context, sp weir.Split, pos []byte) (weir.SplitReader[int64], error) {
	r, err := s.Source.OpenSplit(ctx, sp, pos)
	return greedyReader{r}, err
}

type greedyReader struct{ weir.SplitReader[int64] }

func (r greedyReader) Poll(out weir.SourceOutput[int64], max int) (weir.PollStatus, error) {
	return r.SplitReader.Poll(out, max+3)
}

// leaky's readers start a goroutine that Close does not stop.
type leaky struct {
	weir.Source[int64]
	stop chan struct{}
}

func (s leaky) OpenSplit(ctx context.Context, sp weir.Split, pos []byte) (weir.SplitReader[int64], error) {
	go func() { <-s.stop }()
	return s.Source.OpenSplit(ctx, sp, pos)
}

// memSink is a two-phase sink in memory with two possible faults:
// early publishes at Prepare, and strict fails a second commit of the
// same committable.
type memSink struct {
	early, strict bool
	mu            sync.Mutex
	n             int
	staged        map[string][]int64
	done          map[string]bool
	visible       []int64
}

func (s *memSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[int64], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return &memWriter{s: s, id: s.n}, nil
}

type memWriter struct {
	s       *memSink
	id      int
	pending []int64
}

func (w *memWriter) Write(v int64) error { w.pending = append(w.pending, v); return nil }
func (w *memWriter) Close() error        { return nil }

func (w *memWriter) Prepare(id int64) ([]byte, error) {
	c := fmt.Sprintf("%d/%d", w.id, id)
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.staged[c] = w.pending
	if w.s.early {
		w.s.visible = append(w.s.visible, w.pending...)
		w.s.done[c] = true
	}
	w.pending = nil
	return []byte(c), nil
}

func (w *memWriter) Commit(_ context.Context, cs [][]byte) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	for _, c := range cs {
		if w.s.done[string(c)] {
			if w.s.strict {
				return errors.New("committed twice")
			}
			continue
		}
		w.s.done[string(c)] = true
		w.s.visible = append(w.s.visible, w.s.staged[string(c)]...)
	}
	return nil
}

func memFixture(early, strict bool) connectortest.Sink[int64] {
	return connectortest.Sink[int64]{
		Capabilities: connectortest.SinkCapabilities{ExactlyOnce: true, Rescale: true},
		Setup: func(*testing.T) connectortest.SinkData[int64] {
			s := &memSink{early: early, strict: strict, staged: map[string][]int64{}, done: map[string]bool{}}
			return connectortest.SinkData[int64]{
				Sink: func() weir.Sink[int64] { return s },
				Committed: func() ([]int64, error) {
					s.mu.Lock()
					defer s.mu.Unlock()
					return append([]int64(nil), s.visible...), nil
				},
			}
		},
		Record: func(n int64) int64 { return n },
	}
}

// broken are connectors with one fault each, the check that must catch it
// and what its failure says.
var broken = []struct {
	name, check, says string
	run               func(t *testing.T)
}{
	{"ForgetfulSource", "Position", "repeated or unexpected", func(t *testing.T) {
		connectortest.RunSource(t, generator(func(s weir.Source[int64]) weir.Source[int64] { return forgetful{s} }))
	}},
	{"GreedyReader", "Position", "asked for at most", func(t *testing.T) {
		connectortest.RunSource(t, generator(func(s weir.Source[int64]) weir.Source[int64] { return greedy{s} }))
	}},
	{"LeakyReader", "Cancel", "goroutines left", func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		connectortest.RunSource(t, generator(func(s weir.Source[int64]) weir.Source[int64] { return leaky{s, stop} }))
	}},
	{"SinkVisibleAtPrepare", "CommitOnRestore", "visible only by Commit", func(t *testing.T) {
		connectortest.RunSink(t, memFixture(true, false))
	}},
	{"SinkCommitNotIdempotent", "StopAndRestore", "committed twice", func(t *testing.T) {
		connectortest.RunSink(t, memFixture(false, true))
	}},
}

// TestBroken runs the broken connectors when the environment asks for it;
// TestSuiteCatchesBrokenConnectors checks that they fail.
func TestBroken(t *testing.T) {
	name := os.Getenv("CONNECTORTEST_BROKEN")
	if name == "" {
		t.Skip("runs only inside TestSuiteCatchesBrokenConnectors")
	}
	for _, b := range broken {
		if b.name == name {
			b.run(t)
			return
		}
	}
	t.Fatalf("no broken connector %q", name)
}

// The suite fails each broken connector in the check that guards against
// its fault, saying what is wrong; a correct in-memory sink passes.
func TestSuiteCatchesBrokenConnectors(t *testing.T) {
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBroken$/^"+b.check+"$", "-test.count=1")
			cmd.Env = append(os.Environ(), "CONNECTORTEST_BROKEN="+b.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("the suite passed a connector that is broken (%v):\n%s", err, out)
			}
			if want := "--- FAIL: TestBroken/" + b.check; !strings.Contains(string(out), want) || !strings.Contains(string(out), b.says) {
				t.Fatalf("want %q failing with %q; got:\n%s", want, b.says, out)
			}
		})
	}
	t.Run("CorrectSink", func(t *testing.T) { connectortest.RunSink(t, memFixture(false, false)) })
}
