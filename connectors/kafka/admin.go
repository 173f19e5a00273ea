package kafka

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
)

// NewClient opens a client of the cluster c connects to, with opts added,
// and waits until a broker has answered, so that a mistake in the settings
// is an error naming the brokers. Tools that look at topics beside a job —
// an admin client wrapped around it (kadm.NewClient), for example — use it
// to connect exactly as the job's sources and sinks do. Close it when done.
func (c Conn) NewClient(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	return c.newClient(ctx, opts...)
}

// SplitOffset reads a checkpointed position of the split splitID of a
// Source: the topic and partition it reads and the offset of the next
// record it reads, or -2 when it had read nothing yet and starts at the
// partition's earliest offset.
func SplitOffset(splitID string, pos []byte) (topic string, partition int32, next int64, err error) {
	tp, err := parseSplit(splitID)
	if err != nil {
		return "", 0, 0, err
	}
	if pos == nil {
		return tp.topic, tp.partition, earliestOffset, nil
	}
	next, _, err = decodePosition(pos)
	if err != nil {
		return "", 0, 0, fmt.Errorf("kafka: split %q: %w", splitID, err)
	}
	return tp.topic, tp.partition, next, nil
}
