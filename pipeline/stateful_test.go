package pipeline_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// Records too late for their window, after the allowed lateness, go to
// the late output; records within it make the window fire again.
func TestWindowLateOutput(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out")
	var b strings.Builder
	for i, sec := range []int64{0, 10, 70, 5, 95, 6} {
		fmt.Fprintf(&b, `{"id":%d,"ts":%d}`+"\n", i, windowBase+sec*1000)
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `version: 1
inputs:
  events:
    type: file
    path: ${env:IN}
    schema: {id: int, ts: int}
    event_time: {field: ts}
steps:
  - name: per-minute
    window:
      tumbling: 1m
      allowed_lateness: 20s
      late: too-late
      aggregates: {n: count, ids: sum(id)}
outputs:
  counts: {type: file, path: "${env:OUT}/counts"}
  too-late: {type: file, path: "${env:OUT}/late"}
`
	// The watermark moves after every record, so that lateness is decided
	// record by record.
	run(t, parse(t, src, map[string]string{"IN": in, "OUT": out}), weir.Parallelism(1), weir.WatermarkInterval(0))
	got := committed(t, filepath.Join(out, "counts"))
	want := []string{
		`{"ids":1,"n":2,"window_end":"2026-03-01T10:01:00Z","window_start":"2026-03-01T10:00:00Z"}`,
		`{"ids":4,"n":3,"window_end":"2026-03-01T10:01:00Z","window_start":"2026-03-01T10:00:00Z"}`,
		`{"ids":6,"n":2,"window_end":"2026-03-01T10:02:00Z","window_start":"2026-03-01T10:01:00Z"}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("windows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	late := committed(t, filepath.Join(out, "late"))
	if wantLate := []string{fmt.Sprintf(`{"id":5,"ts":%d}`, windowBase+6000)}; !slices.Equal(late, wantLate) {
		t.Errorf("late output %q, want %q", late, wantLate)
	}
}

const restoreWindowPipeline = `version: 1
inputs:
  txns:
    type: file
    path: ${env:IN}
    watch: WATCH
    discovery_interval: 5ms
    schema: {card: string, amount: int, city: string, ts: int}
    event_time: {field: ts, max_out_of_orderness: 10s, idleness: 50ms}
steps:
  - name: big
    filter: amount > 10
  - name: per-card
    window:
      key: card
      tumbling: 30s
      aggregates: {n: count, total: sum(amount), hi: max(amount), last: last(city)}
outputs:
  out: {type: file, path: "${env:OUT}"}
`

// withoutCard drops the lines of card zz: the sentinel whose far-future
// time moves the watermark past every other window in a run that does
// not end.
func withoutCard(lines []string) []string {
	return slices.DeleteFunc(lines, func(l string) bool { return strings.Contains(l, `"zz"`) })
}

// A window pipeline stopped with a savepoint at parallelism 2 and
// restored at 3, with a step added before the window, writes what an
// uninterrupted run writes: the windows' accumulators are keyed state
// that follows its keys, under an ID from the step's name.
func TestWindowRestoreRescaled(t *testing.T) {
	dir := t.TempDir()
	in, out, chk, once := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "chk"), filepath.Join(dir, "once")
	onceIn := filepath.Join(dir, "once-in")
	for _, d := range []string{in, onceIn} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	first, second := txnsFrom(0, 1500), txnsFrom(1500, 1500)
	sentinel := txn{card: "zz", amount: 50, city: "x", ts: second[len(second)-1].ts + 3_600_000}
	second = append(second, sentinel)
	writeTxns(t, filepath.Join(onceIn, "a.jsonl"), first)
	writeTxns(t, filepath.Join(onceIn, "b.jsonl"), second)
	run(t, parse(t, strings.Replace(restoreWindowPipeline, "WATCH", "false", 1), map[string]string{"IN": onceIn, "OUT": once}), weir.Parallelism(2))
	want := withoutCard(committed(t, once))
	if len(want) < 200 {
		t.Fatalf("the uninterrupted run wrote %d windows", len(want))
	}

	p := parse(t, strings.Replace(restoreWindowPipeline, "WATCH", "true", 1), map[string]string{"IN": in, "OUT": out})
	writeTxns(t, filepath.Join(in, "a.jsonl"), first)
	// The watermark goes out after every record: a split's last records
	// move it before the split ends.
	if err := runUntil(t, p, chk, false, func() bool { return len(committed(t, out)) >= 50 }, weir.Parallelism(2), weir.WatermarkInterval(0)); err != nil {
		t.Fatal(err)
	}
	writeTxns(t, filepath.Join(in, "b.jsonl"), second)
	// The restored pipeline has a step more before the window: the
	// window's state follows its name, not its position.
	p = parse(t, strings.Replace(strings.Replace(restoreWindowPipeline, "WATCH", "true", 1), "steps:\n", "steps:\n  - name: tagged\n    map: {seen: true}\n", 1), map[string]string{"IN": in, "OUT": out})
	if err := runUntil(t, p, chk, true, func() bool { return len(withoutCard(committed(t, out))) >= len(want) }, weir.Parallelism(3), weir.WatermarkInterval(0)); err != nil {
		t.Fatal(err)
	}
	if got := withoutCard(committed(t, out)); !slices.Equal(got, want) {
		t.Errorf("restored run: %d windows, want the uninterrupted run's %d\nfirst difference: %s", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("got %s, want %s", got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

const dedupePipeline = `version: 1
inputs:
  events:
    type: file
    path: ${env:IN}
    watch: true
    discovery_interval: 5ms
    schema: {id: string, n: int, ts: int}
    event_time: {field: ts, max_out_of_orderness: 1s, idleness: 50ms}
steps:
  - name: once
    dedupe: {key: id, within: 10m}
outputs:
  out: {type: file, path: "${env:OUT}"}
`

// A dedupe's state survives a savepoint and a rescale: the second file's
// repeats of the first file's ids, read after the restore, are dropped,
// and its new ids kept once each.
func TestDedupeAcrossRestore(t *testing.T) {
	dir := t.TempDir()
	in, out, chk := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "chk")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, ids []int, offset int64) {
		var b strings.Builder
		for j, id := range ids {
			fmt.Fprintf(&b, `{"id":"e%d","n":%d,"ts":%d}`+"\n", id, j, windowBase+int64(id)*100+offset)
		}
		if err := os.WriteFile(filepath.Join(in, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var firstIDs, secondIDs []int
	for i := range 300 {
		firstIDs = append(firstIDs, i, i) // each id twice in the first file
	}
	for i := 150; i < 450; i++ {
		secondIDs = append(secondIDs, i) // half repeats, half new
	}
	write("a.jsonl", firstIDs, 0)
	env := map[string]string{"IN": in, "OUT": out}
	if err := runUntil(t, parse(t, dedupePipeline, env), chk, false, func() bool { return len(committed(t, out)) >= 300 }, weir.Parallelism(2)); err != nil {
		t.Fatal(err)
	}
	write("b.jsonl", secondIDs, 5_000)
	if err := runUntil(t, parse(t, dedupePipeline, env), chk, true, func() bool { return len(committed(t, out)) >= 450 }, weir.Parallelism(3)); err != nil {
		t.Fatal(err)
	}
	got := committed(t, out)
	ids := map[string]int{}
	for _, l := range got {
		var r struct{ ID string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		ids[r.ID]++
	}
	if len(got) != 450 || len(ids) != 450 {
		t.Errorf("%d records of %d ids, want each of the 450 ids once", len(got), len(ids))
	}
}

// An interval join pairs each click with the views of its ad from 5 s
// before to 1 s after it: what nested loops over the two files pair.
func TestJoin(t *testing.T) {
	dir := t.TempDir()
	clicks, views, out := filepath.Join(dir, "clicks.jsonl"), filepath.Join(dir, "views.jsonl"), filepath.Join(dir, "out")
	type ev struct {
		id, ad int
		ts     int64
	}
	var cs, vs []ev
	var cb, vb strings.Builder
	for i := range 200 {
		c := ev{id: i, ad: i % 13, ts: windowBase + int64(i)*700}
		cs = append(cs, c)
		fmt.Fprintf(&cb, `{"id":%d,"ad":%d,"ts":%d}`+"\n", c.id, c.ad, c.ts)
		v := ev{id: 1000 + i, ad: (i * 7) % 13, ts: windowBase + int64(i)*650 + 300}
		vs = append(vs, v)
		fmt.Fprintf(&vb, `{"view":%d,"ad_id":%d,"ts":%d}`+"\n", v.id, v.ad, v.ts)
	}
	for path, data := range map[string]string{clicks: cb.String(), views: vb.String()} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := `version: 1
inputs:
  clicks:
    type: file
    path: ${env:CLICKS}
    schema: {id: int, ad: int, ts: int}
    event_time: {field: ts, max_out_of_orderness: 1s}
  views:
    type: file
    path: ${env:VIEWS}
    schema: {view: int, ad_id: int, ts: int}
    event_time: {field: ts, max_out_of_orderness: 1s}
steps:
  - name: seen
    from: clicks
    join:
      with: views
      key: ad
      with_key: ad_id
      between: [-5s, 1s]
  - name: pairs
    project: {click: left.id, view: right.view}
outputs:
  out: {type: file, path: "${env:OUT}"}
`
	run(t, parse(t, src, map[string]string{"CLICKS": clicks, "VIEWS": views, "OUT": out}), weir.Parallelism(2))
	var want []string
	for _, c := range cs {
		for _, v := range vs {
			if c.ad == v.ad && v.ts >= c.ts-5000 && v.ts <= c.ts+1000 {
				want = append(want, fmt.Sprintf(`{"click":%d,"view":%d}`, c.id, v.id))
			}
		}
	}
	slices.Sort(want)
	if len(want) < 20 {
		t.Fatalf("the reference has %d pairs; the test needs more", len(want))
	}
	if got := committed(t, out); !slices.Equal(got, want) {
		t.Errorf("join: %d pairs, want %d\n%s", len(got), len(want), firstDiff(got, want))
	}
}
