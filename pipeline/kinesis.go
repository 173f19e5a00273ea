package pipeline

import (
	"fmt"
	"strings"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kinesis"
)

// KinesisInput reads a Kinesis stream (connectors/kinesis): each shard is
// a split, read after its parents; its sequence numbers are kept in
// checkpoints.
type KinesisInput struct {
	Conn      kinesis.Conn
	Stream    string
	Start     kinesis.Start
	StartTime time.Time
	// PartitionKeyField and ArrivalTimeField, when set, name the fields
	// each record gets its partition key (a string) and its approximate
	// arrival time (a timestamp) in.
	PartitionKeyField, ArrivalTimeField string
}

// KinesisOutput writes each record as JSON to a Kinesis stream with
// PutRecords, at least once.
type KinesisOutput struct {
	Conn   kinesis.Conn
	Stream string
	// PartitionKey computes each record's partition key; a record whose
	// key is null, empty or fails to compute meets the pipeline's error
	// policy.
	PartitionKey *Expr
}

// kinesisConn reads a Kinesis connection: region, endpoint, credentials.
func (r *reader) kinesisConn(o *obj, what string) kinesis.Conn {
	c := kinesis.Conn{Region: r.secret(o, "region"), Endpoint: r.secret(o, "endpoint"),
		AccessKeyID: r.secret(o, "access_key_id"), SecretAccessKey: r.secret(o, "secret_access_key"),
		SessionToken: r.secret(o, "session_token")}
	switch err := c.Validate(); {
	case c.Region == "":
		r.errorf(o.pos, "%s: missing field \"region\", the stream's AWS region (us-east-1, say)", what)
	case err != nil && strings.Contains(err.Error(), "Endpoint"):
		r.errorf(o.keyPos("endpoint"), "%s: endpoint: %v", what, strings.TrimPrefix(err.Error(), "kinesis: "))
	case err != nil:
		r.errorf(o.pos, "%s: %v", what, strings.TrimPrefix(err.Error(), "kinesis: "))
	}
	return c
}

func (r *reader) kinesisInput(o *obj, in *Input, what string) *KinesisInput {
	k := &KinesisInput{Conn: r.kinesisConn(o, what), Stream: r.secret(o, "stream"),
		PartitionKeyField: r.str(o, "partition_key_field"), ArrivalTimeField: r.str(o, "arrival_time_field")}
	if k.Stream == "" {
		r.errorf(o.pos, "%s: missing field \"stream\", the Kinesis stream to read", what)
	}
	switch s := r.str(o, "start"); s {
	case "", "trim_horizon":
	case "latest":
		k.Start = kinesis.StartLatest
	case "at_timestamp":
		k.Start = kinesis.StartAtTimestamp
	default:
		r.errorf(o.keyPos("start"), "%s: start: want trim_horizon, latest or at_timestamp, got %q", what, s)
	}
	ts := r.str(o, "start_time")
	switch {
	case k.Start == kinesis.StartAtTimestamp && ts == "":
		r.errorf(o.pos, "%s: start at_timestamp needs field \"start_time\" (RFC 3339)", what)
	case k.Start != kinesis.StartAtTimestamp && ts != "":
		r.errorf(o.keyPos("start_time"), "%s: start_time is read with start: at_timestamp only", what)
	case ts != "":
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			r.errorf(o.keyPos("start_time"), "%s: start_time: want RFC 3339 (2026-01-02T15:04:05Z), got %q", what, ts)
		}
		k.StartTime = t
	}
	if k.PartitionKeyField != "" && k.PartitionKeyField == k.ArrivalTimeField {
		r.errorf(o.keyPos("arrival_time_field"), "%s: arrival_time_field and partition_key_field are both %q", what, k.ArrivalTimeField)
	}
	// A declared schema declares the fields the input adds too, so that
	// the steps' expressions are checked against them.
	for _, f := range []struct {
		key, name string
		typ       Type
	}{{"partition_key_field", k.PartitionKeyField, TypeString}, {"arrival_time_field", k.ArrivalTimeField, TypeTimestamp}} {
		if f.name == "" || in.Schema == nil {
			continue
		}
		if sf, ok := in.Schema.Field(f.name); !ok {
			r.errorf(o.keyPos(f.key), "%s: %s: field %q is not in the schema (%s); declare it as %s", what, f.key, f.name, in.Schema, f.typ)
		} else if sf.Type != f.typ && sf.Type != TypeAny {
			r.errorf(o.keyPos(f.key), "%s: %s: field %q is a %s in the schema, want %s", what, f.key, f.name, sf.Type, f.typ)
		}
	}
	return k
}

