package pipeline_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

const kafkaPipeline = `version: 1
on_error: dead-letter
inputs:
  clicks:
    type: kafka
    brokers: ${env:BROKERS}
    topic: clicks
    bounded: true
    schema: {user: string, page: string, ms: int}
    event_time: {field: ms, max_out_of_orderness: 1s}
steps:
  - name: slow
    filter: ms % 10 == 0
  - name: tag
    map:
      page: '"/" + page'
outputs:
  out:
    type: kafka
    brokers: ${env:BROKERS}
    topic: slow-clicks
    delivery: exactly-once
    transactional_id_prefix: kafka-test
    key: user
dead_letter:
  path: ${env:DEAD}
`

// A pipeline reads a Kafka topic, filters and maps its records, and
// writes the result to another topic in transactions; a record that does
// not decode goes to the dead letters, not to the output.
func TestPipelineKafka(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("clicks", 2)
	c.Topic("slow-clicks", 1)
	var recs []*kgo.Record
	var want []string
	for i := range 200 {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, `{"user":"u%d","page":"p%d","ms":%d}`, i%5, i, i)})
		if i%10 == 0 {
			want = append(want, fmt.Sprintf(`u%d {"ms":%d,"page":"/p%d","user":"u%d"}`, i%5, i, i, i%5))
		}
	}
	recs = append(recs, &kgo.Record{Value: []byte(`{"user": 7}`)}) // a user that is not a string
	c.Produce("clicks", recs...)

	dead := t.TempDir()
	p := parse(t, kafkaPipeline, map[string]string{"BROKERS": strings.Join(c.Brokers(), ","), "DEAD": dead})
	run(t, p, weir.Parallelism(2), weir.Checkpoints(50*time.Millisecond, t.TempDir()))

	var got []string
	for _, r := range c.ReadCommitted("slow-clicks") {
		got = append(got, string(r.Key)+" "+string(r.Value))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("slow-clicks holds %d records, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	deadLines := committed(t, dead)
	if len(deadLines) != 1 || !strings.Contains(deadLines[0], `field \"user\": want string, got int 7`) {
		t.Errorf("dead letters: %q", deadLines)
	}
}

// An input's on_error applies to its Kafka records that do not decode, as
// to a file's lines, whatever the pipeline's own policy (here the default,
// fail): skipped, or dead-lettered with their topic, partition and offset.
func TestPipelineKafkaInputOnError(t *testing.T) {
	for _, tc := range []struct {
		policy string
		dead   int // dead letters
	}{
		{"skip", 0},
		{"dead-letter", 1},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			c := kafkatest.NewCluster(t)
			c.Topic("clicks", 1)
			c.Topic("out", 1)
			c.Produce("clicks",
				&kgo.Record{Value: []byte(`{"user":"u1","ms":1}`)},
				&kgo.Record{Value: []byte(`{"user": 7}`)}, // a user that is not a string
				&kgo.Record{Value: []byte(`{"user":"u2","ms":2}`)})
			dead := t.TempDir()
			src := fmt.Sprintf(`version: 1
inputs:
  clicks:
    type: kafka
    brokers: ${env:BROKERS}
    topic: clicks
    bounded: true
    schema: {user: string, ms: int}
    on_error: %s
outputs:
  out:
    type: kafka
    brokers: ${env:BROKERS}
    topic: out
dead_letter:
  path: ${env:DEAD}
`, tc.policy)
			p := parse(t, src, map[string]string{"BROKERS": strings.Join(c.Brokers(), ","), "DEAD": dead})
			run(t, p, weir.Checkpoints(50*time.Millisecond, t.TempDir()))
			var got []string
			for _, r := range c.ReadCommitted("out") {
				got = append(got, string(r.Value))
			}
			if want := []string{`{"ms":1,"user":"u1"}`, `{"ms":2,"user":"u2"}`}; !slices.Equal(got, want) {
				t.Errorf("out holds %q, want %q", got, want)
			}
			deadLines := committed(t, dead)
			if len(deadLines) != tc.dead {
				t.Fatalf("dead letters: %q, want %d", deadLines, tc.dead)
			}
			if tc.dead > 0 && !(strings.Contains(deadLines[0], `field \"user\": want string, got int 7`) && strings.Contains(deadLines[0], "offset 1")) {
				t.Errorf("dead letter %q: want the cause and the offset", deadLines[0])
			}
		})
	}
}
