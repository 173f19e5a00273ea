package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCommitMakesPreparedFilesVisible(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config[event]{Dir: dir, Ext: ".txt"})
	w := openWriter(t, s, 0, 1)
	defer closeWriter(t, w)

	write(t, w, 0, 10)
	if got := visibleFiles(t, dir); len(got) != 0 {
		t.Fatalf("visible while writing: %q", got)
	}
	c := prepare(t, w, 1)
	if got := visibleFiles(t, dir); len(got) != 0 {
		t.Fatalf("visible after Prepare: %q", got)
	}
	want := "part-0-" + s.Attempt() + "-0.txt"
	equal(t, "hidden after Prepare", hiddenFiles(t, dir), []string{"." + want + ".pending"})
	if d := decoded(t, c); d.Checkpoint != 1 || d.Subtask != 0 || d.Attempt != s.Attempt() ||
		len(d.Files) != 1 || d.Files[0] != (pendingFile{Name: want, Size: 20}) {
		t.Errorf("committable = %+v", d)
	}

	commit(t, w, c)
	equal(t, "visible files", visibleFiles(t, dir), []string{want})
	equal(t, "hidden files", hiddenFiles(t, dir), nil)
	// One file keeps the order of its writes.
	equal(t, "file contents", fileLines(t, filepath.Join(dir, want)), []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"})
}

func TestPrepareWithoutCommitShowsNothing(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
	write(t, w, 0, 10)
	prepare(t, w, 1)
	write(t, w, 10, 20) // in progress at Close
	closeWriter(t, w)
	equal(t, "visible", visibleFiles(t, dir), nil)
	// The prepared file stays pending: the checkpoint may name it and a
	// restore commit it. The in-progress one is gone.
	if h := hiddenFiles(t, dir); len(h) != 1 || !strings.HasSuffix(h[0], ".pending") {
		t.Errorf("hidden after Close = %q, want one pending file", h)
	}
}

func TestCloseDiscardsWhatNoPrepareHandedOut(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, RollSize: 8}), 0, 1)
	write(t, w, 0, 20) // rolls several files to pending, leaves one in progress
	if len(hiddenFiles(t, dir)) < 2 {
		t.Fatalf("expected rolled files, have %q", hiddenFiles(t, dir))
	}
	closeWriter(t, w)
	equal(t, "files after Close", append(visibleFiles(t, dir), hiddenFiles(t, dir)...), nil)
}

func TestSeveralCheckpointsCommittedTogether(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 5)
	c1 := prepare(t, w, 1)
	write(t, w, 5, 10)
	c2 := prepare(t, w, 2)
	c3 := prepare(t, w, 3) // nothing written: a committable without files
	if d := decoded(t, c3); len(d.Files) != 0 {
		t.Errorf("empty checkpoint names %v", d.Files)
	}
	write(t, w, 10, 15)
	c4 := prepare(t, w, 4)
	equal(t, "visible before Commit", visibleFiles(t, dir), nil)
	commit(t, w, c1, c2, c3, c4)
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 15}))
	if n := len(visibleFiles(t, dir)); n != 3 {
		t.Errorf("%d files, want one per checkpoint with records (3)", n)
	}
}

func TestCommitIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config[event]{Dir: dir, RollSize: 10})
	w := openWriter(t, s, 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 20)
	c := prepare(t, w, 1)
	commit(t, w, c)
	commit(t, w, c)
	commit(t, w, c, c) // the same committable twice in one call
	// And by the writer of a restarted job.
	w2 := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
	defer closeWriter(t, w2)
	commit(t, w2, c)
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 20}))
}

func TestCommitOfAFileAlreadyRenamed(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 3)
	c := prepare(t, w, 1)
	// A commit happened, but the runtime never learnt of it.
	f := decoded(t, c).Files[0]
	if err := os.Rename(filepath.Join(dir, pendingName(f.Name)), filepath.Join(dir, f.Name)); err != nil {
		t.Fatal(err)
	}
	commit(t, w, c)
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 3}))
}

func TestCommitFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, dir string, f pendingFile)
		want  []string // in the error
	}{
		{"neither pending nor visible", func(t *testing.T, dir string, f pendingFile) {
			if err := os.Remove(filepath.Join(dir, pendingName(f.Name))); err != nil {
				t.Fatal(err)
			}
		}, []string{"neither", "lost", "checkpoint 7"}},
		{"pending with another size", func(t *testing.T, dir string, f pendingFile) {
			if err := os.Truncate(filepath.Join(dir, pendingName(f.Name)), 1); err != nil {
				t.Fatal(err)
			}
		}, []string{"has 1 bytes, but 6 were prepared"}},
		{"visible with another size", func(t *testing.T, dir string, f pendingFile) {
			if err := os.Rename(filepath.Join(dir, pendingName(f.Name)), filepath.Join(dir, f.Name)); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(filepath.Join(dir, f.Name), 2); err != nil {
				t.Fatal(err)
			}
		}, []string{"has 2 bytes, but 6 were prepared"}},
		{"visible name taken", func(t *testing.T, dir string, f pendingFile) {
			if err := os.WriteFile(filepath.Join(dir, f.Name), []byte("other\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"exists already", "not overwriting"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
			defer closeWriter(t, w)
			write(t, w, 0, 3)
			c := prepare(t, w, 7)
			f := decoded(t, c).Files[0]
			tc.spoil(t, dir, f)
			err := w.Commit(context.Background(), [][]byte{c})
			if err == nil {
				t.Fatal("Commit succeeded")
			}
			for _, s := range append(tc.want, f.Name) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestCommitRejectsBadCommittables(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 3)
	good := prepare(t, w, 1)
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 1
		return b
	}
	for name, c := range map[string][]byte{
		"empty":     {},
		"short":     good[:6],
		"magic":     flip(0),
		"checksum":  flip(len(good) - 1),
		"body":      flip(10),
		"truncated": good[:len(good)-5],
	} {
		// The good committable comes first: nothing is committed unless
		// every committable decodes.
		if err := w.Commit(context.Background(), [][]byte{good, c}); err == nil || !strings.Contains(err.Error(), "committable 2 of 2") {
			t.Errorf("%s: Commit error = %v", name, err)
		}
	}
	equal(t, "visible", visibleFiles(t, dir), nil)
	commit(t, w, good)
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 3}))
}

func TestCommitHonoursContext(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir}), 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 3)
	c := prepare(t, w, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Commit(ctx, [][]byte{c}); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a canceled context = %v", err)
	}
	equal(t, "visible", visibleFiles(t, dir), nil)
}

func TestRollBySize(t *testing.T) {
	dir := t.TempDir()
	const rollSize = 10
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, RollSize: rollSize}), 0, 1)
	defer closeWriter(t, w)
	write(t, w, 0, 100) // 10 records of 2 bytes, 90 of 3
	var pending, inProgress int
	for _, h := range hiddenFiles(t, dir) {
		if strings.HasSuffix(h, pendingSuffix) {
			pending++
		} else {
			inProgress++
		}
	}
	c := prepare(t, w, 1)
	d := decoded(t, c)
	if pending < 10 || inProgress > 1 || len(d.Files) != pending+inProgress {
		t.Errorf("%d files rolled by size and %d in progress before Prepare, %d in the committable", pending, inProgress, len(d.Files))
	}
	commit(t, w, c)
	files := visibleFiles(t, dir)
	if len(files) != len(d.Files) {
		t.Errorf("%d visible files, committable named %d", len(files), len(d.Files))
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > rollSize+2 { // at most one record past RollSize
			t.Errorf("%s has %d bytes", f, st.Size())
		}
	}
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 100}))
}

func TestRollByInterval(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSink(t, Config[event]{
		Dir: dir, RollInterval: time.Minute, Now: func() time.Time { return now },
		Partition: func(e event) string { return e.User },
	})
	w := openWriter(t, s, 0, 1)
	defer closeWriter(t, w)
	writeAt := func(n int, user string, after time.Duration) {
		t.Helper()
		now = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(after)
		if err := w.Write(event{N: n, User: user}); err != nil {
			t.Fatal(err)
		}
	}
	pending := func() int {
		n := 0
		for _, h := range hiddenFiles(t, dir) {
			if strings.HasSuffix(h, pendingSuffix) {
				n++
			}
		}
		return n
	}
	writeAt(1, "a", 0)
	writeAt(2, "a", 59*time.Second)
	writeAt(3, "b", 30*time.Second) // b's file opens at 30s
	if n := pending(); n != 0 {
		t.Fatalf("%d files rolled before the interval passed", n)
	}
	writeAt(4, "a", time.Minute) // a's file is a minute old: rolled before the write
	if n := pending(); n != 1 {
		t.Fatalf("%d pending files after a's interval, want 1", n)
	}
	// A write to a rolls b's file too once it is due, though b gets no
	// record.
	writeAt(5, "a", 90*time.Second)
	if n := pending(); n != 2 {
		t.Fatalf("%d pending files after b's interval, want 2", n)
	}
	commit(t, w, prepare(t, w, 1))
	var got []string
	for _, f := range visibleFiles(t, dir) {
		got = append(got, f[:1]+":"+strings.Join(fileLines(t, filepath.Join(dir, f)), ","))
	}
	equal(t, "files", got, []string{"a:1,2", "a:4,5", "b:3"})
}

func TestPrepareNeedsIncreasingIDs(t *testing.T) {
	w := openWriter(t, newSink(t, Config[event]{Dir: t.TempDir()}), 0, 1)
	defer closeWriter(t, w)
	prepare(t, w, 5)
	if _, err := w.Prepare(5); err == nil || !strings.Contains(err.Error(), "must increase") {
		t.Errorf("Prepare(5) twice = %v", err)
	}
	prepare(t, w, 6)
}

