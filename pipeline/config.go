package pipeline

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka"
)

// Version is the version of the file format this package reads.
const Version = 1

// Pipeline is a validated pipeline file: what Parse returns and Build
// turns into a job.
type Pipeline struct {
	// File is the file's name, as errors show it.
	File string
	// Name names the pipeline (optional).
	Name string
	// Inputs, Steps and Outputs are in the order of the file.
	Inputs  []*Input
	Steps   []*Step
	Outputs []*Output
	// DeadLetter is where failed records go under the dead-letter policy;
	// nil when the file has no dead_letter.
	DeadLetter *DeadLetter
	// OnError is the default error policy of every step and input.
	OnError weir.ErrorPolicy
	// Tests are the file's test cases, which Test runs.
	Tests []*TestCase
	// Output, in one of the jobs Split returns, names the output the job
	// writes; empty for a whole pipeline.
	Output string

	lines []string
	// byPos names the fields that some expression over a declared schema
	// names: a row decoder decodes these and the event-time fields into
	// their positions, and may leave the others in the line's text, whence
	// a row made a record takes them.
	byPos map[string]bool
}

// Input is a named source of records.
type Input struct {
	Name string
	Pos  Pos
	// Type is "generator", "file", "kafka", "nats", "kinesis" or "http".
	Type string
	// Format is how records are encoded: "json" (the default) or "csv".
	Format string
	// Schema is the declared shape of the records; nil for schemaless JSON.
	Schema *Schema
	// EventTime, when set, gives records an event time from a field.
	EventTime *EventTime
	// OnError, when set, overrides the pipeline's error policy for
	// records that do not decode (or do not match the schema).
	OnError *weir.ErrorPolicy

	Generator *GeneratorInput
	File      *FileInput
	Kafka     *KafkaInput
	NATS      *NATSInput
	Kinesis   *KinesisInput
	HTTP      *HTTPInput
}

// EventTime says where a record's event time is and how far out of order
// records may come.
type EventTime struct {
	// Field holds the time: a timestamp, RFC 3339 text or Unix
	// milliseconds. A record without it has no event time and does not
	// move the watermark.
	Field string
	// MaxOutOfOrderness is the watermark's delay behind the highest event
	// time read.
	MaxOutOfOrderness time.Duration
	// Idleness marks a split idle (not holding the watermark back) after
	// this long without records; 0 never.
	Idleness time.Duration

	pos  Pos   // of the field's value
	expr *Expr // when Field is an expression rather than a field name
}

// GeneratorInput generates records from expressions of seq, the record's
// sequence number (0, 1, 2, …).
type GeneratorInput struct {
	Count  int64
	Rate   float64
	Splits int
	Fields []Assignment
}

// FileInput reads JSON-lines or CSV files.
type FileInput struct {
	Paths []string
	Watch bool
	// DiscoveryInterval is how often a watching input looks for new
	// files; 0 means weir's default (10 s).
	DiscoveryInterval time.Duration
}

// KafkaInput reads Kafka topics.
type KafkaInput struct {
	Conn    kafka.Conn
	Topics  []string
	Group   string
	Start   string // "earliest" (default) or "latest"
	Bounded bool
}

// Output is a named destination of records.
type Output struct {
	Name string
	Pos  Pos
	// Type is "stdout", "file", "kafka", "nats", "kinesis", "redis",
	// "postgres" or "webhook".
	Type string
	// Format is "json" (the default) or "csv" (file outputs).
	Format string
	// From names the step or input whose records the output writes; empty
	// when a route step sends it its records.
	From     string
	File     *FileOutput
	Kafka    *KafkaOutput
	NATS     *NATSOutput
	Kinesis  *KinesisOutput
	Redis    *RedisOutput
	Postgres *PostgresOutput
	Webhook  *WebhookOutput

	fromPos  Pos
	routedBy string
	schema   *Schema
}

// FileOutput writes part files exactly once.
type FileOutput struct {
	Path string
}

// KafkaOutput writes to a Kafka topic.
type KafkaOutput struct {
	Conn                  kafka.Conn
	Topic                 string
	Delivery              kafka.Delivery
	TransactionalIDPrefix string
	// Key, when set, computes each message's key.
	Key *Expr
}

// DeadLetter is the pipeline's dead-letter output: a directory of part
// files, written exactly once (see weir.DeadLetters).
type DeadLetter struct {
	Path string
}

