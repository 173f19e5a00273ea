package pipeline

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/weirstream/weir/connectors/format"
)

// MaxFileSize is the largest pipeline file Parse reads: a pipeline is a
// page or two of YAML, and a file far larger is a mistake (or an attack on
// the parser).
const MaxFileSize = 1 << 20

// MaxNodes bounds the YAML nodes a pipeline file may expand to, aliases
// included: an alias refers to an anchor defined earlier, and a few lines
// of aliases to aliases (a "billion laughs") would otherwise expand to more
// nodes than memory holds.
const MaxNodes = 100_000

// reader walks a parsed YAML file into a Pipeline, collecting every
// mistake with its position instead of stopping at the first.
type reader struct {
	file    string
	lines   []string
	errs    Errors
	anchors map[string]ast.Node
	nodes   int  // nodes visited, aliases expanded
	bombed  bool // MaxNodes was exceeded (reported once)
	site    Pos  // where the value being read starts, for the MaxNodes error
	lookup  func(string) (string, bool)
	read    func(string) ([]byte, error)
}

func (r *reader) errorf(at Pos, format string, args ...any) {
	r.errs = append(r.errs, &Error{File: r.file, Pos: at, Msg: fmt.Sprintf(format, args...), excerpt: excerpt(r.lines, at)})
}

// yamlError turns a goccy/go-yaml error into an Error at its token.
func (r *reader) yamlError(err error) {
	var ye yaml.Error
	if errors.As(err, &ye) && ye.GetToken() != nil {
		r.errorf(tokenPos(ye.GetToken()), "not valid YAML: %s", ye.GetMessage())
		return
	}
	r.errorf(Pos{}, "not valid YAML: %v", err)
}

func tokenPos(tk *token.Token) Pos {
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{Line: tk.Position.Line, Col: tk.Position.Column}
}

func posOf(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return tokenPos(n.GetToken())
}

// deref counts n against MaxNodes and returns the node it stands for:
// the anchored value of an alias, the value of an anchor or a tag.
func (r *reader) deref(n ast.Node) ast.Node {
	for n != nil {
		r.nodes++
		if r.nodes > MaxNodes {
			if !r.bombed {
				r.bombed = true
				at := r.site
				if at.Line == 0 {
					at = posOf(n)
				}
				r.errorf(at, "the file expands to more than %d YAML nodes (through aliases of aliases?); refusing to read it", MaxNodes)
			}
			return nil
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := v.Value.GetToken().Value
			target, ok := r.anchors[name]
			if !ok {
				r.errorf(posOf(n), "alias *%s refers to no anchor &%s", name, name)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return nil
}

// anchorVisitor collects the anchors of a document, so that an alias
// resolves wherever its anchor is, even in a field the reader skips.
type anchorVisitor map[string]ast.Node

func (a anchorVisitor) Visit(n ast.Node) ast.Visitor {
	if an, ok := n.(*ast.AnchorNode); ok {
		a[an.Name.GetToken().Value] = an.Value
	}
	return a
}

// obj is a YAML mapping being read: get marks the fields it asks for, and
// finish reports the others as unknown.
type obj struct {
	r     *reader
	what  string
	pos   Pos
	keys  []*ast.MappingValueNode
	byKey map[string]*ast.MappingValueNode
	known []string
}

// object reads n as a mapping describing what; nil when it is not one (an
// error is reported). A null is an empty mapping.
func (r *reader) object(n ast.Node, what string) *obj {
	n = r.deref(n)
	if n == nil {
		return nil
	}
	o := &obj{r: r, what: what, pos: posOf(n), byKey: map[string]*ast.MappingValueNode{}}
	var values []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		values = m.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{m}
	case *ast.NullNode:
	default:
		r.errorf(posOf(n), "%s: want a mapping (field: value), got %s", what, kindOf(n))
		return nil
	}
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			r.errorf(posOf(mv.Key), "%s: merge keys (<<) are not supported; repeat the fields or use an alias for the whole value", what)
			continue
		}
		key := mv.Key.GetToken().Value
		if prev, dup := o.byKey[key]; dup {
			r.errorf(posOf(mv.Key), "%s: field %q given twice (first at line %d)", what, key, posOf(prev.Key).Line)
			continue
		}
		o.byKey[key] = mv
		o.keys = append(o.keys, mv)
	}
	return o
}

