package weir_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/codec"
)

// keyCounter counts the records of each key, emitting the running count
// with every record and, from a timer at the end of input registered with
// a key's first record, the key's final count. Records of one key give
// 1, 2, 3, … and one "final"; records split over several states give the
// counts of each.
type keyCounter[K comparable] struct {
	n weir.ValueState[K, int]
}

func (c *keyCounter[K]) Open(oc weir.KeyedOpenContext[K]) error {
	c.n = weir.Value[int](oc, "n")
	return nil
}

func (c *keyCounter[K]) Process(ctx weir.KeyedContext[K], _ K, out weir.Out[string]) error {
	n, ok, err := c.n.Get(ctx)
	if err != nil {
		return err
	}
	if !ok {
		if err := ctx.Timers().RegisterEventTime(weir.EndOfTime); err != nil {
			return err
		}
	}
	out.Emit(fmt.Sprint(n + 1))
	return c.n.Set(ctx, n+1)
}

func (c *keyCounter[K]) OnTimer(ctx weir.TimerContext[K], out weir.Out[string]) error {
	n, _, err := c.n.Get(ctx)
	out.Emit(fmt.Sprint("final ", n))
	return err
}

// countKeys keys the records by themselves and counts them in two runs:
// the first, at parallelism 2, ends with a final checkpoint; the second
// restores it at parallelism 3 and counts more records. It returns what
// each run emitted, sorted.
func countKeys[K comparable](t *testing.T, first, second []K, keyOpts ...weir.KeyOption[K]) (before, after []string) {
	t.Helper()
	dir := t.TempDir()
	job := func(items []K, src string, opts ...weir.Option) []string {
		env := weir.New(append([]weir.Option{weir.Checkpoints(time.Hour, dir)}, opts...)...)
		in := weir.From(env, weir.Slice(items...)).ID(src)
		counts := weir.Collect(weir.Process(weir.KeyBy(in, func(k K) K { return k }, keyOpts...), weir.KeyedProcessFunction[K, K, string](&keyCounter[K]{})).ID("count"))
		run(t, env)
		return sorted(counts.Values())
	}
	before = job(first, "first", weir.Parallelism(2))
	after = job(second, "second", weir.Parallelism(3), weir.Restore("latest"), weir.AllowNonRestoredState())
	return before, after
}

// oneKey is what countKeys gives when all first+second records have one
// key: counts 1…n over both runs and a final count at the end of the
// first.
func oneKey(first, second int) (before, after []string) {
	for i := 1; i <= first; i++ {
		before = append(before, fmt.Sprint(i))
	}
	before = append(before, fmt.Sprint("final ", first))
	for i := first + 1; i <= first+second; i++ {
		after = append(after, fmt.Sprint(i))
	}
	slices.Sort(before)
	slices.Sort(after)
	return before, after
}

func checkOneKey[K comparable](t *testing.T, first, second []K, keyOpts ...weir.KeyOption[K]) {
	t.Helper()
	before, after := countKeys(t, first, second, keyOpts...)
	wantBefore, wantAfter := oneKey(len(first), len(second))
	if !slices.Equal(before, wantBefore) || !slices.Equal(after, wantAfter) {
		t.Fatalf("counts before the restore %v and after %v; want %v and %v (one state for all keys)",
			before, after, wantBefore, wantAfter)
	}
}

// instants returns one instant as four time.Time values that differ only
// in location and monotonic reading.
func instants() []time.Time {
	now := time.Now() // with a monotonic reading
	return []time.Time{now, now.Round(0), now.UTC(), now.In(time.FixedZone("UTC+5", 5*3600))}
}

// A time.Time key is its instant: the same instant in other locations or
// with a monotonic reading is the same key, before and after a restore,
// with one state and one timer.
func TestTimeKeysAreInstants(t *testing.T) {
	ts := instants()
	checkOneKey(t, ts, slices.Concat(ts[2:], ts[:2]))
}

// localTimeCodec encodes times as Unix nanoseconds and decodes them in
// the local time zone, as a user's codec might.
type localTimeCodec struct{}

func (localTimeCodec) Append(dst []byte, t time.Time) []byte {
	return codec.Int64().Append(dst, t.UnixNano())
}

