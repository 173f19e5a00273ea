package robustness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/internal/failpoint"
)

// kafkaFailpoints are the moments the Kafka branch kills the job at,
// besides random ones: before and after the sink's pre-commit, after the
// checkpoint's metadata is written but before its transactions are
// committed, and between the commits of several subtasks' transactions.
var kafkaFailpoints = []string{
	failpoint.StateWritten,
	checkpoint.FailpointMetadataTempWritten,
	checkpoint.FailpointMetadataRenamed,
	failpoint.SinkPreparing,
	failpoint.SinkPrepared,
	failpoint.SinkCommitting,
	KafkaTxnCommitted,
}

// TestExactlyOnceUnderKillKafka runs the crash harness's job on Kafka: it
// reads its input lines from a topic (one partition per input file) of a
// development broker running in a process of its own, and writes its
// output lines to another topic in transactions committed with its
// checkpoints. The job is killed with SIGKILL at random moments and at
// every failpoint, restarted from its latest checkpoint at parallelism 1,
// 2, 1, …, and the output topic read with read_committed must equal the
// model: nothing lost, nothing duplicated.
func TestExactlyOnceUnderKillKafka(t *testing.T) {
	events, minKills, pause := 20_000, 14, 4
	if *soak {
		events, minKills = 100_000, 200
	}
	if testing.Short() {
		t.Skip("the crash harness builds and kills processes")
	}
	h := &harness{t: t, dir: t.TempDir(), pause: pause, kills: map[string]int{}}
	h.input = filepath.Join(h.dir, "input")
	h.dead = filepath.Join(h.dir, "dead-letters")
	h.chk = filepath.Join(h.dir, "checkpoints")
	h.output = filepath.Join(h.dir, "unused")
	h.bin = filepath.Join(h.dir, "eojob")
	weirBin := filepath.Join(h.dir, "weir")
	for _, b := range [][2]string{{h.bin, "./eojob"}, {weirBin, "../../../cmd/weir"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	if err := os.MkdirAll(h.input, 0o755); err != nil {
		t.Fatal(err)
	}
	const files = 4
	in, bad, err := Generate(h.input, files, events, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Model(in)
	h.kafka = startDevKafka(t, weirBin, h.dir)
	produceInput(t, h.kafka, h.input, files)

	h.killUntilDone(minKills, kafkaFailpoints)

	var got []string
	for _, r := range kafkatest.ReadCommitted(t, []string{h.kafka}, "out") {
		got = append(got, string(r.Value))
	}
	h.compare(fmt.Sprintf("%d input lines in %d partitions, %d output records expected, %d committed, %d runs",
		len(in)+len(bad), files, len(want), len(got), h.runs), kafkaFailpoints, want, got, bad)
	if held := heldBack(t, h.kafka, "out"); len(held) > 0 {
		t.Fatalf("open transactions hold back the output's partitions %v after the job completed", held)
	}
}

// startDevKafka starts weir dev kafka in a process of its own, which the
// job's kills do not touch, and stops it when the test ends.
func startDevKafka(t *testing.T, weirBin, dir string) string {
	t.Helper()
	addrFile := filepath.Join(dir, "kafka-addr")
	cmd := exec.Command(weirBin, "dev", "kafka", "--port", "0", "--addr-file", addrFile, "--partitions", "4")
	var logb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logb, &logb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("weir dev kafka did not start:\n%s", logb.String())
	return ""
}

// produceInput creates the topics and writes each input file's lines, in
// order, to a partition of its own of topic in.
func produceInput(t *testing.T, addr, dir string, files int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("in"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"in", "out"} {
		if _, err := adm.CreateTopic(ctx, int32(files), 1, nil, topic); err != nil {
			t.Fatalf("create topic %s: %v", topic, err)
		}
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(names) != files {
		t.Fatalf("input files %v (%v), want %d", names, err, files)
	}
	slices.Sort(names)
	for p, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		var recs []*kgo.Record
		for sc.Scan() {
			recs = append(recs, &kgo.Record{Value: []byte(sc.Text()), Partition: int32(p)})
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", name, err)
		}
	}
}

// heldBack returns the partitions of topic whose last stable offset is
// below their high watermark: an open transaction holds them back.
func heldBack(t *testing.T, addr, topic string) []int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	high, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []int32
	high.Each(func(o kadm.ListedOffset) {
		if s, ok := stable.Lookup(topic, o.Partition); !ok || s.Offset < o.Offset {
			out = append(out, o.Partition)
		}
	})
	return out
}