// get returns the value of field key, nil when absent.
func (o *obj) get(key string) ast.Node {
	if o == nil {
		return nil
	}
	if !slices.Contains(o.known, key) {
		o.known = append(o.known, key)
	}
	mv, ok := o.byKey[key]
	if !ok {
		return nil
	}
	if mv.Value == nil {
		return &ast.NullNode{}
	}
	return mv.Value
}

func (o *obj) has(key string) bool {
	if o == nil {
		return false
	}
	_, ok := o.byKey[key]
	return ok
}

// keyPos is where field key is written, or where the mapping starts.
func (o *obj) keyPos(key string) Pos {
	if mv, ok := o.byKey[key]; ok {
		return posOf(mv.Key)
	}
	return o.pos
}

// finish reports the fields get was not asked for.
func (o *obj) finish() {
	if o == nil {
		return
	}
	for _, mv := range o.keys {
		key := mv.Key.GetToken().Value
		if !slices.Contains(o.known, key) {
			o.r.errorf(posOf(mv.Key), "%s: unknown field %q (known: %s)", o.what, key, strings.Join(o.known, ", "))
		}
	}
}

// require reports a missing field.
func (o *obj) require(key string) ast.Node {
	n := o.get(key)
	if n == nil && o != nil {
		o.r.errorf(o.pos, "%s: missing field %q", o.what, key)
	}
	return n
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.NullNode:
		return "null"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a bool"
	}
	return strings.ToLower(n.Type().String())
}

// scalar returns the text of a scalar node (a string, a number, a bool)
// as written, without quotes.
func (r *reader) scalar(n ast.Node, what string) (string, bool) {
	n = r.deref(n)
	switch v := n.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	r.errorf(posOf(n), "%s: want a string, got %s", what, kindOf(n))
	return "", false
}

// str reads a string field; "" when absent.
func (r *reader) str(o *obj, key string) string {
	n := o.get(key)
	if n == nil {
		return ""
	}
	s, _ := r.scalar(n, o.what+": "+key)
	return s
}

// secret reads a string field of a connector, in which ${env:NAME} and
// ${file:PATH} are replaced by an environment variable or a file's
// contents (without a final newline); ${env:NAME:-default} gives the
// default when NAME is not set. Errors name the reference, never
// what it resolved to.
func (r *reader) secret(o *obj, key string) string {
	n := o.get(key)
	if n == nil {
		return ""
	}
	s, ok := r.scalar(n, o.what+": "+key)
	if !ok {
		return ""
	}
	return r.substitute(s, posOf(r.deref(n)), o.what+": "+key)
}

var refPattern = regexp.MustCompile(`\$\{(env|file):([^}]*)\}`)

func (r *reader) substitute(s string, at Pos, what string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	return refPattern.ReplaceAllStringFunc(s, func(ref string) string {
		m := refPattern.FindStringSubmatch(ref)
		kind, name := m[1], m[2]
		if name == "" {
			r.errorf(at, "%s: %s names nothing", what, ref)
			return ""
		}
		if kind == "env" {
			name, def, hasDef := strings.Cut(name, ":-")
			v, ok := r.lookup(name)
			switch {
			case ok:
			case hasDef:
				v = def
			default:
				r.errorf(at, "%s: environment variable %s is not set", what, name)
			}
			return v
		}
		b, err := r.read(name)
		if err != nil {
			r.errorf(at, "%s: cannot read %s: %v", what, ref, errors.Unwrap(err))
			return ""
		}
		return strings.TrimRight(string(b), "\r\n")
	})
}

