package normal_test

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/normal"
)

const (
	opKeys  = 5
	opDays  = 12
	opTotal = opKeys * opDays * 288
)

var opStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// opPoint is the point of sequence number seq: five keys interleaved, each
// a 5-minute series with a daily cycle, noise and, for key 2, a step on
// day 7.
func opPoint(seq int64) normal.Point[int] {
	key, i := int(seq%opKeys), seq/opKeys
	t := opStart.Add(time.Duration(i) * 5 * time.Minute)
	h := float64(t.Hour()) + float64(t.Minute())/60
	x := uint64(seq)*0x9E3779B97F4A7C15 + 1
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	noise := float64(x>>11)/float64(1<<53)*6 - 3
	v := 100 + 10*float64(key) + 40*math.Sin(h/24*2*math.Pi) + noise
	if key == 2 && i >= 7*288 {
		v += 50
	}
	return normal.Point[int]{Key: key, Time: t, Value: v}
}

// stopAfter wraps a Scorer and closes stop once n points were scored.
type stopAfter struct {
	normal.Scorer[int] // by value: each subtask gets its own copy
	n                  *atomic.Int64
	at                 int64
	once               *sync.Once
	stop               chan struct{}
}

func (s *stopAfter) Process(c weir.KeyedContext[int], p normal.Point[int], out weir.Out[normal.Scored[int]]) error {
	if s.n.Add(1) == s.at {
		s.once.Do(func() { close(s.stop) })
	}
	return s.Scorer.Process(c, p, out)
}

func scoreJob(t *testing.T, dir string, parallelism int, fn weir.KeyedProcessFunction[int, normal.Point[int], normal.Scored[int]], opts ...weir.Option) []normal.Scored[int] {
	t.Helper()
	env := weir.New(append([]weir.Option{weir.Parallelism(parallelism), weir.Checkpoints(time.Hour, dir)}, opts...)...)
	points := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: opTotal}, opPoint)).ID("points")
	scored := weir.Process(weir.KeyBy(points, func(p normal.Point[int]) int { return p.Key }), fn).ID("normal")
	got := weir.Collect(scored)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return got.Values()
}

// TestScorerRestoresAtAnotherParallelism stops a job scoring five keyed
// series with a savepoint midway (parallelism 2) and restores it at
// parallelism 3: every point's score is the one an uninterrupted model per
// key gives.
func TestScorerRestoresAtAnotherParallelism(t *testing.T) {
	want := map[normal.Point[int]]float64{}
	models := map[int]*normal.Model{}
	for seq := range int64(opTotal) {
		p := opPoint(seq)
		m := models[p.Key]
		if m == nil {
			var err error
			if m, err = normal.New(normal.DefaultConfig()); err != nil {
				t.Fatal(err)
			}
			models[p.Key] = m
		}
		want[p] = m.Score(p.Time, p.Value)
	}

	dir := t.TempDir()
	scorer, err := normal.NewScorer[int](normal.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	first := scoreJob(t, dir, 2, &stopAfter{Scorer: *scorer, n: new(atomic.Int64), at: opTotal / 2, once: new(sync.Once), stop: stop}, weir.StopOn(stop))
	if len(first) >= opTotal {
		t.Fatalf("the first run scored all %d points; it should have stopped midway", len(first))
	}
	scorer, _ = normal.NewScorer[int](normal.DefaultConfig())
	second := scoreJob(t, dir, 3, scorer, weir.Restore("latest"))
	if len(second) == 0 || len(second) >= opTotal {
		t.Fatalf("the restored run scored %d points, want some but not all of %d", len(second), opTotal)
	}

	got := map[normal.Point[int]]float64{}
	alerts := 0
	for _, s := range append(first, second...) {
		w, ok := want[s.Point]
		if !ok {
			t.Fatalf("scored a point that is not in the input: %+v", s.Point)
		}
		if s.Score != w {
			t.Fatalf("key %d at %s: score %v, an uninterrupted model gives %v", s.Key, s.Time.Format(time.DateTime), s.Score, w)
		}
		if _, dup := got[s.Point]; !dup && s.Score >= normal.Threshold {
			alerts++
		}
		got[s.Point] = s.Score
	}
	if len(got) != opTotal {
		t.Fatalf("%d points scored, want %d", len(got), opTotal)
	}
	if alerts == 0 {
		t.Error("no alert: the step of key 2 went unnoticed, so the test shows little")
	}
}

// opAlerts keeps an alert open at least three days (4 320 points), so that
// the savepoint of TestAlerterRestoresAtAnotherParallelism, taken some
// points after the stop is asked for, falls while one is open; the job's
// source is rate-limited (20 000 points/s) for the same reason.
var opAlerts = normal.AlertConfig{Open: normal.Threshold, Close: 0.25, CloseAfter: 6, MinDuration: 72 * time.Hour}

func alertJob(t *testing.T, dir string, parallelism int, fn weir.KeyedProcessFunction[int, normal.Point[int], normal.Scored[int]], opts ...weir.Option) []normal.Alert[int] {
	t.Helper()
	env := weir.New(append([]weir.Option{weir.Parallelism(parallelism), weir.Checkpoints(time.Hour, dir)}, opts...)...)
	points := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: opTotal, Rate: 20000}, opPoint)).ID("points")
	scored := weir.Process(weir.KeyBy(points, func(p normal.Point[int]) int { return p.Key }), fn).ID("normal")
	alerter, err := normal.NewAlerter[int](opAlerts)
	if err != nil {
		t.Fatal(err)
	}
	alerts := weir.Process(weir.KeyBy(scored, func(s normal.Scored[int]) int { return s.Key }), alerter).ID("alerts")
	got := weir.Collect(alerts)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return got.Values()
}

