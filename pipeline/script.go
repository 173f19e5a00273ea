package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
	"github.com/goccy/go-yaml/ast"

	"github.com/weirstream/weir"
)

// The defaults and bounds of a script step.
const (
	// DefaultScriptTimeout is how long one call of a script may run, in
	// wall-clock time. It is there to stop endless loops: a machine busy
	// with other work stalls a call for 100 ms often enough that a lower
	// default would dead-letter records that only waited for a core.
	DefaultScriptTimeout = time.Second
	// DefaultScriptMaxOutput is how many records one call may return.
	DefaultScriptMaxOutput = 10_000
	// DefaultScriptMaxOutputBytes bounds the size of what one call
	// returns: string bytes, and 8 bytes for every other value.
	DefaultScriptMaxOutputBytes = 4 << 20
	// MaxScriptStateBytes bounds one state value, JSON-encoded.
	MaxScriptStateBytes = 1 << 20
	// MaxScriptSize bounds a script file.
	MaxScriptSize = 1 << 20
	// maxScriptDepth bounds the nesting of a returned value; a cycle
	// (an object holding itself) meets it too.
	maxScriptDepth = 64
	// maxScriptString bounds the strings that String.prototype.repeat,
	// padStart and padEnd make: they allocate in one step, which the
	// time limit does not interrupt.
	maxScriptString = 16 << 20
	// consoleRate is how many console.log lines a subtask logs per second;
	// the others are counted and reported with the next one logged.
	consoleRate = 10
)

// Logger makes the steps that log while the job runs (a script's
// console.log, a script file that changed and does or does not compile)
// log to l instead of slog.Default().
func Logger(l *slog.Logger) BuildOption { return func(b *builder) { b.log = l } }

func (b *builder) logger() *slog.Logger {
	if b.log != nil {
		return b.log
	}
	return slog.Default()
}

// scriptStep runs a JavaScript function on every record.
type scriptStep struct {
	what string // "step \"x\": script", for errors
	// name is the script's name in JavaScript positions: the file as
	// written, or "inline".
	name string
	// path is the file's path to read again for hot reload; empty for an
	// inline source.
	path      string
	reload    bool
	key       *Expr
	timeout   time.Duration
	maxOut    int
	maxBytes  int
	first     *scriptVersion
	firstData []byte
}

// scriptVersion is one compiled version of a script.
type scriptVersion struct {
	n    int // 1 for the version the job started with
	prog *goja.Program
	// after is the checkpoint whose barrier the version follows: it runs
	// on the records after barrier after+1... that is, from the first
	// barrier whose ID is greater than after.
	after int64
}