// Step is one processing step.
type Step struct {
	Name string
	Pos  Pos
	// Kind is the step's kind: "filter", "map", "project", "route".
	Kind string
	// From names the inputs or steps the step reads, in the order given.
	From []string
	// OnError, when set, overrides the pipeline's error policy for the
	// step.
	OnError *weir.ErrorPolicy

	spec    stepSpec
	fromPos Pos
	kindPos Pos
	schema  *Schema // of the step's output
}

// Assignment is a field computed by an expression.
type Assignment struct {
	Field string
	Expr  *Expr
}

// TestCase is a test in the pipeline file: records for the inputs and the
// records each named output must receive.
type TestCase struct {
	Name   string
	Pos    Pos
	Input  map[string][]any
	Expect map[string][]any

	inputOrder  []string
	expectOrder []string
}

// parse reads the top level of a pipeline file.
func (r *reader) parse(body ast.Node) *Pipeline {
	p := &Pipeline{File: r.file, lines: r.lines}
	top := r.object(body, "pipeline")
	if top == nil {
		return p
	}
	if vn := top.get("version"); vn == nil {
		r.errorf(top.pos, "pipeline: missing field \"version\" (this version of Weir reads version: %d)", Version)
	} else if v := r.integer(top, "version", 0); v != Version && v != 0 {
		r.errorf(posOf(r.deref(vn)), "pipeline: version %d is not supported; this version of Weir reads version: %d", v, Version)
	}
	p.Name = r.str(top, "name")
	if n := top.get("on_error"); n != nil {
		if pol, ok := r.policy(n, "pipeline: on_error"); ok {
			p.OnError = pol
		}
	}
	if n := top.require("inputs"); n != nil {
		p.Inputs = r.inputs(n)
	}
	if n := top.get("steps"); n != nil {
		for _, sn := range r.list(n, "steps") {
			if s := r.step(sn); s != nil {
				p.Steps = append(p.Steps, s)
			}
		}
	}
	if n := top.require("outputs"); n != nil {
		p.Outputs = r.outputs(n)
	}
	if n := top.get("dead_letter"); n != nil {
		o := r.object(n, "dead_letter")
		if o != nil {
			p.DeadLetter = &DeadLetter{Path: r.secret(o, "path")}
			if p.DeadLetter.Path == "" {
				r.errorf(o.pos, "dead_letter: missing field \"path\", the directory failed records are written to")
			}
			o.finish()
		}
	}
	if n := top.get("tests"); n != nil {
		for _, tn := range r.list(n, "tests") {
			if t := r.testCase(tn); t != nil {
				p.Tests = append(p.Tests, t)
			}
		}
	}
	top.finish()
	return p
}

func (r *reader) policy(n ast.Node, what string) (weir.ErrorPolicy, bool) {
	s, ok := r.scalar(n, what)
	if !ok {
		return 0, false
	}
	pol, err := weir.ParseErrorPolicy(s)
	if err != nil {
		r.errorf(posOf(r.deref(n)), "%s: %q is not a policy; want fail, dead-letter or skip", what, s)
		return 0, false
	}
	return pol, true
}

// named reads a mapping of names to definitions, in order.
func (r *reader) named(n ast.Node, what string, each func(name string, pos Pos, def ast.Node)) {
	o := r.object(n, what)
	if o == nil {
		return
	}
	for _, mv := range o.keys {
		name := mv.Key.GetToken().Value
		o.get(name)
		pos := posOf(mv.Key)
		if !validName(name) {
			r.errorf(pos, "%s: %q is not a valid name: use letters, digits, '_' and '-', starting with a letter", what, name)
			continue
		}
		each(name, pos, mv.Value)
	}
}

func validName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

var inputTypes = []string{"generator", "file", "kafka", "nats", "kinesis", "http"}

