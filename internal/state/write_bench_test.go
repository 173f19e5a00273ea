package state_test

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// writeBenchValue is the state of each key in BenchmarkSnapshotWrite, as in
// the state scale measurement (bench/statescale.go).
type writeBenchValue struct {
	Seq, Count int64
	Data       string
}

// BenchmarkSnapshotWrite encodes the snapshot of one subtask holding
// WEIR_RESTORE_KEYS keys (default 1 M) of about 100 B each, the work a
// checkpoint writer does per subtask, into io.Discard.
func BenchmarkSnapshotWrite(b *testing.B) {
	n := restoreBenchKeys()
	cfg := restoreBenchConfig(0, 1)
	be, err := state.NewMemory(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	desc := state.TableDesc[int64, struct{}, writeBenchValue]{Name: "v", Key: codec.Int64(),
		Namespace: codec.Unit(), Value: codec.MustFor[writeBenchValue]()}
	t, err := state.NewValue(be, desc)
	if err != nil {
		b.Fatal(err)
	}
	data := strings.Repeat("x", 72)
	for k := range int64(n) {
		kg := keygroup.Of(desc.Key.Append(nil, k), restoreBenchMaxPar)
		if err := t.Put(kg, k, struct{}{}, writeBenchValue{Seq: k, Count: 1, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var bytes int64
	cpu := startCPU()
	for b.Loop() {
		s, err := be.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		w, err := state.WriteOnce(s, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		bytes = w
	}
	b.ReportMetric(float64(bytes)/float64(n), "B/entry")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/entry")
	b.ReportMetric(cpu.stop()/float64(b.N)/float64(n), "cpu-ns/entry")
}

// cpuClock measures the process's processor time (user and system, all
// threads, the garbage collector's included) over a benchmark loop: on a
// loaded machine the wall time per operation moves with the other
// processes, the processor time much less.
type cpuClock struct{ start float64 }

func startCPU() cpuClock { return cpuClock{processCPU()} }

// stop returns the processor nanoseconds used since start.
func (c cpuClock) stop() float64 { return processCPU() - c.start }

func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMemoryRMWSnapshot measures one Get and one Put of a random key
// of a value table holding WEIR_RMW_KEYS keys (default 1 Mi) of the state
// scale measurement's value, the job's work per record there. "none": no
// snapshot is taken; "held": a snapshot every 2^18 writes, released after
// 2^17 of them (as its writer releases it once written), so that half the
// writes go through the copy-on-write path and the other half pay for
// folding what it left behind.
func BenchmarkMemoryRMWSnapshot(b *testing.B) {
	n := 1 << 20
	if s := os.Getenv("WEIR_RMW_KEYS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			n = v
		}
	}
	const every, releaseAfter = 1 << 18, 1 << 17
	for _, held := range []bool{false, true} {
		name := "none"
		if held {
			name = "held"
		}
		b.Run(name, func(b *testing.B) {
			cfg := restoreBenchConfig(0, 1)
			be, err := state.NewMemory(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			desc := state.TableDesc[int64, struct{}, writeBenchValue]{Name: "v", Key: codec.Int64(),
				Namespace: codec.Unit(), Value: codec.MustFor[writeBenchValue]()}
			t, err := state.NewValue(be, desc)
			if err != nil {
				b.Fatal(err)
			}
			data := strings.Repeat("x", 72)
			kgs := make([]int, n)
			for k := range int64(n) {
				kgs[k] = keygroup.Of(desc.Key.Append(nil, k), restoreBenchMaxPar)
				if err := t.Put(kgs[k], k, struct{}{}, writeBenchValue{Seq: k, Count: 1, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			// A fixed pseudo-random order of keys, the same in every run.
			order := make([]int64, 1<<20)
			x := uint64(1)
			for j := range order {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				order[j] = int64(x % uint64(n))
			}
			runtime.GC()
			b.ReportAllocs()
			var s state.Snapshot
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				if held && i%every == 0 {
					if s, err = be.Snapshot(); err != nil {
						b.Fatal(err)
					}
				}
				if held && i%every == releaseAfter {
					s.(interface{ Release() }).Release()
				}
				k := order[i&(len(order)-1)]
				v, ok, err := t.Get(kgs[k], k, struct{}{})
				if err != nil || !ok {
					b.Fatal("missing", err)
				}
				v.Seq = int64(i)
				v.Count++
				if err := t.Put(kgs[k], k, struct{}{}, v); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(cpu.stop()/float64(b.N), "cpu-ns/op")
		})
	}
}