func parseScript(r *reader, n ast.Node, what string) stepSpec {
	o := r.object(n, what)
	if o == nil {
		return nil
	}
	s := &scriptStep{what: what, timeout: DefaultScriptTimeout, maxOut: DefaultScriptMaxOutput, maxBytes: DefaultScriptMaxOutputBytes}
	src, file := o.get("source"), o.get("file")
	var data []byte
	var at Pos
	switch {
	case src != nil && file != nil:
		r.errorf(o.keyPos("file"), "%s: give source or file, not both", what)
	case src != nil:
		text, ok := r.scalar(src, what+": source")
		if !ok {
			break
		}
		at, s.name, data = posOf(r.deref(src)), "inline", []byte(text)
	case file != nil:
		p, ok := r.scalar(file, what+": file")
		if !ok {
			break
		}
		at = posOf(r.deref(file))
		if err := scriptPath(p); err != nil {
			r.errorf(at, "%s: file %q: %v", what, p, err)
			break
		}
		s.name, s.path = p, filepath.Join(filepath.Dir(r.file), filepath.FromSlash(p))
		b, err := readScript(s.path)
		if err != nil {
			r.errorf(at, "%s: file %q: %v", what, p, err)
			break
		}
		data = b
	default:
		r.errorf(o.pos, "%s: missing field \"source\" (the script) or \"file\" (a .js file beside the pipeline file)", what)
	}
	if kn := o.get("key"); kn != nil {
		s.key = r.expr(kn, what+": key")
	}
	if o.has("timeout") {
		reported := len(r.errs)
		switch d := r.duration(o, "timeout"); {
		case d > 0:
			s.timeout = d
		case len(r.errs) == reported: // a duration, but zero
			r.errorf(o.keyPos("timeout"), "%s: timeout: want a positive duration such as 100ms", what)
		}
	}
	s.maxOut = int(r.integer(o, "max_output", DefaultScriptMaxOutput))
	s.maxBytes = int(r.integer(o, "max_output_bytes", DefaultScriptMaxOutputBytes))
	for _, f := range []struct {
		name string
		v    int
	}{{"max_output", s.maxOut}, {"max_output_bytes", s.maxBytes}} {
		if f.v < 1 {
			r.errorf(o.keyPos(f.name), "%s: %s must be at least 1", what, f.name)
		}
	}
	s.reload = true
	if o.has("reload") {
		s.reload = r.boolean(o, "reload")
		if src != nil {
			r.errorf(o.keyPos("reload"), "%s: reload: only a script file is reloaded", what)
		}
	}
	o.finish()
	if data == nil {
		return nil
	}
	prog, err := compileScript(s.name, data, s.timeout)
	if err != nil {
		r.errorf(at, "%s: %v", what, err)
		return nil
	}
	s.first, s.firstData = &scriptVersion{n: 1, prog: prog, after: math.MinInt64}, data
	return s
}

// scriptPath checks that a script's path stays in the pipeline file's
// directory: relative, without "..".
func scriptPath(p string) error {
	if p == "" {
		return errors.New("the path is empty")
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || filepath.VolumeName(p) != "" {
		return errors.New("an absolute path; a script file is named relative to the pipeline file's directory")
	}
	for _, part := range strings.FieldsFunc(p, func(c rune) bool { return c == '/' || c == '\\' }) {
		if part == ".." {
			return errors.New("the path leaves the pipeline file's directory (..)")
		}
	}
	return nil
}

func readScript(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, errors.Unwrap(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxScriptSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxScriptSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxScriptSize)
	}
	return b, nil
}

