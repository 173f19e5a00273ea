package weir_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// The versions of one job's state type, as a program's state struct
// changes between releases.
type (
	tallyV1 struct{ Count int64 }
	tallyV2 struct {
		Count int64
		Last  string // added
	}
	tallyV3 struct{ Count string } // a field's type changed
)

// tally counts each key's records in a ValueState of type S; add is how a
// record adds to it, show how a count is printed.
type tally[S any] struct {
	v    weir.ValueState[int64, S]
	add  func(S, int64) S
	show func(S) string
}

func (f *tally[S]) Open(oc weir.KeyedOpenContext[int64]) error {
	f.v = weir.Value[S](oc, "tally")
	return nil
}

func (f *tally[S]) Process(c weir.KeyedContext[int64], v int64, _ weir.Out[string]) error {
	s, ok, err := f.v.Get(c)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.Timers().RegisterEventTime(weir.EndOfTime); err != nil {
			return err
		}
	}
	return f.v.Set(c, f.add(s, v))
}

func (f *tally[S]) OnTimer(c weir.TimerContext[int64], out weir.Out[string]) error {
	s, _, err := f.v.Get(c)
	out.Emit(fmt.Sprintf("%d=%s", c.Key(), f.show(s)))
	return err
}

func tallyJob[S any](dir string, fn *tally[S], opts ...weir.Option) (*weir.Env, *weir.Collector[string]) {
	env := weir.New(append([]weir.Option{weir.Checkpoints(time.Hour, dir)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 1, Count: 3000, Rate: 20000}, func(seq int64) int64 { return seq }),
		weir.EventTime(func(v int64) time.Time { return time.UnixMilli(v) }, 0)).ID("numbers")
	return env, weir.Collect(weir.Process(weir.KeyBy(src, func(v int64) int64 { return v % 3 }), fn).ID("tally"))
}

// A job stopped with a savepoint restores into a program whose state type
// gained a field: the count goes on from the savepoint's and the new field
// starts at its zero value. A program whose field changed its type is
// refused, naming the table and the field.
func TestStateTypeEvolvesAcrossASavepoint(t *testing.T) {
	dir := t.TempDir()
	stop := make(chan struct{})
	seen := 0
	v1 := &tally[tallyV1]{
		add: func(s tallyV1, _ int64) tallyV1 {
			if seen++; seen == 500 {
				close(stop)
			}
			s.Count++
			return s
		},
		show: func(s tallyV1) string { return fmt.Sprint(s.Count) },
	}
	env, _ := tallyJob(dir, v1, weir.StopOn(stop))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sp, _ := filepath.Glob(filepath.Join(dir, "sp-*", "_metadata"))
	if len(sp) != 1 {
		t.Fatalf("savepoints %v, want one", sp)
	}

	records, empty := 0, 0
	v2 := &tally[tallyV2]{
		add: func(s tallyV2, v int64) tallyV2 {
			records++
			if s.Last == "" {
				empty++
			}
			s.Count++
			s.Last = fmt.Sprint(v)
			return s
		},
		show: func(s tallyV2) string { return fmt.Sprint(s.Count) },
	}
	env, got := tallyJob(dir, v2, weir.Restore("latest"))
	if err := env.Run(context.Background()); err != nil {
		t.Fatalf("restore into a type with an added field: %v", err)
	}
	out := got.Values()
	slices.Sort(out)
	if want := []string{"0=1000", "1=1000", "2=1000"}; !slices.Equal(out, want) {
		t.Fatalf("counts %v, want %v: the migrated count did not go on", out, want)
	}
	// Each key's first record after the restore found Last empty.
	if empty != 3 || records >= 3000 {
		t.Fatalf("%d of the restored job's %d records found Last empty, want 3 (one per key)", empty, records)
	}

	v3 := &tally[tallyV3]{add: func(s tallyV3, _ int64) tallyV3 { return s }, show: func(s tallyV3) string { return s.Count }}
	env, _ = tallyJob(dir, v3, weir.Restore(filepath.Dir(sp[0])))
	err := env.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `table "tally"`) || !strings.Contains(err.Error(), "Count") {
		t.Fatalf("restore into a type whose field changed its type: %v, want an error naming the table and the field", err)
	}
}
