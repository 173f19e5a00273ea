package pipeline

import (
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// fastFn evaluates a compiled expression on a record without the
// expression VM: a tree of closures over the checked syntax tree. It
// covers what filters and projections are mostly made of — fields,
// literals, comparisons, arithmetic, and, or, not, ??, in a constant list,
// fields of nested objects (a.b) — and gives the results and errors the VM
// gives (TestFastMatchesVM); an expression with anything else (a function
// call, an index, optional chaining, a closure) runs on the VM. The VM costs a dispatch loop, a stack and a
// pooled machine per record; the closures cost a call per node.
type fastFn func(r Record, p, lv []any) (any, error)

// compileFast returns the closures of n, or false when n holds a node it
// does not cover. With pos nil they read a record's fields by name (the
// Record argument); with pos they read a row's values by position (the
// slice argument), pos giving each field's, and a name pos lacks is a node
// they do not cover.
//
// The values of let variables are in a slice (lv) made per evaluation, a
// variable's place in it fixed at compile time.
func compileFast(n ast.Node, pos map[string]int) (fastFn, bool) {
	c := &fastCompiler{pos: pos}
	fn, ok := c.node(n)
	if !ok || c.nvars == 0 {
		return fn, ok
	}
	nvars := c.nvars
	return func(r Record, p, _ []any) (any, error) { return fn(r, p, make([]any, nvars)) }, true
}

// fastCompiler compiles the closures of one expression: pos as for
// compileFast, vars the let variables in scope (name → place in lv).
type fastCompiler struct {
	pos   map[string]int
	vars  map[string]int
	nvars int
}

func (c *fastCompiler) node(n ast.Node) (fastFn, bool) {
	pos := c.pos
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if i, ok := c.vars[n.Value]; ok {
			return func(_ Record, _, lv []any) (any, error) { return lv[i], nil }, true
		}
		if n.Value == "$env" {
			return nil, false
		}
		return fieldFn(n.Value, pos)
	case *ast.VariableDeclaratorNode:
		// let name = value; expr: value evaluated once, before expr.
		val, ok := c.node(n.Value)
		if !ok {
			return nil, false
		}
		i := c.nvars
		c.nvars++
		outer := c.vars
		c.vars = make(map[string]int, len(outer)+1)
		for k, v := range outer {
			c.vars[k] = v
		}
		c.vars[n.Name] = i
		body, ok := c.node(n.Expr)
		c.vars = outer
		if !ok {
			return nil, false
		}
		return func(r Record, p, lv []any) (any, error) {
			v, err := val(r, p, lv)
			if err != nil {
				return nil, err
			}
			lv[i] = v
			return body(r, p, lv)
		}, true
	case *ast.ConditionalNode:
		// The checker made the condition a bool; one of unknown type is
		// left to the VM.
		if t := n.Cond.Type(); t == nil || t.Kind() != reflect.Bool {
			return nil, false
		}
		cond, ok1 := c.node(n.Cond)
		x, ok2 := c.node(n.Exp1)
		y, ok3 := c.node(n.Exp2)
		if !ok1 || !ok2 || !ok3 {
			return nil, false
		}
		return func(r Record, p, lv []any) (any, error) {
			v, err := cond(r, p, lv)
			if err != nil {
				return nil, err
			}
			if b, _ := v.(bool); b {
				return x(r, p, lv)
			}
			return y(r, p, lv)
		}, true
	case *ast.BuiltinNode:
		return c.builtin(n)
	case *ast.MemberNode:
		if n.Optional {
			return nil, false
		}
		if ix, ok := n.Property.(*ast.IntegerNode); ok {
			return c.index(n.Node, ix.Value)
		}
		prop, ok := n.Property.(*ast.StringNode)
		if !ok {
			return nil, false
		}
		name := prop.Value
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			// $env["name"]: a field whose name is not an identifier.
			return fieldFn(name, pos)
		}
		// x.name, a field of a nested object: what the VM's fetch gives
		// for a map, its error for nil, and the fetch itself for the rest.
		x, ok := c.node(n.Node)
		if !ok {
			return nil, false
		}
		return func(r Record, p, lv []any) (any, error) {
			v, err := x(r, p, lv)
			if err != nil {
				return nil, err
			}
			switch m := v.(type) {
			case map[string]any:
				return m[name], nil
			case Record:
				return m[name], nil
			}
			return guard(func() any { return runtime.Fetch(v, name) })
		}, true
	case *ast.IntegerNode:
		v := any(int64(n.Value))
		return func(Record, []any, []any) (any, error) { return v, nil }, true
	case *ast.FloatNode:
		v := any(n.Value)
		return func(Record, []any, []any) (any, error) { return v, nil }, true
	case *ast.StringNode:
		v := any(n.Value)
		return func(Record, []any, []any) (any, error) { return v, nil }, true
	case *ast.BoolNode:
		v := any(n.Value)
		return func(Record, []any, []any) (any, error) { return v, nil }, true
	case *ast.NilNode:
		return func(Record, []any, []any) (any, error) { return nil, nil }, true
	case *ast.UnaryNode:
		x, ok := c.node(n.Node)
		if !ok {
			return nil, false
		}
		switch n.Operator {
		case "!", "not":
			return func(r Record, p, lv []any) (any, error) {
				v, err := x(r, p, lv)
				if err != nil {
					return nil, err
				}
				b, ok := v.(bool)
				if !ok {
					return nil, fmt.Errorf("invalid operation: %s %s", n.Operator, typeName(v))
				}
				return !b, nil
			}, true
		case "-":
			return func(r Record, p, lv []any) (any, error) {
				v, err := x(r, p, lv)
				if err != nil {
					return nil, err
				}
				switch i := v.(type) {
				case int64:
					return -i, nil
				case float64:
					return -i, nil
				}
				return guard(func() any { return runtime.Negate(v) })
			}, true
		case "+":
			return x, true
		}
		return nil, false
	case *ast.BinaryNode:
		return c.binary(n)
	}
	return nil, false
}

