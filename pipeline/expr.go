package pipeline

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	yaml "github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/weirstream/weir/connectors/format"
)

// Expr is an expression of the expr language (expr-lang/expr) over a
// record's fields: each field is a variable of its name ($env["a-b"] for
// a name that is not an identifier). With a declared schema its fields
// have their types and an unknown name or a wrong type is an error at
// validate time; without one every field is of any type and a missing
// field is nil.
type Expr struct {
	// Source is the expression's text.
	Source string

	pos     Pos  // of the expression's first character
	oneLine bool // the text is on one line of the file, from pos
	what    string

	program *vm.Program
	fast    fastFn // when the expression has no node the closures lack
	// rowFast reads rows of rowSchema by position, when fast exists and
	// the expression was checked against a declared schema.
	rowFast   fastFn
	rowSchema *Schema
	out       Type
	vms       sync.Pool
}

// expr reads an expression node.
func (r *reader) expr(n yaml.Node, what string) *Expr {
	n = r.deref(n)
	src, ok := r.scalar(n, what)
	if !ok {
		return nil
	}
	if strings.TrimSpace(src) == "" {
		r.errorf(posOf(n), "%s: the expression is empty", what)
		return nil
	}
	e := &Expr{Source: src, pos: posOf(n), what: what}
	if tk := n.GetToken(); tk != nil && !strings.Contains(src, "\n") {
		switch tk.Type {
		case token.SingleQuoteType, token.DoubleQuoteType:
			e.oneLine = !strings.ContainsAny(tk.Origin, "\\") || tk.Type == token.SingleQuoteType
			e.pos.Col++
		case token.StringType:
			e.oneLine = true
		}
	}
	return e
}

// compile type-checks e against the fields of schema (nil: schemaless)
// and compiles it; want, unless TypeAny, is the type it must have. It
// reports an error at the expression's position and returns false.
func (c *checker) compile(e *Expr, schema *Schema, want Type, vars map[string]any) bool {
	env := map[string]any{}
	if schema != nil {
		env = schema.env()
	}
	for k, v := range vars {
		env[k] = v
	}
	// Env makes names strict; a schemaless record may have any field.
	opts := []expr.Option{expr.Env(env)}
	if schema != nil && slices.ContainsFunc(schema.Fields, func(f Field) bool { return f.Type == TypeAny }) {
		// A field of type any may hold anything, an object whose fields
		// an expression reads included: the checker is told its type is
		// unknown, which a value in env (nil) cannot say.
		opts = []expr.Option{expr.Env(schema.types(vars))}
	}
	if schema == nil {
		opts = append(opts, expr.AllowUndefinedVariables())
	}
	if want == TypeBool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(e.Source, opts...)
	if err != nil {
		c.exprError(e, err)
		return false
	}
	e.program = p
	e.out = typeOf(p.Node().Type())
	if p.Node().Type() != nil && p.Node().Type().Kind() == reflect.Interface {
		e.out = TypeAny
	}
	e.vms.New = func() any { return new(vm.VM) }
	e.fast, _ = compileFast(p.Node(), nil)
	if schema != nil && e.fast != nil && len(vars) == 0 {
		e.rowFast, _ = compileFast(p.Node(), schema.positions())
		e.rowSchema = schema
	}
	if schema != nil && c.p != nil {
		// Every field an expression over a declared schema names is
		// decoded into rows: by position or from the record, it is read.
		if c.p.byPos == nil {
			c.p.byPos = map[string]bool{}
		}
		node := p.Node()
		ast.Walk(&node, fieldNames(c.p.byPos))
	}
	return true
}

// exprError reports a compile error of e at the place in the file it
// points to.
func (c *checker) exprError(e *Expr, err error) {
	at := e.pos
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
		if e.oneLine && fe.Line <= 1 {
			at.Col += fe.Column
		} else if fe.Line > 0 {
			msg = fmt.Sprintf("%s (line %d, column %d of the expression)", msg, fe.Line, fe.Column+1)
		}
	}
	c.r.errorf(at, "%s: %s", e.what, msg)
}

// eval runs e on rec.
func (e *Expr) eval(rec format.Record) (any, error) {
	if e.fast != nil {
		v, err := e.fast(rec, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", e.what, e.Source, err)
		}
		return v, nil
	}
	return e.slow(rec)
}

// slow runs e on the expression VM.
func (e *Expr) slow(rec format.Record) (any, error) {
	m := e.vms.Get().(*vm.VM)
	v, err := m.Run(e.program, map[string]any(rec))
	e.vms.Put(m)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", e.what, e.Source, err)
	}
	return v, nil
}

// evalRow runs e on a row: by position when e was checked against the
// row's schema, else on the row made a record.
func (e *Expr) evalRow(r row) (any, error) {
	c := rowCtx{r: r}
	return c.eval(e)
}

// rowCtx is a row that the expressions of one step run on: those that
// read it by position do, the others share the row made a record once.
type rowCtx struct {
	r   row
	rec Record
}

func (c *rowCtx) eval(e *Expr) (any, error) {
	if e.rowFast != nil && c.r.schema == e.rowSchema {
		v, err := e.rowFast(nil, c.r.vals, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", e.what, e.Source, err)
		}
		return v, nil
	}
	if c.rec == nil {
		c.rec = c.r.record()
	}
	return e.eval(c.rec)
}

// testRow runs a boolean e on a row.
func (e *Expr) testRow(r row) (bool, error) {
	v, err := e.evalRow(r)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: %s: got %s, want a bool", e.what, e.Source, describeValue(v))
	}
	return b, nil
}

// test runs a boolean e on rec.
func (e *Expr) test(rec format.Record) (bool, error) {
	v, err := e.eval(rec)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("%s: %s: got %s, want a bool", e.what, e.Source, describeValue(v))
	}
	return b, nil
}

// fieldNames collects the names of the fields an expression reads: its
// identifiers and $env["name"] (more than it reads, if a name is also a
// builtin's, which does no harm).
type fieldNames map[string]bool

func (f fieldNames) Visit(n *ast.Node) {
	switch n := (*n).(type) {
	case *ast.IdentifierNode:
		f[n.Value] = true
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			if s, ok := n.Property.(*ast.StringNode); ok {
				f[s.Value] = true
			}
		}
	}
}
