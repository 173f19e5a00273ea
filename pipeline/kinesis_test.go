package pipeline_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kinesis/kinesistest"
	"github.com/weirstream/weir/pipeline"
)

const kinesisPipeline = `version: 1
on_error: dead-letter
inputs:
  clicks:
    type: kinesis
    region: us-east-1
    endpoint: ${env:KINESIS}
    access_key_id: test
    secret_access_key: test
    stream: clicks
    partition_key_field: key
    arrival_time_field: arrived
    schema: {id: int, user: string, ms: int, key: string, arrived: timestamp}
steps:
  - name: slow
    filter: ms % 10 == 0
outputs:
  out:
    type: kinesis
    region: us-east-1
    endpoint: ${env:KINESIS}
    access_key_id: test
    secret_access_key: test
    stream: slow-clicks
    partition_key: user
dead_letter:
  path: ${env:DEAD}
`

// A pipeline reads a Kinesis stream of two shards, resharded to three
// while it runs, with each record's partition key and arrival time in
// fields, filters it and writes the result to another stream keyed by
// user. A record that does not decode and one without a partition key go
// to the dead letters.
func TestPipelineKinesis(t *testing.T) {
	srv := kinesistest.Start(t)
	srv.CreateStream("clicks", 2)
	srv.CreateStream("slow-clicks", 1)
	want := map[int]string{}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			key := fmt.Sprintf("p%d", i%4)
			srv.Put("clicks", key, fmt.Appendf(nil, `{"id":%d,"user":"u%d","ms":%d}`, i, i%5, i))
			if i%10 == 0 {
				want[i] = key
			}
		}
	}
	put(0, 100)
	srv.Put("clicks", "p0", []byte(`{"id": "x"}`))
	srv.Put("clicks", "p1", []byte(`{"id": 1000, "ms": 0}`))
	dead := t.TempDir()
	p := parse(t, kinesisPipeline, map[string]string{"KINESIS": srv.Endpoint(), "DEAD": dead})
	resharded := false
	start := time.Now()
	err := runUntil(t, p, t.TempDir(), false, func() bool {
		n := len(srv.Records("slow-clicks"))
		if !resharded && n >= 10 {
			srv.Reshard("clicks", 3)
			put(100, 200)
			resharded = true
		}
		return resharded && n >= len(want) && len(committed(t, dead)) == 2
	}, weir.Parallelism(2))
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, r := range srv.Records("slow-clicks") {
		var v struct {
			ID      int
			User    string
			Key     string
			Arrived time.Time
		}
		if err := json.Unmarshal(r.Data, &v); err != nil {
			t.Fatalf("%s: %v", r.Data, err)
		}
		if r.Key != v.User {
			t.Errorf("record %s has partition key %q, want its user", r.Data, r.Key)
		}
		if v.Arrived.Before(start.Add(-time.Minute)) || v.Arrived.After(time.Now()) {
			t.Errorf("record %s: arrival time %v", r.Data, v.Arrived)
		}
		if _, dup := got[v.ID]; dup {
			t.Errorf("record %d written twice", v.ID)
		}
		got[v.ID] = v.Key
	}
	if len(got) != len(want) {
		t.Errorf("slow-clicks holds %d records, want %d", len(got), len(want))
	}
	for id, key := range want {
		if got[id] != key {
			t.Errorf("record %d: partition key field %q, want %q", id, got[id], key)
		}
	}
	d := committed(t, dead)
	slices.Sort(d)
	if len(d) != 2 || !strings.Contains(strings.Join(d, "\n"), `field \"id\"`) || !strings.Contains(strings.Join(d, "\n"), "partition_key user is null") {
		t.Errorf("dead letters: %q", d)
	}
}

func TestKinesisValidate(t *testing.T) {
	for _, tc := range []struct{ in, out, want string }{
		{`{type: kinesis, stream: s}`, ``, `input "in": missing field "region"`},
		{`{type: kinesis, region: r}`, ``, `input "in": missing field "stream"`},
		{`{type: kinesis, region: r, stream: s, endpoint: "localhost:1"}`, ``, `endpoint: Conn.Endpoint "localhost:1": want http(s)://host:port`},
		{`{type: kinesis, region: r, stream: s, start: oldest}`, ``, `start: want trim_horizon, latest or at_timestamp, got "oldest"`},
		{`{type: kinesis, region: r, stream: s, start: at_timestamp}`, ``, `start at_timestamp needs field "start_time"`},
		{`{type: kinesis, region: r, stream: s, start_time: "2026-01-02T00:00:00Z"}`, ``, `start_time is read with start: at_timestamp only`},
		{`{type: kinesis, region: r, stream: s, start: at_timestamp, start_time: yesterday}`, ``, `start_time: want RFC 3339`},
		{`{type: kinesis, region: r, stream: s, partition_key_field: k, schema: {id: int}}`, ``, `partition_key_field: field "k" is not in the schema (id int); declare it as string`},
		{`{type: kinesis, region: r, stream: s, arrival_time_field: t, schema: {t: int}}`, ``, `arrival_time_field: field "t" is a int in the schema, want timestamp`},
		{`{type: kinesis, region: r, stream: s, shards: 2}`, ``, `unknown field "shards"`},
		{`{type: file, path: x}`, `{type: kinesis, region: r, stream: s}`, `output "out": missing field "partition_key"`},
		{`{type: file, path: x}`, `{type: kinesis, region: r, partition_key: id}`, `output "out": missing field "stream"`},
		{`{type: file, path: x, schema: {id: int}}`, `{type: kinesis, region: r, stream: s, partition_key: nope}`, `nope`},
	} {
		out := tc.out
		if out == "" {
			out = `{type: stdout}`
		}
		src := "version: 1\ninputs:\n  in: " + tc.in + "\noutputs:\n  out: " + out + "\n"
		_, err := pipeline.Parse(filepath.Join("k.yaml"), []byte(src), pipeline.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s / %s: error %v, want %q", tc.in, tc.out, err, tc.want)
		}
	}
}
