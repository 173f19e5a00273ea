package state_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/statetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestMain checks that no test leaves a goroutine behind: the conformance
// suite writes snapshots on goroutines of its own.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemory(t *testing.T) {
	statetest.Run(t, func(t *testing.T, cfg state.Config) state.Backend {
		b, err := state.NewMemory(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, statetest.Capabilities{EntryOrder: statetest.ArrivalOrder})
}

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func config(kgs state.KeyGroupRange, subtask, p int) state.Config {
	return state.Config{
		OperatorID:     "golden-op",
		KeyGroups:      kgs,
		MaxParallelism: 8,
		Subtask:        subtask,
		Parallelism:    p,
		Clock:          func() time.Time { return epoch },
	}
}

func newMemory(t testing.TB, cfg state.Config) *state.Memory {
	t.Helper()
	b, err := state.NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenBackend builds a small state with every kind of table, with key
// groups given by hand, so the golden snapshot does not depend on hashing.
func goldenBackend(t testing.TB) *state.Memory {
	b := newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
	must(t, err)
	must(t, v.Put(3, "b", struct{}{}, 2))
	must(t, v.Put(3, "a", struct{}{}, 1))
	must(t, v.Put(5, "c", struct{}{}, -1))
	l, err := state.NewList(b, state.TableDesc[string, int64, string]{Name: "buffer", Key: codec.String(), Namespace: codec.Int64(), Value: codec.String(), TTL: time.Hour})
	must(t, err)
	must(t, l.Add(1, "k", 100, "x"))
	must(t, l.Add(1, "k", 100, "y"))
	m, err := state.NewMap(b, state.MapDesc[string, struct{}, string, int64]{Name: "seen", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.Int64()})
	must(t, err)
	must(t, m.Put(7, "k", struct{}{}, "u2", 20))
	must(t, m.Put(7, "k", struct{}{}, "u1", 10))
	o, err := state.NewOperatorList(b, "offsets", state.Split, codec.String())
	must(t, err)
	must(t, o.Update([]string{"p0:42", "p1:7"}))
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func snapshotBytes(t testing.TB, b state.Backend) []byte {
	t.Helper()
	s, err := b.Snapshot()
	must(t, err)
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestGoldenSnapshot pins the snapshot format: a change to these bytes
// breaks every savepoint taken before it, so it must come with a new format
// version (and a golden file of its own: the older ones stay, read by
// TestGoldenSnapshotOlder). Run with -update to rewrite the file of the
// version writers write after such a change.
func TestGoldenSnapshot(t *testing.T) {
	got := snapshotBytes(t, goldenBackend(t))
	path := filepath.Join("testdata", "snapshot-v3.golden")
	if *update {
		must(t, os.MkdirAll("testdata", 0o755))
		must(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("snapshot bytes changed:\n got  %x\n want %x", got, want)
	}
	checkGoldenRestores(t, want)
}

// TestGoldenSnapshotOlder keeps snapshots written by versions 1 and 2 —
// without table layouts — restorable: each file restores, and the restored
// state is written again as exactly the version 3 golden file.
func TestGoldenSnapshotOlder(t *testing.T) {
	v3, err := os.ReadFile(filepath.Join("testdata", "snapshot-v3.golden"))
	must(t, err)
	for _, version := range []string{"v1", "v2"} {
		old, err := os.ReadFile(filepath.Join("testdata", "snapshot-"+version+".golden"))
		must(t, err)
		checkGoldenRestores(t, old)
		must(t, state.VerifySnapshot(state.BytesSnapshot(version, old)))
		for _, tc := range []struct {
			name string
			b    state.Backend
		}{
			{"memory", newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))},
			{"store", func() state.Backend { b, _ := newStoreBackend(t); return b }()},
		} {
			must(t, tc.b.Restore([]state.SnapshotFile{state.BytesSnapshot(version, old)}))
			fillGoldenTables(t, tc.b)
			if got := snapshotBytes(t, tc.b); !bytes.Equal(got, v3) {
				t.Errorf("%s: restored from %s, writes\n %x\nwant the version 3 golden bytes\n %x", tc.name, version, got, v3)
			}
		}
	}
}

// checkGoldenRestores restores a golden snapshot and reads a value of it.
func checkGoldenRestores(t *testing.T, snap []byte) {
	t.Helper()
	r := newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
	must(t, r.Restore([]state.SnapshotFile{state.BytesSnapshot("snapshot", snap)}))
	m, err := state.NewMap(r, state.MapDesc[string, struct{}, string, int64]{Name: "seen", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.Int64()})
	must(t, err)
	if v, ok, err := m.Get(7, "k", struct{}{}, "u2"); err != nil || !ok || v != 20 {
		t.Fatalf("restored seen[k][u2] = %d, %v, %v", v, ok, err)
	}
}

// TestDecodeErrorsSayWhere checks that a codec that cannot read what was
// written is reported with the table, key group and byte offset.
func TestDecodeErrorsSayWhere(t *testing.T) {
	snap := snapshotBytes(t, goldenBackend(t))
	r := newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
	must(t, r.Restore([]state.SnapshotFile{state.BytesSnapshot("snapshot", snap)}))
	// Reading strings as int64s fails on "b" (1 length byte + 1 byte). The
	// key codec hides its layout, which would refuse the change before
	// anything is decoded.
	_, err := state.NewValue(r, state.TableDesc[int64, struct{}, int64]{Name: "count", Key: opaque[int64]{codec.Int64()}, Namespace: codec.Unit(), Value: codec.Int64()})
	var fe *state.FormatError
	if !errors.As(err, &fe) || fe.Table != "count" || fe.KeyGroup != 3 || fe.Offset <= 0 || !errors.Is(err, codec.ErrShort) {
		t.Fatalf("NewValue with the wrong key codec: %v (%#v)", err, fe)
	}
	for _, want := range []string{`table "count"`, "key group 3", fmt.Sprintf("byte %d", fe.Offset), "key"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// The right codec still works afterwards.
	v, err := state.NewValue(r, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
	must(t, err)
	if x, ok, _ := v.Get(3, "b", struct{}{}); !ok || x != 2 {
		t.Fatalf("count[b] = %d, %v", x, ok)
	}
}

func TestClosed(t *testing.T) {
	b := goldenBackend(t)
	s, err := b.Snapshot()
	must(t, err)
	v, err := state.NewValue(b, state.TableDesc[string, struct{}, string]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: codec.String()})
	must(t, err)
	must(t, b.Close())
	must(t, b.Close())
	if err := v.Put(0, "k", struct{}{}, "x"); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
	if _, err := b.Snapshot(); !errors.Is(err, state.ErrClosed) {
		t.Errorf("Snapshot after Close: %v", err)
	}
	if _, err := state.NewList(b, state.TableDesc[string, struct{}, string]{Name: "l", Key: codec.String(), Namespace: codec.Unit(), Value: codec.String()}); !errors.Is(err, state.ErrClosed) {
		t.Errorf("NewList after Close: %v", err)
	}
	// A snapshot taken before Close is still whole.
	var buf bytes.Buffer
	if _, err := s.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), snapshotBytes(t, goldenBackend(t))) {
		t.Error("snapshot written after Close differs")
	}
}

// failingWriter fails after n bytes, as a full disk would.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteToError(t *testing.T) {
	s, err := goldenBackend(t).Snapshot()
	must(t, err)
	n, err := s.WriteTo(&failingWriter{n: 10})
	if err == nil || n != 10 {
		t.Fatalf("WriteTo on a failing writer = %d, %v", n, err)
	}
}

// FuzzRestore feeds Restore arbitrary bytes read as version 1 (whole
// files; FuzzRestoreV2 fuzzes the index reader): it must fail cleanly, never
// panic or allocate without bound, and what it accepts must materialize
// without panicking either. The input is the snapshot without its checksum,
// which the test appends, so that the fuzzer reaches the parser instead of
// stopping at the checksum almost every time.
func FuzzRestore(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "snapshot-v1.golden"))
	must(f, err)
	f.Add(golden[:len(golden)-4])
	f.Add([]byte("WEIRSNAP"))
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(slices.Clip(body), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
		b := newMemory(t, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
		if err := b.Restore([]state.SnapshotFile{state.BytesSnapshot("snapshot", data)}); err != nil {
			var fe *state.FormatError
			if !errors.As(err, &fe) && !strings.HasPrefix(err.Error(), "state: restore:") {
				t.Fatalf("Restore error is neither a FormatError nor a restore error: %v", err)
			}
			return
		}
		if v, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()}); err == nil {
			v.Len()
		}
		if l, err := state.NewList(b, state.TableDesc[string, int64, string]{Name: "buffer", Key: codec.String(), Namespace: codec.Int64(), Value: codec.String(), TTL: time.Hour}); err == nil {
			l.Len()
		}
		if m, err := state.NewMap(b, state.MapDesc[string, struct{}, string, int64]{Name: "seen", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.Int64()}); err == nil {
			m.Len()
		}
		if o, err := state.NewOperatorList(b, "offsets", state.Split, codec.String()); err == nil {
			o.Get()
		}
		// Whatever was accepted snapshots again.
		snapshotBytes(t, b)
	})
}

