package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

const rangeMaxPar = 128

var rangeDesc = state.TableDesc[string, struct{}, string]{Name: "kv", Key: codec.String(), Namespace: codec.Unit(), Value: codec.String()}

func rangeConfig(i, p, workers int) state.Config {
	return state.Config{
		OperatorID:     "range-op",
		KeyGroups:      keygroup.RangeFor(rangeMaxPar, p, i),
		MaxParallelism: rangeMaxPar,
		Subtask:        i,
		Parallelism:    p,
		RestoreWorkers: workers,
	}
}

// rangeValue is the value of key k; key group 10's values carry a marker
// that a test can find in the snapshot's bytes.
func rangeValue(k int) string {
	if k%rangeMaxPar == 10 {
		return fmt.Sprintf("MARKER-%04d-%s", k, strings.Repeat("m", 40))
	}
	return fmt.Sprintf("value-%04d-%s", k, strings.Repeat("v", 40))
}

// rangeSnapshot is the snapshot of subtask i of p holding, of the keys
// 0 … n-1, those in its key groups (key k in key group k mod 128), and an
// operator list.
func rangeSnapshot(t *testing.T, n, i, p int) []byte {
	t.Helper()
	b := newMemory(t, rangeConfig(i, p, 0))
	v, err := state.NewValue(b, rangeDesc)
	must(t, err)
	for k := range n {
		if kg := k % rangeMaxPar; b.Config().KeyGroups.Contains(kg) {
			must(t, v.Put(kg, fmt.Sprint("key-", k), struct{}{}, rangeValue(k)))
		}
	}
	o, err := state.NewOperatorList(b, "offsets", state.Split, codec.String())
	must(t, err)
	must(t, o.Update([]string{fmt.Sprint("offset-", i)}))
	return snapshotBytes(t, b)
}

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// restoreRange restores subtask i of p from snaps, creates the table and
// checks it holds exactly the keys of its key groups; it returns the bytes
// read from each snapshot.
func restoreRange(t *testing.T, n, i, p, workers int, snaps ...[]byte) []int64 {
	t.Helper()
	b := newMemory(t, rangeConfig(i, p, workers))
	var files []state.SnapshotFile
	var counters []*countingReaderAt
	for j, s := range snaps {
		c := &countingReaderAt{r: bytes.NewReader(s)}
		counters = append(counters, c)
		files = append(files, state.SnapshotFile{Name: fmt.Sprintf("snap-%d", j), R: c, Size: int64(len(s))})
	}
	must(t, b.Restore(files))
	v, err := state.NewValue(b, rangeDesc)
	must(t, err)
	want := 0
	for k := range n {
		kg := k % rangeMaxPar
		if !b.Config().KeyGroups.Contains(kg) {
			continue
		}
		want++
		got, ok, err := v.Get(kg, fmt.Sprint("key-", k), struct{}{})
		if err != nil || !ok || got != rangeValue(k) {
			t.Fatalf("subtask %d of %d: key-%d = %q, %v, %v; want %q", i, p, k, got, ok, err, rangeValue(k))
		}
	}
	if v.Len() != want {
		t.Fatalf("subtask %d of %d: %d entries, want %d", i, p, v.Len(), want)
	}
	var read []int64
	for _, c := range counters {
		read = append(read, c.n.Load())
	}
	return read
}

// TestRestoreReadsOwnedRanges checks that a subtask reads of a snapshot
// the key groups it owns and little else: half of a snapshot of one
// subtask when it is one of two, none of the sections of the other old
// subtask's snapshot when two become two, all of both when they become
// one.
func TestRestoreReadsOwnedRanges(t *testing.T) {
	const n = 128 * 40
	p1 := rangeSnapshot(t, n, 0, 1)
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			all := restoreRange(t, n, 0, 1, workers, p1)[0]
			if all < int64(len(p1))*9/10 || all > int64(len(p1)) {
				t.Errorf("p1 to p1 read %d of %d bytes, want nearly all", all, len(p1))
			}
			for i := range 2 {
				got := restoreRange(t, n, i, 2, workers, p1)[0]
				if lo, hi := int64(len(p1))*4/10, int64(len(p1))*6/10; got < lo || got > hi {
					t.Errorf("p1 to subtask %d of 2 read %d of %d bytes, want about half (%d to %d)", i, got, len(p1), lo, hi)
				}
			}
			p2 := [][]byte{rangeSnapshot(t, n, 0, 2), rangeSnapshot(t, n, 1, 2)}
			read := restoreRange(t, n, 1, 2, workers, p2...)
			// Subtask 1 needs no section of old subtask 0's snapshot: only
			// its footer, index, head and operator list.
			if read[0] > int64(len(p2[0]))/10 {
				t.Errorf("p2 to subtask 1 of 2 read %d of old subtask 0's %d bytes, want only its index and head", read[0], len(p2[0]))
			}
			if read[1] < int64(len(p2[1]))*9/10 {
				t.Errorf("p2 to subtask 1 of 2 read %d of old subtask 1's %d bytes, want nearly all", read[1], len(p2[1]))
			}
			read = restoreRange(t, n, 0, 1, workers, p2...)
			for j, r := range read {
				if r < int64(len(p2[j]))*9/10 {
					t.Errorf("p2 to p1 read %d of snapshot %d's %d bytes, want nearly all", r, j, len(p2[j]))
				}
			}
		})
	}
}

