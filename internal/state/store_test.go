package state_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/bytesmem"
)

// faultyStore fails the operation named in fail, and can put a raw entry
// behind the backend's back.
type faultyStore struct {
	*bytesmem.Store
	fail string
}

var errDisk = errors.New("disk on fire")

func (s *faultyStore) Set(k, v []byte) error {
	if s.fail == "set" {
		return errDisk
	}
	return s.Store.Set(k, v)
}

func (s *faultyStore) Scan(p []byte, fn func(k, v []byte) bool) error {
	if s.fail == "scan" {
		return errDisk
	}
	return s.Store.Scan(p, fn)
}

func newStoreBackend(t *testing.T) (*state.StoreBackend, *faultyStore) {
	t.Helper()
	fs := &faultyStore{Store: bytesmem.New()}
	b, err := state.NewStoreBackend(config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1), fs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, fs
}

// A Store's errors come back from the table call, naming the table and
// the key group; one met inside an iterator, which cannot return it, fails
// the next snapshot.
func TestStoreBackendErrorsNameTableAndKeyGroup(t *testing.T) {
	b, fs := newStoreBackend(t)
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
	must(t, err)
	must(t, v.Put(3, "a", struct{}{}, 1))
	fs.fail = "set"
	err = v.Put(5, "b", struct{}{}, 2)
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), `table "count"`) || !strings.Contains(err.Error(), "key group 5") {
		t.Fatalf("Put on a failing store = %v; want the store's error naming the table and key group", err)
	}
	fs.fail = "scan"
	for range v.Keys(struct{}{}) {
		t.Fatal("Keys yielded from a failing store")
	}
	fs.fail = ""
	if _, err := b.Snapshot(); !errors.Is(err, errDisk) {
		t.Fatalf("Snapshot after a failed iteration = %v; want the iteration's error", err)
	}
}

// A snapshot can be written again until it is released, and not after.
func TestStoreSnapshotRelease(t *testing.T) {
	b, _ := newStoreBackend(t)
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
	must(t, err)
	must(t, v.Put(3, "a", struct{}{}, 1))
	s, err := b.Snapshot()
	must(t, err)
	var one, two bytes.Buffer
	_, err = s.WriteTo(&one)
	must(t, err)
	_, err = s.WriteTo(&two)
	must(t, err)
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Fatal("a snapshot written twice gave different bytes")
	}
	r, ok := s.(interface{ Release() })
	if !ok {
		t.Fatal("a store backend's snapshot has no Release")
	}
	r.Release()
	r.Release()
	if _, err := s.WriteTo(&two); err == nil {
		t.Fatal("a released snapshot was written")
	}
}

// The memory backend and a store backend write the same bytes for the
// same state: the golden snapshot restores into a store backend and is
// written back unchanged.
func TestStoreBackendWritesTheGoldenBytes(t *testing.T) {
	golden := snapshotBytes(t, goldenBackend(t))
	b, _ := newStoreBackend(t)
	must(t, b.Restore([]state.SnapshotFile{state.BytesSnapshot("snapshot", golden)}))
	fillGoldenTables(t, b)
	if got := snapshotBytes(t, b); !bytes.Equal(got, golden) {
		t.Fatalf("a store backend restored from the golden snapshot writes %d different bytes; want the %d it read", len(got), len(golden))
	}
}

// fillGoldenTables creates the tables of goldenBackend on b, so that a
// restored b holds them as tables of its own.
func fillGoldenTables(t *testing.T, b state.Backend) {
	t.Helper()
	_, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
	must(t, err)
	_, err = state.NewList(b, state.TableDesc[string, int64, string]{Name: "buffer", Key: codec.String(), Namespace: codec.Int64(), Value: codec.String(), TTL: time.Hour})
	must(t, err)
	_, err = state.NewMap(b, state.MapDesc[string, struct{}, string, int64]{Name: "seen", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.Int64()})
	must(t, err)
	_, err = state.NewOperatorList(b, "offsets", state.Split, codec.String())
	must(t, err)
}
