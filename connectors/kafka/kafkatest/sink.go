package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// HeldBack returns, for each partition of topic whose last stable offset is
// below its end, how many offsets lie between them: records of open
// transactions hold a partition's last stable offset back, and with it
// everything read_committed consumers see, until the transactions end.
// An empty result means no transaction is open on topic.
func (c *Cluster) HeldBack(topic string) map[int32]int64 {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.Client())
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err == nil {
		err = stable.Error()
	}
	if err != nil {
		c.t.Fatalf("kafkatest: last stable offsets of %s: %v", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		c.t.Fatalf("kafkatest: end offsets of %s: %v", topic, err)
	}
	held := map[int32]int64{}
	ends.Each(func(e kadm.ListedOffset) {
		if s, ok := stable.Lookup(topic, e.Partition); ok && s.Offset < e.Offset {
			held[e.Partition] = e.Offset - s.Offset
		}
	})
	return held
}

// Scoped returns a view of c whose clients — those Client, Produce and
// the reads make — are closed by done rather than when the test ends: for
// a test that checks, after reading a topic, that no goroutine is left.
func (c *Cluster) Scoped() (view *Cluster, done func()) {
	s := &scope{TB: c.t}
	return &Cluster{Cluster: c.Cluster, t: s}, s.close
}

// scope is a test whose cleanups run when close is called.
type scope struct {
	testing.TB
	cleanups []func()
}

func (s *scope) Cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

func (s *scope) close() {
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
	s.cleanups = nil
}
