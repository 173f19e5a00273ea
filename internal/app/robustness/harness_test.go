package robustness

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/failpoint"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var soak = flag.Bool("soak", false, "run the long version of the crash harness")

// failpoints are the moments the harness kills the job at, besides random
// ones.
var failpoints = []string{
	failpoint.StateWritten,                  // a state file written, the checkpoint not complete
	checkpoint.FailpointMetadataTempWritten, // metadata written to its temp file, not renamed
	checkpoint.FailpointMetadataRenamed,     // metadata renamed, its directory not synced
	failpoint.SinkPrepared,                  // the sink prepared at the barrier, nothing committed
	failpoint.SinkCommitting,                // the checkpoint complete, the sink not committed
	PartFileCommitted,                       // in the middle of committing part files
}

type harness struct {
	t      *testing.T
	bin    string
	dir    string
	input  string
	output string
	dead   string
	chk    string
	pause  int
	kills  map[string]int // by failpoint, and "random"
	torn   int            // kills that left a torn checkpoint behind
	runs   int
	// kafka is the broker address of the Kafka branch; empty for files.
	kafka string
	// state is the job's state backend; empty for the default.
	state string
	// env is added to the job's environment.
	env []string
	// args, when set, makes the arguments of a run of bin instead of the
	// Go job's (the pipeline branch runs weir run); restore says whether
	// a completed checkpoint exists.
	args func(parallelism int, restore bool) []string
}

