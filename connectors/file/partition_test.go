package file

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPartitionByField(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{Dir: dir, Ext: ".txt", Partition: func(e event) string {
		if e.User == "" {
			return ""
		}
		return "user=" + e.User + "/region=eu"
	}}), 0, 1)
	defer closeWriter(t, w)
	users := []string{"alice", "bob", ""}
	for n := range 9 {
		if err := w.Write(event{N: n, User: users[n%3]}); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, w, prepare(t, w, 1))
	got := map[string][]string{}
	for _, f := range visibleFiles(t, dir) {
		got[path.Dir(f)] = append(got[path.Dir(f)], fileLines(t, filepath.Join(dir, f))...)
	}
	want := map[string][]string{
		"user=alice/region=eu": {"0", "3", "6"},
		"user=bob/region=eu":   {"1", "4", "7"},
		".":                    {"2", "5", "8"},
	}
	if len(got) != len(want) {
		t.Errorf("directories %v, want %v", got, want)
	}
	for d, lines := range want {
		equal(t, "records in "+d, got[d], lines)
	}
}

func TestEventTimeBuckets(t *testing.T) {
	dir := t.TempDir()
	w := openWriter(t, newSink(t, Config[event]{
		Dir: dir, EventTimeBuckets: "2006-01-02--15",
		Partition: func(e event) string { return e.User },
	}), 0, 1)
	defer closeWriter(t, w)
	at := func(h, m int) time.Time {
		// Not UTC: buckets are named in UTC whatever the record's zone.
		return time.Date(2025, 3, 9, h, m, 0, 0, time.UTC).In(time.FixedZone("UTC+2", 2*3600))
	}
	for _, r := range []struct {
		n    int
		user string
		ts   time.Time
	}{
		{1, "", at(22, 59)}, {2, "", at(23, 0)}, {3, "", at(22, 1)}, {4, "eve", at(23, 30)},
	} {
		if err := w.WriteEventTime(event{N: r.n, User: r.user}, r.ts); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(event{N: 5}); err == nil || !strings.Contains(err.Error(), "EventTimeBuckets") {
		t.Errorf("a record without event time: %v", err)
	}
	commit(t, w, prepare(t, w, 1))
	got := map[string]string{}
	for _, f := range visibleFiles(t, dir) {
		got[path.Dir(f)] = strings.Join(fileLines(t, filepath.Join(dir, f)), ",")
	}
	want := map[string]string{"2025-03-09--22": "1,3", "2025-03-09--23": "2", "eve/2025-03-09--23": "4"}
	if len(got) != len(want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	for d, lines := range want {
		if got[d] != lines {
			t.Errorf("bucket %s has %q, want %q", d, got[d], lines)
		}
	}
}

func TestPartitionMustStayInside(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, Config[event]{Dir: dir, Partition: func(e event) string { return e.User }})
	w := openWriter(t, s, 0, 1)
	defer closeWriter(t, w)
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../x", "/abs", "a//b", "a/../b", "a/./b", "a/", ".hidden", "a/.b", "..", `a\b`, "a\x00b"} {
		err := w.Write(event{User: p})
		if !errors.Is(err, ErrPartition) || !strings.Contains(err.Error(), strings.ReplaceAll(strings.ReplaceAll(p, `\`, `\\`), "\x00", `\x00`)) {
			t.Errorf("partition %q: error %v, want ErrPartition naming it", p, err)
		}
	}
	// A symbolic link that leads out is refused by os.Root.
	if err := w.Write(event{User: "link"}); err == nil {
		t.Error("wrote through a symbolic link leading outside the base directory")
	}
	if err := w.Write(event{User: "link/deeper"}); err == nil {
		t.Error("wrote through a symbolic link leading outside the base directory")
	}
	entries, err := os.ReadDir(outside)
	if err != nil || len(entries) != 0 {
		t.Errorf("outside directory has %v (%v)", entries, err)
	}
	// The bad records failed alone: the writer goes on.
	if err := w.Write(event{N: 1, User: "fine"}); err != nil {
		t.Fatal(err)
	}
	commit(t, w, prepare(t, w, 1))
	equal(t, "visible", visibleLines(t, dir), []string{"1"})
}
