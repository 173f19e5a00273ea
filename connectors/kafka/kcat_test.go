package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// kcatRun runs kcat, an independent Kafka client (librdkafka), with args
// against c and returns what it printed.
func kcatRun(t *testing.T, c *kafkatest.Cluster, stdin string, args ...string) string {
	t.Helper()
	kcat := needTool(t, "kcat")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", strings.Join(c.Brokers(), ",")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("kcat %v: %v", args, err)
	}
	return string(out)
}

// kcatLines reads topic to its end with kcat at the isolation level given
// and returns "key=value" per record, sorted.
func kcatLines(t *testing.T, c *kafkatest.Cluster, topic, isolation string) []string {
	t.Helper()
	out := kcatRun(t, c, "", "-C", "-t", topic, "-e", "-q", "-X", "isolation.level="+isolation, "-f", "%k=%s\n")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	slices.Sort(lines)
	return lines
}

// kcat writes a job's input and reads its output as read_committed: it sees
// each output record of the job that completed exactly once, and none of
// the transaction an earlier run aborted when it failed, though that
// transaction's records are in the topic (a read_uncommitted kcat sees
// them).
func TestKcatReadsCommittedOutputOnly(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("in", 2)
	c.Topic("out", 2)
	var input strings.Builder
	var want []string
	for i := range 100 {
		fmt.Fprintf(&input, "k%d:%d\n", i%7, i)
		want = append(want, fmt.Sprintf("k%d=%d!", i%7, i))
	}
	slices.Sort(want)
	kcatRun(t, c, input.String(), "-P", "-t", "in", "-K:")
	adm := kadm.NewClient(c.Client())

	// job reads in, appends "!" to each value and writes it under its key,
	// exactly once. When failAt is set, the record failAt fails the job
	// after the records before it have had time to reach the brokers in
	// the open transaction.
	job := func(failAt int64) error {
		src, err := kafka.NewSource(kafka.SourceConfig[string]{
			Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"in"}, Decoder: format.String(), Bounded: true,
		})
		if err != nil {
			return err
		}
		sink, err := kafka.NewSink(kafka.SinkConfig[kafka.Record[string]]{
			Conn: kafka.Conn{Brokers: c.Brokers()}, Topic: "out",
			Value:                 valueWith("!"),
			Key:                   func(r kafka.Record[string]) []byte { return r.Key },
			Delivery:              kafka.ExactlyOnce,
			TransactionalIDPrefix: "kcat-test",
			Linger:                -1,
		})
		if err != nil {
			return err
		}
		env := weir.New(weir.Checkpoints(time.Minute, filepath.Join(t.TempDir(), "chk")))
		var n atomic.Int64
		recs := weir.TryMap(weir.From(env, src), func(r kafka.Record[string]) (kafka.Record[string], error) {
			if n.Add(1) == failAt {
				waitForOutput(adm, "out")
				return r, errors.New("planted failure")
			}
			return r, nil
		})
		weir.To(recs, sink)
		return env.Run(context.Background())
	}

	if err := job(60); err == nil || !strings.Contains(err.Error(), "planted failure") {
		t.Fatalf("first run: %v, want the planted failure", err)
	}
	if got := kcatLines(t, c, "out", "read_uncommitted"); len(got) == 0 {
		t.Fatal("a read_uncommitted kcat sees none of the aborted transaction's records; the test shows nothing")
	}
	if got := kcatLines(t, c, "out", "read_committed"); len(got) != 0 {
		t.Fatalf("a read_committed kcat sees %d records of the aborted transaction: %q", len(got), got[:min(3, len(got))])
	}

	if err := job(0); err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := kcatLines(t, c, "out", "read_committed"); !slices.Equal(got, want) {
		t.Fatalf("read_committed kcat read %d records (first %q), want the 100 of the run that completed", len(got), got[:min(3, len(got))])
	}
}

// waitForOutput returns once topic holds a record (committed or not), or
// after a minute: the open transaction's records have reached the brokers.
func waitForOutput(adm *kadm.Client, topic string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		ends, err := adm.ListEndOffsets(ctx, topic)
		var n int64
		if err == nil {
			ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// valueWith encodes a record's value with suffix appended.
type valueWith string

func (s valueWith) Encode(dst []byte, r kafka.Record[string]) ([]byte, error) {
	return append(append(dst, r.Value...), s...), nil
}
