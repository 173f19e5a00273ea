package state

import (
	"reflect"
	"testing"

	"github.com/weirstream/weir/codec"
)

func identity(m any) uintptr { return reflect.ValueOf(m).Pointer() }

// The suite checks that snapshots are isolated; this checks that the
// isolation costs what the design says: only the key groups and nested
// maps written after a snapshot are cloned, once each.
func TestCopyOnWriteGranularity(t *testing.T) {
	b, err := NewMemory(Config{KeyGroups: KeyGroupRange{Start: 0, End: 4}, MaxParallelism: 4, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMap(b, MapDesc[string, string, string, string]{Name: "m", Key: codec.String(), Namespace: codec.String(), UserKey: codec.String(), Value: codec.String()})
	if err != nil {
		t.Fatal(err)
	}
	for kg := range 4 {
		for _, k := range []string{"a", "b"} {
			if err := m.Put(kg, k, "", "u", "v"); err != nil {
				t.Fatal(err)
			}
		}
	}
	mt := m.(*memMap[string, string, string, string])
	groups := func() (ids []uintptr) {
		for _, g := range mt.groups {
			ids = append(ids, identity(g.m))
		}
		return ids
	}
	nestedOf := func(kg int, k string) uintptr { return identity(mt.groups[kg].m[ck[string, string]{"", k}].m) }

	before := groups()
	beforeA, beforeB := nestedOf(2, "a"), nestedOf(2, "b")
	if _, err := b.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if got := groups(); !reflect.DeepEqual(got, before) {
		t.Fatal("Snapshot itself cloned key groups")
	}
	if err := m.Put(2, "a", "", "u", "w"); err != nil {
		t.Fatal(err)
	}
	after := groups()
	for kg := range 4 {
		if cloned := after[kg] != before[kg]; cloned != (kg == 2) {
			t.Errorf("key group %d cloned = %v after a write to key group 2", kg, cloned)
		}
	}
	if nestedOf(2, "a") == beforeA || nestedOf(2, "b") != beforeB {
		t.Error("only the nested map written to should be cloned")
	}
	// A second write in the same epoch clones nothing more.
	nestedA := nestedOf(2, "a")
	if err := m.Put(2, "a", "", "u2", "x"); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(2, "c", "", "u", "x"); err != nil {
		t.Fatal(err)
	}
	if got := groups(); !reflect.DeepEqual(got, after) || nestedOf(2, "a") != nestedA {
		t.Error("a second write after the same snapshot cloned again")
	}
}
