package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// devKafka runs weir dev kafka in-process with args until the test ends
// and returns the address it listens on.
func devKafka(t *testing.T, args ...string) (addr string, stop func() string) {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(t.Context())
	cmd := NewRootCommand()
	var out syncBuffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"dev", "kafka", "--port", "0", "--addr-file", addrFile}, args...))
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			addr = strings.TrimSpace(string(b))
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("weir dev kafka ended before it listened: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("weir dev kafka: %v", err)
			}
		})
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return addr, stop
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// produceAndCount writes n records to topic and reads the topic back from
// its start until it has read want records, returning how many it read
// (want, or fewer after a minute) and from how many partitions.
func produceAndCount(t *testing.T, addr, topic string, n, want int) (records, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	seen := map[int32]bool{}
	for records < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { records++; seen[r.Partition] = true })
	}
	return records, len(seen)
}

// weir dev kafka creates topics on first use with --partitions
// partitions, says it is a development stand-in, and stops on cancel.
func TestDevKafkaServesTopics(t *testing.T) {
	addr, stop := devKafka(t, "--partitions", "4")
	if n, parts := produceAndCount(t, addr, "orders", 8, 8); n != 8 || parts != 4 {
		t.Fatalf("read %d records from %d partitions, want 8 from 4", n, parts)
	}
	out := stop()
	for _, want := range []string{"DEVELOPMENT Kafka-protocol broker", "not a production broker", addr, "kcat -b " + addr, "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// With --data the topics and their records outlive the broker.
func TestDevKafkaDataSurvivesRestart(t *testing.T) {
	data := t.TempDir()
	addr, stop := devKafka(t, "--data", data, "--topic", "kept", "--partitions", "2")
	if n, _ := produceAndCount(t, addr, "kept", 3, 3); n != 3 {
		t.Fatalf("first run read %d records, want 3", n)
	}
	stop()
	addr, _ = devKafka(t, "--data", data, "--topic", "kept", "--partitions", "2")
	if n, _ := produceAndCount(t, addr, "kept", 3, 6); n != 6 {
		t.Fatalf("second run read %d records, want the first run's 3 and its own 3", n)
	}
}

// kcat, an independent Kafka client, produces to and reads from the
// development broker.
func TestDevKafkaWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("WEIR_REQUIRE_TOOLS") != "" {
			t.Fatal("kcat is not installed (make deps installs it)")
		}
		t.Skip("kcat is not installed")
	}
	addr, _ := devKafka(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	produce := exec.CommandContext(ctx, kcat, "-b", addr, "-P", "-t", "beacons")
	produce.Stdin = strings.NewReader("a\nb\nc\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, kcat, "-b", addr, "-C", "-t", "beacons", "-e", "-q",
		"-X", "isolation.level=read_committed").Output()
	if err != nil {
		t.Fatalf("kcat -C: %v", err)
	}
	got := strings.Fields(string(out))
	if len(got) != 3 {
		t.Fatalf("kcat read %q, want a, b and c", got)
	}
}

func TestDevKafkaRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "70000"}, "--port 70000"},
		{[]string{"--port", "-1"}, "--port -1"},
		{[]string{"--partitions", "0"}, "--partitions 0"},
		{[]string{"--topic", "bad/name"}, `--topic "bad/name": character '/' at 4`},
		{[]string{"--topic", ".."}, `cannot be "." or ".."`},
		{[]string{"extra"}, "unknown command"},
	} {
		_, _, err := executeStopped(t, false, append([]string{"dev", "kafka"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("weir dev kafka %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}
