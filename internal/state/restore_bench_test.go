//go:build unix

package state_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// The restore benchmark builds a value table of restoreBenchKeys keys with
// values of about 100 bytes, writes it as the snapshot of one subtask and
// as the snapshots of two, and times restores at the same and at another
// parallelism. WEIR_RESTORE_KEYS sets the number of keys (default 1 M;
// 10 M is about 1 GB of encoded state).

const restoreBenchMaxPar = keygroup.DefaultMaxParallelism

var restoreBenchDesc = state.TableDesc[string, struct{}, string]{Name: "kv", Key: codec.String(), Namespace: codec.Unit(), Value: codec.String()}

func restoreBenchKeys() int {
	if s := os.Getenv("WEIR_RESTORE_KEYS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

func restoreBenchConfig(i, p int) state.Config {
	return state.Config{
		OperatorID:     "bench-op",
		KeyGroups:      keygroup.RangeFor(restoreBenchMaxPar, p, i),
		MaxParallelism: restoreBenchMaxPar,
		Subtask:        i,
		Parallelism:    p,
	}
}

// writeBenchSnapshots writes the snapshots of the p subtasks of a job
// holding n keys and returns their paths.
func writeBenchSnapshots(tb testing.TB, dir string, n, p int) []string {
	var paths []string
	value := make([]byte, 88)
	for j := range value {
		value[j] = byte('a' + j%26)
	}
	for i := range p {
		cfg := restoreBenchConfig(i, p)
		b, err := state.NewMemory(cfg)
		if err != nil {
			tb.Fatal(err)
		}
		t, err := state.NewValue(b, restoreBenchDesc)
		if err != nil {
			tb.Fatal(err)
		}
		for k := range n {
			kg := k % restoreBenchMaxPar
			if !cfg.KeyGroups.Contains(kg) {
				continue
			}
			copy(value, strconv.Itoa(k))
			if err := t.Put(kg, fmt.Sprintf("key-%010d", k), struct{}{}, string(value)); err != nil {
				tb.Fatal(err)
			}
		}
		s, err := b.Snapshot()
		if err != nil {
			tb.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("p%d-%d.state", p, i))
		f, err := os.Create(path)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := s.WriteTo(f); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
		b.Close()
		paths = append(paths, path)
		runtime.GC()
	}
	return paths
}

var restoreBench struct {
	once   sync.Once
	p1, p2 []string
	n      int
}

func benchFiles(b *testing.B) (p1, p2 []string, n int) {
	restoreBench.once.Do(func() {
		restoreBench.n = restoreBenchKeys()
		// WEIR_RESTORE_DIR keeps the snapshots between runs: they are
		// written there once per number of keys.
		dir := os.Getenv("WEIR_RESTORE_DIR")
		if dir == "" {
			dir = b.TempDir()
		}
		dir = filepath.Join(dir, strconv.Itoa(restoreBench.n))
		start := time.Now()
		if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
			restoreBench.p1 = []string{filepath.Join(dir, "p1-0.state")}
			restoreBench.p2 = []string{filepath.Join(dir, "p2-0.state"), filepath.Join(dir, "p2-1.state")}
		} else {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			restoreBench.p1 = writeBenchSnapshots(b, dir, restoreBench.n, 1)
			restoreBench.p2 = writeBenchSnapshots(b, dir, restoreBench.n, 2)
			if err := os.WriteFile(filepath.Join(dir, "done"), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		var size int64
		for _, p := range restoreBench.p1 {
			fi, _ := os.Stat(p)
			size += fi.Size()
		}
		b.Logf("%d keys, %d bytes per copy of the state, in %v", restoreBench.n, size, time.Since(start))
	})
	return restoreBench.p1, restoreBench.p2, restoreBench.n
}

// cpuTime is the processor time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// restoreSubtask restores subtask i of p from the files and creates the
// table, which decodes its entries, as an operator's Open does.
func restoreSubtask(b *testing.B, paths []string, i, p int) int {
	be, err := state.NewMemory(restoreBenchConfig(i, p))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	if err := restoreFiles(be, paths); err != nil {
		b.Fatal(err)
	}
	t, err := state.NewValue(be, restoreBenchDesc)
	if err != nil {
		b.Fatal(err)
	}
	return t.Len()
}

func BenchmarkRestore(b *testing.B) {
	p1, p2, n := benchFiles(b)
	for _, tc := range []struct {
		name  string
		files []string
		p     int
	}{
		{"p1-p1", p1, 1},
		{"p1-p2", p1, 2},
		{"p2-p1", p2, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var took, cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				runtime.GC()
				b.StartTimer()
				start, cpu0 := time.Now(), cpuTime()
				counts := make([]int, tc.p)
				var wg sync.WaitGroup
				for i := range tc.p {
					wg.Go(func() { counts[i] = restoreSubtask(b, tc.files, i, tc.p) })
				}
				wg.Wait()
				took += time.Since(start)
				cpu += cpuTime() - cpu0
				total := 0
				for _, c := range counts {
					total += c
				}
				if total != n {
					b.Fatalf("restored %d keys, want %d", total, n)
				}
			}
			b.ReportMetric(took.Seconds()/float64(b.N), "s/restore")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/restore")
		})
	}
}

// restoreFiles restores b from the snapshot files at paths, as the engine
// does: each file is opened and read in place.
func restoreFiles(b state.Backend, paths []string) error {
	var files []state.SnapshotFile
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		files = append(files, state.SnapshotFile{Name: filepath.Base(p), R: f, Size: fi.Size()})
	}
	return b.Restore(files)
}
