package pipeline

import (
	"fmt"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/connectors/kafka"
)

// rowStream is an input's or a step's records as rows of its schema.
type rowStream struct {
	st     weir.Stream[row]
	schema *Schema
	// label and id name the operator that makes its rows records, for
	// the steps and outputs that read records.
	label, id string
}

// rowStep is a step kind that reads rows of a declared schema by
// position. A step reading one row stream is built with buildRows; fed by
// several, or by records, with build.
type rowStep interface {
	// buildRows adds the step's operators after in and returns its
	// output: rows (out), or records (out nil) for a step that makes
	// records, such as a window's results.
	buildRows(b *builder, s *Step, in *rowStream) (out *rowStream, recs weir.Stream[Record])
}

// stream returns the records of the input or step name, adding the
// operator that makes rows records the first time a reader of records
// asks for a row stream's.
func (b *builder) stream(name string) weir.Stream[Record] {
	if st, ok := b.streams[name]; ok {
		return st
	}
	rs, ok := b.rows[name]
	if !ok {
		return weir.Stream[Record]{}
	}
	st := weir.Map(rs.st, row.record).Name(rs.label + " (record)").ID(rs.id + "/record")
	b.streams[name] = st
	return st
}

// rowsUseful reports whether the records of name are worth reading as
// rows: a chain of filter and map steps reading name alone leads to a
// project or a window, which keep only what they compute. Rows made
// records again for every reader would cost more than they save.
func (b *builder) rowsUseful(name string) bool {
	for _, s := range b.p.Steps {
		if len(s.From) != 1 || s.From[0] != name {
			continue
		}
		switch sp := s.spec.(type) {
		case *windowStep:
			return true
		case *mapStep:
			if sp.project || b.rowsUseful(s.Name) {
				return true
			}
		case *filterStep:
			if b.rowsUseful(s.Name) {
				return true
			}
		}
	}
	return false
}

// rowInput adds the operators that read an input as rows, when its
// records have a declared schema, are JSON, and are worth reading so.
func (b *builder) rowInput(in *Input) (*rowStream, bool) {
	if b.noRows || in.Schema == nil || !rowsFor(in.Schema) || in.Format == "csv" || !b.rowsUseful(in.Name) {
		return nil, false
	}
	id := "input/" + in.Name
	dec := newRowDecoder(in.Schema).leaving(b.p.readByPosition)
	var s weir.Stream[row]
	switch {
	case b.test != nil:
		var rows []row
		for i, v := range b.test[in.Name] {
			r, ok := v.(Record)
			if !ok {
				b.fail(fmt.Errorf("input %q: record %d is %s, want a mapping", in.Name, i+1, describeValue(v)))
				continue
			}
			r = cloneRecord(r)
			if err := in.Schema.coerce(r); err != nil {
				b.fail(fmt.Errorf("input %q: record %d: %w", in.Name, i+1, err))
			}
			rows = append(rows, rowOf(r, in.Schema))
		}
		s = weir.From(b.env, weir.Slice(rows...), timeOptions(in.EventTime)...).Name(in.Name).ID(id)
	case in.Type == "file":
		src, err := file.JSONLinesSource(file.SourceConfig{Paths: in.File.Paths, Watch: in.File.Watch}, dec)
		if err != nil {
			b.fail(fmt.Errorf("input %q: %w", in.Name, err))
			s = weir.From(b.env, weir.Slice[row]()).Name(in.Name).ID(id)
			break
		}
		opts := timeOptions(in.EventTime)
		if in.File.DiscoveryInterval > 0 {
			opts = append(opts, weir.DiscoveryInterval(in.File.DiscoveryInterval))
		}
		s = weir.From(b.env, src, opts...).Name(in.Name).ID(id)
	case in.Type == "kafka":
		k := in.Kafka
		start := kafka.Earliest()
		if k.Start == "latest" {
			start = kafka.Latest()
		}
		src, err := kafka.NewSource(kafka.SourceConfig[row]{Conn: k.Conn, Topics: k.Topics, Group: k.Group,
			Decoder: dec, StartingOffsets: start, Bounded: k.Bounded})
		if err != nil {
			b.fail(fmt.Errorf("input %q: %w", in.Name, err))
			s = weir.From(b.env, weir.Slice[row]()).Name(in.Name).ID(id)
			break
		}
		recs := weir.From(b.env, src, timeOptions(in.EventTime)...).Name(in.Name).ID(id)
		s = weir.Map(recs, func(r kafka.Record[row]) row { return r.Value }).Name(in.Name + " (value)").ID(id + "/value")
	default:
		return nil, false
	}
	if in.OnError != nil {
		s = s.OnError(*in.OnError)
	}
	if et := in.EventTime; et != nil {
		s = s.AssignTime(rowTimeOf(et, in.Schema), et.MaxOutOfOrderness).Name(in.Name + " (event time)").ID(id + "/time")
		if in.OnError != nil {
			s = s.OnError(*in.OnError)
		}
	}
	return &rowStream{st: s, schema: in.Schema, label: in.Name, id: id}, true
}

