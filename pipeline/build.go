package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/kafka"
)

// EnvOptions are the job options the pipeline file sets: its error policy
// and its dead-letter output. Give them to weir.New before the caller's
// own, which may override them.
func (p *Pipeline) EnvOptions() []weir.Option {
	var opts []weir.Option
	if p.OnError != weir.FailJob {
		opts = append(opts, weir.OnError(p.OnError))
	}
	if p.DeadLetter != nil {
		opts = append(opts, weir.DeadLetters(p.DeadLetter.Path))
	}
	return opts
}

// Job is a pipeline built into a weir.Env, ready to run.
type Job struct {
	env       *weir.Env
	collected map[string]*weir.Collector[Record]
	// services run while the job runs (an HTTP input's server); closers
	// release what Build opened (lookup clients, journals).
	services []func(ctx context.Context) error
	closers  []func() error
	addrs    map[string]string // of http inputs' servers, by input
}

// Build adds the pipeline's sources, operators and sinks to env. Operator
// IDs come from names — "input/NAME", "step/NAME…", "output/NAME" — so a
// savepoint's state follows each step when steps are added, removed or
// reordered.
func (p *Pipeline) Build(env *weir.Env, opts ...BuildOption) (*Job, error) {
	b := &builder{p: p, env: env, job: &Job{env: env}, stdout: os.Stdout}
	for _, o := range opts {
		o(b)
	}
	if err := b.build(); err != nil {
		return b.job, errors.Join(err, b.job.Close())
	}
	return b.job, nil
}

// BuildOption changes how Build adds a pipeline to a job.
type BuildOption func(*builder)

// Stdout makes the outputs of type stdout write to w instead of the
// process's standard output.
func Stdout(w io.Writer) BuildOption { return func(b *builder) { b.stdout = w } }

// IsSource reports whether an operator ID is that of an input's source
// (whose In counts the records read), and IsSink whether it is an
// output's (whose Out counts the records written).
func IsSource(id string) bool { return strings.HasPrefix(id, "input/") && strings.Count(id, "/") == 1 }

// IsSink reports whether an operator ID is that of an output's sink.
func IsSink(id string) bool { return strings.HasPrefix(id, "output/") && strings.Count(id, "/") == 1 }

