package weir_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// failedLogins alerts when a user has at least a rule's number of failed
// logins within 30 s; rules come as a broadcast stream (name, failures) and
// change while the job runs. Logins are records (user, 0 for a failure).
type failedLogins struct {
	fails weir.ListState[string, int64]
}

func (f *failedLogins) Open(c weir.KeyedOpenContext[string]) error {
	f.fails = weir.List[int64](c, "fails")
	return nil
}

func (f *failedLogins) ProcessElement(c weir.KeyedContext[string], l rec, rules *weir.BroadcastState[int64], out weir.Out[string]) error {
	if l.Value != 0 {
		return nil
	}
	fails, err := f.fails.Get(c)
	if err != nil {
		return err
	}
	recent := []int64{l.Ts}
	for _, t := range fails {
		if l.Ts-t < 30_000 {
			recent = append(recent, t)
		}
	}
	for name, n := range rules.All() {
		if int64(len(recent)) == n {
			out.Emit(fmt.Sprintf("alert %s %s @%d", name, c.Key(), l.Ts))
		}
	}
	return f.fails.Update(c, recent)
}

func (f *failedLogins) ProcessBroadcast(c weir.Context, r rec, rules *weir.BroadcastState[int64], out weir.Out[string]) error {
	rules.Put(r.Key, r.Value)
	out.Emit(fmt.Sprintf("rule %s %d", r.Key, r.Value))
	return nil
}

func loginJob(out *output, rules, logins []scriptItem, p int, opts ...weir.Option) *weir.Env {
	return loginJobNamed(out, rules, logins, "logins", p, opts...)
}

// loginJobNamed names the logins' split, so that a restored job can read a
// new one (the old one is finished in the checkpoint).
func loginJobNamed(out *output, rules, logins []scriptItem, split string, p int, opts ...weir.Option) *weir.Env {
	env := weir.New(append([]weir.Option{weir.Parallelism(p)}, opts...)...)
	r := weir.From(env, &scriptSource{in: &scriptInput{name: "rules", bound: -1, items: rules}, out: out}).ID("rules").Parallelism(1)
	l := weir.From(env, &scriptSource{in: &scriptInput{name: split, bound: -1, items: logins}, out: out, each: p}).ID("logins").Parallelism(1)
	alerts := weir.ProcessBroadcast(weir.KeyBy(l, func(x rec) string { return x.Key }), weir.Broadcast(r), &failedLogins{}).ID("detector")
	weir.To(alerts, sinkFunc[string](func(s string) { out.add(s) }))
	return env
}

func fails(user string, from, n int64) []scriptItem {
	var items []scriptItem
	for i := range n {
		items = append(items, scriptItem{op: "rec", key: user, value: 0, ts: from + i*1000})
	}
	return items
}