// TestRestoreDamagedKeyGroup flips a byte inside key group 10's section: a
// subtask that does not own key group 10 restores all its state, one that
// owns it fails with an error naming the file, the table, the key group
// and the offset.
func TestRestoreDamagedKeyGroup(t *testing.T) {
	const n = 128 * 40
	snap := rangeSnapshot(t, n, 0, 1)
	at := bytes.Index(snap, []byte("MARKER-"))
	if at < 0 {
		t.Fatal("no marker in the snapshot")
	}
	bad := bytes.Clone(snap)
	bad[at+3] ^= 0x20
	for _, workers := range []int{1, 4} {
		// Key group 10 belongs to subtask 0 of 2.
		restoreRange(t, n, 1, 2, workers, bad)
		for _, p := range []int{1, 2} {
			b := newMemory(t, rangeConfig(0, p, workers))
			err := b.Restore([]state.SnapshotFile{state.BytesSnapshot("op-0.state", bad)})
			var fe *state.FormatError
			if !errors.As(err, &fe) || !errors.Is(err, state.ErrChecksum) || fe.KeyGroup != 10 || fe.Table != "kv" || fe.File != "op-0.state" || fe.Offset <= 0 || fe.Offset > int64(at) {
				t.Fatalf("workers %d: subtask 0 of %d restoring a damaged key group 10: %v (%#v)", workers, p, err, fe)
			}
			for _, want := range []string{"op-0.state", `table "kv"`, "key group 10", fmt.Sprintf("byte %d", fe.Offset), "checksum"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			// Nothing was kept: the backend restores the whole snapshot.
			must(t, b.Restore([]state.SnapshotFile{state.BytesSnapshot("op-0.state", snap)}))
		}
	}
}

// TestRestoreV1ReadsWhole checks that a version 1 snapshot, which has no
// index, still restores into a subset of its key groups, read whole.
func TestRestoreV1ReadsWhole(t *testing.T) {
	v1, err := os.ReadFile(filepath.Join("testdata", "snapshot-v1.golden"))
	must(t, err)
	c := &countingReaderAt{r: bytes.NewReader(v1)}
	b := newMemory(t, config(state.KeyGroupRange{Start: 4, End: 8}, 1, 2))
	must(t, b.Restore([]state.SnapshotFile{{Name: "v1", R: c, Size: int64(len(v1))}}))
	if c.n.Load() < int64(len(v1)) {
		t.Errorf("read %d of the %d bytes of a version 1 snapshot", c.n.Load(), len(v1))
	}
	m, err := state.NewMap(b, state.MapDesc[string, struct{}, string, int64]{Name: "seen", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.Int64()})
	must(t, err)
	if v, ok, err := m.Get(7, "k", struct{}{}, "u1"); err != nil || !ok || v != 10 {
		t.Fatalf("restored seen[k][u1] = %d, %v, %v", v, ok, err)
	}
	if _, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()}); err != nil {
		t.Fatal(err)
	}
}

