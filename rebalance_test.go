package weir_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// inPerSubtask returns what each subtask of the operator named name
// received, by subtask.
func inPerSubtask(env *weir.Env, name string) map[int]int64 {
	out := map[int]int64{}
	for _, m := range env.Metrics() {
		if m.Operator == name {
			out[m.Subtask] += m.In
		}
	}
	return out
}

// A source with one split feeds only its subtask 0; without Rebalance an
// operator of the same parallelism chained to it gets records only there.
// Rebalance deals them to every subtask of the next operator.
func TestRebalanceSpreadsOneSplit(t *testing.T) {
	items := make([]int, 100)
	for i := range items {
		items[i] = i
	}
	for _, tc := range []struct {
		name      string
		rebalance bool
		async     bool
		exchange  string
	}{
		{name: "forward", exchange: ""},
		{name: "rebalance", rebalance: true, exchange: "exchange source -> work (rebalance)\n"},
		{name: "rebalance into async", rebalance: true, async: true, exchange: "exchange source -> work (rebalance)\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := weir.New(weir.Parallelism(2))
			s := weir.From(env, weir.Slice(items...))
			if tc.rebalance {
				s = s.Rebalance()
			}
			var work weir.Stream[int]
			if tc.async {
				work = weir.AsyncMap(s, func(_ context.Context, v int) (int, error) { return v * 2, nil })
			} else {
				work = weir.Map(s, func(v int) int { return v * 2 })
			}
			got := weir.Collect(work.Name("work"))
			plan, err := env.Plan()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(plan, tc.exchange) || (tc.exchange == "" && strings.Contains(plan, "exchange source")) {
				t.Fatalf("plan:\n%s\nwant the exchange %q", plan, tc.exchange)
			}
			run(t, env)
			per := inPerSubtask(env, "work")
			if per[0]+per[1] != int64(len(items)) {
				t.Fatalf("work received %v, want %d in all", per, len(items))
			}
			if tc.rebalance && (per[0] != 50 || per[1] != 50) {
				t.Fatalf("rebalanced work received %v by subtask, want 50 each", per)
			}
			if !tc.rebalance && per[1] != 0 {
				t.Fatalf("forward work received %v by subtask, want all on subtask 0", per)
			}
			if len(got.Values()) != len(items) {
				t.Fatalf("collected %d records, want %d", len(got.Values()), len(items))
			}
		})
	}
}

// Rebalance does not change the operators' IDs, so a job that adds it
// still restores the state of a checkpoint taken without it; KeyBy
// replaces it with the keyed exchange.
func TestRebalanceKeepsIDsAndYieldsToKeyBy(t *testing.T) {
	build := func(rebalance bool) (*weir.Env, string) {
		env := weir.New(weir.Parallelism(2))
		s := weir.From(env, weir.Slice("a", "b", "a"))
		if rebalance {
			s = s.Rebalance()
		}
		m := weir.Map(s, strings.ToUpper).Name("upper")
		weir.Collect(weir.Process(weir.KeyBy(m.Rebalance(), func(v string) string { return v }),
			weir.KeyedProcessFunction[string, string, string](passOn{})).Name("keyed"))
		plan, err := env.Plan()
		if err != nil {
			t.Fatal(err)
		}
		return env, plan
	}
	ids := func(env *weir.Env) []string {
		var out []string
		for _, m := range env.Metrics() {
			out = append(out, fmt.Sprint(m.Operator, "=", m.ID))
		}
		return slices.Compact(out)
	}
	plain, plainPlan := build(false)
	rebalanced, plan := build(true)
	if !strings.Contains(plan, "(rebalance)") || strings.Contains(plainPlan, "(rebalance)") {
		t.Fatalf("plans:\n%s\nand\n%s", plainPlan, plan)
	}
	if strings.Contains(plan, "upper -> keyed (rebalance)") || !strings.Contains(plan, "(hash)") {
		t.Fatalf("KeyBy after Rebalance must keep the keyed exchange:\n%s", plan)
	}
	run(t, plain)
	run(t, rebalanced)
	if a, b := ids(plain), ids(rebalanced); !slices.Equal(a, b) {
		t.Fatalf("Rebalance changed the operator IDs:\n%v\n%v", a, b)
	}
}

// passOn emits every record it gets.
type passOn struct{}

func (passOn) Process(_ weir.KeyedContext[string], v string, out weir.Out[string]) error {
	out.Emit(v)
	return nil
}

// Each upstream subtask starts its round robin at its own index, so a
// record from each of two subtasks goes to two downstream subtasks, not
// both to the first.
func TestRebalanceStartsAtOwnSubtask(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	s := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 2, Count: 2}, func(seq int64) int64 { return seq }))
	weir.Collect(weir.Map(s.Rebalance(), func(v int64) int64 { return v }).Name("work"))
	run(t, env)
	if per := inPerSubtask(env, "work"); per[0] != 1 || per[1] != 1 {
		t.Fatalf("work received %v by subtask, want 1 each", per)
	}
}
