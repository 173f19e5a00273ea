package weir_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// The scripts in testdata/scripts describe operator tests: the records and
// watermarks each input emits, the keyed function they go through and the
// output expected, written by hand from the semantics. A script file holds
// cases like this one:
//
//	case late-record
//	fn window-sum size=1000
//	parallelism 2
//	input a
//	rec x 1 @100
//	wm 2000
//	rec x 5 @900
//	expect
//	late x 5 @900
//	x [0,1000) 1 @999
//	end
//
// Inputs are unioned and keyed by their first field. Items of an input:
// "rec KEY VALUE @TS", "wm TS" (the input declares a watermark), "idle"
// (the input declares itself idle until it emits again), "await LINE"
// (the input waits until LINE has been output, which orders it after
// events of other inputs) and "await-each LINE" (until every parallel
// subtask has output LINE). "input NAME bound=MS" derives the input's
// watermark from its event times instead, allowing MS of disorder, and
// "idle=MS" marks it idle after MS without records. Each
// input hands one item per poll to the runtime, so watermarks are applied
// exactly where the script puts them. Expected lines are compared sorted.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/scripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		for _, c := range parseScript(t, f) {
			t.Run(filepath.Base(f)+"/"+c.name, func(t *testing.T) { c.run(t) })
			if l := c.localVariant(); l != nil {
				t.Run(filepath.Base(f)+"/"+c.name+"/local", func(t *testing.T) { l.run(t) })
			}
		}
	}
}

// localVariant returns, for a case of the window operators, the same case
// without the late-data output, so that the window aggregates locally in
// front of its exchange: the results are the same, late records are not
// emitted, and the order between keys is not kept (partials cross the
// exchange in no particular order).
func (c *scriptCase) localVariant() *scriptCase {
	switch c.fn {
	case "tumble-sum", "slide-sum", "session-sum":
	default:
		return nil
	}
	l := *c
	l.local, l.ordered, l.expect = true, false, nil
	for _, e := range c.expect {
		if !strings.HasPrefix(e, "late ") {
			l.expect = append(l.expect, e)
		}
	}
	slices.Sort(l.expect)
	return &l
}

type scriptCase struct {
	name        string
	file        string
	line        int
	fn          string
	args        map[string]int64
	parallelism int
	inputs      []*scriptInput
	expect      []string
	ordered     bool // compare in emission order
	local       bool // windows without a late-data output (aggregating locally)
}

type scriptInput struct {
	name  string
	bound int64 // -1: watermarks come from the script
	idle  int64 // idle timeout in ms; 0: none
	items []scriptItem
}

type scriptItem struct {
	op    string // rec, wm, idle, await, await-each
	key   string
	value int64
	ts    int64
	line  string
}

type rec struct {
	Key   string
	Value int64
	Ts    int64
}

func parseScript(t *testing.T, file string) []*scriptCase {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cases []*scriptCase
		c     *scriptCase
		in    *scriptInput
		exp   bool
	)
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		fail := func(format string, a ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s: %q", file, ln, fmt.Sprintf(format, a...), line)
		}
		if exp {
			if line == "end" {
				exp = false
				if !c.ordered {
					slices.Sort(c.expect)
				}
				continue
			}
			if line != "" {
				c.expect = append(c.expect, line)
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if fields[0] != "case" && c == nil {
			fail("expected a case")
		}
		switch fields[0] {
		case "case":
			c = &scriptCase{name: fields[1], file: file, line: ln, parallelism: 1, args: map[string]int64{}}
			cases = append(cases, c)
			in = nil
		case "fn":
			c.fn = fields[1]
			for _, kv := range fields[2:] {
				k, v, ok := strings.Cut(kv, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				if !ok || err != nil {
					fail("bad argument %q", kv)
				}
				c.args[k] = n
			}
		case "parallelism":
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				fail("bad parallelism")
			}
			c.parallelism = n
		case "input":
			in = &scriptInput{name: fields[1], bound: -1}
			for _, opt := range fields[2:] {
				k, v, _ := strings.Cut(opt, "=")
				n, err := strconv.ParseInt(v, 10, 64)
				switch {
				case err != nil:
					fail("bad input option %q", opt)
				case k == "bound":
					in.bound = n
				case k == "idle":
					in.idle = n
				default:
					fail("unknown input option %q", opt)
				}
			}
			c.inputs = append(c.inputs, in)
		case "rec":
			if in == nil || len(fields) != 4 || !strings.HasPrefix(fields[3], "@") {
				fail("want rec KEY VALUE @TS in an input")
			}
			v, err1 := strconv.ParseInt(fields[2], 10, 64)
			ts, err2 := strconv.ParseInt(fields[3][1:], 10, 64)
			if err1 != nil || err2 != nil {
				fail("bad number")
			}
			in.items = append(in.items, scriptItem{op: "rec", key: fields[1], value: v, ts: ts})
		case "wm":
			ts, err := strconv.ParseInt(fields[1], 10, 64)
			if in == nil || err != nil {
				fail("want wm TS in an input")
			}
			in.items = append(in.items, scriptItem{op: "wm", ts: ts})
		case "idle":
			in.items = append(in.items, scriptItem{op: "idle"})
		case "await", "await-each":
			in.items = append(in.items, scriptItem{op: fields[0], line: strings.TrimSpace(strings.TrimPrefix(line, fields[0]))})
		case "expect":
			exp = true
			c.ordered = len(fields) > 1 && fields[1] == "ordered"
		default:
			fail("unknown directive")
		}
	}
	return cases
}