// readByPosition reports whether a step may read the field name of rows
// by position: some expression names it, or it holds an input's event
// time.
func (p *Pipeline) readByPosition(name string) bool {
	if p.byPos[name] {
		return true
	}
	for _, in := range p.Inputs {
		if in.EventTime != nil && in.EventTime.Field == name {
			return true
		}
	}
	return false
}

// withoutRows builds every stream as records: the reference the tests
// compare rows with.
func withoutRows() BuildOption { return func(b *builder) { b.noRows = true } }

// rowTimeOf is timeOf for rows of schema s.
func rowTimeOf(et *EventTime, s *Schema) func(row) (time.Time, error) {
	if et.expr != nil {
		return func(r row) (time.Time, error) {
			v, err := et.expr.evalRow(r)
			if err != nil {
				return time.Time{}, err
			}
			return fieldTime(et, v)
		}
	}
	i, ok := s.positions()[et.Field]
	return func(r row) (time.Time, error) {
		if !ok || r.schema != s {
			return fieldTime(et, r.record()[et.Field])
		}
		return fieldTime(et, r.vals[i])
	}
}

// rowStepStream builds step s on rows when it reads one row stream and
// its kind reads rows.
func (b *builder) rowStepStream(s *Step) (*rowStream, weir.Stream[Record], bool) {
	rs, ok := s.spec.(rowStep)
	if !ok || len(s.From) != 1 {
		return nil, weir.Stream[Record]{}, false
	}
	in, ok := b.rows[s.From[0]]
	if !ok {
		return nil, weir.Stream[Record]{}, false
	}
	out, recs := rs.buildRows(b, s, in)
	return out, recs, true
}

// rowsOf is the row stream of a step's output: st, of the step's schema.
func rowsOf(s *Step, st weir.Stream[row]) *rowStream {
	return &rowStream{st: st, schema: s.schema, label: s.Name, id: opID(s, "")}
}

func (f *filterStep) buildRows(_ *builder, s *Step, in *rowStream) (*rowStream, weir.Stream[Record]) {
	tested := policy(s, weir.TryMap(in.st, func(r row) (row, error) {
		ok, err := f.pred.testRow(r)
		if !ok || err != nil {
			return row{}, err
		}
		return r, nil
	}).Name(s.Name).ID(opID(s, "")))
	kept := tested.Filter(func(r row) bool { return r.schema != nil }).Name(s.Name + " (drop)").ID(opID(s, "drop"))
	return &rowStream{st: kept, schema: in.schema, label: s.Name, id: opID(s, "")}, weir.Stream[Record]{}
}

func (m *mapStep) buildRows(b *builder, s *Step, in *rowStream) (*rowStream, weir.Stream[Record]) {
	out := s.schema
	if !rowsFor(out) {
		return nil, m.build(b, s, b.stream(s.From[0]))
	}
	// Where each assignment goes in the output row, and where each input
	// field does for a map, which keeps them.
	pos := out.positions()
	dst := make([]int, len(m.fields))
	for i, a := range m.fields {
		dst[i] = pos[a.Field]
	}
	var keep []int
	if !m.project {
		keep = make([]int, len(in.schema.Fields))
		for i, f := range in.schema.Fields {
			keep[i] = pos[f.Name]
		}
	}
	st := policy(s, weir.TryMap(in.st, func(r row) (row, error) {
		o := row{schema: out, vals: make([]any, len(out.Fields))}
		if !m.project {
			for i, j := range keep {
				o.vals[j] = r.vals[i]
				if r.set&(1<<i) != 0 {
					o.set |= 1 << j
				}
			}
			o.line, o.rest = r.line, r.rest
		}
		c := rowCtx{r: r}
		for i, a := range m.fields {
			v, err := c.eval(a.Expr)
			if err != nil {
				return row{}, err
			}
			o.vals[dst[i]] = normalize(v)
			o.set |= 1 << dst[i]
		}
		return o, nil
	}).Name(s.Name).ID(opID(s, "")))
	return rowsOf(s, st), weir.Stream[Record]{}
}