func (r *reader) inputs(n ast.Node) []*Input {
	var ins []*Input
	r.named(n, "inputs", func(name string, pos Pos, def ast.Node) {
		what := fmt.Sprintf("input %q", name)
		o := r.object(def, what)
		if o == nil {
			return
		}
		in := &Input{Name: name, Pos: pos, Type: r.str(o, "type"), Format: r.str(o, "format")}
		if pn := o.get("on_error"); pn != nil {
			if pol, ok := r.policy(pn, what+": on_error"); ok {
				in.OnError = &pol
			}
		}
		if sn := o.get("schema"); sn != nil {
			in.Schema = r.schema(sn, what+": schema")
		}
		if en := o.get("event_time"); en != nil {
			eo := r.object(en, what+": event_time")
			if eo != nil {
				in.EventTime = &EventTime{Field: r.str(eo, "field"), MaxOutOfOrderness: r.duration(eo, "max_out_of_orderness"), Idleness: r.duration(eo, "idleness")}
				if fn := eo.get("field"); fn != nil {
					in.EventTime.pos = posOf(r.deref(fn))
				}
				if in.EventTime.Field == "" {
					r.errorf(eo.pos, "%s: event_time: missing field \"field\", the record field holding the event time", what)
				} else if in.Schema != nil && plainField(in.EventTime.Field) {
					if f, ok := in.Schema.Field(in.EventTime.Field); !ok {
						r.errorf(eo.keyPos("field"), "%s: event_time: field %q is not in the schema (%s)", what, in.EventTime.Field, in.Schema)
					} else if f.Type != TypeTimestamp && f.Type != TypeInt && f.Type != TypeAny && f.Type != TypeString {
						r.errorf(eo.keyPos("field"), "%s: event_time: field %q is a %s; want a timestamp, Unix milliseconds (int) or RFC 3339 text", what, f.Name, f.Type)
					}
				}
				eo.finish()
			}
		}
		switch in.Format {
		case "":
			in.Format = "json"
		case "json":
		case "csv":
			if in.Type != "file" {
				r.errorf(o.keyPos("format"), "%s: format csv is read from files only", what)
			}
		default:
			r.errorf(o.keyPos("format"), "%s: unknown format %q; want json or csv", what, in.Format)
		}
		switch in.Type {
		case "generator":
			in.Generator = &GeneratorInput{Count: r.integer(o, "count", 0), Rate: r.number(o, "rate"), Splits: int(r.integer(o, "splits", 1))}
			if fn := o.require("fields"); fn != nil {
				in.Generator.Fields = r.assignments(fn, what+": fields")
			}
			if in.Generator.Count < 0 || in.Generator.Rate < 0 || in.Generator.Splits < 1 {
				r.errorf(o.pos, "%s: count and rate must not be negative, splits must be at least 1", what)
			}
		case "file":
			in.File = &FileInput{Paths: r.strs(o, "path", true), Watch: r.boolean(o, "watch"), DiscoveryInterval: r.duration(o, "discovery_interval")}
			if len(in.File.Paths) == 0 {
				r.errorf(o.pos, "%s: missing field \"path\": the files, directories or glob patterns to read", what)
			}
		case "kafka":
			k := &KafkaInput{Conn: r.conn(o, what), Topics: r.strs(o, "topic", true), Group: r.secret(o, "group"),
				Start: r.str(o, "start"), Bounded: r.boolean(o, "bounded")}
			if len(k.Topics) == 0 {
				r.errorf(o.pos, "%s: missing field \"topic\"", what)
			}
			switch k.Start {
			case "", "earliest", "latest":
			default:
				r.errorf(o.keyPos("start"), "%s: start: want earliest or latest, got %q", what, k.Start)
			}
			in.Kafka = k
		case "nats":
			in.NATS = r.natsInput(o, what)
		case "kinesis":
			in.Kinesis = r.kinesisInput(o, in, what)
		case "http":
			in.HTTP = r.httpInput(o, what)
		case "":
			r.errorf(o.pos, "%s: missing field \"type\" (%s)", what, strings.Join(inputTypes, ", "))
		default:
			r.errorf(o.keyPos("type"), "%s: unknown type %q; want %s", what, in.Type, strings.Join(inputTypes, ", "))
		}
		o.finish()
		ins = append(ins, in)
	})
	if len(ins) == 0 && len(r.errs) == 0 {
		r.errorf(posOf(n), "inputs: a pipeline needs at least one input")
	}
	return ins
}

