package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"go.uber.org/goleak"
)

// testTimeout bounds every job of these tests: one that never delivers
// fails instead of hanging.
const testTimeout = time.Minute

// noLeaks returns a function, to defer, that fails t if goroutines started
// since are still running. It is called after the test's cluster is up,
// whose goroutines stop only when the test ends.
func noLeaks(t *testing.T) func() {
	opt := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		if err := goleak.Find(opt); err != nil {
			t.Errorf("goroutines left behind: %v", err)
		}
	}
}

// fill writes n records to topic, dealt round robin to its partitions:
// value "v<i>", key "k<i>", a header "n" and timestamp base+i seconds. It
// returns the values.
func fill(c *kafkatest.Cluster, topic string, partitions int32, from, n int) []string {
	var recs []*kgo.Record
	var vals []string
	for i := from; i < from+n; i++ {
		v := fmt.Sprintf("%s/v%d", topic, i)
		vals = append(vals, v)
		recs = append(recs, &kgo.Record{
			Partition: int32(i) % partitions, Key: fmt.Appendf(nil, "k%d", i), Value: []byte(v),
			Headers:   []kgo.RecordHeader{{Key: "n", Value: fmt.Appendf(nil, "%d", i)}},
			Timestamp: base.Add(time.Duration(i) * time.Second),
		})
	}
	c.Send(topic, recs...)
	return vals
}

// base is the timestamp of the first record fill writes.
var base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newSource(t *testing.T, cfg kafka.SourceConfig[string]) *kafka.Source[string] {
	t.Helper()
	if cfg.Decoder == nil {
		cfg.Decoder = format.String()
	}
	s, err := kafka.NewSource(cfg)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	return s
}

// values returns the sorted values of recs.
func values(recs []kafka.Record[string]) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Value
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// counter counts the records passing a step and closes a channel when the
// count reaches a mark.
type counter struct {
	n    atomic.Int64
	mark atomic.Int64
	hit  atomic.Pointer[chan struct{}]
}

// at returns a channel closed once the count reaches n.
func (c *counter) at(n int64) <-chan struct{} {
	ch := make(chan struct{})
	c.mark.Store(n)
	c.hit.Store(&ch)
	if c.n.Load() >= n {
		c.fire()
	}
	return ch
}

func (c *counter) fire() {
	if p := c.hit.Swap(nil); p != nil {
		close(*p)
	}
}

// step counts every record of s.
func (c *counter) step(s weir.Stream[kafka.Record[string]]) weir.Stream[kafka.Record[string]] {
	return weir.Map(s, func(r kafka.Record[string]) kafka.Record[string] {
		if c.n.Add(1) >= c.mark.Load() && c.mark.Load() > 0 {
			c.fire()
		}
		return r
	})
}

// job is a job running on a goroutine of its own.
type job struct {
	t       *testing.T
	env     *weir.Env
	done    chan error
	stop    chan struct{}
	stopped atomic.Bool
}

func start(t *testing.T, env *weir.Env, stop chan struct{}) *job {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	j := &job{t: t, env: env, done: make(chan error, 1), stop: stop}
	go func() { j.done <- env.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-j.done
	})
	return j
}

// waitFor waits for ch, failing the test if the job ends first or takes
// too long.
func (j *job) waitFor(ch <-chan struct{}, what string) {
	j.t.Helper()
	select {
	case <-ch:
	case err := <-j.done:
		j.done <- err
		j.t.Fatalf("the job ended (%v) before %s", err, what)
	case <-time.After(testTimeout):
		j.t.Fatalf("no %s within %v", what, testTimeout)
	}
}

// end stops the job with a savepoint (when it has a stop channel) and
// waits for it to return nil.
func (j *job) end() {
	j.t.Helper()
	if j.stop != nil && j.stopped.CompareAndSwap(false, true) {
		close(j.stop)
	}
	select {
	case err := <-j.done:
		j.done <- nil
		if err != nil {
			j.t.Fatalf("Run: %v", err)
		}
	case <-time.After(testTimeout):
		j.t.Fatalf("the job did not end within %v", testTimeout)
	}
}

// checkpoints returns an option telling the returned channel of each
// checkpoint that completes (at most one waiting).
func checkpoints() (weir.Option, <-chan struct{}) {
	ch := make(chan struct{}, 1)
	return weir.OnCheckpoint(func(weir.CheckpointMetrics) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}), ch
}
