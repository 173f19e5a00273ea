package cli

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestCheckpointsListGolden pins the table: completed ones newest first
// (a savepoint among them), then the broken ones — a state file deleted, a
// damaged _metadata — with what is wrong below the table, then the
// incomplete ones.
func TestCheckpointsListGolden(t *testing.T) {
	root := t.TempDir()
	d, err := checkpoint.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := &checkpointtest.H{T: t, S: d, Ctx: t.Context()}
	t0 := checkpointtest.T0
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 1}, t0, 1)
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 2}, t0.Add(time.Minute), 2, 1)
	// Completion times are shown in UTC whatever zone they were written in.
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: 1}, t0.Add(2*time.Minute).In(time.FixedZone("CET", 3600)), 4)
	h.Write(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 3}, t0.Add(3*time.Minute), 1)
	h.Write(checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: 2}, t0.Add(4*time.Minute), 1)
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindCheckpoint, ID: 5}, t0.Add(5*time.Minute), 2)
	if err := os.Remove(filepath.Join(root, "chk-0000000000000000005", "op0-00000")); err != nil {
		t.Fatal(err)
	}
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: 6}, t0.Add(6*time.Minute), 1)
	meta := filepath.Join(root, "sp-0000000000000000006", "_metadata")
	data, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	data[10] ^= 1
	if err := os.WriteFile(meta, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Not ours: left out.
	if err := os.WriteFile(filepath.Join(root, "notes.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, _, err := execute(t, "checkpoints", "list", root)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(stdout, d.Path(), "$DIR")
	path := filepath.Join("testdata", "checkpoints-list.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("weir checkpoints list printed\n%s\nwant (%s)\n%s", got, path, want)
	}
}

func TestCheckpointsListRejects(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(root, "empty")
	chk := filepath.Join(root, "chk-0000000000000000007")
	for _, dir := range []string{empty, chk} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(root, "missing")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{missing}, []string{missing, "does not exist"}},
		{[]string{file}, []string{file, "not a checkpoint directory"}},
		{[]string{empty}, []string{empty, "no checkpoint or savepoint"}},
		{[]string{chk}, []string{chk, "is a checkpoint", "weir checkpoints list " + root}},
		{nil, []string{"the checkpoint directory"}},
		{[]string{root, root}, []string{"the checkpoint directory"}},
	} {
		stdout, _, err := execute(t, append([]string{"checkpoints", "list"}, tc.args...)...)
		if err == nil {
			t.Errorf("weir checkpoints list %v succeeded, printing %q", tc.args, stdout)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("weir checkpoints list %v: err = %v, want one with %q", tc.args, err, w)
			}
		}
	}
	// Nothing was created where the user mistyped.
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("listing %s created it (stat: %v)", missing, err)
	}
}

func TestCheckpointsRejectsUnknownVerb(t *testing.T) {
	_, _, err := execute(t, "checkpoints", "lsit", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `unknown command "lsit" for "weir checkpoints"`) {
		t.Fatalf("weir checkpoints lsit: err = %v, want an unknown command error", err)
	}
}

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1.0 MiB"},
		{5 << 30, "5.0 GiB"},
		{1<<63 - 1, "8.0 EiB"},
	} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestSummaryCountsSavepoints: a run stopped at once (a second Ctrl-C)
// before its savepoint completed finds the savepoint of an earlier run in
// the directory, and says so, where it used to say the directory keeps 0.
func TestSummaryCountsSavepoints(t *testing.T) {
	root := t.TempDir()
	d, err := checkpoint.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := &checkpointtest.H{T: t, S: d, Ctx: t.Context()}
	h.Complete(checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: 4}, checkpointtest.T0, 1)
	h.Write(checkpoint.Ref{Kind: checkpoint.KindSavepoint, ID: 5}, checkpointtest.T0.Add(time.Minute), 1)
	got := summarizeCheckpoints(t.Context(), root, 4)
	if want := "no checkpoint completed in this run; " + root + " keeps 0 checkpoints and 1 savepoint"; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
}