// BenchmarkMemoryValuePutGet measures one Put and one Get on a value table
// with string keys and no namespace; BenchmarkMapBaseline does the same on
// a plain map[string]int64, the cost the backend should stay close to. The
// small key set fits in cache and shows the backend's own overhead; the
// large one is dominated by cache misses, as big state is.
func BenchmarkMemoryValuePutGet(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			be := newMemory(b, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
			v, err := state.NewValue(be, state.TableDesc[string, struct{}, int64]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
			must(b, err)
			keys, kgs := benchKeys(n)
			for i := 0; b.Loop(); i++ {
				j := i & (n - 1)
				if err := v.Put(kgs[j], keys[j], struct{}{}, int64(i)); err != nil {
					b.Fatal(err)
				}
				if _, ok, _ := v.Get(kgs[j], keys[j], struct{}{}); !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}

func BenchmarkMapBaseline(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			m := make(map[string]int64)
			keys, _ := benchKeys(n)
			for i := 0; b.Loop(); i++ {
				j := i & (n - 1)
				m[keys[j]] = int64(i)
				if _, ok := m[keys[j]]; !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}

var benchSizes = []int{1 << 10, 1 << 16}

// BenchmarkMemoryValuePutGetTTL is the same with a TTL, which adds a clock
// read to every call.
func BenchmarkMemoryValuePutGetTTL(b *testing.B) {
	cfg := config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1)
	cfg.Clock = nil
	be := newMemory(b, cfg)
	v, err := state.NewValue(be, state.TableDesc[string, struct{}, int64]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64(), TTL: time.Hour})
	must(b, err)
	keys, kgs := benchKeys(1 << 10)
	for i := 0; b.Loop(); i++ {
		j := i & (len(keys) - 1)
		if err := v.Put(kgs[j], keys[j], struct{}{}, int64(i)); err != nil {
			b.Fatal(err)
		}
		if _, ok, _ := v.Get(kgs[j], keys[j], struct{}{}); !ok {
			b.Fatal("missing")
		}
	}
}

// BenchmarkMemorySnapshotCOW measures the steady state with a checkpoint
// every 10,000 writes to 64 Ki keys: Snapshot itself plus what the writes
// pay for it. "released": each snapshot is released after 5,000 writes, as
// its writer does once it is written out; "held": never released, so each
// is held until it is garbage.
func BenchmarkMemorySnapshotCOW(b *testing.B) {
	for _, c := range []struct {
		name         string
		releaseAfter int
	}{{"released", 5000}, {"held", -1}} {
		b.Run(c.name, func(b *testing.B) {
			be := newMemory(b, config(state.KeyGroupRange{Start: 0, End: 8}, 0, 1))
			v, err := state.NewValue(be, state.TableDesc[string, struct{}, int64]{Name: "v", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()})
			must(b, err)
			keys, kgs := benchKeys(1 << 16)
			for j := range keys {
				must(b, v.Put(kgs[j], keys[j], struct{}{}, 0))
			}
			b.ReportAllocs()
			var s state.Snapshot
			for i := 0; b.Loop(); i++ {
				if i%10000 == 0 {
					if s, err = be.Snapshot(); err != nil {
						b.Fatal(err)
					}
				}
				if i%10000 == c.releaseAfter {
					if r, ok := s.(interface{ Release() }); ok {
						r.Release()
					}
				}
				j := i & (len(keys) - 1)
				if err := v.Put(kgs[j], keys[j], struct{}{}, int64(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchKeys returns n keys spread over 8 key groups.
func benchKeys(n int) ([]string, []int) {
	keys := make([]string, n)
	kgs := make([]int, len(keys))
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%08d", i)
		kgs[i] = i % 8
	}
	return keys, kgs
}
