package weir_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weirstream/weir"
)

// runScripted runs the keyed function fn over one scripted input (see
// TestScripts) and returns what it emitted, in order.
func runScripted(t *testing.T, items []scriptItem, fn weir.KeyedProcessFunction[string, rec, string]) []string {
	t.Helper()
	out := &output{added: make(chan struct{}, 1)}
	env := weir.New()
	src := weir.From(env, &scriptSource{in: &scriptInput{name: "in", bound: -1, items: items}, out: out})
	results := weir.Process(weir.KeyBy(src, func(r rec) string { return r.Key }), fn)
	weir.To(results, sinkFunc[string](func(s string) { out.add(s) }))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out.lines
}

// clock reports processing-time timers relative to the first record.
type clock struct {
	start time.Time
	delay []time.Duration
}

func (c *clock) Process(ctx weir.KeyedContext[string], r rec, out weir.Out[string]) error {
	c.start = ctx.ProcessingTime()
	for _, d := range c.delay {
		if err := ctx.Timers().RegisterProcessingTime(c.start.Add(d)); err != nil {
			return err
		}
	}
	// Registering the same timer twice keeps one.
	return ctx.Timers().RegisterProcessingTime(c.start.Add(c.delay[0]))
}

func (c *clock) OnTimer(ctx weir.TimerContext[string], out weir.Out[string]) error {
	_, hasTs := ctx.Timestamp()
	out.Emit(fmt.Sprintf("%s %v at +%v event-time=%v", ctx.Key(), ctx.Domain(), ctx.ProcessingTime().Sub(c.start), hasTs))
	return nil
}

// Processing-time timers fire on the wall clock while no data arrives, in
// time order, once each.
func TestProcessingTimeTimersFireWithoutData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := runScripted(t, []scriptItem{
			{op: "rec", key: "k", value: 1, ts: 1},
			{op: "await", line: "k processing time at +3s event-time=false"},
		}, &clock{delay: []time.Duration{3 * time.Second, time.Second}})
		want := []string{
			"k processing time at +1s event-time=false",
			"k processing time at +3s event-time=false",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// ttlProbe writes a value with a one-second TTL, refreshes it once, and
// reports at each timer whether the value is still there.
type ttlProbe struct {
	start time.Time
	v     weir.ValueState[string, int64]
	l     weir.ListState[string, int64]
	m     weir.MapState[string, string, int64]
}

func (p *ttlProbe) Open(c weir.KeyedOpenContext[string]) error {
	p.v = weir.Value[int64](c, "v", weir.TTL(time.Second))
	p.l = weir.List[int64](c, "l", weir.TTL(time.Second))
	p.m = weir.MapOf[string, int64](c, "m", weir.TTL(time.Second))
	return nil
}

func (p *ttlProbe) Process(ctx weir.KeyedContext[string], r rec, out weir.Out[string]) error {
	p.start = ctx.ProcessingTime()
	for _, ms := range []int{500, 1200, 1600, 2600} {
		if err := ctx.Timers().RegisterProcessingTime(p.start.Add(time.Duration(ms) * time.Millisecond)); err != nil {
			return err
		}
	}
	if err := p.l.Add(ctx, 1); err != nil {
		return err
	}
	if err := p.m.Put(ctx, "a", 1); err != nil {
		return err
	}
	return p.v.Set(ctx, r.Value)
}

func (p *ttlProbe) OnTimer(ctx weir.TimerContext[string], out weir.Out[string]) error {
	at := ctx.ProcessingTime().Sub(p.start)
	_, ok, err := p.v.Get(ctx)
	if err != nil {
		return err
	}
	l, err := p.l.Get(ctx)
	if err != nil {
		return err
	}
	_, inMap, err := p.m.Get(ctx, "a")
	if err != nil {
		return err
	}
	out.Emit(fmt.Sprintf("+%v value=%v list=%d map=%v", at, ok, len(l), inMap))
	if at == 500*time.Millisecond {
		// Reads do not refresh the TTL; a write does, for this state only.
		return p.v.Set(ctx, 2)
	}
	return nil
}

// A TTL counts from the last write; an expired entry is never returned.
func TestStateTTLExpiresSinceLastWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		got := runScripted(t, []scriptItem{
			{op: "rec", key: "k", value: 1, ts: 1},
			{op: "await", line: "+2.6s value=false list=0 map=false"},
		}, &ttlProbe{})
		want := []string{
			"+500ms value=true list=1 map=true",
			"+1.2s value=true list=0 map=false",
			"+1.6s value=false list=0 map=false",
			"+2.6s value=false list=0 map=false",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// Processing-time windows close on the wall clock even when no data
// arrives.
func TestProcessingTimeWindowClosesWithoutData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &output{added: make(chan struct{}, 1)}
		env := weir.New()
		items := []scriptItem{
			{op: "rec", key: "k", value: 1, ts: 1},
			{op: "rec", key: "k", value: 2, ts: 2},
			{op: "await", line: "k 3"},
		}
		src := weir.From(env, &scriptSource{in: &scriptInput{name: "in", bound: -1, items: items}, out: out})
		ws := weir.Windowed(weir.KeyBy(src, func(r rec) string { return r.Key }), weir.TumblingProcessingTime(time.Second))
		sums := weir.Aggregate(ws, sumAgg{})
		weir.To(weir.Map(sums, func(r weir.WindowResult[string, int64]) string {
			return fmt.Sprintf("%s %d", r.Key, r.Value)
		}), sinkFunc[string](func(s string) { out.add(s) }))
		if err := env.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.lines, []string{"k 3"}) {
			t.Fatalf("got %q", out.lines)
		}
	})
}

