// Command pebble is the harness behind `make bench-pebble`: state larger
// than memory on the Pebble backend, in one run.
//
//   - A keyed count (bench.StateCount: a value-state get and set per
//     record, the running count emitted) over -keys distinct keys, drawn
//     uniformly and from a Zipf distribution (s = 1.1), on Pebble under a
//     -memory budget (PebbleOptions.Memory, and the Go memory limit as
//     `weir run --state-memory` sets it). Each runs in a child process of
//     its own, which reports records per second per CPU core (records ÷
//     its user + system seconds, rusage), its peak RSS (VmHWM) and the
//     largest size of its Pebble working directories.
//   - Nexmark queries (-queries) through `weir nexmark run` (-weir), each
//     on the memory backend and on Pebble, in interleaved pairs on the same
//     generated events, reporting events per second per core of the child
//     process and Pebble's ratio to memory.
//   - The cost of checkpoints at a 10 s interval on Pebble: one Nexmark
//     query (-checkpoint-query) without and with checkpoints, in
//     interleaved pairs.
//
// It prints the results and, with -doc, writes them between the markers
// "<!-- pebble:begin -->" and "<!-- pebble:end -->" of that file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/bench"
	"github.com/weirstream/weir/bench/internal/report"
)

type options struct {
	keys, records int64
	memoryMiB     int64
	parallelism   int
	dir           string
	weir          string
	queries       string
	events        int64
	pairs         int
	doc           string
	skipCount     bool
	ckptQuery     string
	ckptEvents    int64
	ckptInterval  time.Duration
	child         string // "uniform" or "zipf": run one count and print JSON
}

// countResult is what a child process reports.
type countResult struct {
	Dist     string
	Records  int64
	Distinct int64
	WallSec  float64
	CPUSec   float64
	PeakRSS  int64
	MaxDisk  int64
}

func main() {
	var o options
	flag.Int64Var(&o.keys, "keys", 100_000_000, "distinct keys of the keyed count")
	flag.Int64Var(&o.records, "records", 0, "records of the keyed count (default -keys)")
	flag.Int64Var(&o.memoryMiB, "memory", 1024, "the Pebble memory budget of the keyed count, in MiB (also its Go memory limit)")
	flag.IntVar(&o.parallelism, "parallelism", 2, "parallelism of the keyed count")
	flag.StringVar(&o.dir, "dir", "", "directory for Pebble's working directories (default: the system's temporary directory)")
	flag.StringVar(&o.weir, "weir", "bin/weir", "the weir binary the Nexmark runs use; empty skips them")
	flag.StringVar(&o.queries, "queries", "q3,q9,q20", "comma-separated Nexmark queries")
	flag.Int64Var(&o.events, "events", 2_000_000, "events of each Nexmark run")
	flag.IntVar(&o.pairs, "pairs", 3, "memory/Pebble pairs of each Nexmark query (the median is reported)")
	flag.StringVar(&o.doc, "doc", "", "write the tables into this Markdown file between the pebble markers")
	flag.BoolVar(&o.skipCount, "skip-count", false, "skip the keyed count")
	flag.StringVar(&o.ckptQuery, "checkpoint-query", "q20", "the Nexmark query of the checkpoint-cost pairs (on Pebble, without and with checkpoints); empty skips them")
	flag.Int64Var(&o.ckptEvents, "checkpoint-events", 5_000_000, "events of each checkpoint-cost run")
	flag.DurationVar(&o.ckptInterval, "checkpoint-interval", 10*time.Second, "checkpoint interval of the checkpoint-cost runs")
	flag.StringVar(&o.child, "child", "", "internal: run one keyed count (uniform or zipf) and print its result as JSON")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-pebble: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.child != "" {
		return child(o)
	}
	var sections []string
	command := "go run ./bench/pebble " + strings.Join(os.Args[1:], " ")
	sections = append(sections, fmt.Sprintf("```\n%s\n```\n\nLoad average at the start: %s.", command, loadAvg()))
	if !o.skipCount {
		var rows []countResult
		for _, dist := range []string{"uniform", "zipf"} {
			r, err := runChild(o, dist)
			if err != nil {
				return err
			}
			fmt.Printf("keyed count %s: %+v\n", dist, r)
			rows = append(rows, r)
		}
		sections = append(sections, countTable(o, rows))
	}
	if o.weir != "" {
		t, err := nexmarkPairs(o)
		if err != nil {
			return err
		}
		sections = append(sections, t)
		if o.ckptQuery != "" {
			t, err := checkpointPairs(o)
			if err != nil {
				return err
			}
			sections = append(sections, t)
		}
	}
	out := strings.Join(sections, "\n\n") + "\n"
	fmt.Print(out)
	if o.doc != "" {
		return report.WriteSection(o.doc, "pebble", out)
	}
	return nil
}

