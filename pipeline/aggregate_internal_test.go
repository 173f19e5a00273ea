package pipeline

import "testing"

// TestAggregatorCountsRecords checks the count of records of a window's
// accumulator: kept in N, added by Add and Merge, and read together with
// the count a cell held in state written before N existed.
func TestAggregatorCountsRecords(t *testing.T) {
	count := &aggregate{field: "n", kind: aggCount}
	sum := &aggregate{field: "s", kind: aggSum, arg: &Expr{Source: "x"}}
	tests := []struct {
		name string
		aggs []*aggregate
		acc  winAcc // before the adds
		adds int
		want int64
	}{
		{"count only, fresh", []*aggregate{count}, winAcc{}, 3, 3},
		{"count only, a cell's count from older state", []*aggregate{count}, winAcc{C: []cell{{N: 5}}}, 2, 7},
		{"count beside sum, fresh", []*aggregate{count, sum}, winAcc{}, 4, 4},
		{"count beside sum, older state", []*aggregate{count, sum}, winAcc{C: []cell{{N: 2}, {N: 2, I: 10}}}, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newAggregator(tt.aggs)
			acc := tt.acc
			for range tt.adds {
				v := winIn{Vals: make([]scalar, len(tt.aggs))}
				for i := range v.Vals {
					v.Vals[i] = scalar{K: sInt, I: 1}
				}
				acc = g.Add(v, acc)
			}
			rec := Record{}
			g.values(acc, rec)
			if rec["n"] != tt.want {
				t.Errorf("count after adding %d: %v, want %d", tt.adds, rec["n"], tt.want)
			}
			// Merging with an empty accumulator keeps the count; merging
			// with itself doubles it.
			for _, m := range []struct {
				acc  winAcc
				want int64
			}{{g.Merge(acc, g.CreateAccumulator()), tt.want}, {g.Merge(g.CreateAccumulator(), acc), tt.want}, {g.Merge(acc, acc), 2 * tt.want}} {
				rec := Record{}
				g.values(m.acc, rec)
				if rec["n"] != m.want {
					t.Errorf("count after a merge: %v, want %d", rec["n"], m.want)
				}
			}
		})
	}
}
