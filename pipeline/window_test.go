package pipeline_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// txn is a record of the window tests' input.
type txn struct {
	card   string
	amount int64
	city   string
	ts     int64 // Unix milliseconds
}

var windowBase = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC).UnixMilli()

// txns makes n transactions of 7 cards over about n seconds, each at
// its own millisecond, up to 7.5 s out of order.
func txns(n int) []txn { return txnsFrom(0, n) }

// txnsFrom makes the transactions first, first+1, … of the same sequence.
func txnsFrom(first, n int) []txn {
	cities := []string{"paris", "lyon", "nice", "lille", "metz"}
	out := make([]txn, n)
	seen := map[int64]bool{}
	for j := range n {
		i := first + j
		ts := windowBase + int64(i)*1000 - int64(i%4)*2500 + int64(i%10)
		for seen[ts] {
			ts++
		}
		seen[ts] = true
		out[j] = txn{card: fmt.Sprintf("c%d", (i*5)%7), amount: int64(1 + (i*37)%101), city: cities[(i*3+i/7)%5], ts: ts}
	}
	return out
}

func writeTxns(t *testing.T, path string, ts []txn) {
	t.Helper()
	var b strings.Builder
	for _, x := range ts {
		fmt.Fprintf(&b, `{"card":%q,"amount":%d,"city":%q,"ts":%d}`+"\n", x.card, x.amount, x.city, x.ts)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// windowRow is a window's result as the reference computes it.
type windowRow struct {
	key               string
	start, end        int64 // 0 for count windows
	n, total, lo, hi  int64
	mean              float64
	cities            int64
	p90               float64
	first, last       string
	exactP90ForBounds float64
}

// reference aggregates records of one window the way the window step
// should.
func reference(key string, start, end int64, rs []txn) windowRow {
	w := windowRow{key: key, start: start, end: end, n: int64(len(rs)), lo: math.MaxInt64, hi: math.MinInt64}
	cities := map[string]bool{}
	var amounts []float64
	firstTs, lastTs := int64(math.MaxInt64), int64(math.MinInt64)
	for _, r := range rs {
		w.total += r.amount
		w.lo, w.hi = min(w.lo, r.amount), max(w.hi, r.amount)
		cities[r.city] = true
		amounts = append(amounts, float64(r.amount))
		if r.ts < firstTs {
			firstTs, w.first = r.ts, r.city
		}
		if r.ts > lastTs {
			lastTs, w.last = r.ts, r.city
		}
	}
	w.mean = float64(w.total) / float64(w.n)
	w.cities = int64(len(cities))
	slices.Sort(amounts)
	// DDSketch's rank: the value at the lower whole rank of q·(n−1).
	w.exactP90ForBounds = amounts[int(0.9*float64(len(amounts)-1))]
	return w
}

func referenceWindows(kind string, in []txn) []windowRow {
	byKey := map[string][]txn{}
	for _, r := range in {
		byKey[r.card] = append(byKey[r.card], r)
	}
	var out []windowRow
	for key, rs := range byKey {
		switch kind {
		case "tumbling", "sliding":
			size, slide := int64(60_000), int64(60_000)
			if kind == "sliding" {
				slide = 20_000
			}
			wins := map[int64][]txn{}
			for _, r := range rs {
				last := r.ts - r.ts%slide
				for s := last; s > r.ts-size; s -= slide {
					wins[s] = append(wins[s], r)
				}
			}
			for s, ws := range wins {
				out = append(out, reference(key, s, s+size, ws))
			}
		case "session":
			sorted := slices.Clone(rs)
			sort.Slice(sorted, func(i, j int) bool { return sorted[i].ts < sorted[j].ts })
			const gap = 2_500
			startAt := 0
			for i := 1; i <= len(sorted); i++ {
				if i == len(sorted) || sorted[i].ts >= sorted[i-1].ts+gap {
					ws := sorted[startAt:i]
					out = append(out, reference(key, ws[0].ts, ws[len(ws)-1].ts+gap, ws))
					startAt = i
				}
			}
		case "count":
			for i := 0; i+5 <= len(rs); i += 5 {
				out = append(out, reference(key, 0, 0, rs[i:i+5]))
			}
		}
	}
	return out
}

const windowPipeline = `version: 1
inputs:
  txns:
    type: file
    path: ${env:IN}
    schema: {card: string, amount: int, city: string, ts: int}
    event_time: {field: ts, max_out_of_orderness: 10s}
steps:
  - name: per-card
    window:
      key: card
      KIND
      aggregates:
        n: count
        total: sum(amount)
        lo: min(amount)
        hi: max(amount)
        mean: avg(amount)
        cities: distinct_count(city)
        p90: p90(amount)
        first: first(city)
        last: last(city)
outputs:
  out: {type: stdout}
`

// parseRows reads the window step's results.
func parseRows(t *testing.T, out string) []windowRow {
	t.Helper()
	var rows []windowRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r struct {
			Key              string
			Start            *time.Time `json:"window_start"`
			End              *time.Time `json:"window_end"`
			N, Total, Lo, Hi int64
			Mean, P90        float64
			Cities           int64
			First, Last      string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		w := windowRow{key: r.Key, n: r.N, total: r.Total, lo: r.Lo, hi: r.Hi, mean: r.Mean, cities: r.Cities, p90: r.P90, first: r.First, last: r.Last}
		if r.Start != nil {
			w.start, w.end = r.Start.UnixMilli(), r.End.UnixMilli()
		}
		rows = append(rows, w)
	}
	return rows
}

func rowKey(w windowRow) string {
	return fmt.Sprintf("%s %d %d n=%d total=%d lo=%d hi=%d first=%s last=%s", w.key, w.start, w.end, w.n, w.total, w.lo, w.hi, w.first, w.last)
}

// Each kind of window aggregates what plain Go computes over the same
// records: counts, sums, minima, maxima, averages, first and last exactly,
// distinct counts exactly (the sketch is exact at these sizes) and the
// 90th percentile within the sketch's 1%.
func TestWindowKinds(t *testing.T) {
	in := txns(400)
	dir := t.TempDir()
	path := filepath.Join(dir, "txns.jsonl")
	writeTxns(t, path, in)
	kinds := map[string]string{
		"tumbling": "tumbling: 1m",
		"sliding":  "sliding: {size: 1m, slide: 20s}",
		"session":  "session: {gap: 2500ms}",
		"count":    "count: 5",
	}
	for kind, spec := range kinds {
		t.Run(kind, func(t *testing.T) {
			p := parse(t, strings.Replace(windowPipeline, "KIND", spec, 1), map[string]string{"IN": path})
			var out strings.Builder
			env := weir.New(weir.Parallelism(1))
			if _, err := p.Build(env, pipeline.Stdout(&out)); err != nil {
				t.Fatal(err)
			}
			if err := env.Run(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := parseRows(t, out.String())
			want := referenceWindows(kind, in)
			if kind == "count" {
				for i := range got {
					got[i].start, got[i].end = 0, 0
				}
			}
			if len(want) < 50 {
				t.Fatalf("the reference has %d windows; the test needs more", len(want))
			}
			if len(got) != len(want) {
				t.Fatalf("%d windows, want %d", len(got), len(want))
			}
			wantBy := map[string]windowRow{}
			for _, w := range want {
				wantBy[rowKey(w)] = w
			}
			for _, g := range got {
				w, ok := wantBy[rowKey(g)]
				if !ok {
					t.Fatalf("window %s is not one of the reference's", rowKey(g))
				}
				if math.Abs(g.mean-w.mean) > 1e-9 || g.cities != w.cities {
					t.Errorf("window %s: mean %v cities %d, want %v and %d", rowKey(g), g.mean, g.cities, w.mean, w.cities)
				}
				if math.Abs(g.p90-w.exactP90ForBounds) > pipeline.PercentileAccuracy*w.exactP90ForBounds {
					t.Errorf("window %s: p90 %v, want %v within 1%%", rowKey(g), g.p90, w.exactP90ForBounds)
				}
			}
		})
	}
}

// A record whose event time cannot be read meets its input's error
// policy: dead-lettered with the field named, while the others go on.
func TestEventTimeUnreadable(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.jsonl"), filepath.Join(dir, "out")
	lines := `{"id":1,"ts":"2026-03-01T10:00:00Z"}
{"id":2,"ts":"yesterday"}
{"id":3,"ts":1772359201000}
{"id":4}
{"id":5,"ts":"2026-03-01T10:00:02.5Z"}
`
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	src := `version: 1
inputs:
  events:
    type: file
    path: ${env:IN}
    on_error: dead-letter
    event_time: {field: ts, max_out_of_orderness: 1s}
steps:
  - name: per-second
    window:
      tumbling: 1s
      aggregates: {n: count, ids: sum(id)}
outputs:
  out: {type: file, path: "${env:OUT}/counts"}
dead_letter: {path: "${env:OUT}/dead"}
`
	run(t, parse(t, src, map[string]string{"IN": in, "OUT": out}), weir.Parallelism(1))
	got := committed(t, filepath.Join(out, "counts"))
	want := []string{
		`{"ids":1,"n":1,"window_end":"2026-03-01T10:00:01Z","window_start":"2026-03-01T10:00:00Z"}`,
		`{"ids":3,"n":1,"window_end":"2026-03-01T10:00:02Z","window_start":"2026-03-01T10:00:01Z"}`,
		`{"ids":5,"n":1,"window_end":"2026-03-01T10:00:03Z","window_start":"2026-03-01T10:00:02Z"}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("windows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	dead := strings.Join(committed(t, filepath.Join(out, "dead")), "\n")
	for _, w := range []string{`event_time: field \"ts\": string \"yesterday\" is not an RFC 3339 time`, `event_time: field \"ts\": missing or null`} {
		if !strings.Contains(dead, w) {
			t.Errorf("dead letters do not say %s:\n%s", w, dead)
		}
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
