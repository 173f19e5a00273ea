package robustness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/failpoint"
)

// pipelineFailpoints are the moments the pipeline branch kills `weir run`
// at, besides random ones: the engine's and the Kafka sink's (the
// harness's own failpoints are in its Go job, not in the weir binary).
var pipelineFailpoints = []string{
	failpoint.StateWritten,
	checkpoint.FailpointMetadataTempWritten,
	checkpoint.FailpointMetadataRenamed,
	failpoint.SinkPreparing,
	failpoint.SinkPrepared,
	failpoint.SinkCommitting,
}

// harnessPipeline is the pipeline branch's job: Kafka → filter → a script
// with keyed state (a running count and total per user) → a keyed
// tumbling window → Kafka, exactly once. The script waits a millisecond
// every few records, as the Go job's -pause does, so that the kills come
// in the middle of the run rather than after it.
const harnessPipeline = `version: 1
name: crash-harness
on_error: dead-letter
inputs:
  events:
    type: kafka
    brokers: ${env:HARNESS_BROKERS}
    topic: in
    group: harness
    bounded: true
    schema: {id: int, user: string, kind: string, amount: int, ts: int}
    event_time: {field: ts, max_out_of_orderness: 0s}
steps:
  - name: valid
    filter: kind != "skip"
  - name: running
    script:
      key: user
      timeout: 10s
      source: |
        var PAUSE_EVERY = PAUSE;
        function process(r) {
          if (r.id % PAUSE_EVERY == 0) {
            var until = Date.now() + 1;
            while (Date.now() < until) {}
          }
          var n = (state.get("n") || 0) + 1;
          var total = (state.get("total") || 0) + r.amount;
          state.put("n", n);
          state.put("total", total);
          return {user: r.user, amount: r.amount, n: n, total: total};
        }
  - name: per-second
    window:
      key: user
      tumbling: 1s
      aggregates:
        events: count
        amount: sum(amount)
        last_n: max(n)
        last_total: max(total)
outputs:
  out:
    type: kafka
    brokers: ${env:HARNESS_BROKERS}
    topic: out
    delivery: exactly-once
dead_letter:
  path: ${env:HARNESS_DEAD_LETTERS}
`

// pipelineEvent is an input record of the pipeline branch.
type pipelineEvent struct {
	ID     int64  `json:"id"`
	User   string `json:"user"`
	Kind   string `json:"kind"`
	Amount int64  `json:"amount"`
	TS     int64  `json:"ts"`
}

// generatePipelineInput writes n events over files JSON-lines files in
// dir, a user's events all in one file (so one Kafka partition, read in
// order), each file's times rising; one in seven is of kind "skip", which
// the filter drops, and after every 97th event of a file comes a line
// that is not JSON, which the input dead-letters. It returns the events
// and the bad lines.
func generatePipelineInput(dir string, files, n int, seed uint64) ([]pipelineEvent, []string, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	const users = 64
	const start = int64(1_767_225_600_000) // 2026-01-01
	var all []pipelineEvent
	var bad []string
	for f := range files {
		out, err := os.Create(filepath.Join(dir, fmt.Sprintf("events-%02d.jsonl", f)))
		if err != nil {
			return nil, nil, err
		}
		w := bufio.NewWriter(out)
		ts := start
		for i := range n / files {
			ts += int64(r.IntN(40)) // 0: equal times, also at a window's edge
			u := f + files*r.IntN(users/files)
			e := pipelineEvent{ID: int64(len(all)), User: fmt.Sprintf("u%02d", u), Kind: "view", Amount: int64(1 + r.IntN(1000)), TS: ts}
			if r.IntN(7) == 0 {
				e.Kind = "skip"
			}
			b, _ := json.Marshal(e)
			w.Write(b)
			w.WriteByte('\n')
			all = append(all, e)
			if i%97 == 96 {
				l := fmt.Sprintf(`{"bad":"%d-%d" oops`, f, i)
				w.WriteString(l + "\n")
				bad = append(bad, l)
			}
		}
		if err := w.Flush(); err != nil {
			return nil, nil, err
		}
		if err := out.Close(); err != nil {
			return nil, nil, err
		}
	}
	return all, bad, nil
}

