// Command kafka is the Kafka benchmark harness behind `make bench-kafka`.
// In one run, against one development broker (weir dev kafka) in a process
// of its own, it fills an input topic with 300-byte JSON records and runs
// each contender in a child process of its own, which reads the topic to
// its end, processes every record and writes to an output topic of its
// own. Rates are records per second per CPU core: records ÷ the child's
// user + system seconds (rusage), so the broker's work is not counted.
//
// Contenders:
//
//   - ceiling: a hand-written franz-go loop, consume → decode → encode →
//     produce (ceiling.go);
//   - weir-alo, weir-eo: Weir doing what the ceiling does (Kafka source,
//     decode, encode, Kafka sink) at least once and exactly once, with a
//     checkpoint every second (weir.go);
//   - weir-count, goka: a keyed count that decodes each record's user (the
//     one field it needs, with the same JSON library), counts it per user
//     in keyed state and writes each new count (keyed by the user,
//     the count as decimal text, as Goka's Int64 codec writes it); Goka is lovoo/goka,
//     Kafka Streams' model in Go (bench/kafka-goka, a module of its own),
//     run when -goka names its binary;
//   - weir-count-key, goka-key: the same count by message key, without
//     decoding values (Kafka Streams' groupByKey().count()).
//
// It prints the results and, with -doc, writes them as a table between the
// markers "<!-- kafka:begin -->" and "<!-- kafka:end -->" of that file.
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
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type options struct {
	records    int64
	nexmark    int64
	partitions int
	keys       int64
	weir       string
	goka       string
	doc        string
	only       string
	linger     time.Duration
	profile    string
	latency    time.Duration
	latRate    float64
	latLinger  time.Duration
	latModes   string
	// latMax is the end-to-end rate the latency setup sustained at most,
	// when measured.
	latMax float64
	// loadBefore is the machine's load average when the run started.
	loadBefore string
}

// childConfig is what a contender's child process is told.
type childConfig struct {
	brokers []string
	in, out string
	records int64
	keys    int64
	linger  time.Duration
	file    string // the Nexmark events file
}

// result is what a child prints when it is done.
type result struct {
	Records    int64   `json:"records"`
	CPUSeconds float64 `json:"cpuSeconds"`
	Wall       float64 `json:"wallSeconds"`
	// AllocBytes, Allocs and GCs are the child's heap allocations (bytes
	// and objects) and garbage collections over its whole run.
	AllocBytes uint64 `json:"allocBytes"`
	Allocs     uint64 `json:"allocs"`
	GCs        uint32 `json:"gcs"`
}

// contenders run in a child process of this binary, by name.
var contenders = map[string]func(context.Context, childConfig) (int64, error){
	"ceiling": ceiling,
}

// order is the order contenders run and are listed in.
var order = []string{"ceiling"}

func main() {
	var o options
	var child string
	var c childConfig
	var brokers string
	var cpuProfile string
	flag.Int64Var(&o.records, "records", 1_000_000, "records in the input topic")
	flag.Int64Var(&o.nexmark, "nexmark-events", 1_000_000, "Nexmark events for q5 and q7 from Kafka and from a file; 0 skips them")
	flag.IntVar(&o.partitions, "partitions", 4, "partitions of every topic")
	flag.Int64Var(&o.keys, "keys", 10_000, "distinct keys (users) of the records")
	flag.StringVar(&o.weir, "weir", "bin/weir", "the weir binary, whose dev kafka runs the broker")
	flag.StringVar(&o.goka, "goka", "", "the kafka-goka binary (bench/kafka-goka); empty skips Goka")
	flag.StringVar(&o.doc, "doc", "", "write the table into this Markdown file between the kafka markers")
	flag.StringVar(&o.only, "only", "", "comma-separated contenders to run (default all)")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of each of Weir's and the ceiling's children into this directory")
	flag.DurationVar(&o.latency, "latency", 12*time.Second, "how long each latency run writes; 0 skips them")
	flag.Float64Var(&o.latRate, "latency-rate", 0, "events per second of the latency runs (default: half the most the latency setup sustains, measured first)")
	flag.DurationVar(&o.linger, "linger", 5*time.Millisecond, "producer linger of every contender")
	flag.StringVar(&o.latModes, "latency-modes", "loop,alo,eo", "latency runs: loop (the hand-written loop), alo and eo (Weir at least and exactly once)")
	flag.DurationVar(&o.latLinger, "latency-linger", time.Millisecond, "linger of Weir's sink in the latency runs, as a user who wants low latency sets it")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "child: write a CPU profile of the contender to this file")
	flag.StringVar(&child, "child", "", "run one contender (internal: the harness starts children with it)")
	flag.StringVar(&brokers, "brokers", "", "child: the broker addresses")
	flag.StringVar(&c.in, "in", "", "child: input topic")
	flag.StringVar(&c.out, "out", "", "child: output topic")
	flag.StringVar(&c.file, "file", "", "child: the Nexmark events file")
	flag.Parse()
	if child != "" {
		c.brokers, c.records, c.keys, c.linger = strings.Split(brokers, ","), o.records, o.keys, o.linger
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench-kafka %s: -cpuprofile: %v\n", child, err)
				os.Exit(1)
			}
			defer pprof.StopCPUProfile()
		}
		if err := runChild(child, c); err != nil {
			fmt.Fprintf(os.Stderr, "bench-kafka %s: %v\n", child, err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-kafka: %v\n", err)
		os.Exit(1)
	}
}

