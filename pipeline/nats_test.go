package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/nats/natstest"
)

const natsPipeline = `version: 1
on_error: dead-letter
inputs:
  clicks:
    type: nats
    servers: ${env:NATS}
    stream: CLICKS
    subject: [clicks.eu, clicks.us]
    schema: {id: int, user: string, ms: int}
steps:
  - name: slow
    filter: ms % 10 == 0
outputs:
  out:
    type: nats
    servers: ${env:NATS}
    subject: slow-clicks
    msg_id: '"click-" + string(id)'
dead_letter:
  path: ${env:DEAD}
`

// A pipeline reads a JetStream stream's two subjects, filters its records
// and publishes the result to another stream with deduplication IDs; a
// record that does not decode goes to the dead letters.
func TestPipelineNATS(t *testing.T) {
	srv := natstest.Start(t)
	srv.Stream("CLICKS", 0, "clicks.*")
	srv.Stream("SLOW", 0, "slow-clicks")
	var want []string
	for i := range 200 {
		srv.Publish([]string{"clicks.eu", "clicks.us"}[i%2], fmt.Appendf(nil, `{"id":%d,"user":"u%d","ms":%d}`, i, i%5, i))
		if i%10 == 0 {
			want = append(want, fmt.Sprintf(`{"id":%d,"ms":%d,"user":"u%d"}`, i, i, i%5))
		}
	}
	srv.Publish("clicks.eu", []byte(`{"id": "x"}`))
	dead := t.TempDir()
	p := parse(t, natsPipeline, map[string]string{"NATS": srv.URL(), "DEAD": dead})
	st, err := srv.JetStream().Stream(context.Background(), "SLOW")
	if err != nil {
		t.Fatal(err)
	}
	err = runUntil(t, p, t.TempDir(), false, func() bool {
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs >= uint64(len(want)) && len(committed(t, dead)) == 1
	}, weir.Parallelism(2))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range srv.Messages("SLOW") {
		got = append(got, string(d))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("SLOW holds %d messages, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	if d := committed(t, dead); len(d) != 1 || !strings.Contains(d[0], `field \"id\"`) {
		t.Errorf("dead letters: %q", d)
	}
}