func (localTimeCodec) Decode(src []byte) (time.Time, int, error) {
	n, m, err := codec.Int64().Decode(src)
	return time.Unix(0, n), m, err
}

// With a KeyCodec, too, a time key is its instant, and keys restored
// through the codec are the keys records have.
func TestTimeKeysWithCodecAreInstants(t *testing.T) {
	ts := instants()
	checkOneKey(t, ts, slices.Concat(ts[2:], ts[:2]), weir.KeyCodec[time.Time](localTimeCodec{}))
}

// -0 and +0 are one float key; so are NaNs, which are rejected (below).
func TestSignedZeroKeysAreOneKey(t *testing.T) {
	negZero := math.Copysign(0, -1)
	checkOneKey(t, []float64{negZero, 0, negZero}, []float64{0, negZero})
	checkOneKey(t, []float32{float32(negZero), 0}, []float32{float32(negZero)})
}

// tsKey is a struct key holding fields whose == differs from their
// encoding's: a time, a float and an array of floats.
type tsKey struct {
	Name string
	At   time.Time
	X    float64
	Arr  [2]float32
}

func TestStructKeyFieldsAreCanonical(t *testing.T) {
	ts := instants()
	negZero := math.Copysign(0, -1)
	var keys []tsKey
	for i, at := range ts {
		k := tsKey{Name: "a", At: at, X: negZero, Arr: [2]float32{float32(negZero), 1}}
		if i%2 == 1 {
			k.X, k.Arr[0] = 0, 0
		}
		keys = append(keys, k)
	}
	checkOneKey(t, keys[:2], keys[2:])
}

// A key holding NaN has no state (NaN equals nothing); each such record is
// an error of the keyed operator, under its error policy.
func TestNaNKeyIsARecordError(t *testing.T) {
	nan := math.NaN()
	build := func(policy weir.ErrorPolicy) (*weir.Env, *weir.Collector[string]) {
		env := weir.New(weir.Parallelism(2))
		in := weir.From(env, weir.Slice(nan, 1, nan, 1, -nan))
		counts := weir.Process(weir.KeyBy(in, func(v float64) float64 { return v }), weir.KeyedProcessFunction[float64, float64, string](&keyCounter[float64]{})).Name("count").OnError(policy)
		return env, weir.Collect(counts)
	}
	env, _ := build(weir.FailJob)
	err := env.Run(context.Background())
	var oe *weir.OperatorError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), `"count"`) {
		t.Fatalf("a NaN key gave %v; want an error of operator \"count\" naming NaN", err)
	}

	env, got := build(weir.Skip)
	run(t, env)
	if g, want := sorted(got.Values()), []string{"1", "2", "final 2"}; !slices.Equal(g, want) {
		t.Fatalf("counts %v, want %v (the key 1 only)", g, want)
	}
	var skipped int64
	for _, m := range env.Metrics() {
		if m.Operator == "count" {
			skipped += m.Skipped
		}
	}
	if skipped != 3 {
		t.Fatalf("skipped %d records, want the 3 with a NaN key", skipped)
	}
}

// ptrKey holds a pointer, whose == compares addresses.
type ptrKey struct {
	Name  string
	Owner *string
}

// chanKey holds a channel in an array.
type chanKey struct {
	Chans [1]chan int
}

// hiddenKey has an unexported field, which the default codec leaves out.
type hiddenKey struct {
	Name string
	id   int
}

// hiddenCodec encodes hiddenKey's unexported field too.
type hiddenCodec struct{}

func (hiddenCodec) Append(dst []byte, k hiddenKey) []byte {
	return codec.Int64().Append(codec.String().Append(dst, k.Name), int64(k.id))
}

func (hiddenCodec) Decode(src []byte) (hiddenKey, int, error) {
	s, n, err := codec.String().Decode(src)
	if err != nil {
		return hiddenKey{}, 0, err
	}
	id, m, err := codec.Int64().Decode(src[n:])
	return hiddenKey{Name: s, id: int(id)}, n + m, err
}

// zeroCodec encodes every value as nothing; the key types it is given
// are rejected before it could be used.
type zeroCodec[K any] struct{}

func (zeroCodec[K]) Append(dst []byte, _ K) []byte { return dst }
func (zeroCodec[K]) Decode([]byte) (K, int, error) { var k K; return k, 0, nil }

