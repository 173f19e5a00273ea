package pebble_test

import (
	"fmt"
	"testing"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
	"github.com/weirstream/weir/internal/state/bytesmem"
	"github.com/weirstream/weir/internal/state/pebble"
)

// The benchmarks below run the same table operations on the memory, bytes
// and Pebble backends, through the table interfaces operators use, so the
// cost of each is seen beside the others:
//
//	go test -run '^$' -bench . ./internal/state/pebble/

const (
	benchMaxPar = 128
	benchKeys   = 100_000 // keys of the Get and Put benchmarks
	benchUsers  = 1_000   // keys of the iteration benchmark, each with benchPerKey map entries
	benchPerKey = 100
)

type benchBackend struct {
	name string
	open func(b *testing.B, cfg state.Config) state.Backend
}

func benchBackends() []benchBackend {
	return []benchBackend{
		{"memory", func(b *testing.B, cfg state.Config) state.Backend {
			be, err := state.NewMemory(cfg)
			if err != nil {
				b.Fatal(err)
			}
			return be
		}},
		{"bytes", func(b *testing.B, cfg state.Config) state.Backend {
			be, err := bytesmem.NewBackend(cfg)
			if err != nil {
				b.Fatal(err)
			}
			return be
		}},
		{"pebble", func(b *testing.B, cfg state.Config) state.Backend {
			be, err := pebble.NewBackend(pebble.Options{Dir: b.TempDir()})(cfg)
			if err != nil {
				b.Fatal(err)
			}
			return be
		}},
	}
}

func benchConfig() state.Config {
	return state.Config{OperatorID: "bench", KeyGroups: state.KeyGroupRange{Start: 0, End: benchMaxPar},
		MaxParallelism: benchMaxPar, Subtask: 0, Parallelism: 1}
}

type benchValue struct {
	Seq, Count int64
	Data       string
}

var (
	keyC   = codec.Int64()
	valueC = codec.MustFor[benchValue]()
	data   = fmt.Sprintf("%072d", 0) // about 100 B per value encoded, as in bench/statescale.go
)

func kgOf(k int64) int { return keygroup.Of(keyC.Append(nil, k), benchMaxPar) }

// valueTable returns a value table holding benchKeys keys and their key
// groups.
func valueTable(b *testing.B, be state.Backend) (state.Value[int64, struct{}, benchValue], []int) {
	t, err := state.NewValue(be, state.TableDesc[int64, struct{}, benchValue]{Name: "v", Key: keyC, Namespace: codec.Unit(), Value: valueC})
	if err != nil {
		b.Fatal(err)
	}
	kgs := make([]int, benchKeys)
	for k := range int64(benchKeys) {
		kgs[k] = kgOf(k)
		if err := t.Put(kgs[k], k, struct{}{}, benchValue{Seq: k, Count: 1, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	return t, kgs
}

// BenchmarkGet reads values of random-looking keys among benchKeys.
func BenchmarkGet(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			be := bb.open(b, benchConfig())
			defer be.Close()
			t, kgs := valueTable(b, be)
			k := int64(0)
			for b.Loop() {
				k = (k + 7919) % benchKeys
				if _, ok, err := t.Get(kgs[k], k, struct{}{}); !ok || err != nil {
					b.Fatalf("Get(%d) = %v, %v", k, ok, err)
				}
			}
		})
	}
}

// BenchmarkPut overwrites values of random-looking keys among benchKeys.
func BenchmarkPut(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			be := bb.open(b, benchConfig())
			defer be.Close()
			t, kgs := valueTable(b, be)
			k := int64(0)
			v := benchValue{Data: data}
			for b.Loop() {
				k = (k + 7919) % benchKeys
				v.Seq++
				if err := t.Put(kgs[k], k, struct{}{}, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMapAll iterates over all benchPerKey entries of a key's map
// state, in order on the byte backends; ns/op is per key, entries/s the
// rate of entries.
func BenchmarkMapAll(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			be := bb.open(b, benchConfig())
			defer be.Close()
			m, err := state.NewMap(be, state.MapDesc[int64, struct{}, int64, int64]{Name: "m", Key: keyC, Namespace: codec.Unit(), UserKey: codec.Int64(), Value: codec.Int64()})
			if err != nil {
				b.Fatal(err)
			}
			kgs := make([]int, benchUsers)
			for k := range int64(benchUsers) {
				kgs[k] = kgOf(k)
				for uk := range int64(benchPerKey) {
					if err := m.Put(kgs[k], k, struct{}{}, uk, uk*k); err != nil {
						b.Fatal(err)
					}
				}
			}
			k, n := int64(0), 0
			for b.Loop() {
				k = (k + 7919) % benchUsers
				for range m.All(kgs[k], k, struct{}{}) {
					n++
				}
			}
			if n != b.N*benchPerKey {
				b.Fatalf("iterated %d entries; want %d", n, b.N*benchPerKey)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkOpen opens and closes an empty backend, what each keyed
// operator subtask does when a job starts and ends.
func BenchmarkOpen(b *testing.B) {
	for _, bb := range benchBackends() {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				if err := bb.open(b, benchConfig()).Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
