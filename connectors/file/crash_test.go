package file

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// run is one run of a job as the runtime drives it: a new Sink (so a new
// attempt) and a writer per subtask. Record n goes to subtask n mod p.
type run struct {
	t  *testing.T
	s  *Sink[event]
	ws []*Writer[event]
}

// start opens p writers on dir, as a restarted job does: each subtask in
// turn commits the restored committables it is dealt (committable j goes to
// subtask j mod p) when it opens, before any write.
func start(t *testing.T, dir string, p int, restored [][]byte) *run {
	t.Helper()
	return startWith(t, encodings(t)[0], dir, p, restored)
}

// startWith is start with part files in the encoding enc.
func startWith(t *testing.T, enc sinkEncoding, dir string, p int, restored [][]byte) *run {
	t.Helper()
	cfg := Config[event]{Dir: dir, RollSize: 8, Partition: func(e event) string { return e.User }}
	enc.set(&cfg)
	r := &run{t: t, s: newSink(t, cfg)}
	for i := range p {
		w := openWriter(t, r.s, i, p)
		var mine [][]byte
		for j := i; j < len(restored); j += p {
			mine = append(mine, restored[j])
		}
		if len(mine) > 0 {
			commit(t, w, mine...)
		}
		r.ws = append(r.ws, w)
	}
	return r
}

func (r *run) write(from, to int) {
	r.t.Helper()
	for n := from; n < to; n++ {
		user := []string{"", "u1", "u2/x"}[n%3] // the base directory and two partitions
		if err := r.ws[n%len(r.ws)].Write(event{N: n, User: user}); err != nil {
			r.t.Fatalf("Write(%d): %v", n, err)
		}
	}
}

// prepare takes checkpoint id: one committable per subtask.
func (r *run) prepare(id int64) [][]byte {
	r.t.Helper()
	cs := make([][]byte, len(r.ws))
	for i, w := range r.ws {
		cs[i] = prepare(r.t, w, id)
	}
	return cs
}

// commit commits checkpoints' committables, each on the subtask that
// prepared it (cps[k][i] is subtask i's committable of the k-th checkpoint).
func (r *run) commit(cps ...[][]byte) {
	r.t.Helper()
	for i, w := range r.ws {
		var mine [][]byte
		for _, cs := range cps {
			mine = append(mine, cs[i])
		}
		commit(r.t, w, mine...)
	}
}

func (r *run) close() {
	for _, w := range r.ws {
		closeWriter(r.t, w)
	}
}

// TestCrashRecovery kills a two-subtask job (abandons its writers without
// Close) at each stage of the protocol, restarts it with a new Sink at
// another parallelism from the last completed checkpoint, and checks that
// the committed output is exactly the records of completed checkpoints, and
// that after the new run's first checkpoint no hidden file is left.
func TestCrashRecovery(t *testing.T) {
	for _, tc := range []struct {
		name string
		// crash runs the old job from after checkpoint 1 (records 0–19,
		// committed) with records 20–39 written since, up to the crash. It
		// returns the committables the last completed checkpoint holds
		// and the records that checkpoint covers.
		crash func(t *testing.T, r *run, c1 [][]byte) (restored [][]byte, want []string)
	}{
		{"while writing", func(t *testing.T, r *run, c1 [][]byte) ([][]byte, []string) {
			return c1, nums([2]int{0, 20})
		}},
		{"after Prepare of a checkpoint that did not complete", func(t *testing.T, r *run, c1 [][]byte) ([][]byte, []string) {
			r.prepare(2)
			return c1, nums([2]int{0, 20})
		}},
		{"after Prepare of a completed checkpoint, before Commit", func(t *testing.T, r *run, c1 [][]byte) ([][]byte, []string) {
			return r.prepare(2), nums([2]int{0, 40})
		}},
		{"in the middle of a Commit", func(t *testing.T, r *run, c1 [][]byte) ([][]byte, []string) {
			c2 := r.prepare(2)
			d := decoded(t, c2[0])
			if len(d.Files) < 4 {
				t.Fatalf("subtask 0 prepared %d files, want several", len(d.Files))
			}
			d.Files = d.Files[:len(d.Files)/2] // the renames that happened before the crash
			commit(t, r.ws[0], encodeCommittable(d))
			if n := len(visibleLines(t, r.s.cfg.Dir)); n <= 20 || n >= 40 {
				t.Fatalf("%d records visible after half a commit", n)
			}
			return c2, nums([2]int{0, 40})
		}},
		{"after Commit, before the runtime recorded it", func(t *testing.T, r *run, c1 [][]byte) ([][]byte, []string) {
			c2 := r.prepare(2)
			r.commit(c2)
			return c2, nums([2]int{0, 40})
		}},
		{"after an aborted checkpoint and a completed one", func(t *testing.T, r *run, c1 [][]byte) ([][]byte, []string) {
			c2 := r.prepare(2) // aborted: never committed, so checkpoint 3 holds it too
			r.write(40, 60)
			c3 := r.prepare(3)
			return append(c2, c3...), nums([2]int{0, 60})
		}},
	} {
		for _, enc := range encodings(t) {
			for _, newP := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/%s/restart at parallelism %d", tc.name, enc.name, newP), func(t *testing.T) {
					crashRecovery(t, enc, newP, tc.crash)
				})
			}
		}
	}
}