// markedCodec encodes a string after a marker byte: another encoding than
// the default one.
type markedCodec struct{}

func (markedCodec) Append(dst []byte, s string) []byte {
	return codec.String().Append(append(dst, 0xff), s)
}
func (markedCodec) Decode(src []byte) (string, int, error) {
	if len(src) == 0 {
		return "", 0, codec.ErrShort
	}
	s, n, err := codec.String().Decode(src[1:])
	return s, n + 1, err
}

// Key types whose == cannot agree with any encoding are rejected when the
// job is validated, naming the type, the field, why, and the KeyBy.
func TestKeyTypesRejected(t *testing.T) {
	type word struct{ W string }
	validate := func(build func(weir.Stream[word])) error {
		env := weir.New()
		build(weir.From(env, weir.Slice(word{"a"}, word{"a"}, word{"a"})).Name("words"))
		return env.Validate()
	}
	for _, tc := range []struct {
		name  string
		build func(weir.Stream[word])
		want  []string
	}{
		{"pointer", func(s weir.Stream[word]) {
			ks := weir.KeyBy(s, func(w word) *string { return &w.W })
			weir.Collect(weir.Process(ks, weir.ProcessFunc[*string, word, string](func(weir.KeyedContext[*string], word, weir.Out[string]) error { return nil })))
		}, []string{"key type *string", "pointer", "keyid_test.go:", `"words"`}},
		{"struct holding a pointer", func(s weir.Stream[word]) {
			ks := weir.KeyBy(s, func(w word) ptrKey { return ptrKey{Name: w.W} })
			weir.Collect(weir.Process(ks, weir.ProcessFunc[ptrKey, word, string](func(weir.KeyedContext[ptrKey], word, weir.Out[string]) error { return nil })))
		}, []string{"weir_test.ptrKey", "field Owner", "*string", "pointer"}},
		{"channel in an array, with a codec", func(s weir.Stream[word]) {
			ks := weir.KeyBy(s, func(w word) chanKey { return chanKey{} }, weir.KeyCodec[chanKey](zeroCodec[chanKey]{}))
			weir.Collect(weir.Process(ks, weir.ProcessFunc[chanKey, word, string](func(weir.KeyedContext[chanKey], word, weir.Out[string]) error { return nil })))
		}, []string{"weir_test.chanKey", "field Chans[]", "channel"}},
		{"interface, with a codec", func(s weir.Stream[word]) {
			ks := weir.KeyBy(s, func(w word) any { return w.W }, weir.KeyCodec[any](zeroCodec[any]{}))
			weir.Collect(weir.Process(ks, weir.ProcessFunc[any, word, string](func(weir.KeyedContext[any], word, weir.Out[string]) error { return nil })))
		}, []string{"key type interface {}", "interface"}},
		{"unexported field", func(s weir.Stream[word]) {
			ks := weir.KeyBy(s, func(w word) hiddenKey { return hiddenKey{Name: w.W} })
			weir.Collect(weir.Process(ks, weir.ProcessFunc[hiddenKey, word, string](func(weir.KeyedContext[hiddenKey], word, weir.Out[string]) error { return nil })))
		}, []string{"weir_test.hiddenKey", "field id", "unexported", "KeyCodec"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(tc.build)
			if err == nil {
				t.Fatal("Validate accepted the key type")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// With a KeyCodec that encodes it, a struct key with unexported fields is
// accepted: the codec is trusted to encode what == compares.
func TestUnexportedFieldKeyWithCodec(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	in := weir.From(env, weir.Slice(hiddenKey{"a", 1}, hiddenKey{"a", 2}, hiddenKey{"a", 1}))
	ks := weir.KeyBy(in, func(k hiddenKey) hiddenKey { return k }, weir.KeyCodec[hiddenKey](hiddenCodec{}))
	got := weir.Collect(weir.Process(ks, weir.KeyedProcessFunction[hiddenKey, hiddenKey, string](&keyCounter[hiddenKey]{})))
	run(t, env)
	if g, want := sorted(got.Values()), []string{"1", "1", "2", "final 1", "final 2"}; !slices.Equal(g, want) {
		t.Fatalf("counts %v, want %v", g, want)
	}
}

// Both inputs of a co-process function key by one rule: times of one
// instant from either side share the state.
func TestCoProcessKeysAreCanonical(t *testing.T) {
	ts := instants()
	env := weir.New(weir.Parallelism(3))
	a := weir.KeyBy(weir.From(env, weir.Slice(ts[0], ts[1])), func(t time.Time) time.Time { return t })
	b := weir.KeyBy(weir.From(env, weir.Slice(ts[2], ts[3])), func(t time.Time) time.Time { return t.In(time.FixedZone("UTC-3", -3*3600)) })
	got := weir.Collect(weir.CoProcess(weir.Connect(a, b), weir.KeyedCoProcessFunction[time.Time, time.Time, time.Time, string](&coCounter{})))
	run(t, env)
	if g, want := sorted(got.Values()), []string{"1", "2", "3", "4", "final 4"}; !slices.Equal(g, want) {
		t.Fatalf("counts %v, want %v", g, want)
	}
}

// coCounter is keyCounter for both inputs; as a pointer to a struct, each
// subtask gets its own copy.
type coCounter struct{ keyCounter[time.Time] }

func (c *coCounter) Process1(ctx weir.KeyedContext[time.Time], v time.Time, out weir.Out[string]) error {
	return c.Process(ctx, v, out)
}

func (c *coCounter) Process2(ctx weir.KeyedContext[time.Time], v time.Time, out weir.Out[string]) error {
	return c.Process(ctx, v, out)
}

// The two inputs of CoProcess must encode keys alike, or equal keys would
// reach different key groups.
func TestConnectNeedsOneKeyCodec(t *testing.T) {
	env := weir.New()
	a := weir.KeyBy(weir.From(env, weir.Slice("a")), func(s string) string { return s }, weir.KeyCodec[string](markedCodec{}))
	b := weir.KeyBy(weir.From(env, weir.Slice("a")), func(s string) string { return s })
	weir.Collect(weir.CoProcess(weir.Connect(a, b), weir.KeyedCoProcessFunction[string, string, string, string](nil)))
	err := env.Validate()
	if err == nil || !strings.Contains(err.Error(), "KeyCodec") || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("Validate: %v; want an error about the inputs' key codecs", err)
	}
}

type countRecs struct{}

func (countRecs) CreateAccumulator() int       { return 0 }
func (countRecs) Add(_ time.Time, acc int) int { return acc + 1 }
func (countRecs) Result(acc int) int           { return acc }
func (countRecs) Merge(a, b int) int           { return a + b }
func eventTimeOf(t time.Time) time.Time        { return t }
func timeKey(t time.Time) time.Time            { return t }
func windowLine(r weir.WindowResult[time.Time, int]) string {
	return fmt.Sprintf("%s %d", r.Window, r.Value)
}

// A window, with and without local aggregation in front of its exchange,
// keeps one accumulator for times of one instant.
func TestWindowKeysAreCanonical(t *testing.T) {
	ts := instants()
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprint("local=", local), func(t *testing.T) {
			var opts []weir.WindowOption[time.Time]
			if !local {
				opts = append(opts, weir.WithoutLocalAggregation[time.Time]())
			}
			env := weir.New(weir.Parallelism(2))
			in := weir.From(env, weir.Slice(ts...), weir.EventTime(eventTimeOf, 0))
			w := weir.Aggregate(weir.Windowed(weir.KeyBy(in, timeKey), weir.TumblingEventTime(time.Hour), opts...), countRecs{})
			got := weir.Collect(weir.Map(w, windowLine))
			run(t, env)
			if g := got.Values(); len(g) != 1 || !strings.HasSuffix(g[0], " 4") {
				t.Fatalf("windows %v, want one of 4 records", g)
			}
		})
	}
}

// timeSet is a map state keyed by times: one entry per instant.
type timeSet struct {
	m weir.MapState[string, time.Time, int]
}

func (s *timeSet) Open(oc weir.KeyedOpenContext[string]) error {
	s.m = weir.MapOf[time.Time, int](oc, "seen")
	return nil
}

func (s *timeSet) Process(ctx weir.KeyedContext[string], at time.Time, out weir.Out[string]) error {
	n, _, err := s.m.Get(ctx, at)
	if err != nil {
		return err
	}
	if err := s.m.Put(ctx, at, n+1); err != nil {
		return err
	}
	entries := 0
	for range s.m.All(ctx) {
		entries++
	}
	out.Emit(fmt.Sprintf("%d/%d", n+1, entries))
	return nil
}

// A map state's user keys follow the rule of keys: times of one instant
// are one entry.
func TestMapStateUserKeysAreCanonical(t *testing.T) {
	env := weir.New()
	in := weir.From(env, weir.Slice(instants()...))
	got := weir.Collect(weir.Process(weir.KeyBy(in, func(time.Time) string { return "k" }), weir.KeyedProcessFunction[string, time.Time, string](&timeSet{})))
	run(t, env)
	if g, want := got.Values(), []string{"1/1", "2/1", "3/1", "4/1"}; !slices.Equal(g, want) {
		t.Fatalf("map state counts/entries %v, want %v", g, want)
	}
}

type ptrSet struct {
	m weir.MapState[string, *string, int]
}

func (s *ptrSet) Open(oc weir.KeyedOpenContext[string]) error {
	s.m = weir.MapOf[*string, int](oc, "seen")
	return nil
}

func (s *ptrSet) Process(weir.KeyedContext[string], string, weir.Out[string]) error { return nil }

// A map state keyed by pointers is rejected when it is declared.
func TestMapStatePointerUserKeyRejected(t *testing.T) {
	env := weir.New()
	in := weir.From(env, weir.Slice("a"))
	weir.Collect(weir.Process(weir.KeyBy(in, func(s string) string { return s }), weir.KeyedProcessFunction[string, string, string](&ptrSet{})))
	err := env.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), `map state "seen"`) || !strings.Contains(err.Error(), "*string") || !strings.Contains(err.Error(), "pointer") {
		t.Fatalf("Run: %v; want an error naming the map state, its user key type and why", err)
	}
}

