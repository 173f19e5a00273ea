package keygroup

import (
	"fmt"
	"testing"

	"github.com/cespare/xxhash/v2"
)

func TestRangesPartitionAndInvert(t *testing.T) {
	for _, max := range []int{1, 7, 128, 1000} {
		for p := 1; p <= max && p <= 64; p++ {
			next := 0
			for i := 0; i < p; i++ {
				r := RangeFor(max, p, i)
				if r.Start != next {
					t.Fatalf("max %d p %d subtask %d: range %s does not start at %d", max, p, i, r, next)
				}
				for kg := r.Start; kg < r.End; kg++ {
					if got := Subtask(kg, max, p); got != i {
						t.Fatalf("max %d p %d: key group %d owned by %d, range says %d", max, p, kg, got, i)
					}
				}
				next = r.End
			}
			if next != max {
				t.Fatalf("max %d p %d: ranges end at %d", max, p, next)
			}
		}
	}
}

// The key group of a key must never change between versions: savepoints
// and key-group ranges depend on it. These values are XXH64 (seed 0) of the
// bytes, modulo 128.
func TestStableAssignment(t *testing.T) {
	for _, tc := range []struct {
		key string
		kg  int
	}{
		{"", int(0xef46db3751d8e999 % 128)},
		{"a", int(0xd24ec4f1a98c6e5b % 128)},
		{"abc", int(0x44bc2cf5ad770999 % 128)},
	} {
		if got := Of([]byte(tc.key), 128); got != tc.kg {
			t.Errorf("Of(%q) = %d, want %d", tc.key, got, tc.kg)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		max, p int
		ok     bool
	}{
		{128, 1, true}, {128, 128, true}, {128, 129, false}, {0, 1, false}, {128, 0, false}, {UpperBound + 1, 1, false},
	} {
		if err := Validate(tc.max, tc.p); (err == nil) != tc.ok {
			t.Errorf("Validate(%d, %d) = %v", tc.max, tc.p, err)
		}
	}
}

// Key groups are part of every checkpoint: Of must stay the hash modulo the
// max parallelism, whatever shortcut it takes.
func TestOfIsHashModulo(t *testing.T) {
	for _, max := range []int{1, 2, 7, 128, 1000, 1 << 15} {
		for i := range 1000 {
			key := []byte(fmt.Sprint("key-", i))
			if got, want := Of(key, max), int(xxhash.Sum64(key)%uint64(max)); got != want {
				t.Fatalf("Of(%q, %d) = %d, want %d", key, max, got, want)
			}
		}
	}
}
