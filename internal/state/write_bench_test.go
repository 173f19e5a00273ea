package state_test

import (
	"io"
	"runtime"
	"strings"
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
}
