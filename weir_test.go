package weir_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func run(t *testing.T, env *weir.Env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func sorted[T any](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprint(v)
	}
	slices.Sort(out)
	return out
}

func TestMapFilterFlatMapChained(t *testing.T) {
	for _, p := range []int{1, 3} {
		t.Run(fmt.Sprint("parallelism ", p), func(t *testing.T) {
			env := weir.New(weir.Parallelism(p))
			nums := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 4, Count: 1000}, func(seq int64) int64 { return seq }))
			sq := weir.Map(nums, func(v int64) int64 { return v * v }).Filter(func(v int64) bool { return v%2 == 0 })
			pairs := weir.FlatMap(sq, func(v int64, out weir.Out[string]) error {
				out.Emit(fmt.Sprint(v))
				out.Emit(fmt.Sprint(-v))
				return nil
			})
			got := weir.Collect(pairs)
			plan, err := env.Plan()
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("task source -> map -> filter -> flatmap -> collect (parallelism %d)\n", p); plan != want {
				t.Fatalf("plan:\n%s\nwant:\n%s", plan, want)
			}
			run(t, env)
			var want []string
			for i := int64(0); i < 1000; i++ {
				if i*i%2 == 0 {
					want = append(want, fmt.Sprint(i*i), fmt.Sprint(-i*i))
				}
			}
			slices.Sort(want)
			if g := sorted(got.Values()); !slices.Equal(g, want) {
				t.Fatalf("got %d values, want %d", len(g), len(want))
			}
		})
	}
}

type counter struct {
	count weir.ValueState[string, int]
}

func (c *counter) Open(oc weir.KeyedOpenContext[string]) error {
	c.count = weir.Value[int](oc, "count")
	return nil
}

func (c *counter) Process(ctx weir.KeyedContext[string], v string, out weir.Out[string]) error {
	n, _, err := c.count.Get(ctx)
	if err != nil {
		return err
	}
	n++
	if err := c.count.Set(ctx, n); err != nil {
		return err
	}
	out.Emit(fmt.Sprintf("%s=%d", ctx.Key(), n))
	return nil
}

func TestKeyedCountAcrossExchange(t *testing.T) {
	for _, p := range []int{1, 2, 4} {
		t.Run(fmt.Sprint("parallelism ", p), func(t *testing.T) {
			env := weir.New(weir.Parallelism(p), weir.BatchSize(7))
			words := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 3, Count: 3000},
				func(seq int64) string { return fmt.Sprintf("k%d", seq%10) }))
			counts := weir.Collect(weir.Process(weir.KeyBy(words, func(s string) string { return s }), &counter{}))
			run(t, env)
			// Each key is seen 300 times; its counter emits 1..300.
			var want []string
			for k := 0; k < 10; k++ {
				for n := 1; n <= 300; n++ {
					want = append(want, fmt.Sprintf("k%d=%d", k, n))
				}
			}
			slices.Sort(want)
			if g := sorted(counts.Values()); !slices.Equal(g, want) {
				t.Fatalf("got %d values (first %v), want %d", len(g), g[:min(5, len(g))], len(want))
			}
		})
	}
}