// conn reads a Kafka connection: brokers, client_id and sasl.
func (r *reader) conn(o *obj, what string) kafka.Conn {
	c := kafka.Conn{ClientID: r.secret(o, "client_id")}
	// A list, or one string of comma-separated brokers (as an
	// environment variable holds them).
	for _, b := range r.strs(o, "brokers", true) {
		for _, s := range strings.Split(b, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.Brokers = append(c.Brokers, s)
			}
		}
	}
	if len(c.Brokers) == 0 {
		r.errorf(o.pos, "%s: missing field \"brokers\" (host:port, a list)", what)
	}
	if sn := o.get("sasl"); sn != nil {
		so := r.object(sn, what+": sasl")
		if so != nil {
			c.SASL = &kafka.SASL{Mechanism: r.secret(so, "mechanism"), User: r.secret(so, "user"), Password: r.secret(so, "password")}
			switch c.SASL.Mechanism {
			case kafka.Plain, kafka.ScramSHA256, kafka.ScramSHA512:
			default:
				r.errorf(so.keyPos("mechanism"), "%s: sasl: mechanism: want %s, %s or %s", what, kafka.Plain, kafka.ScramSHA256, kafka.ScramSHA512)
			}
			so.finish()
		}
	}
	return c
}

func (r *reader) schema(n ast.Node, what string) *Schema {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	s := &Schema{}
	for _, mv := range o.keys {
		name := mv.Key.GetToken().Value
		o.get(name)
		ts, ok := r.scalar(mv.Value, what+": "+name)
		if !ok {
			continue
		}
		t, ok := parseType(ts)
		if !ok {
			r.errorf(posOf(r.deref(mv.Value)), "%s: field %q: unknown type %q; want %s", what, name, ts, strings.Join(typeNames, ", "))
			continue
		}
		s.Fields = append(s.Fields, Field{Name: name, Type: t})
	}
	if len(s.Fields) == 0 {
		if len(o.keys) == 0 {
			r.errorf(o.pos, "%s: a schema declares at least one field (name: type)", what)
		}
		return nil
	}
	return s
}

var outputTypes = []string{"stdout", "file", "kafka", "nats", "kinesis", "redis", "postgres", "webhook"}

func (r *reader) outputs(n ast.Node) []*Output {
	var outs []*Output
	r.named(n, "outputs", func(name string, pos Pos, def ast.Node) {
		what := fmt.Sprintf("output %q", name)
		o := r.object(def, what)
		if o == nil {
			return
		}
		out := &Output{Name: name, Pos: pos, Type: r.str(o, "type"), Format: r.str(o, "format"), From: r.str(o, "from"), fromPos: o.keyPos("from")}
		switch out.Format {
		case "":
			out.Format = "json"
		case "json":
		case "csv":
			if out.Type != "file" {
				r.errorf(o.keyPos("format"), "%s: format csv is written to files only", what)
			}
		default:
			r.errorf(o.keyPos("format"), "%s: unknown format %q; want json or csv", what, out.Format)
		}
		switch out.Type {
		case "stdout":
		case "file":
			out.File = &FileOutput{Path: r.secret(o, "path")}
			if out.File.Path == "" {
				r.errorf(o.pos, "%s: missing field \"path\", the directory of the part files", what)
			}
		case "kafka":
			k := &KafkaOutput{Conn: r.conn(o, what), Topic: r.secret(o, "topic"), TransactionalIDPrefix: r.secret(o, "transactional_id_prefix")}
			if k.Topic == "" {
				r.errorf(o.pos, "%s: missing field \"topic\"", what)
			}
			switch d := r.str(o, "delivery"); d {
			case "", "at-least-once":
				k.Delivery = kafka.AtLeastOnce
			case "exactly-once":
				k.Delivery = kafka.ExactlyOnce
				if k.TransactionalIDPrefix == "" {
					k.TransactionalIDPrefix = "weir-" + name
				}
			default:
				r.errorf(o.keyPos("delivery"), "%s: delivery: want at-least-once or exactly-once, got %q", what, d)
			}
			if kn := o.get("key"); kn != nil {
				k.Key = r.expr(kn, what+": key")
			}
			out.Kafka = k
		case "nats":
			out.NATS = r.natsOutput(o, what)
		case "kinesis":
			out.Kinesis = r.kinesisOutput(o, what)
		case "redis":
			out.Redis = r.redisOutput(o, what)
		case "postgres":
			out.Postgres = r.postgresOutput(o, what)
		case "webhook":
			out.Webhook = r.webhookOutput(o, what)
		case "":
			r.errorf(o.pos, "%s: missing field \"type\" (%s)", what, strings.Join(outputTypes, ", "))
		default:
			r.errorf(o.keyPos("type"), "%s: unknown type %q; want %s", what, out.Type, strings.Join(outputTypes, ", "))
		}
		o.finish()
		outs = append(outs, out)
	})
	if len(outs) == 0 && len(r.errs) == 0 {
		r.errorf(posOf(n), "outputs: a pipeline needs at least one output")
	}
	return outs
}