// nanRec is a record keyed by a float that may be NaN.
type nanRec struct {
	K float64
	V int
}

type sumNanRecs struct{}

func (sumNanRecs) CreateAccumulator() int                 { return 0 }
func (sumNanRecs) Add(r nanRec, acc int) int              { return acc + r.V }
func (sumNanRecs) Result(acc int) int                     { return acc }
func (sumNanRecs) Merge(a, b int) int                     { return a + b }
func nanRecTime(nanRec) time.Time                         { return time.UnixMilli(5) }
func nanRecKey(r nanRec) float64                          { return r.K }
func nanRecLine(r weir.WindowResult[float64, int]) string { return fmt.Sprint(r.Key, "=", r.Value) }

// A window, with or without local aggregation, refuses records whose key
// is NaN under its error policy, and the dead letter holds the record
// itself.
func TestWindowNaNKeyDeadLetters(t *testing.T) {
	for _, local := range []bool{true, false} {
		t.Run(fmt.Sprint("local=", local), func(t *testing.T) {
			var opts []weir.WindowOption[nanRec]
			if !local {
				opts = append(opts, weir.WithoutLocalAggregation[nanRec]())
			}
			dlq := filepath.Join(t.TempDir(), "dead")
			env := weir.New(weir.Parallelism(2), weir.DeadLetters(dlq))
			nan := math.NaN()
			in := weir.From(env, weir.Slice(nanRec{nan, 7}, nanRec{1, 2}, nanRec{nan, 8}, nanRec{1, 3}), weir.EventTime(nanRecTime, 0))
			w := weir.Aggregate(weir.Windowed(weir.KeyBy(in, nanRecKey), weir.TumblingEventTime(time.Second), opts...), sumNanRecs{}).Name("sums").OnError(weir.DeadLetter)
			got := weir.Collect(weir.Map(w, nanRecLine))
			run(t, env)
			if g := got.Values(); !slices.Equal(g, []string{"1=5"}) {
				t.Fatalf("windows %v, want [1=5]", g)
			}
			var records []string
			for _, line := range readDeadLetters(t, dlq) {
				var l struct {
					Operator string
					Error    string
					Record   any
				}
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("dead letter %q: %v", line, err)
				}
				if l.Operator != "sums" || !strings.Contains(l.Error, "NaN") {
					t.Errorf("dead letter of operator %q with error %q; want sums and NaN", l.Operator, l.Error)
				}
				records = append(records, fmt.Sprint(l.Record))
			}
			slices.Sort(records)
			if want := []string{"{NaN 7}", "{NaN 8}"}; !slices.Equal(records, want) {
				t.Fatalf("dead letters hold %q, want the records %q", records, want)
			}
		})
	}
}

