// Package jobtest checks a Nexmark query's rows against the reference
// implementation's.
package jobtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// withBackend adds to o the state backend WEIR_STATE_BACKEND names
// (memory, bytes or pebble), so the query tests run on any backend:
//
//	WEIR_STATE_BACKEND=pebble go test ./internal/app/nexmark/...
//
// Without it a job keeps its default, the memory backend.
func withBackend(t testing.TB, o job.Options) job.Options {
	t.Helper()
	name := os.Getenv("WEIR_STATE_BACKEND")
	if name == "" {
		return o
	}
	b, err := weir.ParseBackend(name)
	if err != nil {
		t.Fatalf("WEIR_STATE_BACKEND: %v", err)
	}
	o.EnvOptions = append(slices.Clone(o.EnvOptions), weir.StateBackend(b))
	return o
}

// canonical returns the JSON object line with its keys sorted and numbers
// kept as written, and its "op" if it has one.
func canonical(line string) (string, string, error) {
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return "", "", fmt.Errorf("row %q: %w", line, err)
	}
	op, _ := m["op"].(string)
	delete(m, "op")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), op, nil
}

// Table applies lines, a query's output, to a multiset of rows: an
// append-only result (updating false) adds every row; a changelog adds +I
// and +U rows and removes -U and -D ones. With ordered set, lines are in
// the order they were emitted (per key) and removing a row that is not
// there is an error; otherwise only the net result counts (rows read back
// from several files), and a row removed more often than added is an error
// at the end.
func Table(lines []string, updating, ordered bool) (map[string]int, error) {
	t := map[string]int{}
	for i, l := range lines {
		row, op, err := canonical(l)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		switch {
		case !updating && op != "":
			return nil, fmt.Errorf("line %d: an append-only result has an op: %s", i+1, l)
		case !updating, op == "+I", op == "+U":
			t[row]++
		case op == "-U", op == "-D":
			if ordered && t[row] == 0 {
				return nil, fmt.Errorf("line %d: %s retracts a row that is not in the table", i+1, l)
			}
			t[row]--
		default:
			return nil, fmt.Errorf("line %d: a changelog row needs op +I, -U, +U or -D: %s", i+1, l)
		}
	}
	for row, n := range t {
		switch {
		case n < 0:
			return nil, fmt.Errorf("the changelog retracts %s more often than it adds it", row)
		case n == 0:
			delete(t, row)
		}
	}
	return t, nil
}

// Check fails t unless lines, applied in order as Table does, give exactly
// the rows of want (as multisets).
func Check(t testing.TB, lines []string, updating bool, want []reference.Row) {
	t.Helper()
	check(t, lines, updating, true, want)
}

// CheckNet is Check for lines whose order is lost (read back from several
// files): only the changelog's net result counts.
func CheckNet(t testing.TB, lines []string, updating bool, want []reference.Row) {
	t.Helper()
	check(t, lines, updating, false, want)
}