func TestLinesSourceAndFileSink(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(in, []byte("a\r\nbb\n\nccc"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := weir.New()
	lines := weir.From(env, weir.Lines(in))
	out := filepath.Join(dir, "out.txt")
	weir.To(weir.Map(lines, func(s string) int { return len(s) }), weir.File[int](out, nil))
	run(t, env)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), "1\n2\n0\n3\n"; got != want {
		t.Fatalf("file sink wrote %q, want %q", got, want)
	}
}

func TestUserErrorNamesOperatorSubtaskAndOrigin(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "nums.txt")
	if err := os.WriteFile(in, []byte("1\n2\nthree\n4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := weir.New()
	lines := weir.From(env, weir.Lines(in)).Name("numbers")
	parsed := weir.TryMap(lines, func(s string) (int, error) {
		var n int
		_, err := fmt.Sscanf(s, "%d", &n)
		return n, err
	}).Name("parse")
	weir.Collect(parsed)
	err := env.Run(context.Background())
	var oe *weir.OperatorError
	if !errors.As(err, &oe) {
		t.Fatalf("Run = %v, want an OperatorError", err)
	}
	if oe.Operator != "parse" || oe.Subtask != 0 || oe.Origin == nil || oe.Origin.Source != "numbers" ||
		oe.Origin.Split != in || oe.Origin.Offset != 3 {
		t.Fatalf("error %+v (origin %+v) does not name operator parse, subtask 0, %s line 3", oe, oe.Origin, in)
	}
	// Lines are named as lines, and subtasks count from 0 as in dead
	// letters and file names.
	if !strings.Contains(err.Error(), `operator "parse"`) || !strings.Contains(err.Error(), `split "`+in+`" line 3:`) ||
		!strings.Contains(err.Error(), "subtask 0 of 1") {
		t.Fatalf("message %q does not name the operator, subtask 0 of 1 and line 3", err)
	}
}

func TestPanicAfterExchangeNamesOperatorAndOrigin(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	nums := weir.From(env, weir.Slice(1, 2, 3, 4, 5, 6, 7, 8)).Name("nums")
	keyed := weir.KeyBy(nums, func(v int) int { return v % 4 })
	out := weir.Process(keyed, weir.ProcessFunc[int, int, int](func(c weir.KeyedContext[int], v int, out weir.Out[int]) error {
		if v == 7 {
			panic("seven")
		}
		out.Emit(v)
		return nil
	})).Name("picky")
	weir.Collect(out)
	err := env.Run(context.Background())
	var oe *weir.OperatorError
	if !errors.As(err, &oe) || oe.Operator != "picky" || oe.Origin == nil || oe.Origin.Offset != 6 ||
		!strings.Contains(err.Error(), "panic: seven") {
		t.Fatalf("Run = %v, want a panic in picky on offset 6", err)
	}
}

func TestGraphMistakesReportedBeforeRunning(t *testing.T) {
	t.Run("duplicate IDs", func(t *testing.T) {
		env := weir.New()
		s := weir.From(env, weir.Slice(1)).ID("same")
		weir.Collect(weir.Map(s, func(v int) int { return v }).ID("same"))
		if err := env.Validate(); err == nil || !strings.Contains(err.Error(), `same ID "same"`) {
			t.Fatalf("Validate = %v", err)
		}
	})
	t.Run("parallelism above max", func(t *testing.T) {
		env := weir.New(weir.MaxParallelism(4))
		s := weir.From(env, weir.Slice(1))
		weir.Collect(weir.Map(s, func(v int) int { return v }).Name("wide").Parallelism(5))
		err := env.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), `operator "wide": parallelism 5 is above max parallelism 4`) {
			t.Fatalf("Run = %v", err)
		}
	})
	t.Run("unsupported key type", func(t *testing.T) {
		env := weir.New()
		s := weir.From(env, weir.Slice(1))
		keyed := weir.KeyBy(s, func(v int) chan int { return nil })
		weir.Collect(weir.Process(keyed, weir.ProcessFunc[chan int, int, int](func(weir.KeyedContext[chan int], int, weir.Out[int]) error { return nil })))
		if err := env.Validate(); err == nil || !strings.Contains(err.Error(), "key type") {
			t.Fatalf("Validate = %v", err)
		}
	})
	t.Run("state declared twice", func(t *testing.T) {
		env := weir.New()
		s := weir.From(env, weir.Slice("a"))
		weir.Collect(weir.Process(weir.KeyBy(s, func(v string) string { return v }), &twice{}).Name("twice"))
		err := env.Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), `"twice"`) || !strings.Contains(err.Error(), `"n"`) {
			t.Fatalf("Run = %v", err)
		}
	})
}

type twice struct{}

func (twice) Open(c weir.KeyedOpenContext[string]) error {
	weir.Value[int](c, "n")
	weir.Value[int](c, "n")
	return nil
}

func (twice) Process(weir.KeyedContext[string], string, weir.Out[string]) error { return nil }

func TestCancelStopsEveryGoroutine(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	nums := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 2}, func(seq int64) int64 { return seq }))
	weir.To(weir.Process(weir.KeyBy(nums, func(v int64) int64 { return v % 100 }),
		weir.ProcessFunc[int64, int64, int64](func(_ weir.KeyedContext[int64], v int64, out weir.Out[int64]) error {
			out.Emit(v)
			return nil
		})), weir.Print[int64](discard{}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := env.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the deadline", err)
	}
	// goleak in TestMain checks that no goroutine is left.
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// oddOut sends odd values to the side output "odd" and even ones on.
type oddOut struct{}

var oddTag = weir.NewOutputTag[int64]("odd")

func (oddOut) Process(c weir.KeyedContext[int64], v int64, out weir.Out[int64]) error {
	if v%2 != 0 {
		weir.Output(c, oddTag, v)
		return nil
	}
	out.Emit(v)
	return nil
}

// A side output takes its operator's parallelism, and chains to it, unless
// it is given one of its own.
func TestSideOutputKeepsOperatorParallelism(t *testing.T) {
	env := weir.New(weir.Parallelism(2))
	nums := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 10}, func(seq int64) int64 { return seq }))
	evens := weir.Process(weir.KeyBy(nums, func(v int64) int64 { return v % 3 }), weir.KeyedProcessFunction[int64, int64, int64](oddOut{})).Parallelism(1)
	odds := weir.Collect(weir.SideOutput(evens, oddTag))
	weir.Collect(evens)
	plan, err := env.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan, "task process -> side-output odd (parallelism 1)\n") {
		t.Fatalf("plan does not chain the side output at parallelism 1:\n%s", plan)
	}
	run(t, env)
	if got := sorted(odds.Values()); !slices.Equal(got, []string{"1", "3", "5", "7", "9"}) {
		t.Fatalf("side output %v", got)
	}
}

// A generator rate that is not a finite number is refused before the job
// runs: +Inf used to make the source wait forever at 0 records, and NaN
// passed the "negative" check.
func TestGeneratorRejectsRateThatIsNotFinite(t *testing.T) {
	for _, rate := range []float64{math.Inf(1), math.NaN(), -1} {
		env := weir.New()
		weir.Collect(weir.From(env, weir.Generator(weir.GeneratorSpec{Count: 10, Rate: rate}, func(seq int64) int64 { return seq })))
		// The deadline only bounds the failure of a build that accepts the
		// rate; a correct one fails at once.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := env.Run(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("Rate %v must be a finite number", rate)) {
			t.Errorf("rate %v: Run = %v, want an error naming the rate", rate, err)
		}
	}
}
