package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

// manageFixture fills a checkpoint directory with chk 1, sp 2, chk 3, an
// incomplete chk 4 and chk 5 (the newest), one minute apart.
func manageFixture(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	d, err := checkpoint.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := &checkpointtest.H{T: t, S: d, Ctx: t.Context()}
	at := func(i int) time.Time { return checkpointtest.T0.Add(time.Duration(i) * time.Minute) }
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 1}, at(1), 1)
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: 2}, at(2), 2)
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 3}, at(3), 2, 1)
	h.Write(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 4}, at(4), 1)
	m := checkpointtest.Meta(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 5}, at(5), 3)
	m.Job = map[string][]byte{"sinks": make([]byte, 40), "splits": make([]byte, 2000)}
	for _, op := range m.Operators {
		for st, f := range op.Subtasks {
			h.WriteFile(m.Ref(), f.Name, checkpointtest.Content(m.Ref(), op.ID, st))
		}
	}
	if err := d.Complete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	return root
}

func entryNames(t *testing.T, root string) string {
	t.Helper()
	es, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestCheckpointsShow(t *testing.T) {
	root := manageFixture(t)
	for _, loc := range []string{root, filepath.Join(root, "chk-0000000000000000005")} {
		out, _, err := execute(t, "checkpoints", "show", loc)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"checkpoint 5\n",
			"location         " + filepath.Join(root, "chk-0000000000000000005"),
			"completed        2025-03-01T12:05:00Z",
			"max parallelism  128",
			"op0       operator 0  3            3      ",
			"job data: sinks 40 B, splits 2.0 KiB",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("show %s printed\n%s\nwant it to contain %q", loc, out, want)
			}
		}
	}
	if err := os.Remove(filepath.Join(root, "chk-0000000000000000003", checkpoint.StateFileName("op0", 1))); err != nil {
		t.Fatal(err)
	}
	out, _, err := execute(t, "checkpoints", "show", filepath.Join(root, "chk-0000000000000000003"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "broken") || !strings.Contains(out, "op0-00001") {
		t.Errorf("show of a checkpoint with a state file missing printed\n%s\nwant it to say it is broken, naming the file", out)
	}
	for _, args := range [][]string{
		{filepath.Join(root, "chk-0000000000000000004")}, // incomplete
		{filepath.Join(root, "nope")},
		{},
	} {
		if out, _, err := execute(t, append([]string{"checkpoints", "show"}, args...)...); err == nil {
			t.Errorf("show %v succeeded, printing %q", args, out)
		}
	}
}

func TestCheckpointsDelete(t *testing.T) {
	root := manageFixture(t)
	newest := filepath.Join(root, "chk-0000000000000000005")
	_, _, err := execute(t, "checkpoints", "delete", filepath.Join(root, "sp-0000000000000000002"), newest)
	if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "newest") {
		t.Fatalf("deleting the newest without --force: err = %v, want one asking for --force", err)
	}
	// Checked before anything went: the savepoint is still there.
	if got := entryNames(t, root); !strings.Contains(got, "sp-0000000000000000002") {
		t.Fatalf("a refused delete removed the savepoint: %s", got)
	}
	out, _, err := execute(t, "checkpoints", "delete", filepath.Join(root, "sp-0000000000000000002"), filepath.Join(root, "chk-0000000000000000004"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "deleted "+filepath.Join(root, "sp-0000000000000000002")) {
		t.Errorf("delete printed %q", out)
	}
	if _, _, err := execute(t, "checkpoints", "delete", "--force", newest); err != nil {
		t.Fatal(err)
	}
	if got, want := entryNames(t, root), "chk-0000000000000000001 chk-0000000000000000003"; got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
	if _, _, err := execute(t, "checkpoints", "delete", filepath.Join(root, "chk-0000000000000000009")); err == nil {
		t.Fatal("deleting a checkpoint that does not exist succeeded")
	}
}

func TestCheckpointsPrune(t *testing.T) {
	root := manageFixture(t)
	all := entryNames(t, root)
	out, _, err := execute(t, "checkpoints", "prune", "--keep", "1", "--savepoints", "--dry-run", root)
	if err != nil {
		t.Fatal(err)
	}
	if got := entryNames(t, root); got != all {
		t.Fatalf("a dry run deleted: %s, was %s", got, all)
	}
	for _, want := range []string{
		"would delete " + filepath.Join(root, "chk-0000000000000000003") + " (beyond the newest 1 checkpoints)",
		"would delete " + filepath.Join(root, "chk-0000000000000000004") + " (incomplete",
		"would delete 3 (",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run printed\n%s\nwant it to contain %q", out, want)
		}
	}
	// Without --keep: only the leftover.
	out, _, err = execute(t, "checkpoints", "prune", root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "deleted 1 (0 B)") {
		t.Errorf("prune printed %q", out)
	}
	if got, want := entryNames(t, root), "chk-0000000000000000001 chk-0000000000000000003 chk-0000000000000000005 sp-0000000000000000002"; got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
	if _, _, err := execute(t, "checkpoints", "prune", "--keep", "1", root); err != nil {
		t.Fatal(err)
	}
	if got, want := entryNames(t, root), "chk-0000000000000000005 sp-0000000000000000002"; got != want {
		t.Fatalf("left %s, want %s", got, want)
	}
	if _, _, err := execute(t, "checkpoints", "prune", "--keep", "0", root); err == nil || !strings.Contains(err.Error(), "--keep 0") {
		t.Fatalf("--keep 0: err = %v", err)
	}
}
