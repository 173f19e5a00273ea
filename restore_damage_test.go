package weir_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// readRecorder records the ranges read through it.
type readRecorder struct {
	r  io.ReaderAt
	mu sync.Mutex
	// ranges are [offset, end) pairs.
	ranges [][2]int64
}

func (rr *readRecorder) ReadAt(p []byte, off int64) (int, error) {
	n, err := rr.r.ReadAt(p, off)
	rr.mu.Lock()
	rr.ranges = append(rr.ranges, [2]int64{off, off + int64(n)})
	rr.mu.Unlock()
	return n, err
}

// rangesRead restores subtask i of p from a state file written by one
// subtask and returns the byte ranges the restore read.
func rangesRead(t *testing.T, data []byte, i, p int) [][2]int64 {
	t.Helper()
	// The header: magic, version, then the operator ID.
	idLen, k := binary.Uvarint(data[9:])
	opID := string(data[9+k : 9+k+int(idLen)])
	b, err := state.NewMemory(state.Config{OperatorID: opID, KeyGroups: keygroup.RangeFor(keygroup.DefaultMaxParallelism, p, i),
		MaxParallelism: keygroup.DefaultMaxParallelism, Subtask: i, Parallelism: p})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rec := &readRecorder{r: bytes.NewReader(data)}
	if err := b.Restore([]state.SnapshotFile{{Name: "probe", R: rec, Size: int64(len(data))}}); err != nil {
		t.Fatal(err)
	}
	return rec.ranges
}

// A state file damaged inside a key group fails the restore of the
// subtask that owns the key group, with an error naming the file, the
// key group and the offset.
func TestRestoreNamesDamagedKeyGroup(t *testing.T) {
	dir := t.TempDir()
	var opts []weir.Option
	if os.Getenv("WEIR_STATE_BACKEND") == "pebble" {
		// The test damages a state file in the snapshot format, which
		// incremental checkpoints keep only operator lists in.
		opts = append(opts, weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{FullCheckpoints: true})))
	}
	env, _ := countJob(dir, 500, 1, 0, opts...)
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "chk-*", "count-?????"))
	if len(files) == 0 {
		t.Fatal("no state file of operator count")
	}
	file := files[len(files)-1]
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// A range that subtask 0 of 2 reads and subtask 1 does not is one of
	// its key groups' sections.
	other := rangesRead(t, data, 1, 2)
	var section [2]int64
	for _, r := range rangesRead(t, data, 0, 2) {
		if !slices.Contains(other, r) && r[1]-r[0] > section[1]-section[0] {
			section = r
		}
	}
	if section[1] == section[0] {
		t.Fatal("subtask 0 of 2 reads no range of its own: no key group of it has state")
	}
	data[(section[0]+section[1])/2] ^= 0x10
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	env, _ = countJob(dir, 500, 2, 0, append(opts, weir.Restore(filepath.Dir(file)))...)
	err = env.Run(context.Background())
	var fe *state.FormatError
	if !errors.As(err, &fe) || !errors.Is(err, state.ErrChecksum) || fe.KeyGroup < 0 || fe.KeyGroup >= 64 || fe.Offset != section[0] {
		t.Fatalf("restore at parallelism 2 with a damaged key group of subtask 0: %v; want a checksum error at byte %d of a key group below 64", err, section[0])
	}
	if !strings.Contains(err.Error(), filepath.Base(file)) || !strings.Contains(err.Error(), "key group") {
		t.Errorf("error %q does not name the file %s and the key group", err, filepath.Base(file))
	}
}