func runChild(o options, dist string) (countResult, error) {
	args := []string{"-child", dist, "-keys", fmt.Sprint(o.keys), "-records", fmt.Sprint(o.records),
		"-memory", fmt.Sprint(o.memoryMiB), "-parallelism", fmt.Sprint(o.parallelism), "-dir", o.dir}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return countResult{}, fmt.Errorf("keyed count %s: %w", dist, err)
	}
	var r countResult
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("keyed count %s: its output %q: %w", dist, out, err)
	}
	return r, nil
}

// child runs one keyed count on Pebble and prints its result.
func child(o options) error {
	dir := o.dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "bench-pebble-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	budget := o.memoryMiB << 20
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(budget)
	}
	zipf := 0.0
	if o.child == "zipf" {
		zipf = 1.1
	}
	stop := make(chan struct{})
	maxDisk := make(chan int64)
	go func() {
		var m int64
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			m = max(m, dirSize(dir))
			select {
			case <-stop:
				maxDisk <- m
				return
			case <-t.C:
			}
		}
	}()
	r, tot, err := bench.StateCount(bench.StateCountConfig{Keys: o.keys, Records: o.records, Zipf: zipf, Parallelism: o.parallelism,
		Options: []weir.Option{weir.StateBackend(weir.PebbleBackend(weir.PebbleOptions{Dir: dir, Memory: budget}))}})
	close(stop)
	disk := <-maxDisk
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(countResult{Dist: o.child, Records: tot.Records, Distinct: tot.Distinct,
		WallSec: r.Wall.Seconds(), CPUSec: r.CPU.Seconds(), PeakRSS: report.PeakRSS(), MaxDisk: disk})
}

// dirSize is the size of the files under dir; files removed meanwhile
// are left out.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func countTable(o options, rows []countResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Keyed count on Pebble, %d distinct keys, %s records, parallelism %d, budget %d MiB (GOMEMLIMIT the same):\n\n",
		o.keys, recordsOf(o), o.parallelism, o.memoryMiB)
	b.WriteString("| keys drawn | records | distinct keys seen | wall | CPU | records/s per core | goal ≥ 200 K | peak RSS (VmHWM) | state on disk (max) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		per := float64(r.Records) / r.CPUSec
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f s | %.0f s | %.0f K | %s | %d MiB | %d MiB |\n",
			map[string]string{"uniform": "uniform", "zipf": "Zipf s = 1.1"}[r.Dist], r.Records, r.Distinct, r.WallSec, r.CPUSec,
			per/1e3, met(per >= 200e3), r.PeakRSS>>20, r.MaxDisk>>20)
	}
	return b.String()
}

