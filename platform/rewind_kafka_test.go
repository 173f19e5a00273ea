package platform_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/platform"
)

// restatedKafka reads the topic "in" and writes the records its filter
// keeps to "out" in transactions, and to the compacted topic "table" keyed
// by the id's class.
const restatedKafka = `version: 1
inputs:
  numbers:
    type: kafka
    brokers: [%[1]s]
    topic: in
    group: restate
    schema: {id: int}
steps:
  - name: keep
    from: [numbers]
    filter: %[2]s
outputs:
  out:
    type: kafka
    from: keep
    brokers: [%[1]s]
    topic: out
    delivery: exactly-once
  table:
    type: kafka
    from: keep
    brokers: [%[1]s]
    topic: table
    key: string(id %% 10)
`

func produceIDs(c *kafkatest.Cluster, from, to int) {
	var recs []*kgo.Record
	for id := from; id < to; id++ {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "%d", id), Value: fmt.Appendf(nil, `{"id":%d}`, id)})
	}
	c.Produce("in", recs...)
}

func committedIDs(t *testing.T, c *kafkatest.Cluster, topic string) []int64 {
	t.Helper()
	var ids []int64
	for _, r := range c.ReadCommitted(topic) {
		var v struct {
			ID int64 `json:"id"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("%s: %q: %v", topic, r.Value, err)
		}
		ids = append(ids, v.ID)
	}
	slices.Sort(ids)
	return ids
}

// waitIDs waits until topic holds n committed records: a bound for a stuck
// test, not a measurement.
func waitIDs(t *testing.T, c *kafkatest.Cluster, topic string, n int) []int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ids := committedIDs(t, c, topic)
		if len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d committed records after a minute; want %d", topic, len(ids), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func idsWhere(from, to int64, keep func(int64) bool) []int64 {
	var ids []int64
	for id := from; id < to; id++ {
		if keep(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestRewindRestatesAKafkaTopic: a job reading Kafka with a wrong filter
// writes the odd ids of two batches to the topic out; a rewind with the
// fixed filter to a time between the batches goes back to the offsets the
// checkpoint had recorded — the ends of the first batch, which the dry run
// lists per partition — and writes the even ids of the second batch, once
// each, to the new topic out.v2, made with out's partitions and settings,
// leaving out as it was. The compacted topic table is re-emitted over
// itself.
func TestRewindRestatesAKafkaTopic(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("in", 2)
	c.Topic("out", 3)
	adm := kadm.NewClient(c.Client())
	retention := "86400000"
	if _, err := adm.AlterTopicConfigs(t.Context(), []kadm.AlterConfig{{Name: "retention.ms", Value: &retention}}, "out"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopic("table", 1, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	brokers := strings.Join(c.Brokers(), ", ")
	buggy := fmt.Sprintf(restatedKafka, brokers, "id % 2 == 1")
	fixed := fmt.Sprintf(restatedKafka, brokers, "id % 2 == 0")

	ts := newTestServer(t, platform.Config{})
	const n = 1000
	produceIDs(c, 0, n)
	j, err := ts.Client.Submit(t.Context(), platform.SubmitRequest{Pipeline: buggy, CheckpointInterval: "100ms", Retain: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	// Once the group's offsets are the ends of the first batch, a
	// checkpoint with those positions has completed: the source commits
	// them to the group after it.
	waitIDs(t, c, "out", n/2)
	firstEnds, err := adm.ListEndOffsets(t.Context(), "in")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		got := c.GroupOffsets("restate", "in")
		done := len(got) == 2
		firstEnds.Each(func(o kadm.ListedOffset) { done = done && got[o.Partition] == o.Offset })
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group's offsets are %v after a minute; want the first batch's ends", got)
		}
	}
	mid := time.Now().UTC()
	produceIDs(c, n, 2*n)
	old := waitIDs(t, c, "out", n)
	if want := idsWhere(0, 2*n, func(id int64) bool { return id%2 == 1 }); !slices.Equal(old, want) {
		t.Fatalf("out holds %d records before the rewind; want the %d odd ids", len(old), len(want))
	}

	to := mid.Format(time.RFC3339Nano)
	plan, err := ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: to, Pipeline: fixed, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Inputs) != 1 || len(plan.Inputs[0].Offsets) != 2 {
		t.Fatalf("dry run inputs = %+v; want the two partitions of in", plan.Inputs)
	}
	for _, o := range plan.Inputs[0].Offsets {
		end, _ := firstEnds.Lookup("in", o.Partition)
		if o.Topic != "in" || o.Offset != end.Offset || o.End != end.Offset+o.Records || o.Records <= 0 {
			t.Errorf("dry run: in/%d goes back to %+v; want offset %d, the end of the first batch, with the second batch's records to read again", o.Partition, o, end.Offset)
		}
	}
	outs := map[string]platform.RewindOutput{}
	for _, o := range plan.Outputs {
		outs[o.Name] = o
	}
	if o := outs["out"]; o.FromTopic != "out" || o.ToTopic != "out.v2" || o.FromVersion != 1 || o.ToVersion != 2 || o.Partitions != 3 || o.Compacted || o.Configs["retention.ms"] != retention {
		t.Errorf("dry run output out = %+v; want out → out.v2 with 3 partitions and out's retention.ms", o)
	}
	if o := outs["table"]; o.ToTopic != "table" || !o.Compacted || o.ToVersion != 1 {
		t.Errorf("dry run output table = %+v; want it re-emitted over itself", o)
	}
	if tds, err := adm.ListTopics(t.Context(), "out.v2"); err != nil || tds.Has("out.v2") {
		t.Errorf("the dry run made out.v2: %v", err)
	}

	plan, err = ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: to, Pipeline: fixed})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Job == nil || !plan.Job.State.Live() {
		t.Fatalf("rewind = %+v; want the job's new run", plan)
	}
	// A new client: the first one's metadata of out.v2, which did not
	// exist, may be cached.
	tds, err := kadm.NewClient(c.Client()).ListTopics(t.Context(), "out.v2")
	if err != nil || len(tds["out.v2"].Partitions) != 3 {
		b, _ := json.MarshalIndent(plan, "", " ")
		t.Fatalf("out.v2 = %+v, %v; want 3 partitions\n%s", tds["out.v2"], err, b)
	}
	want := idsWhere(n, 2*n, func(id int64) bool { return id%2 == 0 })
	waitIDs(t, c, "out.v2", len(want))
	if _, err := ts.Client.Stop(t.Context(), j.ID); err != nil {
		t.Fatal(err)
	}
	if got := committedIDs(t, c, "out.v2"); !slices.Equal(got, want) {
		t.Errorf("out.v2 holds %d records; want the %d even ids of the second batch, each once", len(got), len(want))
	}
	if got := committedIDs(t, c, "out"); !slices.Equal(got, old) {
		t.Errorf("out changed: %d records, was %d", len(got), len(old))
	}
	// The table got the even ids of the second batch after what it had.
	table := c.ReadCommitted("table")
	var last []byte
	for _, r := range table {
		if string(r.Key) == "4" {
			last = r.Value
		}
	}
	if want := fmt.Sprintf(`{"id":%d}`, 2*n-6); string(last) != want {
		t.Errorf("table's last value for key 4 = %s; want %s", last, want)
	}

	// A second dry run goes from out.v2 to out.v3.
	plan, err = ts.Client.Rewind(t.Context(), j.ID, platform.RewindRequest{To: time.Now().UTC().Format(time.RFC3339Nano), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range plan.Outputs {
		if o.Name == "out" && (o.FromTopic != "out.v2" || o.ToTopic != "out.v3") {
			t.Errorf("second dry run: out = %+v; want out.v2 → out.v3", o)
		}
	}
}
