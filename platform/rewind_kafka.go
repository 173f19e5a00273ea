package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirstream/weir/connectors/kafka"
	"github.com/weirstream/weir/internal/checkpoint"
	"github.com/weirstream/weir/pipeline"
)

// A rewind of a Kafka output. A topic cannot be truncated back to the
// checkpoint, so the restatement goes to a new versioned topic,
// <topic>.v<n>, made with the partitions, replication factor and topic
// settings of the one it replaces; the rewound job writes there from the
// checkpoint's input positions on and downstream consumers switch to it
// (the job's versions.json and the rewind's answer name it). A compacted
// topic is a table: re-emitting the re-read records over it makes each key
// converge to its restated value, so it is written again in place.

// RewindOffset is where a rewind takes a Kafka input's partition back to.
type RewindOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Offset is the offset of the first record re-read, the one the
	// checkpoint had not read yet; -2 when it had read nothing of the
	// partition, which is then re-read from its earliest offset.
	Offset int64 `json:"offset"`
	// End is the partition's end offset now, and Records how many records
	// lie between the two: what the rewound job reads again before it
	// reaches what it had not read. Both are -1 when the brokers could not
	// be asked.
	End     int64 `json:"end"`
	Records int64 `json:"records"`
}

// kafkaTimeout bounds what a rewind asks the brokers.
const kafkaTimeout = 30 * time.Second

// sourcePositions reads the split positions a checkpoint recorded for
// each source operator (by operator ID).
func sourcePositions(c CheckpointFile) (map[string][]checkpointSplit, error) {
	b, err := os.ReadFile(filepath.Join(c.Path, "_metadata"))
	if err != nil {
		return nil, err
	}
	m, err := checkpoint.DecodeMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	var ops map[string]struct {
		Splits []checkpointSplit `json:"splits"`
	}
	if data, ok := m.Job["operators"]; ok {
		if err := json.Unmarshal(data, &ops); err != nil {
			return nil, fmt.Errorf("%s: operators: %w", c.Path, err)
		}
	}
	out := map[string][]checkpointSplit{}
	for id, op := range ops {
		out[id] = op.Splits
	}
	return out, nil
}

// checkpointSplit is a source split's position in a checkpoint.
type checkpointSplit struct {
	Split    string `json:"split"`
	Position []byte `json:"position"`
	Ended    bool   `json:"ended"`
}

// kafkaInputOffsets works out, per partition of a Kafka input, the offset
// the checkpoint goes back to and how far the partition has got since.
func kafkaInputOffsets(ctx context.Context, in *pipeline.Input, splits []checkpointSplit) ([]RewindOffset, error) {
	var offs []RewindOffset
	for _, s := range splits {
		topic, part, next, err := kafka.SplitOffset(s.Split, s.Position)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", in.Name, err)
		}
		offs = append(offs, RewindOffset{Topic: topic, Partition: part, Offset: next, End: -1, Records: -1})
	}
	slices.SortFunc(offs, func(a, b RewindOffset) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	cl, err := in.Kafka.Conn.NewClient(ctx)
	if err != nil {
		return offs, fmt.Errorf("input %s: %w", in.Name, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, in.Kafka.Topics...)
	if err == nil {
		err = ends.Error()
	}
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = adm.ListStartOffsets(ctx, in.Kafka.Topics...)
		if err == nil {
			err = starts.Error()
		}
	}
	if err != nil {
		return offs, fmt.Errorf("input %s: cannot list the offsets of %s: %w", in.Name, strings.Join(in.Kafka.Topics, ", "), err)
	}
	for i, o := range offs {
		e, ok := ends.Lookup(o.Topic, o.Partition)
		if !ok {
			continue
		}
		from := o.Offset
		if st, ok := starts.Lookup(o.Topic, o.Partition); ok && (from < 0 || from < st.Offset) {
			from = st.Offset
		}
		offs[i].End, offs[i].Records = e.Offset, max(e.Offset-from, 0)
	}
	return offs, nil
}

// versionTopic is the topic of version n of a Kafka output of topic t.
func versionTopic(t string, n int) string {
	if n <= 1 {
		return t
	}
	return t + ".v" + strconv.Itoa(n)
}