func recordsOf(o options) string {
	if o.records == 0 {
		return "as many"
	}
	return fmt.Sprint(o.records)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// nexmarkRun is one `weir nexmark run` child: its CPU seconds, wall
// seconds and completed checkpoints.
type nexmarkRun struct {
	cpu, wall   float64
	checkpoints int
}

var checkpointsDone = regexp.MustCompile(`(\d+) checkpoints`)

func runNexmark(o options, q, state string, events int64, extra ...string) (nexmarkRun, error) {
	args := []string{"nexmark", "run", "--query", q, "--events", fmt.Sprint(events), "--state", state}
	if state == "pebble" {
		args = append(args, "--state-memory", fmt.Sprint(o.memoryMiB))
		if o.dir != "" {
			args = append(args, "--state-dir", o.dir)
		}
	}
	args = append(args, extra...)
	cmd := exec.Command(o.weir, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		return nexmarkRun{}, fmt.Errorf("%s %s: %w", o.weir, strings.Join(args, " "), err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := nexmarkRun{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(), wall: time.Since(start).Seconds()}
	if m := checkpointsDone.FindSubmatch(out); m != nil {
		r.checkpoints, _ = strconv.Atoi(string(m[1]))
	}
	return r, nil
}

// checkpointPairs runs the checkpoint-cost query on Pebble without and
// with checkpoints (incremental, the default, into a local directory) in interleaved
// pairs, and reports the throughput lost to them.
func checkpointPairs(o options) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Checkpoint cost on Pebble: `%s nexmark run --query %s --events %d --state pebble --state-memory %d`, without and with `--checkpoint-dir DIR --checkpoint-interval %v` (incremental checkpoints, the default), %d interleaved pairs:\n\n",
		o.weir, o.ckptQuery, o.ckptEvents, o.memoryMiB, o.ckptInterval, o.pairs)
	b.WriteString("| pair | without: events/s (per core) | with: events/s (per core) | checkpoints | loss, wall | loss, per core |\n|---|---|---|---|---|---|\n")
	var wallLoss, coreLoss []float64
	for i := range o.pairs {
		plain, err := runNexmark(o, o.ckptQuery, "pebble", o.ckptEvents)
		if err != nil {
			return "", err
		}
		dir, err := os.MkdirTemp(o.dir, "bench-pebble-checkpoints-")
		if err != nil {
			return "", err
		}
		with, err := runNexmark(o, o.ckptQuery, "pebble", o.ckptEvents, "--checkpoint-dir", dir, "--checkpoint-interval", o.ckptInterval.String())
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
		if err != nil {
			return "", err
		}
		ev := float64(o.ckptEvents)
		wl, cl := 1-plain.wall/with.wall, 1-plain.cpu/with.cpu
		wallLoss, coreLoss = append(wallLoss, wl), append(coreLoss, cl)
		fmt.Fprintf(&b, "| %d | %.0f K (%.0f K) | %.0f K (%.0f K) | %d | %.1f %% | %.1f %% |\n", i+1,
			ev/plain.wall/1e3, ev/plain.cpu/1e3, ev/with.wall/1e3, ev/with.cpu/1e3, with.checkpoints, 100*wl, 100*cl)
		fmt.Printf("checkpoint pair %d: wall %.1f s → %.1f s, CPU %.1f s → %.1f s, %d checkpoints\n", i+1, plain.wall, with.wall, plain.cpu, with.cpu, with.checkpoints)
	}
	fmt.Fprintf(&b, "\nMedian loss: %.1f %% of wall-clock throughput, %.1f %% per core (goal ≤ 5 %%: %s).\n",
		100*median(wallLoss), 100*median(coreLoss), met(median(wallLoss) <= 0.05))
	return b.String(), nil
}

func nexmarkPairs(o options) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "Nexmark through `%s nexmark run --events %d` (parallelism 1), memory backend and `--state pebble --state-memory %d` in %d interleaved pairs; events/s per core of the child process (rusage), median of the pairs:\n\n",
		o.weir, o.events, o.memoryMiB, o.pairs)
	b.WriteString("| query | memory | Pebble | Pebble ÷ memory | goal ≥ 0.3× |\n|---|---|---|---|---|\n")
	for _, q := range strings.Split(o.queries, ",") {
		var mem, peb, ratios []float64
		for range o.pairs {
			m, err := runNexmark(o, q, "memory", o.events)
			if err != nil {
				return "", err
			}
			p, err := runNexmark(o, q, "pebble", o.events)
			if err != nil {
				return "", err
			}
			mr, pr := float64(o.events)/m.cpu, float64(o.events)/p.cpu
			mem, peb, ratios = append(mem, mr), append(peb, pr), append(ratios, pr/mr)
			fmt.Printf("%s: memory %.0f/s/core, pebble %.0f/s/core\n", q, mr, pr)
		}
		r := median(ratios)
		fmt.Fprintf(&b, "| %s | %.0f K | %.0f K | %.2f× | %s |\n", q, median(mem)/1e3, median(peb)/1e3, r, met(r >= 0.3))
	}
	return b.String(), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	for _, x := range f[:3] {
		if _, err := strconv.ParseFloat(x, 64); err != nil {
			return "unknown"
		}
	}
	return strings.Join(f[:3], " ")
}