// FuzzRestoreV2 feeds the version 2 reader damaged snapshots with the
// checksums of their ranges ignored, so that the fuzzer reaches the index,
// head and section parsing: Restore, into all key groups and into half,
// must fail cleanly or give state that materializes and snapshots again.
func FuzzRestoreV2(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "snapshot-v2.golden"))
	must(f, err)
	f.Add(golden)
	v3, err := os.ReadFile(filepath.Join("testdata", "snapshot-v3.golden"))
	must(f, err)
	f.Add(v3)
	f.Add(append(slices.Clone(golden[:len(golden)-25]), golden[len(golden)-20:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer state.SkipRangeChecksums()()
		for _, kgs := range []state.KeyGroupRange{{Start: 0, End: 8}, {Start: 4, End: 8}} {
			b := newMemory(t, config(kgs, min(kgs.Start, 1), 1+min(kgs.Start, 1)))
			if err := b.Restore([]state.SnapshotFile{state.BytesSnapshot("fuzz", data)}); err != nil {
				var fe *state.FormatError
				if !errors.As(err, &fe) && !strings.HasPrefix(err.Error(), "state: restore:") {
					t.Fatalf("Restore error is neither a FormatError nor a restore error: %v", err)
				}
				continue
			}
			if v, err := state.NewValue(b, state.TableDesc[string, struct{}, int64]{Name: "count", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64()}); err == nil {
				v.Len()
			}
			if m, err := state.NewMap(b, state.MapDesc[string, struct{}, string, int64]{Name: "seen", Key: codec.String(), Namespace: codec.Unit(), UserKey: codec.String(), Value: codec.Int64()}); err == nil {
				m.Len()
			}
			snapshotBytes(t, b)
		}
	})
}

// TestVerifySnapshot checks that VerifySnapshot accepts the snapshots
// writers write and the golden files of both versions, and that it finds
// every flipped byte of a version 2 snapshot, including those a restore
// never reads (table headers, section prefixes, the checksum after the
// tables), and a cut anywhere.
func TestVerifySnapshot(t *testing.T) {
	for _, name := range []string{"snapshot-v1.golden", "snapshot-v2.golden", "snapshot-v3.golden"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		must(t, err)
		must(t, state.VerifySnapshot(state.BytesSnapshot(name, data)))
	}
	snap := rangeSnapshot(t, 32, 0, 1)
	must(t, state.VerifySnapshot(state.BytesSnapshot("snap", snap)))
	for i := range snap {
		bad := bytes.Clone(snap)
		bad[i] ^= 0x01
		err := state.VerifySnapshot(state.BytesSnapshot("snap", bad))
		var fe *state.FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("byte %d of %d flipped: VerifySnapshot = %v, want a *state.FormatError", i, len(snap), err)
		}
	}
	for _, n := range []int{0, 10, len(snap) / 2, len(snap) - 21, len(snap) - 1} {
		if err := state.VerifySnapshot(state.BytesSnapshot("snap", snap[:n])); err == nil {
			t.Errorf("cut at %d of %d bytes: no error", n, len(snap))
		}
	}
	if err := state.VerifySnapshot(state.BytesSnapshot("snap", append(bytes.Clone(snap), 0))); err == nil {
		t.Error("a byte after the footer: no error")
	}
}

// panicCodec is a string codec whose Decode panics on values of key group
// 10, as a codec written by a user might on data it does not expect.
type panicCodec struct{}

func (panicCodec) Append(dst []byte, v string) []byte { return codec.String().Append(dst, v) }

func (panicCodec) Decode(src []byte) (string, int, error) {
	v, n, err := codec.String().Decode(src)
	if strings.HasPrefix(v, "MARKER-") {
		panic("panicCodec: " + v)
	}
	return v, n, err
}

// TestRestorePanicOnCaller checks that a codec panicking while key groups
// are decoded on several goroutines panics on the goroutine that creates
// the table, where the task recovers it, and not on a worker, which would
// end the process.
func TestRestorePanicOnCaller(t *testing.T) {
	snap := rangeSnapshot(t, 128*4, 0, 1)
	b := newMemory(t, rangeConfig(0, 1, 4))
	must(t, b.Restore([]state.SnapshotFile{state.BytesSnapshot("snap", snap)}))
	defer func() {
		p := recover()
		if s, ok := p.(string); !ok || !strings.Contains(s, "panicCodec: MARKER-") {
			t.Fatalf("recovered %v, want the codec's panic", p)
		}
	}()
	state.NewValue(b, state.TableDesc[string, struct{}, string]{Name: "kv", Key: codec.String(), Namespace: codec.Unit(), Value: panicCodec{}})
	t.Fatal("NewValue with a panicking codec returned")
}
