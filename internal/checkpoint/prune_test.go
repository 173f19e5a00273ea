package checkpoint_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/checkpoint/checkpointtest"
)

// pruneFixture fills a Dir with, oldest first: chk 1, sp 2, chk 3, an
// incomplete chk 4, chk 5, sp 6, chk 7 and an incomplete chk 8 (perhaps
// still being written), one minute apart from T0.
func pruneFixture(t *testing.T) (*checkpoint.Dir, *checkpointtest.H) {
	d := newDir(t, t.TempDir())
	h := &checkpointtest.H{T: t, S: d, Ctx: t.Context()}
	at := func(i int) time.Time { return checkpointtest.T0.Add(time.Duration(i) * time.Minute) }
	h.Complete(chk(1), at(1), 1)
	h.Complete(sp(2), at(2), 1)
	h.Complete(chk(3), at(3), 1)
	h.Write(chk(4), at(4), 1)
	h.Complete(chk(5), at(5), 2)
	h.Complete(sp(6), at(6), 1)
	h.Complete(chk(7), at(7), 1)
	h.Write(chk(8), at(8), 1)
	return d, h
}

func prunedRefs(p []checkpoint.Pruned) []string {
	var out []string
	for _, x := range p {
		out = append(out, x.Ref.String())
	}
	return out
}

func remaining(t *testing.T, d *checkpoint.Dir) []string {
	t.Helper()
	entries, err := d.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%v %v", e.Ref, e.Status))
	}
	slices.Sort(out)
	return out
}

func names(refs ...checkpoint.Ref) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.String())
	}
	return out
}

func TestPrune(t *testing.T) {
	now := checkpointtest.T0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name string
		opts checkpoint.PruneOptions
		want []checkpoint.Ref
	}{
		// Nothing asked: only what a crash left below the newest complete
		// ID; chk 8 may still be being written.
		{"leftovers", checkpoint.PruneOptions{}, []checkpoint.Ref{chk(4)}},
		{"keep 2", checkpoint.PruneOptions{Keep: 2}, []checkpoint.Ref{chk(3), chk(1), chk(4)}},
		// sp 6 is kept as one of the newest two savepoints.
		{"keep 2 with savepoints", checkpoint.PruneOptions{Keep: 2, Savepoints: true}, []checkpoint.Ref{chk(3), chk(1), chk(4)}},
		// The newest of each kind is kept.
		{"keep 1 with savepoints", checkpoint.PruneOptions{Keep: 1, Savepoints: true},
			[]checkpoint.Ref{chk(5), chk(3), sp(2), chk(1), chk(4)}},
		// Completed 6 minutes ago or more: chk 1 and chk 3 (chk 5, 5
		// minutes ago, is spared); the newest is kept whatever its age.
		{"older than 6m", checkpoint.PruneOptions{OlderThan: 6 * time.Minute}, []checkpoint.Ref{chk(3), chk(1), chk(4)}},
		{"older than 1m keeps the newest", checkpoint.PruneOptions{OlderThan: time.Minute}, []checkpoint.Ref{chk(5), chk(3), chk(1), chk(4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := pruneFixture(t)
			before := remaining(t, d)
			o := tc.opts
			o.Now = now
			o.DryRun = true
			dry, err := checkpoint.Prune(t.Context(), d, o)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := prunedRefs(dry), names(tc.want...); !slices.Equal(g, w) {
				t.Fatalf("dry run would prune %v, want %v", g, w)
			}
			if g := remaining(t, d); !slices.Equal(g, before) {
				t.Fatalf("a dry run changed the directory: %v, was %v", g, before)
			}
			o.DryRun = false
			done, err := checkpoint.Prune(t.Context(), d, o)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := prunedRefs(done), names(tc.want...); !slices.Equal(g, w) {
				t.Fatalf("pruned %v, want %v", g, w)
			}
			for _, r := range tc.want {
				if _, err := os.Stat(filepath.Join(d.Path(), r.String())); !os.IsNotExist(err) {
					t.Errorf("%v is still there (%v)", r, err)
				}
			}
			infos, err := d.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) == 0 || infos[0].Ref != chk(7) {
				t.Fatalf("after pruning the newest is %v, want chk 7 kept", infos)
			}
		})
	}
}

// A damaged metadata hides a completion time, so Prune deletes nothing
// complete while one is there, only leftovers; a checkpoint with a state
// file missing does not stop it. Broken ones stay for a person to look at.
func TestPruneWithBrokenOnes(t *testing.T) {
	t.Run("damaged metadata", func(t *testing.T) {
		d, _ := pruneFixture(t)
		meta := filepath.Join(d.Path(), chk(5).String(), "_metadata")
		data, err := os.ReadFile(meta)
		if err != nil {
			t.Fatal(err)
		}
		data[10] ^= 1
		if err := os.WriteFile(meta, data, 0o644); err != nil {
			t.Fatal(err)
		}
		done, err := checkpoint.Prune(t.Context(), d, checkpoint.PruneOptions{Keep: 1, Savepoints: true})
		if err != nil {
			t.Fatal(err)
		}
		if g, w := prunedRefs(done), names(chk(4)); !slices.Equal(g, w) {
			t.Fatalf("pruned %v, want only %v", g, w)
		}
	})
	t.Run("state file missing", func(t *testing.T) {
		d, _ := pruneFixture(t)
		if err := os.Remove(filepath.Join(d.Path(), chk(5).String(), checkpoint.StateFileName("op0", 1))); err != nil {
			t.Fatal(err)
		}
		done, err := checkpoint.Prune(t.Context(), d, checkpoint.PruneOptions{Keep: 1})
		if err != nil {
			t.Fatal(err)
		}
		if g, w := prunedRefs(done), names(chk(3), chk(1), chk(4)); !slices.Equal(g, w) {
			t.Fatalf("pruned %v, want %v", g, w)
		}
		if _, err := os.Stat(filepath.Join(d.Path(), chk(5).String())); err != nil {
			t.Fatalf("the broken checkpoint was removed: %v", err)
		}
	})
}