// bcCounter is keyCounter as the keyed side of a broadcast process
// function.
type bcCounter struct{ keyCounter[time.Time] }

func (c *bcCounter) ProcessElement(ctx weir.KeyedContext[time.Time], v time.Time, _ *weir.BroadcastState[int], out weir.Out[string]) error {
	return c.Process(ctx, v, out)
}

func (c *bcCounter) ProcessBroadcast(weir.Context, int, *weir.BroadcastState[int], weir.Out[string]) error {
	return nil
}

// The keyed input of a broadcast process function keys by the same rule.
func TestBroadcastProcessKeysAreCanonical(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	ks := weir.KeyBy(weir.From(env, weir.Slice(instants()...)), timeKey)
	rules := weir.Broadcast(weir.From(env, weir.Slice(1)))
	got := weir.Collect(weir.ProcessBroadcast(ks, rules, weir.KeyedBroadcastProcessFunction[time.Time, time.Time, int, int, string](&bcCounter{})))
	run(t, env)
	if g, want := sorted(got.Values()), []string{"1", "2", "3", "4", "final 4"}; !slices.Equal(g, want) {
		t.Fatalf("counts %v, want %v", g, want)
	}
}

// floatCo counts float keys from either input of a co-process function.
type floatCo struct{ keyCounter[float64] }