func crashRecovery(t *testing.T, enc sinkEncoding, newP int, crash func(t *testing.T, r *run, c1 [][]byte) (restored [][]byte, want []string)) {
	dir := t.TempDir()
	old := startWith(t, enc, dir, 2, nil)
	old.write(0, 20)
	c1 := old.prepare(1)
	old.commit(c1)
	old.write(20, 40)
	restored, want := crash(t, old, c1)
	old.write(500, 520) // in progress at the crash
	// The crash: old's writers are abandoned, buffers and all.
	if len(hiddenFiles(t, dir)) == 0 {
		t.Fatal("the crash left no hidden files, so the test shows nothing about cleanup")
	}

	r := startWith(t, enc, dir, newP, restored)
	defer r.close()
	equal(t, "visible after the restore", visibleLines(t, dir), want)

	r.write(1000, 1010)
	r.commit(r.prepare(10))
	equal(t, "visible after the first checkpoint of the new run", visibleLines(t, dir),
		slices.Sorted(slices.Values(append(want, nums([2]int{1000, 1010})...))))
	equal(t, "hidden files after the first checkpoint of the new run", hiddenFiles(t, dir), nil)
}

func TestCrashDuringTheRestoreCommit(t *testing.T) {
	dir := t.TempDir()
	old := start(t, dir, 2, nil)
	old.write(0, 40)
	c1 := old.prepare(1) // completed, not committed

	// The first restart dies in the middle of committing subtask 0's share.
	d := decoded(t, c1[0])
	d.Files = d.Files[:1]
	second := start(t, dir, 1, [][]byte{encodeCommittable(d)})
	second.write(100, 110)
	second.prepare(2) // never completes

	third := start(t, dir, 2, c1)
	defer third.close()
	equal(t, "visible after the second restore", visibleLines(t, dir), nums([2]int{0, 40}))
	third.commit(third.prepare(3))
	equal(t, "hidden files after the first checkpoint of the third run", hiddenFiles(t, dir), nil)
}

// Subtask 0 must not remove the old attempt's pending files when its own
// restore commit is done: another subtask may not have committed its share
// yet.
func TestCleanupWaitsForACheckpoint(t *testing.T) {
	dir := t.TempDir()
	old := start(t, dir, 2, nil)
	old.write(0, 20)
	c1 := old.prepare(1)
	old.write(20, 30) // left in progress

	r := start(t, dir, 1, nil)
	defer r.close()
	commit(t, r.ws[0], c1[0])          // subtask 0's restore commit…
	if len(hiddenFiles(t, dir)) == 0 { // …left the other pending files alone
		t.Fatal("subtask 0 removed old files after its restore commit")
	}
	later := openWriter(t, r.s, 1, 2) // a second subtask of the same run
	defer closeWriter(t, later)
	commit(t, later, c1[1])
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 20}))

	r.write(100, 101)
	commit(t, r.ws[0], prepare(t, r.ws[0], 2))
	equal(t, "hidden files after the first checkpoint", hiddenFiles(t, dir), nil)
}

