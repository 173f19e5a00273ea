package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/weirstream/weir"
)

// Options change how a pipeline file is read.
type Options struct {
	// LookupEnv resolves ${env:NAME}; nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// ReadFile resolves ${file:PATH}; nil means os.ReadFile.
	ReadFile func(path string) ([]byte, error)
}

// ParseFile reads, parses and validates the pipeline file at path. The
// error, when there is one, is Errors: every mistake found, each with its
// line, column and an excerpt.
func ParseFile(path string, o Options) (*Pipeline, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read the pipeline: %v", errors.Unwrap(err))}}
	}
	defer f.Close()
	// Read one byte more than the limit to tell a file at the limit from
	// one over it, without reading a huge file whole.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, Errors{{File: path, Msg: fmt.Sprintf("cannot read the pipeline: %v", err)}}
	}
	return Parse(path, data, o)
}

// Parse parses and validates a pipeline file's contents; name is the
// file's name in errors.
func Parse(name string, data []byte, o Options) (*Pipeline, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("the file is larger than %d bytes; a pipeline file is a page or two of YAML", MaxFileSize)}}
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			off += size
		}
		return nil, Errors{{File: name, Msg: fmt.Sprintf("not a YAML file: invalid UTF-8 at byte %d", off)}}
	}
	r := &reader{file: name, lines: strings.Split(string(data), "\n"), lookup: o.LookupEnv, read: o.ReadFile}
	if r.lookup == nil {
		r.lookup = lookupEnv
	}
	if r.read == nil {
		r.read = readFile
	}
	// The YAML parser takes time quadratic in the nesting of flow
	// collections: a megabyte of '[' would hold it for half an hour.
	if at, deep := flowDepth(data, MaxDepth); deep {
		r.errorf(at, "collections nested more than %d deep; refusing to read the file", MaxDepth)
		return nil, r.errs
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		r.yamlError(err)
		return nil, r.errs
	}
	if len(f.Docs) != 1 || f.Docs[0].Body == nil {
		if len(f.Docs) > 1 {
			r.errorf(posOf(f.Docs[1].Body), "the file holds %d YAML documents; a pipeline is one", len(f.Docs))
		} else {
			r.errorf(Pos{}, "the file is empty; a pipeline has at least version, inputs and outputs")
		}
		return nil, r.errs
	}
	anchors := anchorVisitor{}
	ast.Walk(anchors, f.Docs[0].Body)
	r.anchors = anchors
	p := r.parse(f.Docs[0].Body)
	if !r.bombed {
		c := &checker{r: r, p: p}
		c.check()
	}
	if len(r.errs) > 0 {
		slices.SortStableFunc(r.errs, func(a, b *Error) int {
			if a.Pos.Line != b.Pos.Line {
				return a.Pos.Line - b.Pos.Line
			}
			return a.Pos.Col - b.Pos.Col
		})
		return nil, r.errs
	}
	return p, nil
}

// MaxDepth bounds how deep flow collections ([…] and {…}) may nest.
const MaxDepth = 64

// flowDepth reports where the flow collections of data first nest deeper
// than limit. It skips quoted text and comments, as YAML reads them, so a
// bracket in a string does not count.
func flowDepth(data []byte, limit int) (Pos, bool) {
	depth, line, col := 0, 1, 0
	var quote byte
	comment := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		col++
		if c == '\n' {
			line, col, comment = line+1, 0, false
			continue
		}
		switch {
		case comment:
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
				col++
			} else if c == quote {
				quote = 0
			}
		case c == '#' && (i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n'):
			comment = true
		case c == '\'' || c == '"':
			quote = c
		case c == '[' || c == '{':
			if depth++; depth > limit {
				return Pos{Line: line, Col: col}, true
			}
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		}
	}
	return Pos{}, false
}

// checker resolves the names a pipeline's steps and outputs refer to,
// propagates schemas from the inputs through the steps, and type-checks
// every expression.
type checker struct {
	r       *reader
	p       *Pipeline
	schemas map[string]*Schema // of every input and step, by name
	used    map[string]bool    // inputs and steps read by something
	kinds   map[string]string  // "input" or the step's kind, by name
	evts    map[string]*EventTime
}

