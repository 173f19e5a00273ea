package weir

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/state"
)

// Impression and Play are the two streams of the joiner of a streaming
// platform's impressions and plays: which shown title was played.
type Impression struct {
	ID    string
	Title string
	At    int64
}

type Play struct {
	Impression string
	At         int64
}

// joinWindow is how long after an impression its play still counts.
const joinWindow = 1000

// joiner joins plays to their impressions in event time, either may come
// first; what is not joined within the window is evicted by a timer.
type joiner struct {
	imp   ValueState[string, Impression]
	plays ListState[string, Play]
}

func (j *joiner) Open(c KeyedOpenContext[string]) error {
	j.imp = Value[Impression](c, "impression")
	j.plays = List[Play](c, "plays")
	return nil
}

func (j *joiner) Process1(c KeyedContext[string], i Impression, out Out[string]) error {
	if err := j.imp.Set(c, i); err != nil {
		return err
	}
	plays, err := j.plays.Get(c)
	if err != nil {
		return err
	}
	for _, p := range plays {
		if p.At-i.At <= joinWindow {
			out.Emit(fmt.Sprintf("%s %s played @%d", i.ID, i.Title, p.At))
		}
	}
	if err := j.plays.Clear(c); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(i.At + joinWindow))
}

func (j *joiner) Process2(c KeyedContext[string], p Play, out Out[string]) error {
	i, ok, err := j.imp.Get(c)
	if err != nil {
		return err
	}
	if ok {
		if p.At-i.At <= joinWindow {
			out.Emit(fmt.Sprintf("%s %s played @%d", i.ID, i.Title, p.At))
		}
		return nil
	}
	if err := j.plays.Add(c, p); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(p.At + joinWindow))
}

func (j *joiner) OnTimer(c TimerContext[string], _ Out[string]) error {
	if err := j.imp.Clear(c); err != nil {
		return err
	}
	return j.plays.Clear(c)
}

// The joiner joins out-of-order impressions and plays in event time, and its
// state is empty once the watermark has passed every window: the final
// checkpoint holds no impression, no play and no timer.
func TestImpressionsPlaysJoinerEvictsState(t *testing.T) {
	dir := t.TempDir()
	env := New(Parallelism(2), Checkpoints(time.Hour, dir))
	imps := From(env, Slice(
		Impression{"i1", "Cat Video", 100}, Impression{"i2", "News", 300}, Impression{"i3", "Yoga", 500},
		Impression{"i4", "Space", 4000}),
		EventTime(func(i Impression) time.Time { return time.UnixMilli(i.At) }, 2*time.Second))
	plays := From(env, Slice(
		// i2's play comes before its impression; i3 is never played; the
		// play of i4 is outside the window.
		Play{"i2", 350}, Play{"i1", 900}, Play{"i4", 5500}, Play{"gone", 600}),
		EventTime(func(p Play) time.Time { return time.UnixMilli(p.At) }, 2*time.Second))
	joined := Collect(CoProcess(Connect(
		KeyBy(imps, func(i Impression) string { return i.ID }),
		KeyBy(plays, func(p Play) string { return p.Impression })), &joiner{}).ID("joiner"))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"i1 Cat Video played @900", "i2 News played @350"}
	if got := joined.Values(); !slices.Equal(sortedStrings(got), want) {
		t.Fatalf("joined %v, want %v", got, want)
	}
	if n := liveJoinerState(t, dir); n != 0 {
		t.Fatalf("the final checkpoint holds %d joiner entries; eviction should leave none", n)
	}
}

func sortedStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// liveJoinerState counts the entries of the joiner's tables — impressions,
// plays and timers — in the newest checkpoint in dir.
func liveJoinerState(t *testing.T, dir string) int {
	t.Helper()
	ctx := context.Background()
	d, err := checkpoint.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info, err := checkpoint.Latest(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.ReadMetadata(ctx, info.Ref)
	if err != nil {
		t.Fatal(err)
	}
	op, ok := m.Operator("joiner")
	if !ok {
		t.Fatalf("no state of the joiner in %s", filepath.Base(info.Location))
	}
	var readers []state.SnapshotFile
	for _, f := range op.Subtasks {
		rc, err := d.Open(ctx, info.Ref, f.Name)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		sf, err := snapshotFile(f.Name, rc)
		if err != nil {
			t.Fatal(err)
		}
		readers = append(readers, sf)
	}
	b, err := state.NewMemory(state.Config{OperatorID: "joiner", KeyGroups: state.KeyGroupRange{Start: 0, End: m.MaxParallelism},
		MaxParallelism: m.MaxParallelism, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Restore(readers); err != nil {
		t.Fatal(err)
	}
	imps, err := state.NewValue(b, state.TableDesc[string, unit, Impression]{Name: "impression", Key: codec.String(), Namespace: codec.Unit(), Value: codec.MustFor[Impression]()})
	if err != nil {
		t.Fatal(err)
	}
	plays, err := state.NewList(b, state.TableDesc[string, unit, Play]{Name: "plays", Key: codec.String(), Namespace: codec.Unit(), Value: codec.MustFor[Play]()})
	if err != nil {
		t.Fatal(err)
	}
	timers, err := newTimerService(b, keyInfo[string]{codec: codec.String()})
	if err != nil {
		t.Fatal(err)
	}
	return imps.Len() + plays.Len() + timers.len()
}

// IntervalJoin pairs records whose times are within the bounds, either
// side first, and evicts both sides.
func TestIntervalJoin(t *testing.T) {
	type ev struct {
		K  string
		At int64
	}
	at := func(e ev) time.Time { return time.UnixMilli(e.At) }
	env := New(Parallelism(2))
	left := From(env, Slice(ev{"a", 1000}, ev{"a", 2000}, ev{"b", 1000}), EventTime(at, time.Second))
	right := From(env, Slice(ev{"a", 900}, ev{"a", 1100}, ev{"a", 1600}, ev{"b", 3000}), EventTime(at, time.Second))
	key := func(e ev) string { return e.K }
	got := Collect(IntervalJoin(KeyBy(left, key), KeyBy(right, key), -200*time.Millisecond, 500*time.Millisecond,
		func(l, r ev) string { return fmt.Sprintf("%s %d-%d", l.K, l.At, r.At) }))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a@1000 joins right a@[800,1500]: 900, 1100; a@2000 joins [1800,2500]:
	// none; b@1000 joins [800,1500]: none.
	want := []string{"a 1000-1100", "a 1000-900"}
	if g := sortedStrings(got.Values()); !slices.Equal(g, want) {
		t.Fatalf("joined %v, want %v", g, want)
	}
}
