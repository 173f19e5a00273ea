package state_test

import (
	"bytes"
	"fmt"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/state"
)

// A counter per key, checkpointed and restored into a new subtask.
func ExampleNewMemory() {
	cfg := state.Config{
		OperatorID:     "count-words",
		KeyGroups:      keygroup.RangeFor(128, 1, 0),
		MaxParallelism: 128,
		Parallelism:    1,
	}
	counts := state.TableDesc[string, struct{}, int64]{
		Name: "counts", Key: codec.String(), Namespace: codec.Unit(), Value: codec.Int64(),
	}

	b, _ := state.NewMemory(cfg)
	t, _ := state.NewValue(b, counts)
	for _, w := range []string{"to", "be", "or", "not", "to", "be"} {
		kg := keygroup.Of(codec.String().Append(nil, w), cfg.MaxParallelism)
		n, _, _ := t.Get(kg, w, struct{}{})
		t.Put(kg, w, struct{}{}, n+1)
	}

	// Snapshot is cheap and runs on the task; WriteTo may run elsewhere.
	snap, _ := b.Snapshot()
	var buf bytes.Buffer
	snap.WriteTo(&buf)

	// After a failure: restore first, then create the tables again.
	b2, _ := state.NewMemory(cfg)
	if err := b2.Restore([]state.SnapshotFile{state.BytesSnapshot("snapshot", buf.Bytes())}); err != nil {
		fmt.Println(err)
		return
	}
	t2, _ := state.NewValue(b2, counts)
	kg := keygroup.Of(codec.String().Append(nil, "to"), cfg.MaxParallelism)
	n, ok, _ := t2.Get(kg, "to", struct{}{})
	fmt.Println(n, ok, t2.Len())
	// Output: 2 true 4
}