func (c *checker) check() {
	p := c.p
	c.schemas, c.used, c.kinds, c.evts = map[string]*Schema{}, map[string]bool{}, map[string]string{}, map[string]*EventTime{}
	for _, in := range p.Inputs {
		c.kinds[in.Name] = "input"
		c.evts[in.Name] = in.EventTime
		c.schemas[in.Name] = c.inputSchema(in)
		c.checkEventTime(in)
	}
	outs := map[string]*Output{}
	for _, o := range p.Outputs {
		outs[o.Name] = o
	}
	for i, s := range p.Steps {
		if _, dup := c.kinds[s.Name]; dup {
			c.r.errorf(s.Pos, "step %q: the name is taken by an input or an earlier step", s.Name)
			continue
		}
		if s.From == nil {
			if i == 0 {
				for _, in := range p.Inputs {
					s.From = append(s.From, in.Name)
				}
			} else {
				s.From = []string{p.Steps[i-1].Name}
			}
		}
		in, ok := c.from(s.From, s.fromPos, fmt.Sprintf("step %q", s.Name))
		c.kinds[s.Name] = s.Kind
		if !ok {
			continue
		}
		s.schema = s.spec.check(c, s, in)
		c.schemas[s.Name] = s.schema
		c.evts[s.Name] = c.stepEventTime(s)
	}
	for _, o := range p.Outputs {
		what := fmt.Sprintf("output %q", o.Name)
		switch {
		case o.routedBy != "" && o.From != "":
			c.r.errorf(o.fromPos, "%s: has from %q but route step %q sends it records too; an output has one source", what, o.From, o.routedBy)
		case o.routedBy != "":
		case o.From == "":
			last := ""
			if n := len(p.Steps); n > 0 {
				last = p.Steps[n-1].Name
				if _, ok := p.Steps[n-1].spec.(terminal); ok {
					c.r.errorf(o.Pos, "%s: receives nothing: the last step %q is a route, which does not name this output; add it to a route case, or give the output a from", what, last)
					continue
				}
			} else if len(p.Inputs) == 1 {
				last = p.Inputs[0].Name
			} else {
				c.r.errorf(o.Pos, "%s: without steps and with several inputs, say which it writes with from", what)
				continue
			}
			o.From = last
			if s, ok := c.from([]string{last}, o.Pos, what); ok {
				o.schema = s
			}
		default:
			if s, ok := c.from([]string{o.From}, o.fromPos, what); ok {
				o.schema = s
			}
		}
		if o.Format == "csv" && o.schema == nil {
			c.r.errorf(o.Pos, "%s: format csv needs the output's columns: give its input a schema, or project the fields it writes", what)
		}
		if o.Kafka != nil && o.Kafka.Key != nil {
			c.compile(o.Kafka.Key, o.schema, TypeAny, nil)
		}
		if o.NATS != nil && o.NATS.MsgID != nil {
			c.compile(o.NATS.MsgID, o.schema, TypeAny, nil)
		}
		if o.Kinesis != nil && o.Kinesis.PartitionKey != nil {
			c.compile(o.Kinesis.PartitionKey, o.schema, TypeAny, nil)
		}
		c.checkWebhook(o)
		c.checkRedis(o)
	}
	for _, in := range p.Inputs {
		if !c.used[in.Name] {
			c.r.errorf(in.Pos, "input %q: nothing reads it; name it in a step's or an output's from", in.Name)
		}
	}
	for _, s := range p.Steps {
		if _, ok := s.spec.(terminal); !ok && !c.used[s.Name] && c.kinds[s.Name] == s.Kind {
			c.r.errorf(s.Pos, "step %q: its records go nowhere: no step or output reads them", s.Name)
		}
	}
	dead := p.OnError == weir.DeadLetter
	for _, s := range p.Steps {
		if s.OnError != nil && *s.OnError == weir.DeadLetter && p.DeadLetter == nil {
			c.r.errorf(s.Pos, "step %q: on_error dead-letter needs the pipeline's dead_letter output", s.Name)
		}
	}
	for _, in := range p.Inputs {
		if in.OnError != nil && *in.OnError == weir.DeadLetter && p.DeadLetter == nil {
			c.r.errorf(in.Pos, "input %q: on_error dead-letter needs the pipeline's dead_letter output", in.Name)
		}
	}
	if dead && p.DeadLetter == nil {
		c.r.errorf(Pos{Line: 1, Col: 1}, "pipeline: on_error dead-letter needs a dead_letter output (dead_letter: {path: DIR})")
	}
	c.checkTests()
}