// TestAlerterRestoresAtAnotherParallelism stops a job scoring five keyed
// series and turning their scores into alerts with a savepoint midway
// (parallelism 2) and restores it at parallelism 3: its alerts are those
// of an uninterrupted model and tracker per key, the alert open at the
// savepoint closed by the restored run.
func TestAlerterRestoresAtAnotherParallelism(t *testing.T) {
	want := map[normal.Alert[int]]bool{}
	models := map[int]*normal.Model{}
	trackers := map[int]*normal.AlertTracker[int]{}
	for seq := range int64(opTotal) {
		p := opPoint(seq)
		m, tr := models[p.Key], trackers[p.Key]
		if m == nil {
			m, _ = normal.New(normal.DefaultConfig())
			tr, _ = normal.NewAlertTracker[int](opAlerts)
			models[p.Key], trackers[p.Key] = m, tr
		}
		s := normal.Scored[int]{Point: p, Score: m.Score(p.Time, p.Value)}
		s.Lo, s.Hi = m.Expected()
		if a, ok := tr.Observe(s); ok {
			want[a] = true
		}
	}
	if len(want) < 2 {
		t.Fatalf("an uninterrupted run raises %d alerts; the test needs some", len(want))
	}

	dir := t.TempDir()
	scorer, err := normal.NewScorer[int](normal.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	// Stop 10 points of key 2 after its step, while its alert is open.
	stepAt := int64(7*288*opKeys + 2)
	first := alertJob(t, dir, 2, &stopAfter{Scorer: *scorer, n: new(atomic.Int64), at: stepAt + 10*opKeys, once: new(sync.Once), stop: stop}, weir.StopOn(stop))
	scorer, _ = normal.NewScorer[int](normal.DefaultConfig())
	second := alertJob(t, dir, 3, scorer, weir.Restore("latest"))
	if len(first) == 0 || !first[len(first)-1].IsOpen() || len(second) == 0 || second[0].IsOpen() {
		t.Fatalf("want the first run to end with an alert open and the restored run to close it; first %+v, then %+v", first, second)
	}
	got := map[normal.Alert[int]]bool{}
	for _, a := range append(first, second...) {
		if !want[a] {
			t.Errorf("alert %+v is not one of an uninterrupted run", a)
		}
		got[a] = true
	}
	for a := range want {
		if !got[a] {
			t.Errorf("missing alert %+v", a)
		}
	}
	t.Logf("%d alerts, %d before the savepoint", len(want), len(first))
}
