// Command nexmark is the Nexmark benchmark harness behind `make
// bench-nexmark`. In one run it measures, in events per second per CPU
// core (events ÷ the process's user + system seconds from rusage):
//
//   - every query on the in-process generator at parallelism 1 and 2 with
//     exactly-once checkpoints, each run lasting until at least five
//     checkpoints have completed;
//   - the plain-Go reference loop of each query (internal/app/nexmark/reference)
//     on the same events, held in memory;
//   - on one JSON-lines events file, Weir reading it against Redpanda's
//     Benthos (bench/nexmark-benthos) on the stateless queries Benthos can
//     express: q0, q1, q2, q22.
//
// It prints the results and, with -doc, writes them as a table between the
// markers "<!-- nexmark:begin -->" and "<!-- nexmark:end -->" of that file.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/weirstream/weir/bench/internal/report"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/queries"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// flinkV2PerCore is Flink 2.x's published events/s per core for each query
// (nexmark/nexmark GUIDE_V2.md: throughput ÷ measured cores, parallelism 8,
// exactly-once checkpoints every 30 s, tps 100 000).
var flinkV2PerCore = map[string]float64{
	"q0": 379e3, "q1": 395e3, "q2": 414e3, "q3": 219e3, "q4": 28.2e3, "q5": 74.5e3, "q7": 22.9e3,
	"q8": 162e3, "q9": 13.8e3, "q10": 133e3, "q11": 46.1e3, "q12": 194e3, "q13": 188e3, "q14": 259e3,
	"q15": 168e3, "q16": 45.2e3, "q17": 161e3, "q18": 65.4e3, "q19": 42.7e3, "q20": 17.8e3,
	"q21": 147e3, "q22": 212e3,
}

// goals are the absolute goals per query in events/s per core; every query
// must also reach 3× Flink's figure.
var goals = map[string]float64{
	"q0": 1.5e6, "q1": 1.5e6, "q2": 1.5e6, "q5": 450e3, "q7": 250e3, "q8": 500e3, "q9": 100e3, "q11": 300e3,
}

// quadratic are the queries whose reference loop scans quadratically; it
// runs on fewer events.
var quadratic = map[string]bool{"q4": true, "q9": true, "q20": true}

type options struct {
	duration   time.Duration
	interval   time.Duration
	fileEvents int64
	refEvents  int64
	benthos    string
	doc        string
	only       string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 6*time.Second, "least time each generator run lasts")
	flag.DurationVar(&o.interval, "interval", time.Second, "checkpoint interval of the generator runs")
	flag.Int64Var(&o.fileEvents, "file-events", 1_000_000, "events in the JSON file Weir and Benthos both read")
	flag.Int64Var(&o.refEvents, "ref-events", 1_000_000, "events the reference loops run on (1/20 of it for the quadratic ones)")
	flag.StringVar(&o.benthos, "benthos", "", "the nexmark-benthos binary (bench/nexmark-benthos); empty skips the comparison")
	flag.StringVar(&o.doc, "doc", "", "write the tables into this Markdown file between the nexmark markers")
	flag.StringVar(&o.only, "queries", "", "comma-separated queries to run (default all)")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-nexmark: %v\n", err)
		os.Exit(1)
	}
}

