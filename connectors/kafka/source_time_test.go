package kafka_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

type count struct{}

func (count) CreateAccumulator() int                { return 0 }
func (count) Add(_ kafka.Record[string], n int) int { return n + 1 }
func (count) Result(n int) int                      { return n }
func (count) Merge(a, b int) int                    { return a + b }

// Watermarks are per partition, from the Kafka timestamps: a partition
// that receives nothing holds every event-time window back until
// weir.IdleTimeout declares it idle, and then the windows of the busy
// partition fire. (Without the timeout no window fires.)
func TestSourceIdlePartition(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("busy", 2)
	// Records 0, 2, 4, … go to partition 0, one second apart: the first
	// minute's window holds 30 of them; partition 1 stays empty.
	var recs []*kgo.Record
	for i := 0; i < 140; i += 2 {
		recs = append(recs, &kgo.Record{Partition: 0, Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)})
	}
	c.Send("busy", recs...)
	stop := make(chan struct{})
	env := weir.New(weir.Checkpoints(time.Hour, t.TempDir()), weir.StopOn(stop))
	src := weir.From(env, newSource(t, kafka.SourceConfig[string]{
		Conn: kafka.Conn{Brokers: c.Brokers()}, Topics: []string{"busy"},
	}), weir.EventTime(kafka.Record[string].EventTime, 0), weir.IdleTimeout(20*time.Millisecond))
	windows := weir.Aggregate(weir.Windowed(weir.KeyBy(src, func(kafka.Record[string]) string { return "all" }),
		weir.TumblingEventTime(time.Minute)), count{})
	fired := make(chan weir.WindowResult[string, int], 1)
	weir.Collect(weir.Map(windows, func(w weir.WindowResult[string, int]) int {
		select {
		case fired <- w:
		default: // the test looks at the first window only
		}
		return w.Value
	}))
	j := start(t, env, stop)
	// Partition 1 turns idle 20 ms after the start and stays so; partition
	// 0 may turn idle too between records, and then the subtask's
	// watermark waits for its next record. So records keep coming to
	// partition 0 until the first window fires.
	var first weir.WindowResult[string, int]
	deadline := time.After(testTimeout)
	for i, got := 140, false; !got; i += 2 {
		c.Send("busy", &kgo.Record{Partition: 0, Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)})
		select {
		case first = <-fired:
			got = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no window fired: the empty partition held the watermark back")
		}
	}
	j.end()
	start := base.Truncate(time.Minute)
	if first.Value != 28 || !first.Window.StartTime().Equal(start) {
		t.Fatalf("first window %+v, want the one starting %v with 28 records", first, start)
	}
}
