package kafka_test

import (
	"errors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// When the broker goes away the job keeps running, its client retrying;
// when a broker comes back on the same address with the same data, the
// job resumes where it was: every record is read once, none lost, none
// twice.
func TestSourceSurvivesBrokerRestart(t *testing.T) {
	data := t.TempDir()
	c := kafkatest.NewCluster(t, kfake.DataDir(data), kfake.SyncWrites())
	c.Topic("events", 2)
	want := fill(c, "events", 2, 0, 40)
	brokers := c.Brokers()
	_, port, err := net.SplitHostPort(brokers[0])
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	onCheckpoint, checkpointed := checkpoints()
	env := weir.New(weir.Parallelism(2), weir.Checkpoints(20*time.Millisecond, t.TempDir()), weir.StopOn(stop), onCheckpoint)
	var n counter
	out := weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: brokers}, Topics: []string{"events"}, Group: "g",
	}), weir.DiscoveryInterval(10*time.Millisecond))))
	j := start(t, env, stop)
	j.waitFor(n.at(40), "the records written before the outage")
	c.Close()
	// The job goes on while the broker is away: checkpoints complete.
	// (The first may have been signalled before the broker went.)
	for range 3 {
		j.waitFor(checkpointed, "a checkpoint while the broker is away")
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	c = kafkatest.NewCluster(t, kfake.DataDir(data), kfake.SyncWrites(), kfake.Ports(p))
	want = append(want, fill(c, "events", 2, 40, 40)...)
	j.waitFor(n.at(80), "the records written after the broker came back")
	j.end()
	if g := values(out.Values()); !slices.Equal(g, sorted(want)) {
		t.Fatalf("read %d records, want each of %d once", len(g), len(want))
	}
}

// Fetches that fail for a while (the broker drops the connection of each)
// are retried: the records written meanwhile are read once they succeed
// again, each once.
func TestSourceRetriesFailingFetches(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("events", 2)
	want := fill(c, "events", 2, 0, 20)
	stop := make(chan struct{})
	env := weir.New(weir.Checkpoints(20*time.Millisecond, t.TempDir()), weir.StopOn(stop))
	var n counter
	out := weir.Collect(n.step(weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"events"},
	}))))
	j := start(t, env, stop)
	j.waitFor(n.at(20), "the records written before the failures")
	const failures = 3
	var failed atomic.Int64
	done := make(chan struct{})
	c.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		if failed.Add(1) > failures {
			c.DropControl()
			close(done)
			return nil, nil, false
		}
		c.KeepControl()
		return nil, errors.New("injected fetch failure"), true
	})
	want = append(want, fill(c, "events", 2, 20, 20)...)
	j.waitFor(done, "the failing fetches")
	j.waitFor(n.at(40), "the records written while fetches failed")
	j.end()
	if g := values(out.Values()); !slices.Equal(g, sorted(want)) {
		t.Fatalf("read %d records, want each of %d once", len(g), len(want))
	}
}

// A record larger than the fetch limits is read all the same: a broker
// returns the first record batch of a fetch whole, whatever its size
// (KIP-74), and the records around it follow.
func TestSourceReadsRecordLargerThanFetchLimits(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("big", 1)
	large := strings.Repeat("x", 64<<10)
	c.Send("big", &kgo.Record{Value: []byte("before")}, &kgo.Record{Value: []byte(large)}, &kgo.Record{Value: []byte("after")})
	got, err := readAll(t, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"big"}, Bounded: true,
		FetchMaxBytes: 1 << 10, FetchMaxPartitionBytes: 1 << 10, BufferBytes: 1 << 10,
	}))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := []string{"after", "before", large}; !slices.Equal(got, want) {
		t.Fatalf("read %d records, want the 3 written", len(got))
	}
}