// pipelineModel is what the pipeline must write for events, in plain Go:
// per user and second, the count and sum of its kept events and the
// highest running count and total the script gave them, each as
// canonicalWindow spells it.
func pipelineModel(events []pipelineEvent) []string {
	type key struct {
		user string
		sec  int64
	}
	type agg struct{ events, amount, n, total int64 }
	n, total := map[string]int64{}, map[string]int64{}
	wins := map[key]*agg{}
	for _, e := range events { // a user's events are in one file, in order
		if e.Kind == "skip" {
			continue
		}
		n[e.User]++
		total[e.User] += e.Amount
		k := key{e.User, e.TS / 1000}
		a := wins[k]
		if a == nil {
			a = &agg{}
			wins[k] = a
		}
		a.events++
		a.amount += e.Amount
		a.n = max(a.n, n[e.User])
		a.total = max(a.total, total[e.User])
	}
	var out []string
	for k, a := range wins {
		out = append(out, fmt.Sprintf("%s %d %d %d %d %d", k.user, k.sec*1000, a.events, a.amount, a.n, a.total))
	}
	slices.Sort(out)
	return out
}

// canonicalWindow spells a window result the pipeline wrote as the model
// does.
func canonicalWindow(value []byte) string {
	var w struct {
		Key       string
		Start     time.Time `json:"window_start"`
		Events    int64
		Amount    int64
		LastN     int64 `json:"last_n"`
		LastTotal int64 `json:"last_total"`
	}
	if err := json.Unmarshal(value, &w); err != nil {
		return "unreadable: " + string(value)
	}
	return fmt.Sprintf("%s %d %d %d %d %d", w.Key, w.Start.UnixMilli(), w.Events, w.Amount, w.LastN, w.LastTotal)
}

// TestExactlyOnceUnderKillPipeline is the crash harness's pipeline
// branch: `weir run` of a YAML pipeline — Kafka → filter → script with
// keyed state → window → Kafka, exactly once — killed with SIGKILL at
// random moments and at every failpoint of the engine and the Kafka sink,
// restarted with --restore latest at parallelism 1, 2, 1, …; the output
// topic read with read_committed must equal the model, and the dead
// letters the bad lines: nothing lost, nothing duplicated. A record the
// script saw twice would show in its running count.
func TestExactlyOnceUnderKillPipeline(t *testing.T) {
	// Every record pauses in the short run: on an idle machine the job
	// would otherwise end before its 12 kills.
	events, minKills, pauseEvery := 20_000, 12, 1
	if *soak {
		events, minKills, pauseEvery = 80_000, 120, 2
	}
	if testing.Short() {
		t.Skip("the crash harness builds and kills processes")
	}
	h := &harness{t: t, dir: t.TempDir(), kills: map[string]int{}}
	h.input = filepath.Join(h.dir, "input")
	h.dead = filepath.Join(h.dir, "dead-letters")
	h.chk = filepath.Join(h.dir, "checkpoints")
	h.bin = filepath.Join(h.dir, "weir")
	if out, err := exec.Command("go", "build", "-o", h.bin, "../../../cmd/weir").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.MkdirAll(h.input, 0o755); err != nil {
		t.Fatal(err)
	}
	const files = 4
	in, bad, err := generatePipelineInput(h.input, files, events, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := pipelineModel(in)
	spec := filepath.Join(h.dir, "harness.yaml")
	if err := os.WriteFile(spec, []byte(strings.Replace(harnessPipeline, "PAUSE;", fmt.Sprint(pauseEvery)+";", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	h.kafka = startDevKafka(t, h.bin, h.dir)
	produceInput(t, h.kafka, h.input, files)
	h.env = []string{"HARNESS_BROKERS=" + h.kafka, "HARNESS_DEAD_LETTERS=" + h.dead}
	h.args = func(parallelism int, restore bool) []string {
		args := []string{"run", spec, "--checkpoint-dir", h.chk, "--checkpoint-interval", "30ms",
			"--parallelism", fmt.Sprint(parallelism), "--progress", "0", "--restarts", "0"}
		if restore {
			args = append(args, "--restore", "latest")
		}
		return args
	}

	h.killUntilDone(minKills, pipelineFailpoints)

	var got []string
	for _, r := range kafkatest.ReadCommitted(t, []string{h.kafka}, "out") {
		got = append(got, canonicalWindow(r.Value))
	}
	slices.Sort(got)
	skipped := 0
	for _, e := range in {
		if e.Kind == "skip" {
			skipped++
		}
	}
	h.compare(fmt.Sprintf("%d input lines in %d partitions (%d events, %d filtered, %d bad), %d windows expected, %d committed, %d runs",
		len(in)+len(bad), files, len(in), skipped, len(bad), len(want), len(got), h.runs), pipelineFailpoints, want, got, bad)
	if held := heldBack(t, h.kafka, "out"); len(held) > 0 {
		t.Fatalf("open transactions hold back the output's partitions %v after the job completed", held)
	}
	if len(want) < events/100 || !strings.Contains(strings.Join(want, "\n"), " ") {
		t.Fatalf("the model has %d windows for %d events: too few to be worth checking", len(want), events)
	}
}