// row is one query's measurements.
type row struct {
	query          string
	p1, p2         float64 // events/s per core
	cp1, cp2       int64   // checkpoints completed
	ref            float64
	refEvents      int64
	flink, goal    float64
	benthos, wfile float64 // events/s per core on the JSON file
	yaml           float64 // the query as a YAML pipeline on the file
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "weir-bench-nexmark-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	qs := queries.All()
	if o.only != "" {
		var sel []job.Query
		for _, name := range strings.Split(o.only, ",") {
			q, ok := queries.ByName(strings.TrimSpace(name))
			if !ok {
				return fmt.Errorf("-queries: no query %q", name)
			}
			sel = append(sel, q)
		}
		qs = sel
	}
	cfg := nexmark.DefaultConfig()
	rows := make([]*row, len(qs))
	for i, q := range qs {
		r := &row{query: q.Name, flink: flinkV2PerCore[q.Name], goal: goals[q.Name]}
		rows[i] = r
		for _, p := range []int{1, 2} {
			rate, cps, err := generatorRun(ctx, q, p, cfg, filepath.Join(dir, fmt.Sprintf("%s-p%d", q.Name, p)), o)
			if err != nil {
				return fmt.Errorf("%s at parallelism %d: %w", q.Name, p, err)
			}
			if p == 1 {
				r.p1, r.cp1 = rate, cps
			} else {
				r.p2, r.cp2 = rate, cps
			}
			fmt.Fprintf(os.Stderr, "%-4s p%d  %10.0f events/s per core, %d checkpoints\n", q.Name, p, rate, cps)
		}
	}

	// The reference loops, on events held in memory.
	refCfg := cfg
	refCfg.Events = o.refEvents
	events, err := generate(refCfg)
	if err != nil {
		return err
	}
	for _, r := range rows {
		ev := events
		if quadratic[r.query] {
			ev = events[:len(events)/20]
		}
		f := referenceOf(r.query)
		if f == nil {
			continue
		}
		runtime.GC()
		c0 := report.CPUSeconds()
		f(ev)
		r.ref, r.refEvents = float64(len(ev))/(report.CPUSeconds()-c0), int64(len(ev))
		fmt.Fprintf(os.Stderr, "%-4s reference loop %10.0f events/s per core on %d events\n", r.query, r.ref, len(ev))
	}

	// Weir and Benthos on the same JSON file.
	if o.benthos != "" {
		fileCfg := cfg
		fileCfg.Events = o.fileEvents
		path := filepath.Join(dir, "events.jsonl")
		if err := writeEvents(path, fileCfg); err != nil {
			return err
		}
		for _, r := range rows {
			switch r.query {
			case "q0", "q1", "q2", "q22":
			default:
				continue
			}
			q, _ := queries.ByName(r.query)
			runtime.GC()
			res, err := job.Run(ctx, q, job.Options{Input: path, Parallelism: 1})
			if err != nil {
				return fmt.Errorf("%s on the file: %w", r.query, err)
			}
			r.wfile = res.EventsPerCoreSecond()
			runtime.GC()
			if r.yaml, err = yamlRun(ctx, r.query, path); err != nil {
				return err
			}
			if r.benthos, err = benthosRun(ctx, o.benthos, r.query, path); err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%-4s JSON file: Weir %10.0f, YAML pipeline %10.0f, Benthos %10.0f events/s per core\n",
				r.query, r.wfile, r.yaml, r.benthos)
		}
	}

	table := render(rows, o)
	fmt.Print(table)
	if o.doc != "" {
		return report.WriteSection(o.doc, "nexmark", table)
	}
	return nil
}

// generatorRun runs q on the endless generator with checkpoints until it
// has lasted o.duration and completed five checkpoints, then stops it with
// a savepoint.
func generatorRun(ctx context.Context, q job.Query, p int, cfg nexmark.Config, dir string, o options) (float64, int64, error) {
	stop := make(chan struct{})
	stopped := false
	runtime.GC()
	debug.FreeOSMemory()
	res, err := job.Run(ctx, q, job.Options{
		Generator: cfg, Parallelism: p, CheckpointDir: dir, CheckpointInterval: o.interval, Stop: stop,
		ProgressEvery: 50 * time.Millisecond,
		Progress: func(pr job.Progress) {
			if !stopped && pr.Elapsed >= o.duration && pr.Checkpoints >= 5 {
				stopped = true
				close(stop)
			}
		},
	})
	if err != nil {
		return 0, 0, err
	}
	if res.Checkpoints < 5 {
		return 0, 0, fmt.Errorf("only %d checkpoints completed", res.Checkpoints)
	}
	return res.EventsPerCoreSecond(), res.Checkpoints, os.RemoveAll(dir)
}

func generate(cfg nexmark.Config) ([]nexmark.Event, error) {
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return nil, err
	}
	events := make([]nexmark.Event, 0, cfg.Events)
	for _, e := range g.All() {
		events = append(events, e)
	}
	return events, nil
}