// builder adds a pipeline to an Env.
type builder struct {
	p      *Pipeline
	env    *weir.Env
	job    *Job
	stdout io.Writer
	log    *slog.Logger

	// test, when set, replaces the inputs with these records and every
	// output with a collector.
	test    map[string][]any
	streams map[string]weir.Stream[Record]
	rows    map[string]*rowStream // of inputs and steps whose records are rows
	noRows  bool                  // every stream is records (tests compare)
	routed  map[string][]weir.Stream[Record]
	err     error
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// send gives output name records from a route step.
func (b *builder) send(name string, s weir.Stream[Record]) {
	b.routed[name] = append(b.routed[name], s)
}

func (b *builder) build() error {
	b.streams, b.routed = map[string]weir.Stream[Record]{}, map[string][]weir.Stream[Record]{}
	b.rows = map[string]*rowStream{}
	for _, in := range b.p.Inputs {
		if rs, ok := b.rowInput(in); ok {
			b.rows[in.Name] = rs
			continue
		}
		b.streams[in.Name] = b.input(in)
	}
	for _, s := range b.p.Steps {
		rs, recs, ok := b.rowStepStream(s)
		switch {
		case !ok:
			b.streams[s.Name] = s.spec.build(b, s, b.union(s.From))
		case rs != nil:
			b.rows[s.Name] = rs
		default:
			b.streams[s.Name] = recs
		}
	}
	if b.test != nil {
		b.job.collected = map[string]*weir.Collector[Record]{}
	}
	for _, o := range b.p.Outputs {
		var st weir.Stream[Record]
		switch rs := b.routed[o.Name]; len(rs) {
		case 0:
			st = b.stream(o.From)
		case 1:
			st = rs[0]
		default:
			st = weir.Union(rs[0], rs[1:]...)
		}
		b.output(o, st)
	}
	return b.err
}

func (b *builder) union(names []string) weir.Stream[Record] {
	first := b.stream(names[0])
	var more []weir.Stream[Record]
	for _, n := range names[1:] {
		more = append(more, b.stream(n))
	}
	if len(more) == 0 {
		return first
	}
	return weir.Union(first, more...)
}

// decoder decodes a JSON message into a Record, with the declared
// schema's types.
type decoder struct{ schema *Schema }

func (d decoder) Decode(data []byte) (Record, error) {
	r, err := format.JSONRecord().Decode(data)
	if err != nil {
		return nil, err
	}
	if d.schema != nil {
		if err := d.schema.coerce(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// timeOptions are the source options of an input's event time: the
// event time itself is assigned by a step after the source (assignTime),
// which can fail a record; idleness is the source's.
func timeOptions(et *EventTime) []weir.SourceOption {
	if et == nil || et.Idleness <= 0 {
		return nil
	}
	return []weir.SourceOption{weir.IdleTimeout(et.Idleness)}
}

func (b *builder) input(in *Input) weir.Stream[Record] {
	s := b.source(in)
	if in.OnError != nil {
		s = s.OnError(*in.OnError)
	}
	return assignTime(in, s)
}

// source adds the operators that read an input.
func (b *builder) source(in *Input) weir.Stream[Record] {
	id := "input/" + in.Name
	if b.test != nil {
		var recs []Record
		for i, v := range b.test[in.Name] {
			r, ok := v.(Record)
			if !ok {
				b.fail(fmt.Errorf("input %q: record %d is %s, want a mapping", in.Name, i+1, describeValue(v)))
				continue
			}
			r = cloneRecord(r)
			if in.Schema != nil {
				if err := in.Schema.coerce(r); err != nil {
					b.fail(fmt.Errorf("input %q: record %d: %w", in.Name, i+1, err))
				}
			}
			recs = append(recs, r)
		}
		return weir.From(b.env, weir.Slice(recs...), timeOptions(in.EventTime)...).Name(in.Name).ID(id)
	}
	switch in.Type {
	case "generator":
		g := in.Generator
		type gen struct {
			rec Record
			err error
		}
		src := weir.Generator(weir.GeneratorSpec{Splits: g.Splits, Count: g.Count, Rate: g.Rate}, func(seq int64) gen {
			r := make(Record, len(g.Fields))
			env := Record{"seq": seq}
			for _, a := range g.Fields {
				v, err := a.Expr.eval(env)
				if err != nil {
					return gen{err: err}
				}
				r[a.Field] = normalize(v)
			}
			if in.Schema != nil {
				if err := in.Schema.coerce(r); err != nil {
					return gen{err: err}
				}
			}
			return gen{rec: r}
		})
		gens := weir.From(b.env, src, timeOptions(in.EventTime)...).Name(in.Name).ID(id)
		return weir.TryMap(gens, func(g gen) (Record, error) { return g.rec, g.err }).Name(in.Name + " (fields)").ID(id + "/fields")
	case "file":
		cfg := file.SourceConfig{Paths: in.File.Paths, Watch: in.File.Watch}
		var src *file.Source[Record]
		var err error
		if in.Format == "csv" {
			var f *format.CSVFormat[Record]
			if f, err = format.CSV[Record](csvConfig(in.Schema)); err == nil {
				src, err = file.CSVSource(cfg, f)
			}
		} else {
			src, err = file.JSONLinesSource(cfg, format.Decoder[Record](decoder{in.Schema}))
		}
		if err != nil {
			b.fail(fmt.Errorf("input %q: %w", in.Name, err))
			return weir.From(b.env, weir.Slice[Record]()).Name(in.Name).ID(id)
		}
		opts := timeOptions(in.EventTime)
		if in.File.DiscoveryInterval > 0 {
			opts = append(opts, weir.DiscoveryInterval(in.File.DiscoveryInterval))
		}
		return weir.From(b.env, src, opts...).Name(in.Name).ID(id)
	case "kafka":
		k := in.Kafka
		start := kafka.Earliest()
		if k.Start == "latest" {
			start = kafka.Latest()
		}
		src, err := kafka.NewSource(kafka.SourceConfig[Record]{Conn: k.Conn, Topics: k.Topics, Group: k.Group,
			Decoder: decoder{in.Schema}, StartingOffsets: start, Bounded: k.Bounded})
		if err != nil {
			b.fail(fmt.Errorf("input %q: %w", in.Name, err))
			return weir.From(b.env, weir.Slice[Record]()).Name(in.Name).ID(id)
		}
		recs := weir.From(b.env, src, timeOptions(in.EventTime)...).Name(in.Name).ID(id)
		if in.OnError != nil {
			// The source itself rejects the values that do not
			// decode, so the input's policy must be the source's too,
			// not only the value step's that input sets.
			recs = recs.OnError(*in.OnError)
		}
		return weir.Map(recs, func(r kafka.Record[Record]) Record { return r.Value }).Name(in.Name + " (value)").ID(id + "/value")
	case "nats":
		return b.natsSource(in, id)
	case "kinesis":
		return b.kinesisSource(in, id)
	case "http":
		src, err := b.httpSource(in)
		if err != nil {
			b.fail(fmt.Errorf("input %q: %w", in.Name, err))
			return weir.From(b.env, weir.Slice[Record]()).Name(in.Name).ID(id)
		}
		return weir.From(b.env, src, timeOptions(in.EventTime)...).Name(in.Name).ID(id)
	}
	b.fail(fmt.Errorf("input %q: unknown type %q", in.Name, in.Type))
	return weir.From(b.env, weir.Slice[Record]()).Name(in.Name).ID(id)
}

// csvConfig is the CSV format of a schema's fields, in order; without a
// schema the columns come from the header and every value is a string.
func csvConfig(s *Schema) format.CSVConfig {
	if s == nil {
		return format.CSVConfig{}
	}
	cfg := format.CSVConfig{Types: map[string]format.ColumnType{}}
	for _, f := range s.Fields {
		cfg.Columns = append(cfg.Columns, f.Name)
		switch f.Type {
		case TypeInt:
			cfg.Types[f.Name] = format.TypeInt
		case TypeFloat:
			cfg.Types[f.Name] = format.TypeFloat
		case TypeBool:
			cfg.Types[f.Name] = format.TypeBool
		case TypeTimestamp:
			cfg.Types[f.Name] = format.TypeTime
		}
	}
	return cfg
}

func encodeJSON(r Record) ([]byte, error) { return format.JSONRecord().Encode(nil, r) }

func (b *builder) output(o *Output, st weir.Stream[Record]) {
	id := "output/" + o.Name
	if b.test != nil {
		b.job.collected[o.Name] = weir.Collect(st)
		return
	}
	switch o.Type {
	case "stdout":
		weir.To(st, weir.Print(b.stdout, func(r Record) string {
			line, err := encodeJSON(r)
			if err != nil {
				return fmt.Sprintf(`{"error":%q}`, err.Error())
			}
			return string(line)
		})).Name(o.Name).ID(id)
	case "file":
		// The commit log lets weir serve rewind the output (docs/serve.md).
		cfg := file.Config[Record]{Dir: o.File.Path, CommitLog: true}
		if o.Format == "csv" {
			f, err := format.CSV[Record](csvConfig(o.schema))
			if err == nil {
				cfg.Encoding, err = file.CSV(f)
			}
			if err != nil {
				b.fail(fmt.Errorf("output %q: %w", o.Name, err))
				return
			}
			cfg.Ext = ".csv"
		} else {
			cfg.Format, cfg.Ext = encodeJSON, ".jsonl"
		}
		sink, err := file.New(cfg)
		if err != nil {
			b.fail(fmt.Errorf("output %q: %w", o.Name, err))
			return
		}
		weir.To(st, sink).Name(o.Name).ID(id)
	case "kafka":
		k := o.Kafka
		cfg := kafka.SinkConfig[Record]{Conn: k.Conn, Topic: k.Topic, Value: format.JSONRecord(),
			Delivery: k.Delivery, TransactionalIDPrefix: k.TransactionalIDPrefix}
		if k.Key != nil {
			key := k.Key
			cfg.Key = func(r Record) []byte {
				v, err := key.eval(r)
				if err != nil || v == nil {
					return nil
				}
				if s, ok := v.(string); ok {
					return []byte(s)
				}
				return []byte(fmt.Sprint(v))
			}
		}
		sink, err := kafka.NewSink(cfg)
		if err != nil {
			b.fail(fmt.Errorf("output %q: %w", o.Name, err))
			return
		}
		weir.To(st, sink).Name(o.Name).ID(id)
	case "nats":
		b.natsSink(o, st, id)
	case "kinesis":
		b.kinesisSink(o, st, id)
	case "redis":
		b.redisSink(o, st, id)
	case "postgres":
		b.postgresSink(o, st, id)
	case "webhook":
		b.webhook(o, st, id)
	default:
		b.fail(fmt.Errorf("output %q: unknown type %q", o.Name, o.Type))
	}
}

func cloneRecord(r Record) Record {
	out := make(Record, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}
