package weir

import (
	"math"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/keygroup"
)

// groupOf returns the key group that the keyed exchange of KeyBy(s, key)
// gives the record v, at the default max parallelism.
func groupOf[K comparable, T any](t *testing.T, key func(T) K, v T) int {
	t.Helper()
	env := New()
	ks := KeyBy(From(env, Slice[T]()), key)
	if len(env.errs) > 0 {
		t.Fatal(env.errs)
	}
	_, kg := ks.keys.group(nil, ks.key(v), keygroup.DefaultMaxParallelism)
	return kg
}

// Keys that share state share a key group: -0 and +0, and times of one
// instant in any location or with a monotonic reading.
func TestEqualKeysShareAKeyGroup(t *testing.T) {
	id := func(f float64) float64 { return f }
	if a, b := groupOf(t, id, math.Copysign(0, -1)), groupOf(t, id, 0); a != b {
		t.Errorf("-0 is in key group %d, +0 in %d", a, b)
	}
	now := time.Now()
	same := []time.Time{now, now.Round(0), now.UTC(), now.In(time.FixedZone("UTC+5", 5*3600))}
	at := func(t time.Time) time.Time { return t }
	for _, x := range same[1:] {
		if a, b := groupOf(t, at, same[0]), groupOf(t, at, x); a != b {
			t.Errorf("%v is in key group %d, %v in %d", same[0], a, x, b)
		}
	}
}