// TestExactlyOnceUnderKill runs the job as a separate process, kills it with
// SIGKILL at random moments and at every failpoint, restarts it from the
// latest checkpoint at parallelism 1, 2, 1, 2, …, and compares the committed
// output with the model: nothing lost, nothing duplicated.
func TestExactlyOnceUnderKill(t *testing.T) {
	events, minKills, pause := 20_000, 20, 4
	if *soak {
		events, minKills, pause = 200_000, 200, 4
	}
	if testing.Short() {
		t.Skip("the crash harness builds and kills processes")
	}
	h := &harness{t: t, dir: t.TempDir(), pause: pause, kills: map[string]int{}}
	h.input = filepath.Join(h.dir, "input")
	h.output = filepath.Join(h.dir, "output")
	h.dead = filepath.Join(h.dir, "dead-letters")
	h.chk = filepath.Join(h.dir, "checkpoints")
	h.bin = filepath.Join(h.dir, "eojob")
	build := exec.Command("go", "build", "-o", h.bin, "./eojob")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.MkdirAll(h.input, 0o755); err != nil {
		t.Fatal(err)
	}
	in, bad, err := Generate(h.input, 4, events, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Model(in)
	checkRulesExercised(t, h.input, in, want, events)

	h.killUntilDone(minKills, failpoints)

	got, err := Committed(h.output)
	if err != nil {
		t.Fatal(err)
	}
	kinds := func(lines []string) string {
		n := map[string]int{}
		for _, l := range lines {
			n[l[:strings.IndexByte(l, ' ')]]++
		}
		return fmt.Sprintf("%d windows, %d joins, %d alerts", n["win"], n["join"], n["alert"])
	}
	rules := 0
	for _, e := range in {
		if e.Rule != nil {
			rules++
		}
	}
	h.compare(fmt.Sprintf("%d input events and %d rule changes, %d output records expected (%s), %d committed (%s), %d runs",
		len(in)-rules, rules, len(want), kinds(want), len(got), kinds(got), h.runs), failpoints, want, got, bad)
	for _, d := range []string{h.output, h.dead} {
		if hidden := hiddenFiles(t, d); len(hidden) > 0 {
			t.Fatalf("hidden part files left after the job completed: %v", hidden)
		}
	}
}

// killUntilDone runs the job until it completes: killed at every failpoint
// of fps in turn (at its first, second or third hit) and at random moments,
// at least minKills times, then once more without a kill planned.
func (h *harness) killUntilDone(minKills int, fps []string) {
	t := h.t
	if minKills/2 < len(fps) {
		// Failpoint runs stop at minKills/2; with fewer than the
		// failpoints, some would never be tried and the loop never end.
		t.Fatalf("%d kills for %d failpoints: want at least two kills per failpoint", minKills, len(fps))
	}
	r := rand.New(rand.NewPCG(2, 3))
	fp := 0
	for done := false; !done; {
		total := 0
		for _, n := range h.kills {
			total += n
		}
		untried := slices.ContainsFunc(fps, func(f string) bool { return h.kills[f] == 0 })
		switch {
		case total >= minKills && !untried:
			done = h.run("", 0)
			if !done {
				t.Fatalf("the last run, with no kill planned, was killed")
			}
		case fp < minKills/2 && (untried || r.IntN(2) == 0):
			// Each failpoint in turn, at its first, second or third hit,
			// for about half the kills.
			done = h.run(fps[fp%len(fps)], 1+r.IntN(3))
			fp++
		default:
			done = h.runKilledAfter(time.Duration(50+r.IntN(300)) * time.Millisecond)
		}
		if done && (total < minKills || untried) {
			t.Fatalf("the job completed after %d kills %v; slow it down (pause) so the harness gets its %d kills and every failpoint",
				total, h.kills, minKills)
		}
	}

}

// compare logs summary, the kills at each of fps and at random, and the
// differences between the committed output got and the model want, and
// between the committed dead letters and the bad lines; it fails the test
// on any difference.
func (h *harness) compare(summary string, fps []string, want, got, bad []string) {
	t := h.t
	lost, extra := Diff(want, got)
	dead, err := DeadLetterRecords(h.dead)
	if err != nil {
		t.Fatal(err)
	}
	deadLost, deadExtra := Diff(bad, dead)
	var report strings.Builder
	report.WriteString(summary + "\n")
	for _, n := range append(slices.Clone(fps), "random") {
		fmt.Fprintf(&report, "  kills at %-26s %d\n", n, h.kills[n])
	}
	fmt.Fprintf(&report, "  torn checkpoints left by kills: %d\n  lost %d, duplicated or wrong %d\n", h.torn, len(lost), len(extra))
	fmt.Fprintf(&report, "  %d bad lines, %d dead letters: lost %d, duplicated or wrong %d\n", len(bad), len(dead), len(deadLost), len(deadExtra))
	t.Log("\n" + report.String())
	if len(lost) > 0 || len(extra) > 0 {
		t.Fatalf("not exactly once: lost %d (first %v), duplicated or wrong %d (first %v)",
			len(lost), lost[:min(3, len(lost))], len(extra), extra[:min(3, len(extra))])
	}
	if len(deadLost) > 0 || len(deadExtra) > 0 {
		t.Fatalf("dead letters not exactly once: lost %d (first %q), duplicated or wrong %d (first %q)",
			len(deadLost), deadLost[:min(3, len(deadLost))], len(deadExtra), deadExtra[:min(3, len(deadExtra))])
	}
}

// run starts the job, armed to die at the n-th hit of a failpoint when fp is
// set, and reports whether it completed. A run killed at its failpoint is
// counted.
func (h *harness) run(fp string, n int) bool {
	cmd := h.command()
	if fp != "" {
		cmd.Env = append(cmd.Env, fmt.Sprintf("WEIR_FAILPOINTS=%s=%d", fp, n))
	}
	err := cmd.Run()
	return h.outcome(cmd, err, fp)
}

// runKilledAfter starts the job and kills it after d unless it completed.
func (h *harness) runKilledAfter(d time.Duration) bool {
	cmd := h.command()
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return h.outcome(cmd, err, "")
	case <-time.After(d):
		cmd.Process.Signal(syscall.SIGKILL)
		return h.outcome(cmd, <-done, "random")
	}
}

func (h *harness) command() *exec.Cmd {
	h.runs++
	p := 1 + (h.runs-1)%2 // 1, 2, 1, 2, …: every restore changes the parallelism
	args := []string{
		"-input", filepath.Join(h.input, "*.jsonl"), "-output", h.output, "-dead-letters", h.dead, "-checkpoints", h.chk,
		"-interval", "30ms", "-parallelism", fmt.Sprint(p), "-pause", fmt.Sprint(h.pause),
	}
	if h.kafka != "" {
		args = append(args, "-kafka-brokers", h.kafka, "-kafka-input", "in", "-kafka-output", "out")
	}
	if h.state != "" {
		args = append(args, "-state", h.state)
	}
	if h.hasCheckpoint() {
		args = append(args, "-restore")
	}
	if h.args != nil {
		args = h.args(p, h.hasCheckpoint())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	h.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = append(append(os.Environ(), h.env...), "WEIR_FAILPOINTS_LOG="+filepath.Join(h.dir, "failpoints.log"))
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	return cmd
}

// hasCheckpoint reports whether a completed checkpoint exists to restore.
func (h *harness) hasCheckpoint() bool {
	d, err := checkpoint.Open(h.chk)
	if err != nil {
		h.t.Fatal(err)
	}
	defer d.Close()
	_, err = checkpoint.Latest(context.Background(), d)
	if err != nil && !errors.Is(err, checkpoint.ErrNotFound) {
		h.t.Fatal(err)
	}
	return err == nil
}

// outcome classifies how a run ended; anything but completion or SIGKILL
// fails the test.
func (h *harness) outcome(cmd *exec.Cmd, err error, planned string) bool {
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		h.t.Fatalf("run %d (%v) failed: %v\n%s", h.runs, cmd.Args, err, cmd.Stderr.(*bytes.Buffer).String())
	}
	if planned != "" {
		h.kills[planned]++
	}
	if planned == checkpoint.FailpointMetadataTempWritten {
		h.checkTornIgnored()
	}
	return false
}