// output collects lines and lets inputs wait for one.
type output struct {
	mu    sync.Mutex
	lines []string
	added chan struct{}
}

func (o *output) add(s string) {
	o.mu.Lock()
	o.lines = append(o.lines, s)
	o.mu.Unlock()
	select {
	case o.added <- struct{}{}:
	default:
	}
}

func (o *output) has(s string) bool { return o.count(s) > 0 }

// count returns how many times s has been output.
func (o *output) count(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, l := range o.lines {
		if l == s {
			n++
		}
	}
	return n
}

func (c *scriptCase) run(t *testing.T) {
	out := &output{added: make(chan struct{}, 1)}
	env := weir.New(weir.Parallelism(c.parallelism), weir.BatchSize(2))
	var streams []weir.Stream[rec]
	var rules weir.Stream[rec] // the input named rules, for failed-logins
	hasRules := false
	for _, in := range c.inputs {
		var opts []weir.SourceOption
		if in.bound >= 0 {
			opts = append(opts, weir.EventTime(func(r rec) time.Time { return time.UnixMilli(r.Ts) },
				time.Duration(in.bound)*time.Millisecond))
		}
		if in.idle > 0 {
			opts = append(opts, weir.IdleTimeout(time.Duration(in.idle)*time.Millisecond))
		}
		s := weir.From(env, &scriptSource{in: in, out: out, each: c.parallelism}, opts...).Name(in.name).Parallelism(1)
		if c.fn == "failed-logins" && in.name == "rules" {
			rules, hasRules = s, true
			continue
		}
		streams = append(streams, s)
	}
	if len(streams) == 0 {
		t.Fatalf("%s:%d: no input", c.file, c.line)
	}
	// The union runs at parallelism 1 like the inputs, so each input's
	// records keep their order on the way to the keyed function.
	union := weir.Union(streams[0], streams[1:]...).Parallelism(1)
	keyed := weir.KeyBy(union, func(r rec) string { return r.Key })
	var results weir.Stream[string]
	switch c.fn {
	case "window-sum":
		ws := &windowSum{size: c.args["size"]}
		results = weir.Process(keyed, ws)
		// Late records get a sink of their own, chained like the main
		// one, so that emission order is kept at parallelism 1.
		weir.To(weir.SideOutput(results, lateTag), sinkFunc[string](func(s string) { out.add(s) }))
	case "running-sum":
		results = weir.Process(keyed, &runningSum{})
	case "global-sum":
		// Fires and purges on a record with value 0, or when the watermark
		// passes the first record's time plus wait.
		trigger := weir.Trigger[rec](&flushTrigger{wait: c.args["wait"]})
		if n := c.args["count"]; n > 0 {
			trigger = weir.CountTrigger[rec](n)
		}
		sums := weir.GlobalWindow(keyed, trigger, sumAgg{})
		results = weir.Map(sums, func(r weir.WindowResult[string, int64]) string {
			return fmt.Sprintf("%s %d", r.Key, r.Value)
		})
	case "count-sum":
		sums := weir.CountWindow(keyed, int(c.args["size"]), int(c.args["slide"]), sumAgg{})
		results = weir.Map(sums, func(r weir.WindowResult[string, int64]) string {
			return fmt.Sprintf("%s %v %d", r.Key, r.Window, r.Value)
		})
	case "tumble-sum", "slide-sum", "session-sum":
		var a weir.WindowAssigner
		ms := func(k string) time.Duration { return time.Duration(c.args[k]) * time.Millisecond }
		switch c.fn {
		case "tumble-sum":
			a = weir.TumblingEventTime(ms("size"))
		case "slide-sum":
			a = weir.SlidingEventTime(ms("size"), ms("slide"))
		case "session-sum":
			a = weir.EventTimeSessions(ms("gap"))
		}
		lateRecs := weir.NewOutputTag[rec]("late-records")
		opts := []weir.WindowOption[rec]{weir.AllowedLateness[rec](ms("lateness"))}
		if !c.local {
			opts = append(opts, weir.LateData(lateRecs))
		}
		sums := weir.Aggregate(weir.Windowed(keyed, a, opts...), sumAgg{})
		results = weir.Map(sums, func(r weir.WindowResult[string, int64]) string {
			return fmt.Sprintf("%s %v %d", r.Key, r.Window, r.Value)
		})
		if !c.local {
			weir.To(weir.Map(weir.SideOutput(sums, lateRecs), func(r rec) string {
				return fmt.Sprintf("late %s %d @%d", r.Key, r.Value, r.Ts)
			}), sinkFunc[string](func(s string) { out.add(s) }))
		}
	case "failed-logins":
		if !hasRules {
			t.Fatalf("%s:%d: failed-logins needs an input named rules", c.file, c.line)
		}
		results = weir.ProcessBroadcast(keyed, weir.Broadcast(rules), &failedLogins{})
	case "async-map":
		results = weir.Map(asyncSleep(union, c.args), func(r rec) string {
			return fmt.Sprintf("%s %d @%d", r.Key, r.Value, r.Ts)
		})
	case "async-window-sum":
		lateRecs := weir.NewOutputTag[rec]("late-records")
		enriched := weir.KeyBy(asyncSleep(union, c.args), func(r rec) string { return r.Key })
		size := time.Duration(c.args["size"]) * time.Millisecond
		sums := weir.Aggregate(weir.Windowed(enriched, weir.TumblingEventTime(size), weir.LateData(lateRecs)), sumAgg{})
		results = weir.Map(sums, func(r weir.WindowResult[string, int64]) string {
			return fmt.Sprintf("%s %v %d", r.Key, r.Window, r.Value)
		})
		weir.To(weir.Map(weir.SideOutput(sums, lateRecs), func(r rec) string {
			return fmt.Sprintf("late %s %d @%d", r.Key, r.Value, r.Ts)
		}), sinkFunc[string](func(s string) { out.add(s) }))
	default:
		t.Fatalf("%s:%d: unknown fn %q", c.file, c.line, c.fn)
	}
	weir.To(results, sinkFunc[string](func(s string) { out.add(s) }))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("%s:%d: %v", c.file, c.line, err)
	}
	got := append([]string(nil), out.lines...)
	if !c.ordered {
		slices.Sort(got)
	}
	if !slices.Equal(got, c.expect) {
		t.Fatalf("%s:%d: output\n  %s\nwant\n  %s", c.file, c.line, strings.Join(got, "\n  "), strings.Join(c.expect, "\n  "))
	}
}