func runChild(name string, c childConfig) error {
	fn, ok := contenders[name]
	if !ok {
		return fmt.Errorf("no contender %q", name)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n, err := fn(ctx, c)
	if err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return json.NewEncoder(os.Stdout).Encode(result{Records: n, CPUSeconds: report.CPUSeconds(), Wall: time.Since(start).Seconds(),
		AllocBytes: ms.TotalAlloc, Allocs: ms.Mallocs, GCs: ms.NumGC})
}

// row is one contender's measurement.
type row struct {
	name   string
	res    result
	outLen int64
}

func run(o options) error {
	o.loadBefore = loadAverage()
	dir, err := os.MkdirTemp("", "weir-bench-kafka-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, stop, err := startBroker(o, dir)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "broker at %s; writing %d records to topic in\n", addr, o.records)
	if err := fill(addr, o); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	names := order
	if o.goka != "" {
		names = append(names, "goka", "goka-key")
	}
	file := filepath.Join(dir, "nexmark.jsonl")
	if o.nexmark > 0 {
		fmt.Fprintf(os.Stderr, "writing %d Nexmark events to topic %s and a file\n", o.nexmark, nexmarkTopic)
		if err := fillNexmark(addr, file, o.nexmark); err != nil {
			return err
		}
		names = append(names, nexmarkOrder...)
	}
	if o.only != "" {
		names = strings.Split(o.only, ",")
	}
	var rows []row
	for _, name := range names {
		bin, args := self, []string{"-child", name}
		if name == "goka" || name == "goka-key" {
			bin, args = o.goka, nil
			if name == "goka-key" {
				args = []string{"-by-key"}
			}
		} else if o.profile != "" {
			args = append(args, "-cpuprofile", filepath.Join(o.profile, name+".prof"))
		}
		args = append(args, "-brokers", addr, "-in", "in", "-out", "out-"+name, "-file", file,
			"-records", fmt.Sprint(o.records), "-keys", fmt.Sprint(o.keys), "-linger", o.linger.String())
		if err := createTopic(addr, "out-"+name, o.partitions); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "running %s …\n", name)
		res, err := runProcess(bin, args)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		want := o.records
		if strings.HasPrefix(name, "nexmark-") {
			want = o.nexmark
		}
		n, err := topicLength(addr, "out-"+name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if res.Records != want || (n < want && !strings.HasPrefix(name, "nexmark-")) {
			return fmt.Errorf("%s processed %d records and its output holds %d, want %d", name, res.Records, n, want)
		}
		rows = append(rows, row{name: name, res: res, outLen: n})
		fmt.Fprintf(os.Stderr, "  %s: %.0f records/s per core (%.2f CPU s, %.2f s wall)\n",
			name, float64(res.Records)/res.CPUSeconds, res.CPUSeconds, res.Wall)
	}
	var lats []latencyResult
	if o.latency > 0 {
		rate := o.latRate
		if rate == 0 {
			fmt.Fprintf(os.Stderr, "latency: the most the setup sustains …\n")
			max, err := measureMaxRate(self, addr, o.partitions, o.latency, o)
			if err != nil {
				return err
			}
			o.latMax, rate = max, max/2
		}
		for _, mode := range strings.Split(o.latModes, ",") {
			fmt.Fprintf(os.Stderr, "latency %s at %.0f events/s …\n", mode, rate)
			l, err := measureLatency(self, addr, mode, o.partitions, rate, o.latency, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "  p50 %v, p99 %v; the job's process: %.0f bytes and %.1f allocations per event, %d collections in %.1f s (%.2f CPU s)\n",
				l.p50.Round(100*time.Microsecond), l.p99.Round(100*time.Microsecond),
				float64(l.child.AllocBytes)/float64(l.sent), float64(l.child.Allocs)/float64(l.sent), l.child.GCs, l.child.Wall, l.child.CPUSeconds)
			lats = append(lats, l)
		}
	}
	table := render(rows, o) + renderLatency(lats, o)
	fmt.Print(table)
	if o.doc != "" {
		return report.WriteSection(o.doc, "kafka", table)
	}
	return nil
}

// startBroker starts weir dev kafka on a free port and returns its
// address and a function that stops it.
func startBroker(o options, dir string) (string, func(), error) {
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(o.weir, "dev", "kafka", "--port", "0", "--addr-file", addrFile,
		"--partitions", fmt.Sprint(o.partitions))
	var logb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start the broker (%s; make bench-kafka builds it): %w", o.weir, err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil {
			return strings.TrimSpace(string(b)), stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("the broker did not start: %s", logb.String())
}

// fill writes the input records, keyed by user.
func fill(addr string, o options) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("in"), kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx := context.Background()
	var failed error
	for i := range o.records {
		v, err := gojson.Marshal(makeEvent(i, o.keys))
		if err != nil {
			return err
		}
		cl.Produce(ctx, &kgo.Record{Key: []byte(userKey(i, o.keys)), Value: v}, func(_ *kgo.Record, err error) {
			if err != nil && failed == nil {
				failed = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	return failed
}

// createTopic creates topic with the given number of partitions.
func createTopic(addr, topic string, partitions int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(context.Background(), int32(partitions), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// topicLength is the number of records in topic: its partitions' high
// watermarks summed.
func topicLength(addr, topic string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n, nil
}

// runProcess runs a contender's process and returns what it printed.
func runProcess(bin string, args []string) (result, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%w: %s", err, errb.String())
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("%w (output %q)", err, out.String())
	}
	return r, nil
}

func render(rows []row, o options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %d CPUs (%s/%s): %d records of about 300 bytes of JSON, %d keys, %d partitions, %d Nexmark events, one development broker (weir dev kafka) in its own process, producer linger %v.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, o.records, o.keys, o.partitions, o.nexmark, o.linger)
	fmt.Fprintf(&b, "Command: `%s`; load average (1, 5, 15 min) %s at the start, %s at the end: other work on the machine takes CPU from every contender alike, and the ratios are what to trust.\n\n",
		strings.Join(os.Args, " "), o.loadBefore, loadAverage())
	b.WriteString("| contender | records/s per core | CPU s | wall s | ÷ ceiling |\n|---|---:|---:|---:|---:|\n")
	rate := map[string]float64{}
	for _, r := range rows {
		rate[r.name] = float64(r.res.Records) / r.res.CPUSeconds
	}
	for _, r := range rows {
		ratio := "–"
		if c := rate["ceiling"]; c > 0 && !strings.HasPrefix(r.name, "nexmark-") {
			ratio = fmt.Sprintf("%.2f", rate[r.name]/c)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %s |\n", r.name, rate[r.name], r.res.CPUSeconds, r.res.Wall, ratio)
	}
	b.WriteString("\n| goal | ratio | target |\n|---|---:|---:|\n")
	for _, g := range []struct {
		what, a, b string
		target     float64
	}{
		{"Weir at least once ÷ the hand-written loop", "weir-alo", "ceiling", 0.5},
		{"Weir exactly once ÷ Weir at least once", "weir-eo", "weir-alo", 0.8},
		{"Weir keyed count ÷ Goka", "weir-count", "goka", 10},
		{"Weir keyed count by message key ÷ Goka's", "weir-count-key", "goka-key", 10},
		{"q5 from Kafka ÷ q5 from a JSON-lines file", "nexmark-q5-kafka", "nexmark-q5-file", 0.8},
		{"q7 from Kafka ÷ q7 from a JSON-lines file", "nexmark-q7-kafka", "nexmark-q7-file", 0.8},
	} {
		if rate[g.a] > 0 && rate[g.b] > 0 {
			fmt.Fprintf(&b, "| %s | %.2f | ≥ %g |\n", g.what, rate[g.a]/rate[g.b], g.target)
		}
	}
	return b.String()
}

func renderLatency(ls []latencyResult, o options) string {
	if len(ls) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nLatency: a Weir passthrough job (Kafka source, JSON decode and encode, Kafka sink with linger %v), its input written at a fixed rate by the harness's producer and its output read by the harness's consumer, all on the same cores as the broker.", o.latLinger)
	if o.latMax > 0 {
		fmt.Fprintf(&b, " Written as fast as the producer could, the output came at %.0f events/s at most; the runs write half of that.\n", o.latMax)
	} else {
		b.WriteString(" The rate is -latency-rate's.\n")
	}
	b.WriteString("\n| latency, producer → consumer of the output | events/s | records measured | p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
	for _, l := range ls {
		what := "Weir, at least once, checkpoints every 1 s (read_uncommitted)"
		switch l.mode {
		case "eo":
			what = "Weir, exactly once, checkpoints every 1 s (read_committed)"
		case "loop":
			what = "the hand-written loop (read_uncommitted)"
		}
		fmt.Fprintf(&b, "| %s | %.0f | %d | %v | %v | %v |\n", what, l.rate, l.n,
			l.p50.Round(100*time.Microsecond), l.p99.Round(100*time.Microsecond), l.max.Round(time.Millisecond))
	}
	return b.String()
}

// loadAverage returns the machine's 1, 5 and 15 minute load averages, or
// "unknown" where /proc/loadavg cannot be read.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], ", ")
	}
	return "unknown"
}
