package bench

import (
	"context"
	"fmt"
	"math"
	"sync"

	"github.com/weirstream/weir"
)

// StateCountConfig is a keyed count over many distinct keys: the
// measurement of a state backend with state larger than memory (make
// bench-pebble).
type StateCountConfig struct {
	// Keys is the number of distinct keys records are drawn from.
	Keys int64
	// Records is the number of records; zero means Keys.
	Records int64
	// Zipf is the exponent of a Zipf distribution of the keys (over 1, such
	// as 1.1); zero draws them uniformly.
	Zipf float64
	// Parallelism of the job (default 2).
	Parallelism int
	// Options are added to the job's (the state backend).
	Options []weir.Option
}

// StateCountTotals summarize a keyed count's output, which is each key's
// running count after each of its records: equal totals mean equal
// outputs up to order (Mix is a sum of a hash of each (key, count) pair).
type StateCountTotals struct {
	Records  int64  // output records, one per input record
	Distinct int64  // keys seen: the output records whose count is 1
	Mix      uint64 // the sum of mix64(key, count) over the output
}

// CountKey returns the key of record seq: a uniform draw from [0, keys)
// or, with zipf > 1, a Zipf draw by inversion of its continuous
// approximation (rank 1 the most frequent), both from a hash of seq, so
// any split generates any record.
func CountKey(seq, keys int64, zipf float64) int64 {
	h := mix64(uint64(seq), 0x9e3779b97f4a7c15)
	if zipf <= 1 {
		return int64(h % uint64(keys))
	}
	u := float64(h>>11) / (1 << 53) // [0, 1)
	// P(X ≥ x) ∝ x^(1-s) on [1, keys+1): invert the truncated tail.
	e := 1 - zipf
	x := math.Pow(1-u*(1-math.Pow(float64(keys)+1, e)), 1/e)
	k := int64(x) - 1
	return min(max(k, 0), keys-1)
}

// mix64 is a 64-bit hash of (a, b) (splitmix64's finalizer).
func mix64(a, b uint64) uint64 {
	z := a*0xbf58476d1ce4e5b9 ^ b
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// keyCounter keeps each key's count in value state and emits the count
// after every record: a get and a set per record and nothing else held in
// memory per key (no timer).
type keyCounter struct {
	count weir.ValueState[int64, int64]
}

func (c *keyCounter) Open(oc weir.KeyedOpenContext[int64]) error {
	c.count = weir.Value[int64](oc, "count")
	return nil
}

func (c *keyCounter) Process(ctx weir.KeyedContext[int64], e Event, out weir.Out[Event]) error {
	n, _, err := c.count.Get(ctx)
	if err != nil {
		return err
	}
	n++
	out.Emit(Event{Key: e.Key, Value: n})
	return c.count.Set(ctx, n)
}

// StateCount runs the keyed count cfg describes and returns its totals
// and its wall and CPU time.
func StateCount(cfg StateCountConfig) (Result, StateCountTotals, error) {
	if cfg.Keys <= 0 {
		return Result{}, StateCountTotals{}, fmt.Errorf("state count: Keys %d must be positive", cfg.Keys)
	}
	records := cfg.Records
	if records == 0 {
		records = cfg.Keys
	}
	p := cfg.Parallelism
	if p == 0 {
		p = 2
	}
	keys, zipf := cfg.Keys, cfg.Zipf
	env := weir.New(append([]weir.Option{weir.Parallelism(p)}, cfg.Options...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: records, Splits: p}, func(seq int64) Event {
		return Event{Key: CountKey(seq, keys, zipf), Value: seq}
	}))
	counts := weir.Process(weir.KeyBy(src, keyOf), &keyCounter{})
	sink := &countTotalsSink{}
	weir.To(counts, weir.Sink[Event](sink))
	r, err := measure(records, func() error { return env.Run(context.Background()) })
	return r, sink.total, err
}

// countTotalsSink adds up StateCountTotals over its subtasks.
type countTotalsSink struct {
	mu    sync.Mutex
	total StateCountTotals
}

func (s *countTotalsSink) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[Event], error) {
	return &countTotalsWriter{s: s}, nil
}

type countTotalsWriter struct {
	s *countTotalsSink
	t StateCountTotals
}

func (w *countTotalsWriter) Write(e Event) error {
	w.t.Records++
	if e.Value == 1 {
		w.t.Distinct++
	}
	w.t.Mix += mix64(uint64(e.Key), uint64(e.Value))
	return nil
}

func (w *countTotalsWriter) Close() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.s.total.Records += w.t.Records
	w.s.total.Distinct += w.t.Distinct
	w.s.total.Mix += w.t.Mix
	w.t = StateCountTotals{}
	return nil
}
