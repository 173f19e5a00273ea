package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// stateStore is a script's keyed state: JSON text by name, for the
// current key.
type stateStore interface {
	get(name string) (string, bool, error)
	put(name, value string) error
	del(name string) error
}

// scriptState is the keyed state of a script's subtask: a map state of
// the current key, from name to JSON text. Writes are held until the
// call returns and applied only when it succeeds, so a call that throws
// or runs out of time changes no state.
type scriptState[K comparable] struct {
	f       *scriptFn[K]
	pending []stateWrite
}

type stateWrite struct {
	name, value string
	del         bool
}

var errNoRecord = errors.New("state is only available while process runs, for the key of its record")

func (s *scriptState[K]) get(name string) (string, bool, error) {
	if s.f.cur == nil {
		return "", false, errNoRecord
	}
	for i := len(s.pending) - 1; i >= 0; i-- {
		if w := s.pending[i]; w.name == name {
			return w.value, !w.del, nil
		}
	}
	return s.f.state.Get(s.f.cur, name)
}

func (s *scriptState[K]) put(name, value string) error {
	if s.f.cur == nil {
		return errNoRecord
	}
	s.pending = append(s.pending, stateWrite{name: name, value: value})
	return nil
}

func (s *scriptState[K]) del(name string) error {
	if s.f.cur == nil {
		return errNoRecord
	}
	s.pending = append(s.pending, stateWrite{name: name, del: true})
	return nil
}

