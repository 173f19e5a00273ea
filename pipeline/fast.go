package pipeline

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
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
type fastFn func(r Record, p []any) (any, error)

// compileFast returns the closures of n, or false when n holds a node it
// does not cover. With pos nil they read a record's fields by name (the
// Record argument); with pos they read a row's values by position (the
// slice argument), pos giving each field's, and a name pos lacks is a node
// they do not cover.
func compileFast(n ast.Node, pos map[string]int) (fastFn, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			return nil, false
		}
		return fieldFn(n.Value, pos)
	case *ast.MemberNode:
		prop, ok := n.Property.(*ast.StringNode)
		if !ok || n.Optional {
			return nil, false
		}
		name := prop.Value
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			// $env["name"]: a field whose name is not an identifier.
			return fieldFn(name, pos)
		}
		// x.name, a field of a nested object: what the VM's fetch gives
		// for a map, its error for nil, and the fetch itself for the rest.
		x, ok := compileFast(n.Node, pos)
		if !ok {
			return nil, false
		}
		return func(r Record, p []any) (any, error) {
			v, err := x(r, p)
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
		return func(Record, []any) (any, error) { return v, nil }, true
	case *ast.FloatNode:
		v := any(n.Value)
		return func(Record, []any) (any, error) { return v, nil }, true
	case *ast.StringNode:
		v := any(n.Value)
		return func(Record, []any) (any, error) { return v, nil }, true
	case *ast.BoolNode:
		v := any(n.Value)
		return func(Record, []any) (any, error) { return v, nil }, true
	case *ast.NilNode:
		return func(Record, []any) (any, error) { return nil, nil }, true
	case *ast.UnaryNode:
		x, ok := compileFast(n.Node, pos)
		if !ok {
			return nil, false
		}
		switch n.Operator {
		case "!", "not":
			return func(r Record, p []any) (any, error) {
				v, err := x(r, p)
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
			return func(r Record, p []any) (any, error) {
				v, err := x(r, p)
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
		return compileBinary(n, pos)
	}
	return nil, false
}

// fieldFn reads the field name: from the record, or from the row at its
// position.
func fieldFn(name string, pos map[string]int) (fastFn, bool) {
	if pos == nil {
		return func(r Record, _ []any) (any, error) { return r[name], nil }, true
	}
	i, ok := pos[name]
	if !ok {
		return nil, false
	}
	return func(_ Record, p []any) (any, error) { return p[i], nil }, true
}

func compileBinary(n *ast.BinaryNode, pos map[string]int) (fastFn, bool) {
	l, ok := compileFast(n.Left, pos)
	if !ok {
		return nil, false
	}
	if n.Operator == "in" {
		if c, ok := n.Right.(*ast.ConstantNode); ok {
			return compileIn(l, c.Value)
		}
		return nil, false
	}
	rt, ok := compileFast(n.Right, pos)
	if !ok {
		return nil, false
	}
	switch n.Operator {
	case "and", "&&", "or", "||":
		or := n.Operator == "or" || n.Operator == "||"
		return func(r Record, p []any) (any, error) {
			a, err := l(r, p)
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
			return rt(r, p)
		}, true
	case "??":
		return func(r Record, p []any) (any, error) {
			a, err := l(r, p)
			if err != nil || a != nil {
				return a, err
			}
			return rt(r, p)
		}, true
	}
	op, ok := binaryOps[n.Operator]
	if !ok {
		return nil, false
	}
	return func(r Record, p []any) (any, error) {
		a, err := l(r, p)
		if err != nil {
			return nil, err
		}
		b, err := rt(r, p)
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
		return func(r Record, p []any) (any, error) {
			v, err := l(r, p)
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
		return func(r Record, p []any) (any, error) {
			v, err := l(r, p)
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
