package weir_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// A job with an in-flight target keeps every record across its exchange.
func TestInFlightTargetKeyedCount(t *testing.T) {
	env := weir.New(weir.Parallelism(2), weir.InFlightTarget(time.Nanosecond))
	words := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 2, Count: 2000},
		func(seq int64) string { return fmt.Sprintf("k%d", seq%4) }))
	counts := weir.Collect(weir.Process(weir.KeyBy(words, func(s string) string { return s }), &counter{}))
	run(t, env)
	var want []string
	for k := range 4 {
		for n := 1; n <= 500; n++ {
			want = append(want, fmt.Sprintf("k%d=%d", k, n))
		}
	}
	slices.Sort(want)
	if g := sorted(counts.Values()); !slices.Equal(g, want) {
		t.Fatalf("got %d values, want %d", len(g), len(want))
	}
}

func TestInFlightTargetNegativeRejected(t *testing.T) {
	env := weir.New(weir.InFlightTarget(-time.Second))
	weir.Collect(weir.From(env, weir.Slice(1)))
	if err := env.Validate(); err == nil || !strings.Contains(err.Error(), "InFlightTarget") {
		t.Fatalf("Validate = %v, want an error naming InFlightTarget", err)
	}
}