// ProcessWindow hands a window's records to the function at once.
func TestProcessWindowSeesAllRecords(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	src := weir.From(env, weir.Slice(rec{"a", 1, 10}, rec{"a", 2, 20}, rec{"b", 3, 30}, rec{"a", 4, 1010}),
		weir.EventTime(func(r rec) time.Time { return time.UnixMilli(r.Ts) }, time.Second))
	ws := weir.Windowed(weir.KeyBy(src, func(r rec) string { return r.Key }), weir.TumblingEventTime(time.Second))
	got := weir.Collect(weir.ProcessWindow(ws, func(key string, w weir.Window, recs []rec, out weir.Out[string]) error {
		out.Emit(fmt.Sprintf("%s %v %d records", key, w, len(recs)))
		return nil
	}))
	run(t, env)
	want := []string{"a [0,1000) 2 records", "a [1000,2000) 1 records", "b [0,1000) 1 records"}
	if g := sorted(got.Values()); !slices.Equal(g, want) {
		t.Fatalf("got %v, want %v", g, want)
	}
}

// timerEditor sets and deletes event-time timers as its records say: value
// 1 sets a timer at the record's time, -1 deletes it; a timer that fires
// outputs "fired KEY @TS".
type timerEditor struct{}

func (timerEditor) Process(ctx weir.KeyedContext[string], r rec, _ weir.Out[string]) error {
	at := time.UnixMilli(r.Ts)
	if r.Value < 0 {
		return ctx.Timers().DeleteEventTime(at)
	}
	return ctx.Timers().RegisterEventTime(at)
}

func (timerEditor) OnTimer(ctx weir.TimerContext[string], out weir.Out[string]) error {
	ts, _ := ctx.Timestamp()
	out.Emit(fmt.Sprintf("fired %s @%d", ctx.Key(), ts.UnixMilli()))
	return nil
}

// A deleted timer does not fire; one set twice fires once; one deleted and
// set again fires once, at its time; deleting one that is not set changes
// nothing.
func TestDeletedTimersDoNotFire(t *testing.T) {
	set := func(k string, ts int64) scriptItem { return scriptItem{op: "rec", key: k, value: 1, ts: ts} }
	del := func(k string, ts int64) scriptItem { return scriptItem{op: "rec", key: k, value: -1, ts: ts} }
	got := runScripted(t, []scriptItem{
		set("a", 100), set("a", 200), del("a", 100), // a@100 deleted
		set("b", 300), set("b", 300), // set twice
		set("c", 400), del("c", 400), set("c", 400), // deleted and set again
		del("d", 500), // never set
		{op: "wm", ts: 1000},
		set("e", 2000), del("e", 2000), // deleted after timers have fired
		set("e", 2100),
	}, timerEditor{})
	want := []string{"fired a @200", "fired b @300", "fired c @400", "fired e @2100"}
	if !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
}