func TestUseAfterClose(t *testing.T) {
	w := openWriter(t, newSink(t, Config[event]{Dir: t.TempDir()}), 0, 1)
	closeWriter(t, w)
	closeWriter(t, w) // twice is fine
	if err := w.Write(event{}); err == nil {
		t.Error("Write after Close succeeded")
	}
	if _, err := w.Prepare(1); err == nil {
		t.Error("Prepare after Close succeeded")
	}
	if err := w.Commit(context.Background(), nil); err == nil {
		t.Error("Commit after Close succeeded")
	}
}

// A Sink value should not serve two runs, but if it does, the second never
// overwrites the output of the first.
func TestReusedSinkNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	s := newSink(t, Config[event]{Dir: dir})
	w1 := openWriter(t, s, 0, 1)
	write(t, w1, 0, 5)
	commit(t, w1, prepare(t, w1, 1))
	closeWriter(t, w1)
	w2 := openWriter(t, s, 0, 1)
	defer closeWriter(t, w2)
	write(t, w2, 5, 10)
	commit(t, w2, prepare(t, w2, 1))
	equal(t, "visible", visibleLines(t, dir), nums([2]int{0, 10}))
}

func TestFormats(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, Format: JSONLines[event]()}), 0, 1)
	defer closeWriter(t, w)
	if err := w.Write(event{N: 1, User: "a\nb"}); err != nil {
		t.Fatal(err)
	}
	commit(t, w, prepare(t, w, 1))
	equal(t, "JSON lines", visibleLines(t, dir), []string{`{"n":1,"user":"a\nb"}`})

	if _, err := Lines(func(e event) string { return e.User })(event{User: "a\nb"}); err == nil {
		t.Error("Lines accepted a newline")
	}
	formatErr := errors.New("unformattable")
	w2 := openWriter(t, newSink(t, Config[event]{Dir: dir, Format: func(event) ([]byte, error) { return nil, formatErr }}), 0, 1)
	defer closeWriter(t, w2)
	if err := w2.Write(event{}); !errors.Is(err, formatErr) {
		t.Errorf("Write = %v, want the Format error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	format := numbers()
	for _, tc := range []struct {
		cfg  Config[event]
		want string // in the error; "" for none
	}{
		{Config[event]{Dir: "d", Format: format}, ""},
		{Config[event]{Dir: "d", Format: format, Ext: ".jsonl", RollSize: 1, RollInterval: 1, EventTimeBuckets: "dt=2006-01-02/hour=15"}, ""},
		{Config[event]{Format: format}, "Config.Dir"},
		{Config[event]{Dir: "d"}, "Config.Format"},
		{Config[event]{Dir: "d", Format: format, RollSize: -1}, "Config.RollSize"},
		{Config[event]{Dir: "d", Format: format, RollInterval: -time.Second}, "Config.RollInterval"},
		{Config[event]{Dir: "d", Format: format, Ext: "jsonl"}, "Config.Ext"},
		{Config[event]{Dir: "d", Format: format, Ext: ".a/b"}, "Config.Ext"},
		{Config[event]{Dir: "d", Format: format, EventTimeBuckets: "/2006"}, "Config.EventTimeBuckets"},
		{Config[event]{Dir: "d", Format: format, EventTimeBuckets: "2006//01"}, "Config.EventTimeBuckets"},
		{Config[event]{Dir: "d", Format: format, EventTimeBuckets: ".2006"}, "Config.EventTimeBuckets"},
	} {
		err := tc.cfg.Validate()
		if _, nerr := New(tc.cfg); (err == nil) != (nerr == nil) {
			t.Errorf("Validate = %v but New = %v", err, nerr)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Validate = %v, want an error naming %s", err, tc.want)
		}
	}
}

func TestNamesAndAttempts(t *testing.T) {
	a := newAttempt()
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(a) || a == newAttempt() {
		t.Errorf("attempt %q", a)
	}
	const att = "0123456789abcdef"
	for name, want := range map[string]bool{
		"." + partName(3, att, 12, ".jsonl") + ".pending":    true,
		"." + partName(0, att, 0, "") + ".inprogress":        true,
		"." + partName(0, att, 0, ".a-b") + ".inprogress":    true,
		partName(0, att, 0, "") + ".pending":                 false, // visible
		".part-0-0123456789abcdeg-0.pending":                 false,
		".part-0-0123456789abcde-0.pending":                  false,
		".part-x-0123456789abcdef-0.pending":                 false,
		".part-0-0123456789abcdef-.pending":                  false,
		".part-0-0123456789abcdef-0":                         false,
		".keep":                                              false,
		"." + partName(1, att, 2, "") + ".pending.bak":       false,
		"." + partName(1, att, 2, "") + ".inprogress.inprog": false,
	} {
		got, ok := hiddenAttempt(name)
		if ok != want || (ok && got != att) {
			t.Errorf("hiddenAttempt(%q) = %q, %v", name, got, ok)
		}
	}
}