func (c *floatCo) Process1(ctx weir.KeyedContext[float64], v float64, out weir.Out[string]) error {
	return c.Process(ctx, v, out)
}

func (c *floatCo) Process2(ctx weir.KeyedContext[float64], v float64, out weir.Out[string]) error {
	return c.Process(ctx, v, out)
}

// floatBc counts float keys on the keyed input of a broadcast process
// function.
type floatBc struct{ keyCounter[float64] }

func (c *floatBc) ProcessElement(ctx weir.KeyedContext[float64], v float64, _ *weir.BroadcastState[int], out weir.Out[string]) error {
	return c.Process(ctx, v, out)
}

func (c *floatBc) ProcessBroadcast(weir.Context, int, *weir.BroadcastState[int], weir.Out[string]) error {
	return nil
}

// Two-input keyed operators refuse NaN keys on each keyed input.
func TestNaNKeyInTwoInputOperators(t *testing.T) {
	nan := math.NaN()
	id := func(f float64) float64 { return f }
	for name, build := range map[string]func(env *weir.Env) weir.Stream[string]{
		"coprocess": func(env *weir.Env) weir.Stream[string] {
			a := weir.KeyBy(weir.From(env, weir.Slice(nan, 1)), id)
			b := weir.KeyBy(weir.From(env, weir.Slice(1, nan)), id)
			return weir.CoProcess(weir.Connect(a, b), weir.KeyedCoProcessFunction[float64, float64, float64, string](&floatCo{}))
		},
		"broadcast": func(env *weir.Env) weir.Stream[string] {
			ks := weir.KeyBy(weir.From(env, weir.Slice(nan, 1, nan, 1)), id)
			return weir.ProcessBroadcast(ks, weir.Broadcast(weir.From(env, weir.Slice(1))), weir.KeyedBroadcastProcessFunction[float64, float64, int, int, string](&floatBc{}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := weir.New(weir.Parallelism(2))
			got := weir.Collect(build(env).Name("count").OnError(weir.Skip))
			run(t, env)
			if g, want := sorted(got.Values()), []string{"1", "2", "final 2"}; !slices.Equal(g, want) {
				t.Fatalf("counts %v, want %v (the key 1 only)", g, want)
			}
			var skipped int64
			for _, m := range env.Metrics() {
				if m.Operator == "count" {
					skipped += m.Skipped
				}
			}
			if skipped != 2 {
				t.Fatalf("skipped %d records, want the 2 with a NaN key", skipped)
			}
		})
	}
}
