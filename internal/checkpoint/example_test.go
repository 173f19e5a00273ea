package checkpoint_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
)

// A checkpoint's life: subtasks write state files, the coordinator
// completes the checkpoint, a restarted job finds it again, and retention
// removes what is no longer needed.
func Example() {
	root, err := os.MkdirTemp("", "weir-checkpoints")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	ctx := context.Background()

	store, err := checkpoint.OpenDir(root)
	if err != nil {
		panic(err)
	}
	defer store.Close()

	// Each subtask writes its state file; subtasks do this concurrently.
	ref := checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 1}
	name := checkpoint.StateFileName("word-count", 0)
	w, err := store.Create(ctx, ref, name)
	if err != nil {
		panic(err)
	}
	n, _ := io.WriteString(w, "the subtask's state snapshot")
	if err := w.Close(); err != nil { // Close makes the file durable
		panic(err)
	}

	// When every subtask has acknowledged, the coordinator completes the
	// checkpoint. Only now does it exist.
	err = store.Complete(ctx, &checkpoint.Metadata{
		FormatVersion:  checkpoint.FormatVersion,
		Kind:           ref.Kind,
		ID:             ref.ID,
		CompletedAt:    time.Now(),
		MaxParallelism: 128,
		Operators: []checkpoint.Operator{{
			ID: "word-count", Name: "Count words", Parallelism: 1,
			Subtasks: []checkpoint.StateFile{{Name: name, Size: int64(n)}},
		}},
	})
	if err != nil {
		panic(err)
	}

	// After a restart: find the newest checkpoint and read a subtask's state.
	latest, err := checkpoint.Latest(ctx, store)
	if err != nil {
		panic(err)
	}
	m, err := store.ReadMetadata(ctx, latest.Ref)
	if err != nil {
		panic(err)
	}
	op, _ := m.Operator("word-count")
	r, err := store.Open(ctx, latest.Ref, op.Subtasks[0].Name)
	if err != nil {
		panic(err)
	}
	state, _ := io.ReadAll(r)
	r.Close()
	fmt.Printf("%v: %s\n", latest.Ref, state)

	// After each completed checkpoint, keep the newest three.
	if err := checkpoint.Retain(ctx, store, 3); err != nil {
		panic(err)
	}
	// Output: chk-0000000000000000001: the subtask's state snapshot
}
