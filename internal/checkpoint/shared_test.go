package checkpoint_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
)

// putShared writes a shared file holding its own name.
func putShared(t *testing.T, d *checkpoint.Dir, name string) {
	t.Helper()
	w, err := d.CreateShared(context.Background(), name)
	must(t, err)
	_, err = w.Write([]byte(name))
	must(t, err)
	must(t, w.Close())
}

// completeWith completes ref with one subtask whose native files are the
// shared files named.
func completeWith(t *testing.T, d *checkpoint.Dir, ref checkpoint.Ref, at time.Time, shared ...string) {
	t.Helper()
	ctx := context.Background()
	w, err := d.Create(ctx, ref, "op-00000")
	must(t, err)
	must(t, w.Close())
	n := &checkpoint.NativeState{Format: "test", KeyGroupStart: 0, KeyGroupEnd: 8}
	for _, s := range shared {
		n.Files = append(n.Files, checkpoint.NativeFile{Name: s + ".sst", Size: int64(len(s)), Shared: s})
	}
	m := &checkpoint.Metadata{FormatVersion: checkpoint.FormatVersionShared, Kind: ref.Kind, ID: ref.ID, CompletedAt: at, MaxParallelism: 8,
		Operators: []checkpoint.Operator{{ID: "op", Parallelism: 1, Subtasks: []checkpoint.StateFile{{Name: "op-00000", Native: n}}}}}
	must(t, d.Complete(ctx, m))
}

func sharedNames(t *testing.T, d *checkpoint.Dir) []string {
	t.Helper()
	infos, err := d.ListShared(context.Background())
	must(t, err)
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names
}

// Retain deletes a shared file once no remaining checkpoint or savepoint
// refers to it, and a file no checkpoint ever referred to once it is
// older than the newest complete checkpoint; a newer one may belong to a
// checkpoint in progress and stays.
func TestRetainDeletesUnreferencedSharedFiles(t *testing.T) {
	d := newDir(t, t.TempDir())
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		putShared(t, d, n)
	}
	base := time.Now().Add(time.Hour)
	completeWith(t, d, chk(1), base, "f", "b")
	completeWith(t, d, chk(2), base.Add(time.Minute), "b", "c")
	completeWith(t, d, sp(3), base.Add(2*time.Minute), "a")
	// e was written after the newest checkpoint completed.
	later := base.Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(d.Path(), "shared", "e"), later, later))

	orphans, err := checkpoint.SharedOrphans(context.Background(), d)
	must(t, err)
	if len(orphans) != 1 || orphans[0].Name != "d" {
		t.Fatalf("orphans %+v, want d", orphans)
	}
	must(t, checkpoint.Retain(context.Background(), d, 1))
	if got, want := sharedNames(t, d), []string{"a", "b", "c", "e"}; !slices.Equal(got, want) {
		t.Fatalf("shared files after Retain(1): %v, want %v", got, want)
	}
	for _, r := range []checkpoint.Ref{chk(2), sp(3)} {
		must(t, d.Verify(context.Background(), r))
	}
}

// A shared file a complete checkpoint lists must be there with its size:
// Complete refuses one that is not, and Verify names it once it is gone.
func TestSharedFileMissingIsNamed(t *testing.T) {
	d := newDir(t, t.TempDir())
	putShared(t, d, "x")
	completeWith(t, d, chk(1), time.Now(), "x")
	must(t, d.DeleteShared(context.Background(), "x"))
	err := d.Verify(context.Background(), chk(1))
	if !errors.Is(err, checkpoint.ErrMissingFile) || !strings.Contains(err.Error(), filepath.Join("shared", "x")) {
		t.Fatalf("Verify with a shared file deleted: %v; want ErrMissingFile naming shared/x", err)
	}
	if err := d.DeleteShared(context.Background(), "x"); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Fatalf("DeleteShared of a missing file: %v, want ErrNotFound", err)
	}
}
