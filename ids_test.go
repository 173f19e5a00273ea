package weir

import (
	"slices"
	"testing"
)

func buildIDs(t *testing.T, extraBranch bool) []string {
	t.Helper()
	env := New()
	src := From(env, Slice(1, 2, 3))
	m := Map(src, func(v int) int { return v + 1 })
	Collect(m.Filter(func(v int) bool { return v > 1 }))
	if extraBranch {
		Collect(Map(src, func(v int) string { return "x" }).Name("extra"))
	}
	Collect(Map(m, func(v int) int { return v * 2 }))
	if err := env.Validate(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range env.nodes {
		if n.name != "extra" && !(extraBranch && n.kind == "collect" && len(n.inputs) == 1 && n.inputs[0].from.name == "extra") {
			ids = append(ids, n.id)
		}
	}
	return ids
}

// The same program always gets the same operator IDs, and adding an
// unrelated branch does not change the IDs of the others.
func TestDerivedIDsAreDeterministic(t *testing.T) {
	a, b := buildIDs(t, false), buildIDs(t, false)
	if !slices.Equal(a, b) {
		t.Fatalf("same program, different IDs: %v and %v", a, b)
	}
	if c := buildIDs(t, true); !slices.Equal(a, c) {
		t.Fatalf("an extra branch changed the IDs: %v and %v", a, c)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(a)))) != len(a) {
		t.Fatalf("IDs are not unique: %v", a)
	}
}

// Validating a job twice (Plan, then Run) gives the same IDs: the exchange
// resolved for operators of different parallelism is not read back as the
// one the program declared.
func TestDerivedIDsSurviveValidateTwice(t *testing.T) {
	env := New()
	src := From(env, Slice(1, 2, 3))
	m := Map(src, func(v int) int { return v + 1 }).Parallelism(2)
	Collect(Map(m, func(v int) int { return v }).Parallelism(1))
	ids := func() []string {
		if err := env.Validate(); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range env.nodes {
			out = append(out, n.id)
		}
		return out
	}
	if a, b := ids(), ids(); !slices.Equal(a, b) {
		t.Fatalf("the second validation changed the IDs: %v and %v", a, b)
	}
}