// planKafkaOutput works out what a rewind does to a Kafka output o, whose
// current version is v: it asks the brokers about the current topic.
func planKafkaOutput(ctx context.Context, o *pipeline.Output, v int) (RewindOutput, error) {
	base := o.Kafka.Topic
	ro := RewindOutput{Name: o.Name, Type: o.Type, Path: base, FromVersion: v, FromTopic: versionTopic(base, v)}
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	cl, err := o.Kafka.Conn.NewClient(ctx)
	if err != nil {
		return ro, fmt.Errorf("output %s: %w", o.Name, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	td, err := topicDetail(ctx, adm, ro.FromTopic)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return ro, fmt.Errorf("output %s: its topic %s does not exist, so there is nothing to restate", o.Name, ro.FromTopic)
	case err != nil:
		return ro, fmt.Errorf("output %s: topic %s: %w", o.Name, ro.FromTopic, err)
	}
	ro.Partitions, ro.ReplicationFactor = int32(len(td.Partitions)), int16(td.Partitions.NumReplicas())
	ro.Configs, ro.Compacted, err = topicConfigs(ctx, adm, ro.FromTopic)
	if err != nil {
		return ro, fmt.Errorf("output %s: topic %s: %w", o.Name, ro.FromTopic, err)
	}
	if ro.Compacted {
		ro.ToVersion, ro.ToTopic = v, ro.FromTopic
		ro.Swap = fmt.Sprintf("re-emit over the compacted topic %s: each key converges to its restated value", ro.ToTopic)
		return ro, nil
	}
	ro.ToVersion, ro.ToTopic = v+1, versionTopic(base, v+1)
	if len(ro.ToTopic) > 249 {
		return ro, fmt.Errorf("output %s: the new version's topic %s would be longer than Kafka's 249 characters", o.Name, ro.ToTopic)
	}
	_, err = topicDetail(ctx, adm, ro.ToTopic)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
	case err != nil:
		return ro, fmt.Errorf("output %s: topic %s: %w", o.Name, ro.ToTopic, err)
	default:
		// A topic left by a rewind that stopped halfway may be used if
		// nothing was written to it; one with records is someone's.
		n, err := topicRecords(ctx, adm, ro.ToTopic)
		if err != nil {
			return ro, fmt.Errorf("output %s: topic %s: %w", o.Name, ro.ToTopic, err)
		}
		if n > 0 {
			return ro, fmt.Errorf("output %s: the new version's topic %s exists already and holds %d records; delete it, or rewind with a pipeline whose output writes another topic", o.Name, ro.ToTopic, n)
		}
		ro.TopicExists = true
	}
	ro.Swap = fmt.Sprintf("write the restated records to the new topic %s (%d partitions, as %s has); %s stays as it is; consumers switch to %s", ro.ToTopic, ro.Partitions, ro.FromTopic, ro.FromTopic, ro.ToTopic)
	return ro, nil
}

func topicDetail(ctx context.Context, adm *kadm.Client, topic string) (kadm.TopicDetail, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, err
	}
	td, ok := tds[topic]
	if !ok {
		return td, kerr.UnknownTopicOrPartition
	}
	return td, td.Err
}

// topicConfigs returns the settings made for topic itself (not the
// brokers' defaults), which its new version is made with, and whether it
// is compacted.
func topicConfigs(ctx context.Context, adm *kadm.Client, topic string) (map[string]string, bool, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, false, err
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return nil, false, err
	}
	if rc.Err != nil {
		return nil, false, rc.Err
	}
	configs := map[string]string{}
	compacted := false
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && strings.Contains(*c.Value, "compact") {
			compacted = true
		}
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig && c.Value != nil {
			configs[c.Key] = *c.Value
		}
	}
	return configs, compacted, nil
}

// topicRecords is how many records the partitions of topic hold.
func topicRecords(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(e kadm.ListedOffset) {
		if s, ok := starts.Lookup(e.Topic, e.Partition); ok {
			n += max(e.Offset-s.Offset, 0)
		}
	})
	return n, nil
}

// makeVersionTopic creates the new version's topic of a Kafka output.
func makeVersionTopic(ctx context.Context, o *pipeline.Output, ro RewindOutput) error {
	if ro.ToTopic == ro.FromTopic || ro.TopicExists {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, kafkaTimeout)
	defer cancel()
	cl, err := o.Kafka.Conn.NewClient(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	configs := map[string]*string{}
	for k, v := range ro.Configs {
		configs[k] = &v
	}
	r, err := kadm.NewClient(cl).CreateTopic(ctx, ro.Partitions, ro.ReplicationFactor, configs, ro.ToTopic)
	if err == nil {
		err = r.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

func outputNamed(p *pipeline.Pipeline, name string) *pipeline.Output {
	for _, o := range p.Outputs {
		if o.Name == name {
			return o
		}
	}
	return nil
}