func TestRescale(t *testing.T) {
	for _, tc := range []struct{ oldP, newP int }{{2, 1}, {1, 2}, {3, 2}} {
		for _, enc := range encodings(t) {
			t.Run(fmt.Sprintf("%s/%d to %d", enc.name, tc.oldP, tc.newP), func(t *testing.T) {
				rescale(t, enc, tc.oldP, tc.newP)
			})
		}
	}
}

func rescale(t *testing.T, enc sinkEncoding, oldP, newP int) {
	{
		{
			dir := t.TempDir()
			old := startWith(t, enc, dir, oldP, nil)
			old.write(0, 30)
			c := old.prepare(1) // completed; the job stops before committing
			old.close()
			equal(t, "visible before the restore", visibleFiles(t, dir), nil)

			r := startWith(t, enc, dir, newP, c)
			defer r.close()
			equal(t, "visible after the restore", visibleLines(t, dir), nums([2]int{0, 30}))
		}
	}
}

func TestCleanupTouchesOnlyHiddenPartFilesOfOtherAttempts(t *testing.T) {
	dir := t.TempDir()
	const other = "0123456789abcdef"
	s := newSink(t, Config[event]{Dir: dir})
	mine := s.Attempt()
	keep := []string{
		partName(0, other, 0, ""),            // committed output of another attempt
		".keep",                              // not a part file
		"sub/.part-0-notanattempt-0.pending", // not a part file name
		".staging/." + partName(0, other, 0, "") + ".pending", // in a hidden directory
		"." + partName(1, mine, 50, "") + ".inprogress",       // a concurrent subtask of this run
		"sub/." + partName(2, mine, 50, "") + ".pending",
	}
	remove := []string{
		"." + partName(0, other, 3, ".jsonl") + ".inprogress",
		"sub/deeper/." + partName(7, other, 0, "") + ".pending",
	}
	for _, f := range append(keep, remove...) {
		name := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w := openWriter(t, s, 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 1)
	commit(t, w, prepare(t, w, 1))
	for _, f := range keep {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s was removed: %v", f, err)
		}
	}
	for _, f := range remove {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s was kept (%v)", f, err)
		}
	}
}

func TestOnlySubtaskZeroCleansUp(t *testing.T) {
	dir := t.TempDir()
	leftover := "." + partName(0, "0123456789abcdef", 0, "") + ".inprogress"
	if err := os.WriteFile(filepath.Join(dir, leftover), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 1, 2)
	defer closeWriter(t, w)
	write(t, w, 0, 1)
	commit(t, w, prepare(t, w, 1))
	if h := hiddenFiles(t, dir); len(h) != 1 || !strings.HasSuffix(h[0], leftover) {
		t.Errorf("hidden files after subtask 1's commit: %q", h)
	}
}

// A job that restarts in its process runs again with the same Sink value:
// each restart gets an attempt ID of its own, shared by its subtasks, so
// the files the failed run left hidden are removed like those of an
// earlier process.
func TestRestartInProcessIsANewAttempt(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config[event]{Dir: dir})
	open := func(subtask, attempt int) *Writer[event] {
		w, err := s.OpenWriter(weir.SinkInfo{Name: "files", OperatorID: "op", Subtask: subtask, Parallelism: 2, Attempt: attempt})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	failed := open(0, 0)
	write(t, failed, 0, 10)
	prepare(t, failed, 1) // its checkpoint never completes
	closeWriter(t, failed)
	if len(hiddenFiles(t, dir)) == 0 {
		t.Fatal("the failed run left no pending file to clean up")
	}
	w0, w1 := open(0, 1), open(1, 1)
	defer closeWriter(t, w0)
	defer closeWriter(t, w1)
	if w0.attempt == failed.attempt || w0.attempt != w1.attempt {
		t.Fatalf("attempts: failed run %s, restarted subtasks %s and %s", failed.attempt, w0.attempt, w1.attempt)
	}
	write(t, w0, 10, 20)
	commit(t, w0, prepare(t, w0, 2))
	commit(t, w1, prepare(t, w1, 2))
	equal(t, "hidden after the restarted run committed", hiddenFiles(t, dir), nil)
	equal(t, "visible", visibleLines(t, dir), nums([2]int{10, 20}))
}