// fieldFn reads the field name: from the record, or from the row at its
// position.
func fieldFn(name string, pos map[string]int) (fastFn, bool) {
	if pos == nil {
		return func(r Record, _, _ []any) (any, error) { return r[name], nil }, true
	}
	i, ok := pos[name]
	if !ok {
		return nil, false
	}
	return func(_ Record, p, _ []any) (any, error) { return p[i], nil }, true
}

func (c *fastCompiler) binary(n *ast.BinaryNode) (fastFn, bool) {
	l, ok := c.node(n.Left)
	if !ok {
		return nil, false
	}
	if n.Operator == "in" {
		if c, ok := n.Right.(*ast.ConstantNode); ok {
			return compileIn(l, c.Value)
		}
		return nil, false
	}
	rt, ok := c.node(n.Right)
	if !ok {
		return nil, false
	}
	switch n.Operator {
	case "and", "&&", "or", "||":
		or := n.Operator == "or" || n.Operator == "||"
		return func(r Record, p, lv []any) (any, error) {
			a, err := l(r, p, lv)
			if err != nil {
				return nil, err
			}
			ab, ok := a.(bool)
			if !ok {
				return nil, fmt.Errorf("invalid operation: %s %s", typeName(a), n.Operator)
			}
			if ab == or {
				return ab, nil
			}
			// As in the VM, the right operand is the value, unchecked.
			return rt(r, p, lv)
		}, true
	case "??":
		return func(r Record, p, lv []any) (any, error) {
			a, err := l(r, p, lv)
			if err != nil || a != nil {
				return a, err
			}
			return rt(r, p, lv)
		}, true
	}
	op, ok := binaryOps[n.Operator]
	if !ok {
		return nil, false
	}
	return func(r Record, p, lv []any) (any, error) {
		a, err := l(r, p, lv)
		if err != nil {
			return nil, err
		}
		b, err := rt(r, p, lv)
		if err != nil {
			return nil, err
		}
		return op(a, b)
	}, true
}

// binaryOps are the operators on two values: the common cases inline,
// the others through the VM's own runtime functions.
var binaryOps = map[string]func(a, b any) (any, error){
	"==": func(a, b any) (any, error) { return equal(a, b), nil },
	"!=": func(a, b any) (any, error) { return !equal(a, b), nil },
	"<": func(a, b any) (any, error) {
		if c, ok := compare(a, b); ok {
			return c < 0, nil
		}
		return guard(func() any { return runtime.Less(a, b) })
	},
	"<=": func(a, b any) (any, error) {
		if c, ok := compare(a, b); ok {
			return c <= 0, nil
		}
		return guard(func() any { return runtime.LessOrEqual(a, b) })
	},
	">": func(a, b any) (any, error) {
		if c, ok := compare(a, b); ok {
			return c > 0, nil
		}
		return guard(func() any { return runtime.More(a, b) })
	},
	">=": func(a, b any) (any, error) {
		if c, ok := compare(a, b); ok {
			return c >= 0, nil
		}
		return guard(func() any { return runtime.MoreOrEqual(a, b) })
	},
	"+": func(a, b any) (any, error) {
		switch x := a.(type) {
		case int64:
			if y, ok := b.(int64); ok {
				return x + y, nil
			}
		case string:
			if y, ok := b.(string); ok {
				return x + y, nil
			}
		}
		return guard(func() any { return runtime.Add(a, b) })
	},
	"-": func(a, b any) (any, error) {
		if x, ok := a.(int64); ok {
			if y, ok := b.(int64); ok {
				return x - y, nil
			}
		}
		return guard(func() any { return runtime.Subtract(a, b) })
	},
	"*": func(a, b any) (any, error) {
		if x, ok := a.(int64); ok {
			if y, ok := b.(int64); ok {
				return x * y, nil
			}
		}
		return guard(func() any { return runtime.Multiply(a, b) })
	},
	"/": func(a, b any) (any, error) { return guard(func() any { return runtime.Divide(a, b) }) },
	"%": func(a, b any) (any, error) { return guard(func() any { return runtime.Modulo(a, b) }) },
}