// commit applies the writes of a call that succeeded; discard drops
// those of one that failed.
func (s *scriptState[K]) commit() error {
	defer s.discard()
	for _, w := range s.pending {
		var err error
		if w.del {
			err = s.f.state.Delete(s.f.cur, w.name)
		} else {
			err = s.f.state.Put(s.f.cur, w.name, w.value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *scriptState[K]) discard() { s.pending = s.pending[:0] }

// errTimeout is what a runtime is interrupted with when a call runs out
// of time.
var errTimeout = errors.New("time limit")

// prelude replaces the built-ins that make a large string or array in one
// step, which the time limit cannot interrupt, with versions that refuse
// results over maxScriptString characters or elements.
var prelude = goja.MustCompile("prelude", fmt.Sprintf(`(function () {
	var limit = %d;
	function guard(proto, name, size) {
		var orig = proto[name];
		Object.defineProperty(proto, name, {
			value: function () {
				if (size(this, arguments) > limit) {
					throw new RangeError(name + ": the result would exceed " + limit + " characters or elements");
				}
				return orig.apply(this, arguments);
			},
			writable: true, configurable: true, enumerable: false
		});
	}
	guard(String.prototype, "repeat", function (s, a) { return String(s).length * Number(a[0]); });
	guard(String.prototype, "padStart", function (s, a) { return Number(a[0]); });
	guard(String.prototype, "padEnd", function (s, a) { return Number(a[0]); });
	guard(Array.prototype, "fill", function (s, a) { return s.length; });
	guard(Array.prototype, "join", function (s, a) { return s.length; });
})();`, maxScriptString), true)

// sandbox is one goja runtime with what a script may use: the ECMAScript
// built-ins, console.log and, in a keyed step, state. Only the task that
// owns it calls it.
type sandbox struct {
	rt      *goja.Runtime
	timeout time.Duration
	timer   *time.Timer
	log     *slog.Logger
	state   stateStore

	mu      sync.Mutex // between a call and the timer that interrupts it
	running bool

	jsonParse, jsonStringify goja.Callable
	date                     goja.Value
	keys                     []string

	// console.log's rate limit, on the clock now
	now     func() time.Time
	window  time.Time
	logged  int
	dropped int
}

// newSandbox makes a runtime; log nil discards console.log.
func newSandbox(log *slog.Logger, timeout time.Duration, st stateStore) *sandbox {
	rt := goja.New()
	// Deep recursion fails the call instead of growing the Go stack
	// without bound.
	rt.SetMaxCallStackSize(10_000)
	sb := &sandbox{rt: rt, timeout: timeout, log: log, state: st, now: time.Now}
	if _, err := rt.RunProgram(prelude); err != nil {
		panic(err) // the prelude is Weir's, and tested
	}
	j := rt.Get("JSON").ToObject(rt)
	sb.jsonParse, _ = goja.AssertFunction(j.Get("parse"))
	sb.jsonStringify, _ = goja.AssertFunction(j.Get("stringify"))
	sb.date = rt.Get("Date")
	console := rt.NewObject()
	_ = console.Set("log", sb.consoleLog)
	_ = rt.Set("console", console)
	if st != nil {
		so := rt.NewObject()
		_ = so.Set("get", sb.stateGet)
		_ = so.Set("put", sb.statePut)
		_ = so.Set("delete", sb.stateDelete)
		_ = rt.Set("state", so)
	}
	sb.timer = time.AfterFunc(time.Hour, sb.expire)
	sb.timer.Stop()
	return sb
}

func (sb *sandbox) close() { sb.timer.Stop() }

// expire interrupts the call running when the time limit passes.
func (sb *sandbox) expire() {
	sb.mu.Lock()
	if sb.running {
		sb.rt.Interrupt(errTimeout)
	}
	sb.mu.Unlock()
}

// guarded runs fn under the time limit.
func (sb *sandbox) guarded(fn func() (goja.Value, error)) (goja.Value, error) {
	sb.mu.Lock()
	sb.running = true
	sb.mu.Unlock()
	sb.timer.Reset(sb.timeout)
	v, err := fn()
	sb.timer.Stop()
	sb.mu.Lock()
	sb.running = false
	sb.mu.Unlock()
	// An interrupt that came after the call returned is cleared here,
	// under no lock: the timer can no longer set one.
	sb.rt.ClearInterrupt()
	return v, err
}

// load runs a program's top level and returns its process function.
func (sb *sandbox) load(p *goja.Program, name string) (goja.Callable, error) {
	if _, err := sb.guarded(func() (goja.Value, error) { return sb.rt.RunProgram(p) }); err != nil {
		return nil, sb.jsError("the script's top level", err)
	}
	pv := sb.rt.Get("process")
	proc, ok := goja.AssertFunction(pv)
	if !ok {
		what := "does not define process"
		if pv != nil && !goja.IsUndefined(pv) {
			what = "defines process as " + jsKind(pv)
		}
		return nil, fmt.Errorf("%s: the script %s; it must define function process(record)", name, what)
	}
	return proc, nil
}

// call runs process on one record.
func (sb *sandbox) call(proc goja.Callable, rec goja.Value) (goja.Value, error) {
	res, err := sb.guarded(func() (goja.Value, error) { return proc(goja.Undefined(), rec) })
	if err != nil {
		return nil, sb.jsError("process", err)
	}
	return res, nil
}

// jsError describes a failed call: the exception's message and where in
// the script it was thrown, or the time limit.
func (sb *sandbox) jsError(what string, err error) error {
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		return fmt.Errorf("%s ran longer than its time limit of %s and was interrupted%s (an endless loop?)", what, sb.timeout, sb.where(ie.Stack(), " at "))
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		msg := ex.Value().String()
		if sb.state == nil && strings.Contains(msg, "state is not defined") {
			msg += " (state is there only in a step with a key: key: EXPR)"
		}
		return fmt.Errorf("%s threw%s: %s", what, sb.where(ex.Stack(), " at "), msg)
	}
	return fmt.Errorf("%s failed: %w", what, err)
}

// where is the position of the innermost frame in a script: " at
// file:line:col".
func (sb *sandbox) where(stack []goja.StackFrame, prefix string) string {
	for _, f := range stack {
		if f.SrcName() == "" || f.SrcName() == "prelude" {
			continue
		}
		p := f.Position()
		if p.Line == 0 {
			continue
		}
		return fmt.Sprintf("%s%s:%d:%d", prefix, f.SrcName(), p.Line, p.Column)
	}
	return ""
}

// toJS makes a JavaScript value of a record's value: objects, arrays and
// Dates of their own, so that a script may change them freely. Object
// keys are in sorted order, so a script sees the same record alike in
// every run.
func (sb *sandbox) toJS(v any, depth int) goja.Value {
	switch x := v.(type) {
	case nil:
		return goja.Null()
	case string:
		return sb.rt.ToValue(x)
	case int64:
		return sb.rt.ToValue(x)
	case float64:
		return sb.rt.ToValue(x)
	case bool:
		return sb.rt.ToValue(x)
	case time.Time:
		o, err := sb.rt.New(sb.date, sb.rt.ToValue(x.UnixMilli()))
		if err != nil {
			return goja.Null()
		}
		return o
	case Record:
		return sb.object(x, depth)
	case map[string]any:
		return sb.object(x, depth)
	case []any:
		items := make([]any, len(x))
		for i, e := range x {
			items[i] = sb.toJS(e, depth+1)
		}
		return sb.rt.NewArray(items...)
	}
	return sb.rt.ToValue(v)
}

func (sb *sandbox) object(m map[string]any, depth int) goja.Value {
	o := sb.rt.NewObject()
	// The sorted keys of the top level are kept in sb.keys; nested
	// objects sort a slice of their own.
	var keys []string
	if depth == 0 {
		keys = sb.keys[:0]
	}
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		_ = o.Set(k, sb.toJS(m[k], depth+1))
	}
	if depth == 0 {
		sb.keys = keys
	}
	return o
}

func (sb *sandbox) throw(err error) {
	panic(sb.rt.NewGoError(err))
}

func (sb *sandbox) stateGet(call goja.FunctionCall) goja.Value {
	s, ok, err := sb.state.get(call.Argument(0).String())
	if err != nil {
		sb.throw(err)
	}
	if !ok {
		return goja.Undefined()
	}
	v, err := sb.jsonParse(goja.Undefined(), sb.rt.ToValue(s))
	if err != nil {
		sb.throw(fmt.Errorf("state %q: %w", call.Argument(0).String(), err))
	}
	return v
}

func (sb *sandbox) statePut(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	v := call.Argument(1)
	if goja.IsUndefined(v) {
		if err := sb.state.del(name); err != nil {
			sb.throw(err)
		}
		return goja.Undefined()
	}
	js, err := sb.jsonStringify(goja.Undefined(), v)
	if err != nil {
		panic(err)
	}
	if goja.IsUndefined(js) {
		sb.throw(fmt.Errorf("state.put(%q, …): %s has no JSON form", name, jsKind(v)))
	}
	s := js.String()
	if len(s) > MaxScriptStateBytes {
		sb.throw(fmt.Errorf("state.put(%q, …): the value is %d bytes of JSON; at most %d", name, len(s), MaxScriptStateBytes))
	}
	if err := sb.state.put(name, s); err != nil {
		sb.throw(err)
	}
	return goja.Undefined()
}

func (sb *sandbox) stateDelete(call goja.FunctionCall) goja.Value {
	if err := sb.state.del(call.Argument(0).String()); err != nil {
		sb.throw(err)
	}
	return goja.Undefined()
}

// consoleLog logs its arguments at debug level, at most consoleRate lines
// a second per subtask, each at most 1 KiB.
func (sb *sandbox) consoleLog(call goja.FunctionCall) goja.Value {
	if sb.log == nil || !sb.log.Enabled(context.Background(), slog.LevelDebug) {
		return goja.Undefined()
	}
	now := sb.now()
	if now.Sub(sb.window) >= time.Second {
		sb.window, sb.logged = now, 0
	}
	if sb.logged >= consoleRate {
		sb.dropped++
		return goja.Undefined()
	}
	sb.logged++
	parts := make([]string, len(call.Arguments))
	for i, a := range call.Arguments {
		if o, ok := a.(*goja.Object); ok && o.ClassName() != "Function" {
			if js, err := sb.jsonStringify(goja.Undefined(), a); err == nil && !goja.IsUndefined(js) {
				parts[i] = js.String()
				continue
			}
		}
		parts[i] = a.String()
	}
	line := strings.Join(parts, " ")
	if len(line) > 1024 {
		line = line[:1024] + "…"
	}
	attrs := []any{"line", line}
	if sb.dropped > 0 {
		attrs = append(attrs, "dropped", sb.dropped)
		sb.dropped = 0
	}
	sb.log.Debug("console.log", attrs...)
	return goja.Undefined()
}