func writeEvents(path string, cfg nexmark.Config) error {
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var b []byte
	for _, e := range g.All() {
		b = nexmark.AppendJSON(b, &e)
		b = append(b, '\n')
		if len(b) > 1<<20 {
			if _, err := f.Write(b); err != nil {
				f.Close()
				return err
			}
			b = b[:0]
		}
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// referenceOf returns the reference loop of query name.
func referenceOf(name string) func([]nexmark.Event) []reference.Row {
	switch name {
	case "q13":
		side := map[int64]string{}
		for k := range int64(10_000) {
			side[k] = fmt.Sprint(k)
		}
		return func(ev []nexmark.Event) []reference.Row { return reference.Q13(ev, side) }
	}
	return map[string]func([]nexmark.Event) []reference.Row{
		"q0": reference.Q0, "q1": reference.Q1, "q2": reference.Q2, "q3": reference.Q3, "q4": reference.Q4,
		"q5": reference.Q5, "q7": reference.Q7, "q8": reference.Q8, "q9": reference.Q9, "q10": reference.Q10,
		"q11": reference.Q11, "q12": reference.Q12, "q14": reference.Q14, "q15": reference.Q15,
		"q16": reference.Q16, "q17": reference.Q17, "q18": reference.Q18, "q19": reference.Q19,
		"q20": reference.Q20, "q21": reference.Q21, "q22": reference.Q22,
	}[name]
}

// benthosRun runs the Benthos program on one query and the file.
func benthosRun(ctx context.Context, bin, query, path string) (float64, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-query", query, "-input", path, "-threads", "1")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("benthos %s: %w: %s", query, err, errb.String())
	}
	var r struct {
		Events int64   `json:"events"`
		CPU    float64 `json:"cpuSeconds"`
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return 0, fmt.Errorf("benthos %s: %w (output %q)", query, err, out.String())
	}
	return float64(r.Events) / r.CPU, nil
}

func render(rows []*row, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %d CPUs (%s/%s), generator at tps %d, checkpoints every %v, runs of at least %v and 5 checkpoints.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, nexmark.DefaultTPS, o.interval, o.duration)
	b.WriteString("| query | Weir p1 /core | Weir p2 /core | checkpoints p1/p2 | reference loop /core | Weir p1 ÷ loop | Flink V2 /core | Weir p1 ÷ Flink | goal /core | met |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		ref := "–"
		ratio := "–"
		if r.ref > 0 {
			ref = human(r.ref)
			if quadratic[r.query] {
				ref += " ¹"
			}
			ratio = fmt.Sprintf("%.2f", r.p1/r.ref)
		}
		goal := max(r.goal, 3*r.flink)
		met := "yes"
		if r.p1 < goal {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d / %d | %s | %s | %s | %.1f× | %s | %s |\n",
			r.query, human(r.p1), human(r.p2), r.cp1, r.cp2, ref, ratio, human(r.flink), r.p1/r.flink, human(goal), met)
	}
	b.WriteString("\n¹ The reference loop of q4, q9 and q20 scans quadratically (it is written for clarity, not speed); it runs on 1/20 of the events.\n")
	b.WriteString("The goal is the larger of the query's own goal and 3× Flink's figure.\n")
	if o.benthos != "" {
		fmt.Fprintf(&b, "\nOn one JSON-lines file of %d events, parallelism 1 (Benthos: one pipeline thread), both parsing the same JSON:\n\n", o.fileEvents)
		b.WriteString("| query | Weir /core | YAML pipeline /core | Benthos v4.76.0 /core | Weir ÷ Benthos | YAML ÷ Benthos | goal | met |\n|---|---|---|---|---|---|---|---|\n")
		for _, r := range rows {
			if r.benthos == 0 {
				continue
			}
			met := "yes"
			if r.wfile < 5*r.benthos || r.yaml < 5*r.benthos {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1f× | %.1f× | 5× | %s |\n",
				r.query, human(r.wfile), human(r.yaml), human(r.benthos), r.wfile/r.benthos, r.yaml/r.benthos, met)
		}
		b.WriteString("\nThe YAML pipeline is the query as `filter` and `project` steps on the schemaless events (bench/nexmark/yaml.go), its rows encoded as JSON lines and discarded; Benthos's rows are counted, not encoded.\n")
	}
	return b.String()
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0f K", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