// checkTornIgnored checks that the checkpoint whose metadata the kill tore
// is not one a restore would use.
func (h *harness) checkTornIgnored() {
	d, err := checkpoint.OpenDir(h.chk)
	if err != nil {
		h.t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	inc, err := d.Incomplete(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	if len(inc) == 0 {
		h.t.Fatalf("a kill at %s left no incomplete checkpoint", checkpoint.FailpointMetadataTempWritten)
	}
	torn := slices.MaxFunc(inc, func(a, b checkpoint.Ref) int { return int(a.ID - b.ID) })
	if latest, err := checkpoint.Latest(ctx, d); err == nil && latest.Ref.ID >= torn.ID {
		h.t.Fatalf("latest checkpoint %v is not older than the torn %v", latest.Ref, torn)
	}
	h.torn++
}

func hiddenFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// checkRulesExercised checks that the fraud check's part of the input and
// of the model output want is worth checking: every rule alerts, under
// several of its versions; some versions switch a rule off; some events
// come before any rule is in force; and the input files in dir are as
// Generate makes them.
func checkRulesExercised(t *testing.T, dir string, in []Event, want []string, events int) {
	first := map[string]int64{} // by rule: the earliest From
	off := 0
	n := 0
	earliest := int64(1 << 62)
	for _, e := range in {
		if e.Rule == nil {
			n++
			earliest = min(earliest, e.Time)
			continue
		}
		if f, ok := first[e.Rule.Name]; !ok || e.Time < f {
			first[e.Rule.Name] = e.Time
		}
		if e.Rule.Count == 0 {
			off++
		}
	}
	if n != events || len(first) != len(rules) || off == 0 {
		t.Fatalf("%d events (want %d), rules %v, %d versions switching a rule off (want some)", n, events, first, off)
	}
	for name, f := range first {
		if f <= earliest {
			t.Errorf("rule %s is in force from %d, not after the first event at %d", name, f, earliest)
		}
	}
	versions := map[string]map[string]bool{} // by rule: the versions that alerted
	alerts := 0
	for _, l := range want {
		f := strings.Fields(l)
		if f[0] != "alert" {
			continue
		}
		alerts++
		if versions[f[1]] == nil {
			versions[f[1]] = map[string]bool{}
		}
		versions[f[1]][f[5]] = true
	}
	for _, r := range rules {
		if len(versions[r.name]) < 3 {
			t.Errorf("rule %s alerted under %d versions, want at least 3", r.name, len(versions[r.name]))
		}
	}
	t.Logf("%d rule changes, %d switching a rule off; %d alerts, versions alerting per rule: burst %d, sustained %d, probe %d",
		len(in)-n, off, alerts, len(versions["burst"]), len(versions["sustained"]), len(versions["probe"]))

	// Every file has a rule change within every RuleEvery lines and as its
	// last line, with no newline after it (see Generate).
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		since := 0
		for i, l := range lines {
			if strings.HasPrefix(l, `{"bad"`) {
				continue
			}
			if since++; strings.Contains(l, `"rule"`) {
				since = 0
			} else if since > RuleEvery {
				t.Fatalf("%s: %d lines without a rule change up to line %d", filepath.Base(name), since, i+1)
			}
		}
		if last := lines[len(lines)-1]; !strings.Contains(last, `"rule"`) {
			t.Errorf("%s ends with %q, want a rule change and no newline", filepath.Base(name), last)
		}
	}
}