func (r *reader) integer(o *obj, key string, def int64) int64 {
	n := o.get(key)
	if n == nil {
		return def
	}
	s, ok := r.scalar(n, o.what+": "+key)
	if !ok {
		return def
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil {
		r.errorf(posOf(r.deref(n)), "%s: %s: want an integer, got %q", o.what, key, s)
		return def
	}
	return v
}

func (r *reader) number(o *obj, key string) float64 {
	n := o.get(key)
	if n == nil {
		return 0
	}
	s, ok := r.scalar(n, o.what+": "+key)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		r.errorf(posOf(r.deref(n)), "%s: %s: want a number, got %q", o.what, key, s)
	}
	return v
}

func (r *reader) boolean(o *obj, key string) bool {
	n := o.get(key)
	if n == nil {
		return false
	}
	n = r.deref(n)
	b, ok := n.(*ast.BoolNode)
	if !ok {
		if n != nil {
			r.errorf(posOf(n), "%s: %s: want true or false, got %s", o.what, key, kindOf(n))
		}
		return false
	}
	return b.Value
}

func (r *reader) duration(o *obj, key string) time.Duration {
	n := o.get(key)
	if n == nil {
		return 0
	}
	s, ok := r.scalar(n, o.what+": "+key)
	if !ok {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		r.errorf(posOf(r.deref(n)), "%s: %s: want a duration such as 500ms, 5s or 1m, not negative; got %q", o.what, key, s)
		return 0
	}
	return d
}

// list reads a list node; a single scalar is a list of one.
func (r *reader) list(n ast.Node, what string) []ast.Node {
	n = r.deref(n)
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil
	case *ast.SequenceNode:
		return v.Values
	case *ast.MappingNode, *ast.MappingValueNode:
		r.errorf(posOf(n), "%s: want a list, got a mapping", what)
		return nil
	}
	return []ast.Node{n}
}

// strings reads a list of strings (or one string), substituting
// references when secret is set.
func (r *reader) strs(o *obj, key string, secret bool) []string {
	n := o.get(key)
	if n == nil {
		return nil
	}
	var out []string
	for _, e := range r.list(n, o.what+": "+key) {
		s, ok := r.scalar(e, o.what+": "+key)
		if !ok {
			continue
		}
		if secret {
			s = r.substitute(s, posOf(r.deref(e)), o.what+": "+key)
		}
		out = append(out, s)
	}
	return out
}

// value turns a YAML node into the Go value a record holds: a mapping is
// a format.Record, a list []any, integers int64, other numbers float64.
func (r *reader) value(n ast.Node, what string) (any, bool) {
	n = r.deref(n)
	switch v := n.(type) {
	case nil:
		return nil, false
	case *ast.NullNode:
		return nil, true
	case *ast.BoolNode:
		return v.Value, true
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return x, true
		case uint64:
			if x <= 1<<63-1 {
				return int64(x), true
			}
			return float64(x), true
		}
		r.errorf(posOf(n), "%s: integer %s out of range", what, v.GetToken().Value)
		return nil, false
	case *ast.FloatNode:
		return v.Value, true
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case *ast.SequenceNode:
		out := make([]any, 0, len(v.Values))
		for _, e := range v.Values {
			x, ok := r.value(e, what)
			if !ok {
				return nil, false
			}
			out = append(out, x)
		}
		return out, true
	case *ast.MappingNode, *ast.MappingValueNode:
		o := r.object(n, what)
		if o == nil {
			return nil, false
		}
		rec := format.Record{}
		for _, mv := range o.keys {
			x, ok := r.value(mv.Value, what)
			if !ok {
				return nil, false
			}
			rec[mv.Key.GetToken().Value] = x
		}
		return rec, true
	}
	r.errorf(posOf(n), "%s: cannot use %s as a value", what, kindOf(n))
	return nil, false
}

// lookupEnv and readFile are the defaults of Options.
func lookupEnv(name string) (string, bool) { return os.LookupEnv(name) }
func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