// compileScript compiles a script and runs its top level once in a
// sandbox to check that it defines process. Errors name the script's
// line and column.
func compileScript(name string, src []byte, timeout time.Duration) (*goja.Program, error) {
	ast, err := parser.ParseFile(nil, name, string(src), 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			e := list[0]
			return nil, fmt.Errorf("%s:%d:%d: SyntaxError: %s", name, e.Position.Line, e.Position.Column, e.Message)
		}
		return nil, fmt.Errorf("%s: SyntaxError: %v", name, err)
	}
	prog, err := goja.CompileAST(ast, false)
	if err != nil {
		var se *goja.CompilerSyntaxError
		if errors.As(err, &se) && se.File != nil {
			p := se.File.Position(se.Offset)
			return nil, fmt.Errorf("%s:%d:%d: SyntaxError: %s", name, p.Line, p.Column, se.Message)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	sb := newSandbox(nil, timeout, nil)
	if _, err := sb.load(prog, name); err != nil {
		return nil, err
	}
	return prog, nil
}

func (s *scriptStep) check(c *checker, _ *Step, in *Schema) *Schema {
	if s.key != nil {
		c.compile(s.key, in, TypeAny, nil)
	}
	// What a script returns has no declared schema.
	return nil
}

// scriptIn is a record on its way to a script's subtask, with its key.
type scriptIn[K comparable] struct {
	rec Record
	key K
}

// MarshalJSON writes the record, as a dead letter shows it.
func (in scriptIn[K]) MarshalJSON() ([]byte, error) { return json.Marshal(in.rec) }

func (s *scriptStep) build(b *builder, st *Step, in weir.Stream[Record]) weir.Stream[Record] {
	versions := &scriptVersions{step: s, list: []*scriptVersion{s.first}, data: s.firstData, log: b.logger()}
	if s.key == nil {
		// A script without a key has no state, but runs in a keyed
		// operator all the same (the one kind with a checkpoint hook,
		// where a new version is applied): records are dealt round robin.
		var seq atomic.Int64
		dealt := weir.Map(in, func(r Record) scriptIn[int64] {
			return scriptIn[int64]{rec: r, key: seq.Add(1)}
		}).Name(st.Name + " (deal)").ID(opID(st, "deal"))
		ks := weir.KeyBy(dealt, func(r scriptIn[int64]) int64 { return r.key })
		return policy(st, weir.Process(ks, &scriptFn[int64]{step: s, versions: versions, stepName: st.Name}).Name(st.Name).ID(opID(st, "")))
	}
	keyed := policy(st, weir.TryMap(in, func(r Record) (scriptIn[string], error) {
		v, err := s.key.eval(r)
		if err != nil {
			return scriptIn[string]{}, err
		}
		k, err := scriptKey(v)
		if err != nil {
			return scriptIn[string]{}, fmt.Errorf("%s: %s: %w", s.key.what, s.key.Source, err)
		}
		return scriptIn[string]{rec: r, key: k}, nil
	}).Name(st.Name+" (key)").ID(opID(st, "key")))
	ks := weir.KeyBy(keyed, func(r scriptIn[string]) string { return r.key })
	return policy(st, weir.Process(ks, &scriptFn[string]{step: s, versions: versions, stepName: st.Name, keyed: true}).Name(st.Name).ID(opID(st, "")))
}

// scriptKey is the text of a script step's key: a string as it is, a number or a bool
// as JSON writes it.
func scriptKey(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", errors.New("the key is null")
	case string:
		return x, nil
	case int64, int, float64, bool:
		return fmt.Sprint(x), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	}
	return "", fmt.Errorf("a key is a string, a number or a bool, not %s", describeValue(v))
}

// scriptVersions are the versions of one script step, shared by its
// subtasks. The first subtask to reach a checkpoint barrier reads the
// script file again; a new version that compiles is applied from that
// barrier on by every subtask, since every subtask sees the same
// barriers in the same order.
type scriptVersions struct {
	step *scriptStep
	log  *slog.Logger

	mu      sync.Mutex
	list    []*scriptVersion
	maxSeen int64
	data    []byte // the file's contents when last read
}

// latest is the newest version, which a subtask opens with.
func (vs *scriptVersions) latest() *scriptVersion {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.list[len(vs.list)-1]
}

// atBarrier returns the version for the records after checkpoint id's
// barrier.
func (vs *scriptVersions) atBarrier(id int64) *scriptVersion {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if id > vs.maxSeen {
		vs.maxSeen = id
		if vs.step.reload && vs.step.path != "" {
			vs.pollLocked(id)
		}
	}
	v := vs.list[0]
	for _, w := range vs.list {
		if w.after < id {
			v = w
		}
	}
	return v
}

// pollLocked reads the script file again; a changed file that compiles
// becomes a version applied at barrier id, one that does not is logged
// and the running version kept.
func (vs *scriptVersions) pollLocked(id int64) {
	s := vs.step
	data, err := readScript(s.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) || vs.data != nil {
			vs.log.Error("script file unreadable; keeping the version running", "step", s.what, "file", s.name, "error", err.Error())
			vs.data = nil
		}
		return
	}
	if bytes.Equal(data, vs.data) {
		return
	}
	vs.data = data
	prog, err := compileScript(s.name, data, s.timeout)
	if err != nil {
		vs.log.Error("script file changed but does not compile; keeping the version running", "step", s.what, "error", err.Error())
		return
	}
	v := &scriptVersion{n: vs.list[len(vs.list)-1].n + 1, prog: prog, after: id - 1}
	vs.list = append(vs.list, v)
	attrs := []any{"step", s.what, "file", s.name, "version", v.n, "checkpoint", id}
	if fi, err := os.Stat(s.path); err == nil {
		// How long the change waited for a barrier: at most a checkpoint
		// interval, and the time the barrier took to get here.
		attrs = append(attrs, "since_change", time.Since(fi.ModTime()).Round(time.Millisecond).String())
	}
	vs.log.Info("script file changed; new version applied at the checkpoint barrier", attrs...)
}