var lateTag = weir.NewOutputTag[string]("late")

// asyncSleep is an AsyncMap whose request for a record takes the record's
// value in milliseconds and returns the record: so a script sets each
// request's latency. Arguments: capacity (default 100), unordered=1.
func asyncSleep(s weir.Stream[rec], args map[string]int64) weir.Stream[rec] {
	opts := []weir.AsyncOption{weir.AsyncCapacity(100)}
	if n := args["capacity"]; n > 0 {
		opts[0] = weir.AsyncCapacity(int(n))
	}
	if args["unordered"] == 1 {
		opts = append(opts, weir.AsyncUnordered())
	}
	return weir.AsyncMap(s, sleepValue, opts...).Parallelism(1)
}

// sleepValue is a request that takes the record's value in milliseconds and
// returns the record.
func sleepValue(ctx context.Context, r rec) (rec, error) {
	select {
	case <-time.After(time.Duration(r.Value) * time.Millisecond):
		return r, nil
	case <-ctx.Done():
		return r, ctx.Err()
	}
}

// windowSum sums values per key in tumbling event-time windows of size
// milliseconds, written with keyed state and event-time timers; records for
// windows the watermark has passed go to the "late" side output.
type windowSum struct {
	size int64
	sums weir.MapState[string, int64, int64] // window start -> sum
}

func (w *windowSum) Open(c weir.KeyedOpenContext[string]) error {
	w.sums = weir.MapOf[int64, int64](c, "sums")
	return nil
}

