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
type fastFn func(r Record) (any, error)

// compileFast returns the closures of n, or false when n holds a node it
// does not cover.
func compileFast(n ast.Node) (fastFn, bool) {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		if n.Value == "$env" {
			return nil, false
		}
		name := n.Value
		return func(r Record) (any, error) { return r[name], nil }, true
	case *ast.MemberNode:
		prop, ok := n.Property.(*ast.StringNode)
		if !ok || n.Optional {
			return nil, false
		}
		name := prop.Value
		if id, ok := n.Node.(*ast.IdentifierNode); ok && id.Value == "$env" {
			// $env["name"]: a field whose name is not an identifier.
			return func(r Record) (any, error) { return r[name], nil }, true
		}
		// x.name, a field of a nested object: what the VM's fetch gives
		// for a map, its error for nil, and the fetch itself for the rest.
		x, ok := compileFast(n.Node)
		if !ok {
			return nil, false
		}
		return func(r Record) (any, error) {
			v, err := x(r)
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
		return func(Record) (any, error) { return v, nil }, true
	case *ast.FloatNode:
		v := any(n.Value)
		return func(Record) (any, error) { return v, nil }, true
	case *ast.StringNode:
		v := any(n.Value)
		return func(Record) (any, error) { return v, nil }, true
	case *ast.BoolNode:
		v := any(n.Value)
		return func(Record) (any, error) { return v, nil }, true
	case *ast.NilNode:
		return func(Record) (any, error) { return nil, nil }, true
	case *ast.UnaryNode:
		x, ok := compileFast(n.Node)
		if !ok {
			return nil, false
		}
		switch n.Operator {
		case "!", "not":
			return func(r Record) (any, error) {
				v, err := x(r)
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
			return func(r Record) (any, error) {
				v, err := x(r)
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
		return compileBinary(n)
	}
	return nil, false
}

func compileBinary(n *ast.BinaryNode) (fastFn, bool) {
	l, ok := compileFast(n.Left)
	if !ok {
		return nil, false
	}
	if n.Operator == "in" {
		if c, ok := n.Right.(*ast.ConstantNode); ok {
			return compileIn(l, c.Value)
		}
		return nil, false
	}
	rt, ok := compileFast(n.Right)
	if !ok {
		return nil, false
	}
	switch n.Operator {
	case "and", "&&", "or", "||":
		or := n.Operator == "or" || n.Operator == "||"
		return func(r Record) (any, error) {
			a, err := l(r)
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
			return rt(r)
		}, true
	case "??":
		return func(r Record) (any, error) {
			a, err := l(r)
			if err != nil || a != nil {
				return a, err
			}
			return rt(r)
		}, true
	}
	op, ok := binaryOps[n.Operator]
	if !ok {
		return nil, false
	}
	return func(r Record) (any, error) {
		a, err := l(r)
		if err != nil {
			return nil, err
		}
		b, err := rt(r)
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
		return func(r Record) (any, error) {
			v, err := l(r)
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
		return func(r Record) (any, error) {
			v, err := l(r)
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
