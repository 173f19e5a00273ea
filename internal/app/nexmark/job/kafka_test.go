package job

import (
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
	"github.com/weirstream/weir/internal/app/nexmark"
)

// A query reads the same events from a Kafka topic as from the generator
// and gives the same rows; a record that is not an event meets the error
// policy in the source, and the count of events read is the source's.
func TestKafkaInput(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	cfg.Events = 20_000
	want, _, err := RunCollect(t.Context(), passthrough, Options{Generator: cfg, Splits: 1})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := kafkatest.NewCluster(t)
	c.Topic("events", 3)
	var recs []*kgo.Record
	for _, ev := range gen.Range(0, cfg.Events) {
		recs = append(recs, &kgo.Record{Value: nexmark.AppendJSON(nil, &ev)})
	}
	recs = append(recs, &kgo.Record{Value: []byte("not an event")})
	c.Produce("events", recs...)

	got, r, err := RunCollect(t.Context(), passthrough, Options{
		Kafka: &KafkaInput{Brokers: c.Brokers(), Topic: "events"}, Parallelism: 2, OnError: weir.Skip,
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%d rows from Kafka, %d from the generator; they differ", len(got), len(want))
	}
	if r.Events != cfg.Events+1 {
		t.Fatalf("%d events read, want %d and the record that is not one", r.Events, cfg.Events+1)
	}
	var skipped int64
	for _, m := range r.Metrics {
		if m.ID == "nexmark-kafka" {
			skipped += m.Skipped
		}
	}
	if skipped != 1 {
		t.Fatalf("the source skipped %d records, want the 1 that is not an event", skipped)
	}

	_, _, err = RunCollect(t.Context(), passthrough, Options{Kafka: &KafkaInput{Brokers: c.Brokers(), Topic: "events"}})
	if err == nil || !strings.Contains(err.Error(), "not a Nexmark event") || !strings.Contains(err.Error(), "events-") {
		t.Fatalf("run failing on bad records: %v, want the decode error naming its partition", err)
	}
}