func (w *windowSum) Process(c weir.KeyedContext[string], r rec, out weir.Out[string]) error {
	start := r.Ts - r.Ts%w.size
	end := start + w.size
	if end-1 <= c.Watermark().UnixMilli() && !c.Watermark().IsZero() {
		weir.Output(c, lateTag, fmt.Sprintf("late %s %d @%d", r.Key, r.Value, r.Ts))
		return nil
	}
	sum, _, err := w.sums.Get(c, start)
	if err != nil {
		return err
	}
	if err := w.sums.Put(c, start, sum+r.Value); err != nil {
		return err
	}
	return c.Timers().RegisterEventTime(time.UnixMilli(end - 1))
}

func (w *windowSum) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	ts, _ := c.Timestamp()
	start := ts.UnixMilli() + 1 - w.size
	sum, ok, err := w.sums.Get(c, start)
	if err != nil || !ok {
		return err
	}
	out.Emit(fmt.Sprintf("%s [%d,%d) %d @%d", c.Key(), start, start+w.size, sum, ts.UnixMilli()))
	return w.sums.Delete(c, start)
}

// flushTrigger is a custom trigger: a record with value 0 fires and purges
// its key's window at once; otherwise the window fires and purges when the
// watermark passes its first record's time plus wait.
type flushTrigger struct{ wait int64 }

func (t *flushTrigger) OnRecord(c weir.TriggerContext, r rec, count int64) weir.TriggerResult {
	if r.Value == 0 {
		return weir.FireAndPurge
	}
	if count == 1 {
		c.Timers().RegisterEventTime(time.UnixMilli(r.Ts + t.wait))
	}
	return weir.Continue
}

func (t *flushTrigger) OnTime(weir.TriggerContext, weir.TimeDomain, time.Time) weir.TriggerResult {
	return weir.FireAndPurge
}

// sumAgg sums the values of a window's records.
type sumAgg struct{}

func (sumAgg) CreateAccumulator() int64   { return 0 }
func (sumAgg) Add(r rec, acc int64) int64 { return acc + r.Value }
func (sumAgg) Result(acc int64) int64     { return acc }
func (sumAgg) Merge(a, b int64) int64     { return a + b }

// runningSum emits each key's running sum with the record's event time.
type runningSum struct {
	sum weir.ValueState[string, int64]
}

func (s *runningSum) Open(c weir.KeyedOpenContext[string]) error {
	s.sum = weir.Value[int64](c, "sum")
	return nil
}

func (s *runningSum) Process(c weir.KeyedContext[string], r rec, out weir.Out[string]) error {
	sum, _, err := s.sum.Get(c)
	if err != nil {
		return err
	}
	sum += r.Value
	ts, _ := c.Timestamp()
	out.Emit(fmt.Sprintf("%s %d @%d", c.Key(), sum, ts.UnixMilli()))
	return s.sum.Set(c, sum)
}

// scriptSource plays one input of a script as a single split.
type scriptSource struct {
	in   *scriptInput
	out  *output
	each int // the parallelism an await-each waits for
}

func (s *scriptSource) Splits(context.Context) ([]weir.Split, error) {
	return []weir.Split{{ID: s.in.name}}, nil
}

func (s *scriptSource) Bounded() bool { return true }

func (s *scriptSource) OpenSplit(context.Context, weir.Split, []byte) (weir.SplitReader[rec], error) {
	return &scriptReader{s: s}, nil
}

type scriptReader struct {
	s    *scriptSource
	next int
}

func (r *scriptReader) Poll(out weir.SourceOutput[rec], _ int) (weir.PollStatus, error) {
	items := r.s.in.items
	if r.next == len(items) {
		return weir.End, nil
	}
	it := items[r.next]
	switch it.op {
	case "rec":
		out.EmitAt(rec{Key: it.key, Value: it.value, Ts: it.ts}, time.UnixMilli(it.ts), int64(r.next))
	case "wm":
		out.Watermark(time.UnixMilli(it.ts))
	case "idle":
		out.Idle()
	case "await":
		if !r.s.out.has(it.line) {
			return weir.Wait, nil
		}
	case "await-each":
		if r.s.out.count(it.line) < r.s.each {
			return weir.Wait, nil
		}
	}
	r.next++
	return weir.More, nil
}

func (r *scriptReader) Position() []byte { return strconv.AppendInt(nil, int64(r.next), 10) }
func (r *scriptReader) Close() error     { return nil }

// sinkFunc is a sink calling a function for every record.
type sinkFunc[T any] func(T)

func (f sinkFunc[T]) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[T], error) {
	return sinkWriterFunc[T](f), nil
}

type sinkWriterFunc[T any] func(T)

func (f sinkWriterFunc[T]) Write(v T) error { f(v); return nil }
func (f sinkWriterFunc[T]) Close() error    { return nil }