// scriptFn is the keyed function of a script step; each subtask has its
// own copy, with its own JavaScript runtime (a goja runtime must not be
// shared by goroutines).
type scriptFn[K comparable] struct {
	step     *scriptStep
	versions *scriptVersions
	stepName string
	keyed    bool

	state   weir.MapState[K, string, string]
	cur     weir.KeyedContext[K]
	subtask int
	sb      *sandbox
	st      *scriptState[K] // nil without a key
	version *scriptVersion
	proc    goja.Callable
}

var (
	_ weir.KeyedProcessFunction[string, scriptIn[string], Record] = (*scriptFn[string])(nil)
	_ weir.KeyedOpener[string]                                    = (*scriptFn[string])(nil)
	_ weir.BarrierHandler                                         = (*scriptFn[string])(nil)
	_ weir.Closer                                                 = (*scriptFn[string])(nil)
)

func (f *scriptFn[K]) Open(c weir.KeyedOpenContext[K]) error {
	if f.keyed {
		f.state = weir.MapOf[string, string](c, "script")
	}
	f.subtask = c.Subtask()
	return f.load(f.versions.latest())
}

// load starts a new runtime with version v.
func (f *scriptFn[K]) load(v *scriptVersion) error {
	if f.sb != nil {
		f.sb.close()
	}
	var st stateStore
	if f.keyed {
		f.st = &scriptState[K]{f: f}
		st = f.st
	}
	f.sb = newSandbox(f.versions.log.With("step", f.stepName, "subtask", f.subtask), f.step.timeout, st)
	proc, err := f.sb.load(v.prog, f.step.name)
	if err != nil {
		return weir.Permanent(fmt.Errorf("%s: %w", f.step.what, err))
	}
	f.proc, f.version = proc, v
	return nil
}

func (f *scriptFn[K]) OnBarrier(id int64) error {
	v := f.versions.atBarrier(id)
	if v.n <= f.version.n {
		return nil
	}
	return f.load(v)
}

func (f *scriptFn[K]) Close() error {
	if f.sb != nil {
		f.sb.close()
	}
	return nil
}

func (f *scriptFn[K]) Process(c weir.KeyedContext[K], in scriptIn[K], out weir.Out[Record]) error {
	f.cur = c
	defer func() { f.cur = nil }()
	sb := f.sb
	res, err := sb.call(f.proc, sb.rt.NewDynamicObject(&recordObject{sb: sb, rec: in.rec}))
	if err != nil {
		if f.st != nil {
			f.st.discard()
		}
		return fmt.Errorf("%s: %w", f.step.what, err)
	}
	if f.st != nil {
		// A record whose result is refused below keeps the state the
		// call made, as a record that the script dropped would.
		if err := f.st.commit(); err != nil {
			return err
		}
	}
	return f.emit(res, out)
}