// step reads one step: its name, from, on_error, and exactly one field
// naming its kind, which that kind reads.
func (r *reader) step(n ast.Node) *Step {
	o := r.object(n, "step")
	if o == nil {
		return nil
	}
	s := &Step{Pos: o.pos, Name: r.str(o, "name"), From: r.strs(o, "from", false), fromPos: o.keyPos("from")}
	what := "step"
	switch {
	case !o.has("name"):
		r.errorf(o.pos, "step: missing field \"name\"; a step's name is its identity in checkpoints, so that steps can be added and reordered")
	case !validName(s.Name):
		r.errorf(o.keyPos("name"), "step: %q is not a valid name: use letters, digits, '_' and '-', starting with a letter", s.Name)
	default:
		what = fmt.Sprintf("step %q", s.Name)
	}
	if pn := o.get("on_error"); pn != nil {
		if pol, ok := r.policy(pn, what+": on_error"); ok {
			s.OnError = &pol
		}
	}
	// The kind is the one field that is not common to every step.
	var kinds []*ast.MappingValueNode
	for _, mv := range o.keys {
		switch mv.Key.GetToken().Value {
		case "name", "from", "on_error":
		default:
			kinds = append(kinds, mv)
		}
	}
	if len(kinds) == 0 {
		r.errorf(o.pos, "%s: no step kind; give one of %s", what, strings.Join(stepKindNames(), ", "))
		return nil
	}
	for i, mv := range kinds {
		key := mv.Key.GetToken().Value
		k, ok := stepKinds[key]
		if !ok {
			o.get(key)
			r.errorf(posOf(mv.Key), "%s: unknown field or step kind %q (step kinds: %s; fields: name, from, on_error)", what, key, strings.Join(stepKindNames(), ", "))
			continue
		}
		o.get(key)
		if i > 0 && s.Kind != "" {
			r.errorf(posOf(mv.Key), "%s: has two kinds, %s and %s; a step does one thing", what, s.Kind, key)
			continue
		}
		if k.unsupported != "" {
			r.errorf(posOf(mv.Key), "%s: step kind %q is not supported yet: %s", what, key, k.unsupported)
			continue
		}
		s.Kind, s.kindPos = key, posOf(mv.Key)
		s.spec = k.parse(r, mv.Value, what+": "+key)
	}
	o.finish()
	if s.spec == nil {
		return nil
	}
	return s
}

func stepKindNames() []string {
	var names []string
	for n, k := range stepKinds {
		if k.unsupported == "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// assignments reads a mapping of field names to expressions, in order.
func (r *reader) assignments(n ast.Node, what string) []Assignment {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	var as []Assignment
	for _, mv := range o.keys {
		name := mv.Key.GetToken().Value
		o.get(name)
		if e := r.expr(mv.Value, what+": "+name); e != nil {
			as = append(as, Assignment{Field: name, Expr: e})
		}
	}
	if len(as) == 0 && len(o.keys) == 0 {
		r.errorf(o.pos, "%s: want at least one field: expression", what)
	}
	return as
}

func (r *reader) testCase(n ast.Node) *TestCase {
	o := r.object(n, "test")
	if o == nil {
		return nil
	}
	t := &TestCase{Pos: o.pos, Name: r.str(o, "name"), Input: map[string][]any{}, Expect: map[string][]any{}}
	what := fmt.Sprintf("test %q", t.Name)
	if t.Name == "" {
		r.errorf(o.pos, "test: missing field \"name\"")
	}
	records := func(key string, into map[string][]any, order *[]string) {
		rn := o.require(key)
		if rn == nil {
			return
		}
		r.named(rn, what+": "+key, func(name string, _ Pos, def ast.Node) {
			var recs []any
			for _, e := range r.list(def, what+": "+key+": "+name) {
				r.site = posOf(e)
				v, ok := r.value(e, what+": "+key+": "+name)
				if !ok {
					continue
				}
				recs = append(recs, v)
			}
			if recs == nil {
				recs = []any{}
			}
			into[name] = recs
			*order = append(*order, name)
		})
	}
	records("input", t.Input, &t.inputOrder)
	records("expect", t.Expect, &t.expectOrder)
	o.finish()
	return t
}
