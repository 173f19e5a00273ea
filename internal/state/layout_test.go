package state_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/state"
)

// opaque hides the layout of the codec it wraps, as a codec written by
// hand has none.
type opaque[T any] struct{ codec.Codec[T] }

type block struct {
	Hash   string
	Height int64
}

type blockAdded struct {
	Height int64
	Hash   string
	Seen   []string
	At     time.Time
}

type blockRemoved struct {
	Height int64
}

type blockChanged struct {
	Hash   string
	Height string
}

type blockKey struct{ ID int32 }

var backends = []struct {
	name string
	new  func(t *testing.T) state.Backend
}{
	{"memory", func(t *testing.T) state.Backend {
		return newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
	}},
	{"store", func(t *testing.T) state.Backend { b, _ := newStoreBackend(t); return b }},
}

// oldState writes a value, a list, a map and an operator list of blocks.
func oldState(t *testing.T, b state.Backend) []byte {
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, block]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: codec.MustFor[block](), TTL: time.Hour})
	must(t, err)
	must(t, v.Put(3, "a", struct{}{}, block{"h1", 41}))
	l, err := state.NewList(b, state.TableDesc[string, struct{}, block]{Name: "l", Key: codec.String(), Namespace: codec.Unit(), Value: codec.MustFor[block]()})
	must(t, err)
	must(t, l.Add(3, "a", struct{}{}, block{"h2", 42}))
	must(t, l.Add(3, "a", struct{}{}, block{"h3", 43}))
	m, err := state.NewMap(b, state.MapDesc[string, struct{}, string, block]{Name: "m", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.MustFor[block]()})
	must(t, err)
	must(t, m.Put(5, "a", struct{}{}, "u", block{"h4", 44}))
	o, err := state.NewOperatorList(b, "o", state.Split, codec.MustFor[block]())
	must(t, err)
	must(t, o.Update([]block{{"h5", 45}}))
	return snapshotBytes(t, b)
}

// restoreAs restores snap and creates its tables with values of type V.
func restoreAs[V any](t *testing.T, b state.Backend, snap []byte) ([]V, error) {
	must(t, b.Restore([]state.SnapshotFile{state.BytesSnapshot("snap", snap)}))
	c := codec.MustFor[V]()
	var got []V
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, V]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: c, TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	x, _, err := v.Get(3, "a", struct{}{})
	must(t, err)
	got = append(got, x)
	l, err := state.NewList(b, state.TableDesc[string, struct{}, V]{Name: "l", Key: codec.String(), Namespace: codec.Unit(), Value: c})
	if err != nil {
		return nil, err
	}
	xs, err := l.Get(3, "a", struct{}{})
	must(t, err)
	got = append(got, xs...)
	m, err := state.NewMap(b, state.MapDesc[string, struct{}, string, V]{Name: "m", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: c})
	if err != nil {
		return nil, err
	}
	x, _, err = m.Get(5, "a", struct{}{}, "u")
	must(t, err)
	got = append(got, x)
	o, err := state.NewOperatorList(b, "o", state.Split, c)
	if err != nil {
		return nil, err
	}
	os, err := o.Get()
	must(t, err)
	return append(got, os...), nil
}

// A restore into tables whose value struct gained or lost fields carries
// the values over: an added field is zero, a removed one is dropped. The
// snapshot taken next carries the new layout.
func TestRestoreMigratesChangedStruct(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			snap := oldState(t, be.new(t))
			added := be.new(t)
			got, err := restoreAs[blockAdded](t, added, snap)
			must(t, err)
			want := []blockAdded{{Height: 41, Hash: "h1"}, {Height: 42, Hash: "h2"}, {Height: 43, Hash: "h3"}, {Height: 44, Hash: "h4"}, {Height: 45, Hash: "h5"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("restored with an added field: %+v, want %+v", got, want)
			}
			// Restoring the new snapshot as the new type needs no migration.
			again, err := restoreAs[blockAdded](t, be.new(t), snapshotBytes(t, added))
			must(t, err)
			if !reflect.DeepEqual(again, want) {
				t.Fatalf("restored again: %+v, want %+v", again, want)
			}

			got2, err := restoreAs[blockRemoved](t, be.new(t), snap)
			must(t, err)
			want2 := []blockRemoved{{41}, {42}, {43}, {44}, {45}}
			if !reflect.DeepEqual(got2, want2) {
				t.Fatalf("restored with a removed field: %+v, want %+v", got2, want2)
			}
		})
	}
}

// A field whose type changed cannot be carried over: the restore fails,
// naming the table and the field, instead of misreading the bytes.
func TestRestoreRefusesChangedFieldType(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			snap := oldState(t, be.new(t))
			_, err := restoreAs[blockChanged](t, be.new(t), snap)
			if err == nil {
				t.Fatal("restored a struct whose field changed type")
			}
			for _, want := range []string{`table "v"`, "field Height changed type from int64 to string"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// Keys cannot migrate: their bytes place them in key groups.
func TestRestoreRefusesChangedKeyType(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			v, err := state.NewValue(b, state.TableDesc[blockKey, struct{}, int64]{Name: "k", Key: codec.MustFor[blockKey](), Namespace: codec.Unit(), Value: codec.Int64()})
			must(t, err)
			must(t, v.Put(1, blockKey{7}, struct{}{}, 1))
			snap := snapshotBytes(t, b)
			r := be.new(t)
			must(t, r.Restore([]state.SnapshotFile{state.BytesSnapshot("snap", snap)}))
			_, err = state.NewValue(r, state.TableDesc[struct{ ID, Shard int32 }, struct{}, int64]{Name: "k", Key: codec.MustFor[struct{ ID, Shard int32 }](), Namespace: codec.Unit(), Value: codec.Int64()})
			if err == nil || !strings.Contains(err.Error(), `table "k": the key type changed from struct{ID int32} to struct{ID int32; Shard int32}`) {
				t.Fatalf("restore with a changed key type: %v", err)
			}
		})
	}
}

// A codec without a layout restores as before layouts existed: the bytes
// are decoded as they are.
func TestRestoreWithoutLayoutDecodesAsWritten(t *testing.T) {
	b := newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: opaque[int64]{codec.Int64()}})
	must(t, err)
	must(t, v.Put(1, "a", struct{}{}, 5))
	snap := snapshotBytes(t, b)
	r := newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
	must(t, r.Restore([]state.SnapshotFile{state.BytesSnapshot("snap", snap)}))
	u, err := state.NewValue(r, state.TableDesc[string, struct{}, uint64]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Uint64()})
	must(t, err)
	if x, ok, err := u.Get(1, "a", struct{}{}); err != nil || !ok || x != 1<<63+5 {
		t.Fatalf("read back as uint64: %d, %v, %v", x, ok, err)
	}
}
