package stateless

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ10(t *testing.T) { jobtest.CheckGenerated(t, Q10, reference.Q10, job.Options{}) }

// readPartitioned reads back the committed part files under dir: visible
// files only (the sink's in-progress and pending files are hidden, their
// names starting with '.', and must be gone once the job has ended). It
// fails t unless every row sits in the
// directory dt=<dt>/hm=<hm> of its own columns, with ':' escaped as %3A,
// and returns the rows and the partition directories seen.
func readPartitioned(t *testing.T, dir string) (rows []string, dirs []string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				t.Errorf("hidden directory %s", p)
				return fs.SkipDir
			}
			// In progress or pending: not committed, so not read. Once a
			// job has ended, none should be left.
			t.Errorf("%s: a hidden file is left behind", p)
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !strings.HasPrefix(d.Name(), "part-") || !strings.HasSuffix(d.Name(), ".jsonl") {
			t.Errorf("unexpected file %s", p)
			return nil
		}
		rel, err := filepath.Rel(dir, filepath.Dir(p))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct{ DT, HM string }
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if want := "dt=" + row.DT + "/hm=" + strings.ReplaceAll(row.HM, ":", "%3A"); rel != want {
				t.Errorf("%s: row %s is in directory %s, want %s", p, sc.Text(), rel, want)
			}
			rows = append(rows, sc.Text())
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for d := range seen {
		dirs = append(dirs, d)
	}
	slices.Sort(dirs)
	return rows, dirs
}

// TestQ10Files runs q10 into files at parallelism 2 on generated events
// spanning three minutes of event time and reads the committed part files
// back: each row is in its dt/hm directory and the rows are the
// reference's.
func TestQ10Files(t *testing.T) {
	// 9 000 events at 50 per second: 180 s from 2015-07-15 00:00:00 UTC.
	events, cfg := jobtest.Events(t, 9_000, 50)
	out := t.TempDir()
	r, err := job.Run(t.Context(), Q10, job.Options{Generator: cfg, Parallelism: 2, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	want := reference.Q10(events)
	if r.Rows != int64(len(want)) {
		t.Errorf("%d rows written, want %d", r.Rows, len(want))
	}
	rows, dirs := readPartitioned(t, out)
	jobtest.CheckNet(t, rows, false, want)
	wantDirs := []string{"dt=2015-07-15/hm=00%3A00", "dt=2015-07-15/hm=00%3A01", "dt=2015-07-15/hm=00%3A02"}
	if !slices.Equal(dirs, wantDirs) {
		t.Errorf("partition directories %q, want %q", dirs, wantDirs)
	}
}

// TestQ10ByHand: bids around midnight, out of order within the 4 s bound,
// and before 1970, read back from files.
func TestQ10ByHand(t *testing.T) {
	const midnight = 1436918400000 // 2015-07-15 00:00:00 UTC
	at := func(auction, ms int64) nexmark.Event {
		e := bid(auction, 10)
		e.Bid.DateTime = ms
		return e
	}
	events := []nexmark.Event{
		at(1, midnight-1),      // 2015-07-14 23:59:59.999
		at(2, midnight),        // 2015-07-15 00:00:00.000: a new day
		at(3, midnight-2_000),  // 2 s late, back in 23:59
		at(4, midnight+59_999), // 00:00:59.999, still minute 00:00
		at(5, midnight+60_000), // 00:01
		at(6, -1),              // 1969-12-31 23:59:59.999 (late, but q10 keeps no state: no event is dropped)
	}
	row := func(auction, ms int64, dt, hm string) reference.Row {
		return jobtest.R("auction", auction, "bidder", 7, "price", 10, "dateTime", ms, "extra", "x", "dt", dt, "hm", hm)
	}
	want := []reference.Row{
		row(1, midnight-1, "2015-07-14", "23:59"),
		row(2, midnight, "2015-07-15", "00:00"),
		row(3, midnight-2_000, "2015-07-14", "23:59"),
		row(4, midnight+59_999, "2015-07-15", "00:00"),
		row(5, midnight+60_000, "2015-07-15", "00:01"),
		row(6, -1, "1969-12-31", "23:59"),
	}
	jobtest.CheckInput(t, Q10, events, want, job.Options{})

	out := t.TempDir()
	if _, err := job.Run(t.Context(), Q10, job.Options{Input: jobtest.WriteEvents(t, events), Out: out}); err != nil {
		t.Fatal(err)
	}
	rows, dirs := readPartitioned(t, out)
	jobtest.CheckNet(t, rows, false, want)
	wantDirs := []string{"dt=1969-12-31/hm=23%3A59", "dt=2015-07-14/hm=23%3A59", "dt=2015-07-15/hm=00%3A00", "dt=2015-07-15/hm=00%3A01"}
	if !slices.Equal(dirs, wantDirs) {
		t.Errorf("partition directories %q, want %q", dirs, wantDirs)
	}
}

// TestPartitionDir: Flink's escaping of partition values in paths.
func TestPartitionDir(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{[]string{"2015-07-15", "12:34"}, "dt=2015-07-15/hm=12%3A34"},
		{[]string{"a/b", "x=y"}, "dt=a%2Fb/hm=x%3Dy"},
		{[]string{"%#?*", "\"'\\{[]^"}, "dt=%25%23%3F%2A/hm=%22%27%5C%7B%5B%5D%5E"},
		{[]string{"\x00\n\x7f", "é "}, "dt=%00%0A%7F/hm=é "},
		{[]string{"", "."}, "dt=__DEFAULT_PARTITION__/hm=."},
	} {
		if got := partitionDir([]string{"dt", "hm"}, tc.values); got != tc.want {
			t.Errorf("partitionDir(%q) = %q, want %q", tc.values, got, tc.want)
		}
	}
}

// dateOf and hourMinuteOf are the reference's DATE_FORMAT(ms, 'yyyy-MM-dd')
// and DATE_FORMAT(ms, 'HH:mm') in UTC.
func dateOf(ms int64) string       { return time.UnixMilli(ms).UTC().Format("2006-01-02") }
func hourMinuteOf(ms int64) string { return time.UnixMilli(ms).UTC().Format("15:04") }

// TestMinuteCache: the cached names are those of time.Format for every
// minute, including across a change of minute and before 1970.
func TestMinuteCache(t *testing.T) {
	var c minuteCache
	for _, ms := range []int64{0, 59_999, 60_000, -1, -60_000, -60_001, 1436918400000, 1436918459999, 1436918460000, 0} {
		n := c.get(ms)
		if got := path.Join(n.dt, n.hm); got != path.Join(dateOf(ms), hourMinuteOf(ms)) {
			t.Errorf("get(%d) = %s, want %s/%s", ms, got, dateOf(ms), hourMinuteOf(ms))
		}
	}
}

// TestQ10StopAndRestore stops q10 with a savepoint part way, restores it at
// parallelism 2 and runs it to the end: the committed partitioned files
// hold every bid once, each in its dt/hm directory.
func TestQ10StopAndRestore(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	events := jobtest.StopAndRestore(t, Q10, 30_000, 100, out) // 300 s: five minutes
	rows, dirs := readPartitioned(t, out)
	jobtest.CheckNet(t, rows, false, reference.Q10(events))
	if len(dirs) != 5 {
		t.Errorf("partition directories %q, want the five minutes 00:00 to 00:04", dirs)
	}
}
