package kafka_test

import (
	"bufio"
	"context"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

type order struct {
	ID int `json:"id"`
}

// deadLetter is what the tests read of a dead letter.
type deadLetter struct {
	Source string `json:"source"`
	Split  string `json:"split"`
	Offset *int64 `json:"offset"` // nil when missing
	Error  string `json:"error"`
	Record string `json:"record"`
}

func readDeadLetters(t *testing.T, dir string) []deadLetter {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "part-*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []deadLetter
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l deadLetter
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%s: %q: %v", name, sc.Text(), err)
			}
			out = append(out, l)
		}
		f.Close()
	}
	return out
}

// A value that does not decode goes to the dead letters with the source's
// name, its split (topic-partition), offset, raw bytes and the decoder's
// error; the others are read.
func TestSourceDeadLetters(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("orders", 2)
	c.Send("orders",
		&kgo.Record{Partition: 0, Value: []byte(`{"id":1}`)},
		&kgo.Record{Partition: 0, Value: []byte(`not json`)},
		&kgo.Record{Partition: 1, Value: []byte(`{"id":2}`)},
		&kgo.Record{Partition: 1, Value: []byte(`{"id":3}`)},
		&kgo.Record{Partition: 1, Value: []byte(`{"id":`)},
	)
	dir := filepath.Join(t.TempDir(), "dead")
	env := weir.New(weir.Parallelism(2), weir.OnError(weir.DeadLetter), weir.DeadLetters(dir))
	src, err := kafka.NewSource(kafka.SourceConfig[order]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"orders"}, Bounded: true,
		Decoder: format.JSON[order](),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := weir.Collect(weir.From(env, src).Name("orders in"))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := env.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var ids []int
	for _, r := range got.Values() {
		ids = append(ids, r.Value.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []int{1, 2, 3}) {
		t.Fatalf("read orders %v, want 1, 2 and 3", ids)
	}
	letters := readDeadLetters(t, dir)
	slices.SortFunc(letters, func(a, b deadLetter) int { return strings.Compare(a.Split, b.Split) })
	want := []struct {
		split  string
		offset int64
		record string
	}{{"orders-0", 1, "not json"}, {"orders-1", 2, `{"id":`}}
	if len(letters) != len(want) {
		t.Fatalf("dead letters %+v, want %d", letters, len(want))
	}
	for i, w := range want {
		l := letters[i]
		if l.Source != "orders in" || l.Split != w.split || l.Offset == nil || *l.Offset != w.offset ||
			l.Record != w.record || !strings.Contains(l.Error, "json") || !strings.Contains(l.Error, w.split) {
			t.Errorf("dead letter %+v, want source %q, split %q, offset %d, record %q and a json error naming the split",
				l, "orders in", w.split, w.offset, w.record)
		}
	}
}

// Offsets are committed to the group when checkpoints complete, without
// the source joining it, so that the group's lag shows the job's progress;
// NoCommit commits nothing.
func TestSourceCommitsOffsetsOnCheckpoints(t *testing.T) {
	for _, noCommit := range []bool{false, true} {
		t.Run(map[bool]string{false: "commit", true: "no commit"}[noCommit], func(t *testing.T) {
			c := kafkatest.NewCluster(t)
			c.Topic("events", 2)
			fill(c, "events", 2, 0, 30)
			stop := make(chan struct{})
			env := weir.New(weir.Checkpoints(10*time.Millisecond, t.TempDir()), weir.StopOn(stop))
			var n counter
			weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
				Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"events"}, Group: "g", NoCommit: noCommit,
				OnCommitError: func(err error) { t.Errorf("commit: %v", err) },
			}))))
			j := start(t, env, stop)
			j.waitFor(n.at(30), "every record")
			want := map[int32]int64{0: 15, 1: 15}
			if noCommit {
				j.end()
				if got := c.GroupOffsets("g", "events"); len(got) != 0 {
					t.Fatalf("with NoCommit the group has offsets %v", got)
				}
				return
			}
			// Commits follow checkpoints on a goroutine of their own.
			// What kcat, an independent client, sees of the group after
			// the job: it resumes at the committed offsets.
			defer func() {
				if !t.Failed() {
					kcatResumes(t, c, "g", "events")
				}
			}()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(testTimeout)
			for got := c.GroupOffsets("g", "events"); !maps.Equal(got, want); got = c.GroupOffsets("g", "events") {
				select {
				case <-tick.C:
				case <-deadline:
					t.Fatalf("the group's offsets are %v, want %v", got, want)
				}
			}
			j.end()
		})
	}
}

// needTool returns the path of the program name, skipping the test when it
// is missing, unless WEIR_REQUIRE_TOOLS is set (make test sets it): then
// the test fails.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("WEIR_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is required (make deps installs it): %v", name, err)
		}
		t.Skipf("%s is not installed: %v", name, err)
	}
	return p
}

// kcatResumes writes two records to topic and checks that kcat, consuming
// as group, reads exactly those: the group's committed offsets were at the
// end of what the job read.
func kcatResumes(t *testing.T, c *kafkatest.Cluster, group, topic string) {
	t.Helper()
	kcat := needTool(t, "kcat")
	want := fill(c, topic, 2, 1000, 2)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", strings.Join(c.Brokers(), ","), "-G", group, "-e", "-q",
		"-f", "%s\n", topic).CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Fatalf("kcat consuming as group %q read %q, want only the records written after the job: %q", group, got, want)
	}
}