// compare orders two int64s, float64s or strings, or two numbers of
// either type; ok is false for other values.
func compare(a, b any) (int, bool) {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int64:
			return cmp3(x, y), true
		case float64:
			return cmp3(float64(x), y), true
		}
	case float64:
		switch y := b.(type) {
		case float64:
			return cmp3(x, y), true
		case int64:
			return cmp3(x, float64(y)), true
		}
	case string:
		if y, ok := b.(string); ok {
			return cmp3(x, y), true
		}
	}
	return 0, false
}

func cmp3[T int64 | float64 | string](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	// NaN compares false every way, as in the VM: neither < nor >, and
	// not equal either.
	if a != b {
		return 2
	}
	return 0
}

func equal(a, b any) bool {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return x == y
		}
	case string:
		if y, ok := b.(string); ok {
			return x == y
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y
		}
	}
	return runtime.Equal(a, b)
}

func compileIn(l fastFn, set any) (fastFn, bool) {
	switch m := set.(type) {
	case map[string]struct{}:
		return func(r Record, p, lv []any) (any, error) {
			v, err := l(r, p, lv)
			if err != nil {
				return nil, err
			}
			s, ok := v.(string)
			if !ok {
				return guard(func() any { return runtime.In(v, m) })
			}
			_, in := m[s]
			return in, nil
		}, true
	case map[int]struct{}:
		return func(r Record, p, lv []any) (any, error) {
			v, err := l(r, p, lv)
			if err != nil {
				return nil, err
			}
			i, ok := v.(int64)
			if !ok {
				return guard(func() any { return runtime.In(v, m) })
			}
			_, in := m[int(i)]
			return in, nil
		}, true
	}
	return nil, false
}

// index reads element i of a list: an array's or a split's. A negative i
// counts from the end, as in the VM; other values and an index out of
// range get the VM's own fetch and its error.
func (c *fastCompiler) index(n ast.Node, i int) (fastFn, bool) {
	x, ok := c.node(n)
	if !ok {
		return nil, false
	}
	return func(r Record, p, lv []any) (any, error) {
		v, err := x(r, p, lv)
		if err != nil {
			return nil, err
		}
		switch l := v.(type) {
		case []string:
			if j := i + len(l)*b2i(i < 0); j >= 0 && j < len(l) {
				return l[j], nil
			}
		case []any:
			if j := i + len(l)*b2i(i < 0); j >= 0 && j < len(l) {
				return l[j], nil
			}
		}
		return guard(func() any { return runtime.Fetch(v, i) })
	}, true
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// builtin calls one of the VM's builtin functions of plain arguments
// (len, split, lower, trim, …) through the function the VM calls; those
// taking a predicate, and the few the VM compiles to instructions of
// their own, are left to it.
func (c *fastCompiler) builtin(n *ast.BuiltinNode) (fastFn, bool) {
	i, ok := builtin.Index[n.Name]
	if !ok || n.Map != nil || n.Threshold != nil {
		return nil, false
	}
	fn := builtin.Builtins[i]
	if fn.Predicate || fn.Safe != nil || fn.Deref != nil {
		return nil, false
	}
	switch n.Name {
	case "len", "type", "abs", "int", "float", "string", "toJSON", "lower", "upper", "trim", "trimPrefix",
		"trimSuffix", "split", "splitAfter", "replace", "repeat", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix":
	default:
		return nil, false
	}
	args := make([]fastFn, len(n.Arguments))
	for j, a := range n.Arguments {
		if args[j], ok = c.node(a); !ok {
			return nil, false
		}
	}
	switch {
	case fn.Fast != nil && len(args) == 1:
		arg := args[0]
		if n.Name == "len" {
			return func(r Record, p, lv []any) (any, error) {
				v, err := arg(r, p, lv)
				if err != nil {
					return nil, err
				}
				switch x := v.(type) {
				case []string:
					return int64(len(x)), nil
				case []any:
					return int64(len(x)), nil
				case string:
					return int64(utf8.RuneCountInString(x)), nil
				}
				return guard(func() any { return fn.Fast(v) })
			}, true
		}
		return func(r Record, p, lv []any) (any, error) {
			v, err := arg(r, p, lv)
			if err != nil {
				return nil, err
			}
			return guard(func() any { return fn.Fast(v) })
		}, true
	case fn.Func != nil:
		return func(r Record, p, lv []any) (any, error) {
			vals := make([]any, len(args))
			for j, a := range args {
				v, err := a(r, p, lv)
				if err != nil {
					return nil, err
				}
				vals[j] = v
			}
			var out any
			_, err := guard(func() any {
				var err error
				out, err = fn.Func(vals...)
				if err != nil {
					panic(err)
				}
				return nil
			})
			return out, err
		}, true
	}
	return nil, false
}

// guard runs one of the VM's runtime functions, which panic on values of
// the wrong types, turning the panic into the error the VM would return.
func guard(f func() any) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	return f(), nil
}

func typeName(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%T", v)
}
