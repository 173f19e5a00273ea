// Package keygroup maps keys to key groups and key groups to subtasks.
//
// A key group is the unit in which keyed state is partitioned, snapshotted
// and moved when a job is rescaled. The key group of a key is a stable hash
// of the key's encoded bytes modulo the job's max parallelism; subtask i of
// p owns the contiguous range RangeFor(max, p, i). The hash is XXH64 with
// seed 0 (the published xxHash specification), so the assignment is the same
// in every process, on every machine and in every Weir version.
package keygroup

import (
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaxParallelism is the number of key groups a job gets unless it
// sets its own.
const DefaultMaxParallelism = 128

// UpperBound is the largest allowed max parallelism.
const UpperBound = 1 << 15

// Of returns the key group of the encoded key.
func Of(encodedKey []byte, maxParallelism int) int {
	h, m := xxhash.Sum64(encodedKey), uint64(maxParallelism)
	if m&(m-1) == 0 {
		return int(h & (m - 1)) // the same as h % m, without a division
	}
	return int(h % m)
}

// Range is the half-open range [Start, End) of key groups owned by one
// operator subtask.
type Range struct {
	Start, End int
}

// Contains reports whether kg is in the range.
func (r Range) Contains(kg int) bool { return kg >= r.Start && kg < r.End }

// Len returns the number of key groups in the range.
func (r Range) Len() int { return r.End - r.Start }

func (r Range) String() string { return fmt.Sprintf("[%d,%d)", r.Start, r.End) }

// RangeFor returns the key groups owned by subtask i of parallelism p.
func RangeFor(maxParallelism, p, i int) Range {
	return Range{
		Start: (i*maxParallelism + p - 1) / p,
		End:   ((i+1)*maxParallelism + p - 1) / p,
	}
}

// Subtask returns the subtask of parallelism p that owns key group kg. It is
// the inverse of RangeFor.
func Subtask(kg, maxParallelism, p int) int {
	return kg * p / maxParallelism
}

// Validate checks a max parallelism and a parallelism against each other.
func Validate(maxParallelism, p int) error {
	switch {
	case maxParallelism <= 0 || maxParallelism > UpperBound:
		return fmt.Errorf("max parallelism %d must be in [1,%d]", maxParallelism, UpperBound)
	case p <= 0:
		return fmt.Errorf("parallelism %d must be positive", p)
	case p > maxParallelism:
		return fmt.Errorf("parallelism %d is above max parallelism %d", p, maxParallelism)
	}
	return nil
}