func check(t testing.TB, lines []string, updating, ordered bool, want []reference.Row) {
	t.Helper()
	got, err := Table(lines, updating, ordered)
	if err != nil {
		t.Fatal(err)
	}
	exp := map[string]int{}
	for _, r := range want {
		c, _, err := canonical(r.JSON())
		if err != nil {
			t.Fatal(err)
		}
		exp[c]++
	}
	var missing, extra []string
	for r, n := range exp {
		for range n - got[r] {
			missing = append(missing, r)
		}
	}
	for r, n := range got {
		for range n - exp[r] {
			extra = append(extra, r)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return
	}
	slices.Sort(missing)
	slices.Sort(extra)
	t.Errorf("%d rows expected, %d in the result: %d missing, %d unexpected", len(want), total(got), len(missing), len(extra))
	for i, r := range missing {
		if i == 10 {
			t.Errorf("  … %d more missing", len(missing)-10)
			break
		}
		t.Errorf("  missing:    %s", r)
	}
	for i, r := range extra {
		if i == 10 {
			t.Errorf("  … %d more unexpected", len(extra)-10)
			break
		}
		t.Errorf("  unexpected: %s", r)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// Events returns the first n events of the default stream at tps events per
// second of event time, in stream order, and the generator configuration
// that makes them.
func Events(t testing.TB, n, tps int64) ([]nexmark.Event, nexmark.Config) {
	t.Helper()
	cfg := nexmark.DefaultConfig()
	cfg.Events, cfg.TPS = n, tps
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]nexmark.Event, 0, n)
	for _, e := range g.All() {
		events = append(events, e)
	}
	return events, cfg
}

// Reduced reports whether tests should run on less data: with -short or
// under the race detector, which slows the engine down about tenfold.
func Reduced() bool { return testing.Short() || raceEnabled }

// Size is the number of events CheckGenerated checks a query on: 100 000,
// or 20 000 with -short or under the race detector, which slows the engine
// down about tenfold.
func Size() int64 {
	if Reduced() {
		return 20_000
	}
	return 100_000
}

// CheckGenerated runs q on the first Size() events of the default stream at
// 1 000 events per second of event time — so windows close while the input
// still flows — at parallelism 1 and 2, and checks each result against
// want's rows for the same events.
func CheckGenerated(t *testing.T, q job.Query, want func([]nexmark.Event) []reference.Row, o job.Options) {
	t.Helper()
	events, cfg := Events(t, Size(), 1000)
	if err := reference.CheckNotLate(events); err != nil {
		t.Fatal(err)
	}
	rows := want(events)
	for _, p := range []int{1, 2} {
		t.Run(fmt.Sprintf("p%d", p), func(t *testing.T) {
			o := withBackend(t, o)
			o.Generator, o.Parallelism = cfg, p
			lines, _, err := job.RunCollect(t.Context(), q, o)
			if err != nil {
				t.Fatal(err)
			}
			Check(t, lines, q.Updating, rows)
		})
	}
}

// CheckInput runs q on events (a hand-made input, written to a file and
// read back as `weir nexmark run --input` reads it) at parallelism 1 and
// checks the result against rows.
func CheckInput(t *testing.T, q job.Query, events []nexmark.Event, rows []reference.Row, o job.Options) {
	t.Helper()
	o = withBackend(t, o)
	o.Input, o.Parallelism = WriteEvents(t, events), 1
	lines, _, err := job.RunCollect(t.Context(), q, o)
	if err != nil {
		t.Fatal(err)
	}
	Check(t, lines, q.Updating, rows)
}

// R builds an expected row from column name, value pairs, in column order:
// R("auction", 246, "price", 1). Go ints become int64; a
// reference.Decimal, a string, an int64 or nil are kept as they are.
func R(pairs ...any) reference.Row {
	if len(pairs)%2 != 0 {
		panic("jobtest.R: pairs of name and value")
	}
	r := make(reference.Row, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		v := pairs[i+1]
		if n, ok := v.(int); ok {
			v = int64(n)
		}
		r = append(r, reference.Col{Name: pairs[i].(string), Value: v})
	}
	return r
}

// BenchEvents is how many generated events one Bench run reads.
const BenchEvents = 2_000_000

// Bench runs each query on BenchEvents generated events at the default tps
// and parallelism 1, rows counted and dropped (as Flink's blackhole sink),
// and reports events per second of CPU time of the whole process (generator
// included). One iteration is a whole run; use -benchtime=1x for a quick
// figure. WEIR_STATE_BACKEND chooses the state backend, as in the tests.
func Bench(b *testing.B, qs ...job.Query) {
	for _, q := range qs {
		b.Run(q.Name, func(b *testing.B) {
			cfg := nexmark.DefaultConfig()
			cfg.Events = BenchEvents
			var events, rows int64
			var cpu, wall float64
			for b.Loop() {
				r, err := job.Run(b.Context(), q, withBackend(b, job.Options{Generator: cfg, Parallelism: 1}))
				if err != nil {
					b.Fatal(err)
				}
				if r.Events != BenchEvents {
					b.Fatalf("%s read %d events, want %d", q.Name, r.Events, BenchEvents)
				}
				events += r.Events
				rows += r.Rows
				cpu += r.CPU.Seconds()
				wall += r.Elapsed.Seconds()
			}
			b.ReportMetric(float64(events)/cpu, "events/core-s")
			b.ReportMetric(float64(events)/wall, "events/s")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/run")
		})
	}
}

// WriteEvents writes events as an events file (JSON lines, line i+1 being
// events[i]) in a temporary directory and returns its path.
func WriteEvents(t testing.TB, events []nexmark.Event) string {
	t.Helper()
	var b []byte
	for i := range events {
		b = nexmark.AppendJSON(b, &events[i])
		b = append(b, '\n')
	}
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// StopAndRestore runs q with checkpoints on the first n events of the
// default stream at tps, its rows going to files under out: at parallelism
// 1 until about a third of the events are read, then stopped with a
// savepoint; then restored at parallelism 2 and run to the end. It fails t
// unless the first run stopped part way and the two read n events in all,
// and returns the events for the caller to compute the expected rows.
func StopAndRestore(t *testing.T, q job.Query, n, tps int64, out string) []nexmark.Event {
	t.Helper()
	events, cfg := Events(t, n, tps)
	chk := filepath.Join(t.TempDir(), "chk")
	stop := make(chan struct{})
	stopped := false
	first, err := job.Run(t.Context(), q, withBackend(t, job.Options{
		// A second for all the events: the metrics lag by up to 250 ms.
		Generator: cfg, Rate: float64(n), Parallelism: 1, CheckpointDir: chk, CheckpointInterval: 40 * time.Millisecond,
		Out: out, Stop: stop, ProgressEvery: 5 * time.Millisecond,
		Progress: func(p job.Progress) {
			if !stopped && p.Events >= n/3 {
				stopped = true
				close(stop)
			}
		},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if first.Events >= n {
		t.Fatalf("the first run read all %d events before it was stopped", first.Events)
	}
	second, err := job.Run(t.Context(), q, withBackend(t, job.Options{
		Generator: cfg, Parallelism: 2, CheckpointDir: chk, CheckpointInterval: 40 * time.Millisecond,
		Restore: "latest", Out: out,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if first.Events+second.Events != n {
		t.Errorf("the runs read %d + %d events, want %d in all", first.Events, second.Events, n)
	}
	return events
}
