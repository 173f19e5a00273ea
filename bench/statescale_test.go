package bench

import (
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

var (
	scaleRun     = flag.Bool("scale", false, "run TestStateScale, the measurement of checkpoints and restores of a large keyed state")
	scaleKeys    = flag.Int64("scale.keys", 10_000_000, "keys of TestStateScale's state")
	scaleSize    = flag.Int("scale.value", 72, "bytes of each key's payload in TestStateScale (72: about 100 B per key encoded)")
	scaleDir     = flag.String("scale.dir", "", "directory for TestStateScale's checkpoints and dd's file (default: a temporary directory)")
	scaleLoad    = flag.Float64("scale.load", 0.5, "share of the maximum rate TestStateScale runs at while it checkpoints")
	scaleProbe   = flag.Duration("scale.probe", 5*time.Second, "how long TestStateScale measures the maximum rate")
	scaleWindow  = flag.Int("scale.window", 10, "1 s buckets TestStateScale measures before a checkpoint and after it")
	scaleBackend = flag.String("scale.backend", "memory", "state backend of TestStateScale: memory, bytes or pebble")
	scaleWriters = flag.Int("scale.writers", 0, "checkpoint writers of TestStateScale's jobs (weir.CheckpointWriters; 0: the default)")
)

// TestStateScale measures checkpoints and restores of a large keyed state
// (10 M keys of about 100 B by default) at half the job's maximum rate,
// p1 → p2 → p1, and prints the figures beside their goals. It takes
// minutes and several GiB of memory, so it runs only when asked:
//
//	go test -count=1 -timeout 60m -run '^TestStateScale$' -v ./bench -scale
//
// (make bench-state). It fails only when the job does; a missed goal is a
// figure to report, not a test failure.
func TestStateScale(t *testing.T) {
	if !*scaleRun {
		t.Skip("a measurement: run with -scale (make bench-state)")
	}
	backend, err := weir.ParseBackend(*scaleBackend)
	if err != nil {
		t.Fatal(err)
	}
	dir := *scaleDir
	if dir == "" {
		dir = t.TempDir()
	}
	rep, err := StateScale(StateScaleConfig{
		Keys: *scaleKeys, ValueSize: *scaleSize, Dir: dir, Load: *scaleLoad,
		Probe: *scaleProbe, Window: *scaleWindow, Backend: backend, Writers: *scaleWriters, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n\n%s", strings.Join(append([]string{"go test -count=1 -timeout 60m -run '^TestStateScale$' -v ./bench -scale"},
		setFlags("scale.")...), " "), rep)
}

// setFlags returns the flags with the prefix that were set on the command
// line, as they would be written there.
func setFlags(prefix string) []string {
	var out []string
	flag.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, prefix) {
			out = append(out, "-"+f.Name+" "+f.Value.String())
		}
	})
	return out
}

// The harness runs end to end on a small state: every restore finds every
// key it meets (StateScale fails otherwise), and each checkpoint's state
// holds at least a payload per key.
func TestStateScaleSmall(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("the resident set size is read from /proc/self/status")
	}
	const keys, size = 20_000, 88
	rep, err := StateScale(StateScaleConfig{
		Keys: keys, ValueSize: size, Dir: t.TempDir(), Probe: 200 * time.Millisecond,
		Settle: 50 * time.Millisecond, Bucket: 100 * time.Millisecond, Window: 3, Sample: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checkpoints) != 2 || len(rep.Restores) != 2 {
		t.Fatalf("%d checkpoints and %d restores, want 2 and 2:\n%s", len(rep.Checkpoints), len(rep.Restores), rep)
	}
	for i, want := range []int{1, 2} {
		c := rep.Checkpoints[i]
		if c.Parallelism != want || c.Bytes < keys*size || c.DDBytes < c.Bytes || c.DD <= 0 || c.Duration <= 0 ||
			len(c.Before) != 3 || len(c.After) != 3 || c.RSSPeak <= 0 || c.Rate <= 0 || c.Path == "" ||
			c.Sync <= 0 || c.Async < 0 || c.Metadata <= 0 || c.Sync+c.Async+c.Metadata > c.Duration {
			t.Errorf("checkpoint %d: %+v", i, c)
		}
	}
	for i, want := range [][2]int{{1, 2}, {2, 1}} {
		if r := rep.Restores[i]; r.From != want[0] || r.To != want[1] || r.Took <= 0 || r.Built <= 0 || r.Built > r.Took {
			t.Errorf("restore %d: %+v, want p%d → p%d", i, r, want[0], want[1])
		}
	}
	if g := rep.Goals(); len(g) != 2+3*2 {
		t.Errorf("%d goals, want 8:\n%s", len(g), rep)
	}
}

// Each goal is met exactly up to its bound.
func TestStateScaleGoals(t *testing.T) {
	base := CheckpointFigures{
		Parallelism: 1, Duration: 3 * time.Second, DD: 2 * time.Second, Bytes: 1000 << 20,
		RSSSteady: 2000 << 20, RSSPeak: 2250 << 20,
		Before: []float64{100, 100}, During: []float64{95, 90}, After: []float64{100, 120},
	}
	cases := []struct {
		name   string
		change func(*StateScaleReport)
		missed string // the goal missed, "" for none
	}{
		{"every goal at its bound", func(*StateScaleReport) {}, ""},
		{"restore too slow", func(r *StateScaleReport) { r.Restores[1].Took = RestoreGoal + time.Millisecond }, "restore"},
		{"checkpoint too slow", func(r *StateScaleReport) { r.Checkpoints[0].Duration += time.Millisecond }, "checkpoint ≤"},
		{"no dd figure", func(r *StateScaleReport) { r.Checkpoints[0].DD = 0 }, "checkpoint ≤"},
		{"too much memory", func(r *StateScaleReport) { r.Checkpoints[0].RSSPeak++ }, "extra peak RSS"},
		{"a dip during", func(r *StateScaleReport) { r.Checkpoints[0].During[1] = 89.9 }, "no bucket"},
		{"a dip after", func(r *StateScaleReport) { r.Checkpoints[0].After[1] = 89.9 }, "no bucket"},
		{"a burst before does not raise the bar", func(r *StateScaleReport) {
			r.Checkpoints[0].Before = []float64{100, 300, 100}
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := base
			cp.During, cp.After = append([]float64(nil), base.During...), append([]float64(nil), base.After...)
			r := StateScaleReport{
				Keys:        10,
				Checkpoints: []CheckpointFigures{cp},
				Restores:    []RestoreFigures{{From: 1, To: 2, Took: RestoreGoal}, {From: 2, To: 1, Took: time.Second}},
			}
			c.change(&r)
			var missed []string
			for _, g := range r.Goals() {
				if !g.Met {
					missed = append(missed, g.Goal)
				}
			}
			switch {
			case c.missed == "" && len(missed) != 0:
				t.Errorf("missed %q, want every goal met:\n%s", missed, r)
			case c.missed != "" && (len(missed) != 1 || !strings.HasPrefix(missed[0], c.missed)):
				t.Errorf("missed %q, want only %q:\n%s", missed, c.missed, r)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS([]byte("Name:\tx\nVmPeak:\t  900 kB\nVmRSS:\t  1234 kB\nThreads:\t3\n"))
	if err != nil || got != 1234<<10 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 1234<<10)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if _, err := parseVmRSS([]byte(bad)); err == nil {
			t.Errorf("parseVmRSS(%q) succeeded", bad)
		}
	}
}