// from resolves the names a step or output reads and returns the schema
// of their records: the inputs' when they all have the same one, else
// none (schemaless).
func (c *checker) from(names []string, at Pos, what string) (*Schema, bool) {
	var schema *Schema
	ok := true
	for i, name := range names {
		kind, known := c.kinds[name]
		switch {
		case !known:
			c.r.errorf(at, "%s: from %q: no input or earlier step has this name", what, name)
			ok = false
			continue
		case stepKinds[kind] != nil && kind == "route":
			c.r.errorf(at, "%s: from %q: a route step sends its records to outputs, not to the next step", what, name)
			ok = false
			continue
		}
		c.used[name] = true
		s := c.schemas[name]
		if i == 0 {
			schema = s
		} else if !schema.equal(s) {
			schema = nil
		}
	}
	return schema, ok
}

// feed records that a route step sends schema's records to output name.
func (c *checker) feed(name string, at Pos, s *Step, schema *Schema) {
	for _, o := range c.p.Outputs {
		if o.Name != name {
			continue
		}
		if o.routedBy != "" && o.routedBy != s.Name {
			c.r.errorf(at, "step %q: output %q is already fed by route step %q", s.Name, name, o.routedBy)
			return
		}
		if o.routedBy == s.Name && !o.schema.equal(schema) {
			o.schema = nil
		} else {
			o.schema = schema
		}
		o.routedBy = s.Name
		return
	}
	c.r.errorf(at, "step %q: no output is named %q", s.Name, name)
}

// assign compiles the expressions of a map or a projection and returns
// the schema of the records it makes (nil when in is nil and the step
// keeps the other fields).
func (c *checker) assign(fields []Assignment, in *Schema, project bool) *Schema {
	var out *Schema
	if in != nil || project {
		out = &Schema{}
		if !project {
			out.Fields = slices.Clone(in.Fields)
		}
	}
	for _, a := range fields {
		if !c.compile(a.Expr, in, TypeAny, nil) || out == nil {
			continue
		}
		f := Field{Name: a.Field, Type: a.Expr.out}
		if i := slices.IndexFunc(out.Fields, func(g Field) bool { return g.Name == a.Field }); i >= 0 {
			out.Fields[i] = f
		} else {
			out.Fields = append(out.Fields, f)
		}
	}
	return out
}

// inputSchema is an input's declared schema; a generator without one has
// the types of its fields' expressions.
func (c *checker) inputSchema(in *Input) *Schema {
	if in.Generator == nil {
		return in.Schema
	}
	derived := &Schema{}
	for _, a := range in.Generator.Fields {
		if c.compile(a.Expr, &Schema{}, TypeAny, map[string]any{"seq": int64(0)}) {
			derived.Fields = append(derived.Fields, Field{Name: a.Field, Type: a.Expr.out})
		}
	}
	if in.Schema != nil {
		return in.Schema
	}
	return derived
}

func (c *checker) checkTests() {
	for _, t := range c.p.Tests {
		for _, name := range t.inputOrder {
			if c.kinds[name] != "input" {
				c.r.errorf(t.Pos, "test %q: input: no input is named %q", t.Name, name)
			}
		}
		for _, name := range t.expectOrder {
			if !slices.ContainsFunc(c.p.Outputs, func(o *Output) bool { return o.Name == name }) {
				c.r.errorf(t.Pos, "test %q: expect: no output is named %q", t.Name, name)
			}
		}
	}
}