func (r *reader) kinesisOutput(o *obj, what string) *KinesisOutput {
	k := &KinesisOutput{Conn: r.kinesisConn(o, what), Stream: r.secret(o, "stream")}
	if k.Stream == "" {
		r.errorf(o.pos, "%s: missing field \"stream\", the Kinesis stream records are written to", what)
	}
	if kn := o.get("partition_key"); kn != nil {
		k.PartitionKey = r.expr(kn, what+": partition_key")
	} else {
		r.errorf(o.pos, "%s: missing field \"partition_key\", the expression that gives each record's partition key", what)
	}
	return k
}

// kinesisSource reads a Kinesis input's records.
func (b *builder) kinesisSource(in *Input, id string) weir.Stream[Record] {
	k := in.Kinesis
	src, err := kinesis.NewSource(kinesis.SourceConfig[Record]{Conn: k.Conn, Stream: k.Stream, Start: k.Start, StartTime: k.StartTime,
		Decoder: decoder{in.Schema}})
	if err != nil {
		b.fail(fmt.Errorf("input %q: %w", in.Name, err))
		return weir.From(b.env, weir.Slice[Record]()).Name(in.Name).ID(id)
	}
	recs := weir.From(b.env, src, timeOptions(in.EventTime)...).Name(in.Name).ID(id)
	keyField, timeField := k.PartitionKeyField, k.ArrivalTimeField
	return weir.Map(recs, func(r kinesis.Record[Record]) Record {
		v := r.Value
		if v == nil && (keyField != "" || timeField != "") {
			v = Record{}
		}
		if keyField != "" {
			v[keyField] = r.PartitionKey
		}
		if timeField != "" {
			v[timeField] = r.ArrivalTime
		}
		return v
	}).Name(in.Name + " (value)").ID(id + "/value")
}

// keyedRecord is a record with its partition key.
type keyedRecord struct {
	key string
	r   Record
}

type keyedEncoder struct{ format.Encoder[Record] }

func (e keyedEncoder) Encode(dst []byte, v keyedRecord) ([]byte, error) {
	return e.Encoder.Encode(dst, v.r)
}

// kinesisSink writes a Kinesis output's records. Their partition keys are
// computed in a step before the sink, so that a record without one meets
// the error policy (a dead letter, say) instead of failing the sink.
func (b *builder) kinesisSink(o *Output, st weir.Stream[Record], id string) {
	k := o.Kinesis
	sink, err := kinesis.NewSink(kinesis.SinkConfig[keyedRecord]{Conn: k.Conn, Stream: k.Stream, Encoder: keyedEncoder{format.JSONRecord()},
		PartitionKey: func(r keyedRecord) string { return r.key }})
	if err != nil {
		b.fail(fmt.Errorf("output %q: %w", o.Name, err))
		return
	}
	e := k.PartitionKey
	keyed := weir.TryMap(st, func(r Record) (keyedRecord, error) {
		v, err := e.eval(r)
		if err != nil {
			return keyedRecord{}, fmt.Errorf("partition_key: %w", err)
		}
		s, ok := keyText(v)
		if !ok || s == "" {
			return keyedRecord{}, fmt.Errorf("partition_key %s is %s, want a non-empty value", e.Source, describeValue(v))
		}
		return keyedRecord{key: s, r: r}, nil
	}).Name(o.Name + " (partition key)").ID(id + "/key")
	weir.To(keyed, sink).Name(o.Name).ID(id)
}