// emit turns what process returned into records.
func (f *scriptFn[K]) emit(res goja.Value, out weir.Out[Record]) error {
	if res == nil || goja.IsUndefined(res) || goja.IsNull(res) {
		return nil
	}
	budget := f.step.maxBytes
	obj, ok := res.(*goja.Object)
	if !ok {
		return fmt.Errorf("%s: process returned %s; want an object, an array of objects, or null or undefined to drop the record", f.step.what, jsKind(res))
	}
	exp := obj.Export()
	if obj.ClassName() != "Array" {
		rec, err := recordOf(exp, &budget)
		if err != nil {
			return fmt.Errorf("%s: process returned %w", f.step.what, err)
		}
		out.Emit(rec)
		return nil
	}
	elems, _ := exp.([]any)
	if len(elems) > f.step.maxOut {
		return fmt.Errorf("%s: process returned %d records; at most %d (max_output)", f.step.what, len(elems), f.step.maxOut)
	}
	for i, e := range elems {
		if ro, ok := e.(*recordObject); ok {
			e = ro.record()
			elems[i] = e
		}
		if _, ok := e.(map[string]any); !ok {
			return fmt.Errorf("%s: process returned an array whose element %d is %s; want objects only", f.step.what, i, goKind(e))
		}
		if _, err := recordOf(e, &budget); err != nil {
			return fmt.Errorf("%s: process returned an array whose element %d is %w", f.step.what, i, err)
		}
	}
	for _, e := range elems {
		out.Emit(Record(e.(map[string]any)))
	}
	return nil
}

// jsKind names a JavaScript value's kind for an error, with a short value.
func jsKind(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	if o, ok := v.(*goja.Object); ok {
		switch o.ClassName() {
		case "Array":
			return "an array"
		case "Function":
			return "a function"
		}
		return "an object of class " + o.ClassName()
	}
	return describeValue(v.Export())
}

// recordOf checks an exported object and turns it into a Record, in
// place: nested objects become Records too.
func recordOf(v any, budget *int) (Record, error) {
	if ro, ok := v.(*recordObject); ok {
		v = ro.record()
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s; want an object (a record)", goKind(v))
	}
	if err := checkValue(m, "", 0, budget); err != nil {
		return nil, err
	}
	return Record(m), nil
}

func goKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case func(goja.FunctionCall) goja.Value:
		return "a function"
	}
	return describeValue(v)
}

// checkValue walks a value a script returned: it converts nested objects
// to Records, refuses what a record cannot hold (functions, NaN, symbols,
// maps of other types), nesting deeper than maxScriptDepth (a cycle) and
// more than budget bytes.
func checkValue(v any, path string, depth int, budget *int) error {
	if depth > maxScriptDepth {
		return fmt.Errorf("an object nested more than %d deep at %s (does it hold itself?)", maxScriptDepth, path)
	}
	*budget -= 8
	switch x := v.(type) {
	case nil, bool, int64, time.Time:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("an object whose field %s is %v, which JSON cannot hold", strings.TrimPrefix(path, "."), x)
		}
	case string:
		*budget -= len(x)
	case Record:
		// A field of the input record, passed on as it is.
		for k, e := range x {
			*budget -= len(k)
			if err := checkValue(e, path+"."+k, depth+1, budget); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			*budget -= len(k)
			if ro, ok := e.(*recordObject); ok {
				e = ro.record()
				x[k] = e
			}
			if err := checkValue(e, path+"."+k, depth+1, budget); err != nil {
				return err
			}
			if m, ok := e.(map[string]any); ok {
				x[k] = Record(m)
			}
		}
	case []any:
		for i, e := range x {
			if ro, ok := e.(*recordObject); ok {
				e = ro.record()
				x[i] = e
			}
			if err := checkValue(e, fmt.Sprintf("%s[%d]", path, i), depth+1, budget); err != nil {
				return err
			}
			if m, ok := e.(map[string]any); ok {
				x[i] = Record(m)
			}
		}
	default:
		if path == "" {
			return fmt.Errorf("%s", goKind(v))
		}
		return fmt.Errorf("an object whose field %s is %s, which a record cannot hold", strings.TrimPrefix(path, "."), goKind(v))
	}
	if *budget < 0 {
		return fmt.Errorf("more than the output limit (max_output_bytes) at %s", strings.TrimPrefix(path, "."))
	}
	return nil
}