// Rules reach every subtask and change at run time: a threshold of 5, then
// of 3.
func TestBroadcastRulesChangeAtRunTime(t *testing.T) {
	out := &output{added: make(chan struct{}, 1)}
	rules := []scriptItem{
		{op: "rec", key: "many-failures", value: 5, ts: 1},
		{op: "await", line: "alert many-failures u1 @5000"},
		{op: "rec", key: "many-failures", value: 3, ts: 2},
	}
	// Each rule has reached both subtasks before the logins it is for.
	logins := append([]scriptItem{{op: "await-each", line: "rule many-failures 5"}}, fails("u1", 1000, 5)...)
	logins = append(logins, scriptItem{op: "await-each", line: "rule many-failures 3"})
	logins = append(logins, fails("u2", 10_000, 3)...)
	logins = append(logins, fails("u3", 20_000, 3)...)
	env := loginJob(out, rules, logins, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var alerts, ruleLines []string
	for _, l := range out.lines {
		if l[0] == 'a' {
			alerts = append(alerts, l)
		} else {
			ruleLines = append(ruleLines, l)
		}
	}
	slices.Sort(alerts)
	want := []string{"alert many-failures u1 @5000", "alert many-failures u2 @12000", "alert many-failures u3 @22000"}
	if !slices.Equal(alerts, want) {
		t.Fatalf("alerts %v, want %v", alerts, want)
	}
	// Each rule reached both subtasks.
	if len(ruleLines) != 4 {
		t.Fatalf("rule lines %v: want each of the two rules on both subtasks", ruleLines)
	}
}

// The broadcast state is checkpointed and present on every subtask after a
// restore at another parallelism: alerts fire without the rules being sent
// again.
func TestBroadcastStateRestoredOnEverySubtask(t *testing.T) {
	dir := t.TempDir()
	out := &output{added: make(chan struct{}, 1)}
	rules := []scriptItem{{op: "rec", key: "three", value: 3, ts: 1}}
	env := loginJob(out, rules, []scriptItem{{op: "await", line: "rule three 3"}}, 1, weir.Checkpoints(time.Hour, dir))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	out2 := &output{added: make(chan struct{}, 1)}
	var logins []scriptItem
	users := []string{"a", "b", "c", "d", "e", "f"} // spread over both subtasks
	for i, u := range users {
		logins = append(logins, fails(u, int64(i)*100_000, 3)...)
	}
	env = loginJobNamed(out2, nil, logins, "more-logins", 2, weir.Checkpoints(time.Hour, dir), weir.Restore("latest"))
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(out2.lines) != len(users) {
		t.Fatalf("after the restore at parallelism 2: %v; want an alert for each of %v", out2.lines, users)
	}
}

// summaryAtEnd reports, from a timer, how many rules the broadcast state
// holds when the input ends.
type summaryAtEnd struct{}

func (summaryAtEnd) ProcessElement(c weir.KeyedContext[string], _ rec, _ *weir.BroadcastState[int64], _ weir.Out[string]) error {
	return c.Timers().RegisterEventTime(weir.EndOfTime)
}

func (summaryAtEnd) ProcessBroadcast(_ weir.Context, r rec, rules *weir.BroadcastState[int64], _ weir.Out[string]) error {
	rules.Put(r.Key, r.Value)
	return nil
}

func (summaryAtEnd) OnTimer(c weir.TimerContext[string], out weir.Out[string]) error {
	rules, ok := weir.ReadBroadcastState[int64](c)
	if !ok {
		return fmt.Errorf("no broadcast state in the timer of %s", c.Key())
	}
	if _, ok := weir.ReadBroadcastState[string](c); ok {
		return fmt.Errorf("the broadcast state read as the wrong type")
	}
	n, _ := rules.Get("limit")
	out.Emit(fmt.Sprintf("%s: %d rules, limit %d", c.Key(), rules.Len(), n))
	return nil
}

// A timer reads the broadcast state (read-only, as Flink's onTimer).
func TestBroadcastStateReadInTimer(t *testing.T) {
	out := &output{added: make(chan struct{}, 1)}
	env := weir.New(weir.Parallelism(2))
	r := weir.From(env, &scriptSource{in: &scriptInput{name: "rules", bound: -1, items: []scriptItem{
		{op: "rec", key: "limit", value: 5, ts: 1}, {op: "rec", key: "window", value: 30, ts: 2},
	}}, out: out}).Parallelism(1)
	l := weir.From(env, &scriptSource{in: &scriptInput{name: "logins", bound: -1, items: fails("u1", 1000, 2)}, out: out}).Parallelism(1)
	weir.To(weir.ProcessBroadcast(weir.KeyBy(l, func(x rec) string { return x.Key }), weir.Broadcast(r), summaryAtEnd{}),
		sinkFunc[string](func(s string) { out.add(s) }))
	if err := env.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"u1: 2 rules, limit 5"}; !slices.Equal(out.lines, want) {
		t.Fatalf("got %v, want %v", out.lines, want)
	}
}
