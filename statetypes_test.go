package weir_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/codec"
)

// chain is a state type with an unexported field: codec.For leaves it
// out, so a restored chain would start its block count again at zero.
type chain struct {
	Hash   string
	blocks int
}

type chainFn struct {
	st weir.ValueState[string, chain]
}

func (f *chainFn) Open(oc weir.KeyedOpenContext[string]) error {
	f.st = weir.Value[chain](oc, "chain")
	return nil
}

func (f *chainFn) Process(ctx weir.KeyedContext[string], v string, out weir.Out[string]) error {
	c, _, err := f.st.Get(ctx)
	if err != nil {
		return err
	}
	c.blocks++
	out.Emit(fmt.Sprintf("%s#%d", v, c.blocks))
	return f.st.Set(ctx, c)
}

func words(env *weir.Env) weir.KeyedStream[string, string] {
	s := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 1, Count: 10}, func(seq int64) string { return fmt.Sprint("k", seq%2) }))
	return weir.KeyBy(s, func(s string) string { return s })
}

// A state type with an unexported field is refused when the job is
// validated, naming the function's field, the type and the field that
// would be lost; before, the field silently restored as zero.
func TestStateTypeWithUnexportedFieldFailsValidate(t *testing.T) {
	env := weir.New()
	weir.Collect(weir.Process(words(env), &chainFn{}))
	err := env.Validate()
	if err == nil {
		t.Fatal("Validate accepted a state type with an unexported field")
	}
	for _, want := range []string{`operator "process"`, "weir_test.chainFn.st", "weir_test.chain", "field blocks", "unexported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// chainCodec keeps both fields of a chain.
type chainCodec struct{}

func (chainCodec) Append(dst []byte, v chain) []byte {
	dst = codec.String().Append(dst, v.Hash)
	return codec.Int().Append(dst, v.blocks)
}

func (chainCodec) Decode(src []byte) (chain, int, error) {
	h, n, err := codec.String().Decode(src)
	if err != nil {
		return chain{}, 0, err
	}
	b, m, err := codec.Int().Decode(src[n:])
	return chain{Hash: h, blocks: b}, n + m, err
}

type chainWithCodec struct {
	st weir.ValueState[string, chain] `weir:"statecodec"`
}

func (f *chainWithCodec) Open(oc weir.KeyedOpenContext[string]) error {
	f.st = weir.Value[chain](oc, "chain", weir.StateCodec[chain](chainCodec{}))
	return nil
}

func (f *chainWithCodec) Process(weir.KeyedContext[string], string, weir.Out[string]) error {
	return nil
}

// A handle field tagged `weir:"statecodec"` leaves its type to the
// StateCodec it is declared with.
func TestStateCodecTagSkipsTheTypeCheck(t *testing.T) {
	env := weir.New()
	weir.Collect(weir.Process(words(env), &chainWithCodec{}))
	if err := env.Validate(); err != nil {
		t.Fatal(err)
	}
	run(t, env)
}

// chainInSlice declares its handle where validation cannot see it: Open
// refuses the type, and the job fails before any record.
type chainInSlice struct {
	hs []weir.ValueState[string, chain]
}

func (f *chainInSlice) Open(oc weir.KeyedOpenContext[string]) error {
	f.hs = []weir.ValueState[string, chain]{weir.Value[chain](oc, "chain")}
	return nil
}

func (f *chainInSlice) Process(weir.KeyedContext[string], string, weir.Out[string]) error {
	return nil
}

func TestStateTypeWithUnexportedFieldFailsOpen(t *testing.T) {
	env := weir.New()
	weir.Collect(weir.Process(words(env), &chainInSlice{}))
	err := env.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "field blocks") || !strings.Contains(err.Error(), `state "chain"`) {
		t.Fatalf("Run: %v, want an error naming the state and field blocks", err)
	}
}

// Window accumulators and the broadcast state are checked where they are
// built.
func TestWindowAndBroadcastStateTypesChecked(t *testing.T) {
	env := weir.New()
	weir.Collect(weir.CountWindow(words(env), 2, 2, chainAgg{}))
	rules := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 1, Count: 1}, func(int64) string { return "r" }))
	weir.Collect(weir.ProcessBroadcast(words(env), weir.Broadcast(rules), chainRules{}))
	err := env.Validate()
	if err == nil {
		t.Fatal("Validate accepted an accumulator and a broadcast state with unexported fields")
	}
	for _, want := range []string{"count window accumulator", "broadcast state", "field blocks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

type chainAgg struct{}

func (chainAgg) CreateAccumulator() chain    { return chain{} }
func (chainAgg) Add(v string, c chain) chain { c.blocks++; return c }
func (chainAgg) Result(c chain) int          { return c.blocks }
func (chainAgg) Merge(a, b chain) chain      { a.blocks += b.blocks; return a }

type chainRules struct{}

func (chainRules) ProcessElement(weir.KeyedContext[string], string, *weir.BroadcastState[chain], weir.Out[string]) error {
	return nil
}

func (chainRules) ProcessBroadcast(weir.Context, string, *weir.BroadcastState[chain], weir.Out[string]) error {
	return nil
}

// byValue has pointer-receiver Open, OnTimer and Close but is passed by
// value: none of them would ever be called.
type byValue struct {
	n weir.ValueState[string, int]
}

func (f *byValue) Open(oc weir.KeyedOpenContext[string]) error {
	f.n = weir.Value[int](oc, "n")
	return nil
}

func (f *byValue) OnTimer(weir.TimerContext[string], weir.Out[string]) error { return nil }
func (f *byValue) Close() error                                              { return nil }

func (f byValue) Process(ctx weir.KeyedContext[string], v string, out weir.Out[string]) error {
	return f.n.Set(ctx, 1)
}
func (f byValue) Process1(ctx weir.KeyedContext[string], v string, out weir.Out[string]) error {
	return f.n.Set(ctx, 1)
}
func (f byValue) Process2(ctx weir.KeyedContext[string], v string, out weir.Out[string]) error {
	return f.n.Set(ctx, 1)
}
func (f byValue) ProcessElement(ctx weir.KeyedContext[string], v string, _ *weir.BroadcastState[int], out weir.Out[string]) error {
	return f.n.Set(ctx, 1)
}
func (f byValue) ProcessBroadcast(weir.Context, string, *weir.BroadcastState[int], weir.Out[string]) error {
	return nil
}

func TestPointerReceiverOpenPassedByValue(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(env *weir.Env)
	}{
		{"process", func(env *weir.Env) { weir.Collect(weir.Process(words(env), byValue{})) }},
		{"coprocess", func(env *weir.Env) {
			weir.Collect(weir.CoProcess(weir.Connect(words(env), words(env)), weir.KeyedCoProcessFunction[string, string, string, string](byValue{})))
		}},
		{"broadcast-process", func(env *weir.Env) {
			rules := weir.From(env, weir.Generator(weir.GeneratorSpec{Splits: 1, Count: 1}, func(int64) string { return "r" }))
			weir.Collect(weir.ProcessBroadcast(words(env), weir.Broadcast(rules), weir.KeyedBroadcastProcessFunction[string, string, string, int, string](byValue{})))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := weir.New()
			tc.build(env)
			err := env.Validate()
			if err == nil {
				t.Fatal("Validate accepted a function whose Open would never run")
			}
			for _, want := range []string{
				fmt.Sprintf("operator %q", tc.name),
				"*weir_test.byValue implements KeyedOpener but weir_test.byValue was passed",
				"*weir_test.byValue implements KeyedTimerHandler but",
				"*weir_test.byValue implements Closer but",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// forgetful declares one of its two handles.
type forgetful struct {
	declared weir.ValueState[string, int]
	missing  weir.ListState[string, int]
}

func (f *forgetful) Open(oc weir.KeyedOpenContext[string]) error {
	f.declared = weir.Value[int](oc, "declared")
	return nil
}

func (f *forgetful) Process(ctx weir.KeyedContext[string], v string, out weir.Out[string]) error {
	return f.missing.Add(ctx, 1)
}

// A handle Open never declared returns an error naming its type instead
// of panicking deep in the state backend.
func TestUndeclaredStateHandleReturnsError(t *testing.T) {
	env := weir.New()
	weir.Collect(weir.Process(words(env), &forgetful{}))
	err := env.Run(context.Background())
	if !errors.Is(err, weir.ErrUndeclaredState) {
		t.Fatalf("Run: %v, want ErrUndeclaredState", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "weir.ListState[string,int]") || strings.Contains(msg, "panic") {
		t.Fatalf("Run: %v, want the handle's type and no panic", err)
	}
}

func TestZeroHandlesReturnErrors(t *testing.T) {
	var (
		v weir.ValueState[string, int]
		l weir.ListState[string, int]
		m weir.MapState[string, string, int]
	)
	calls := map[string]func() error{
		"Value.Get":   func() error { _, _, err := v.Get(nil); return err },
		"Value.Set":   func() error { return v.Set(nil, 1) },
		"Value.Clear": func() error { return v.Clear(nil) },
		"List.Get":    func() error { _, err := l.Get(nil); return err },
		"List.Add":    func() error { return l.Add(nil, 1) },
		"List.Update": func() error { return l.Update(nil, nil) },
		"List.Clear":  func() error { return l.Clear(nil) },
		"Map.Get":     func() error { _, _, err := m.Get(nil, "a"); return err },
		"Map.Put":     func() error { return m.Put(nil, "a", 1) },
		"Map.Delete":  func() error { return m.Delete(nil, "a") },
		"Map.Clear":   func() error { return m.Clear(nil) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, weir.ErrUndeclaredState) {
			t.Errorf("%s on a zero handle: %v, want ErrUndeclaredState", name, err)
		}
	}
	for range m.All(nil) {
		t.Error("All on a zero handle yielded an entry")
	}
}

// misfit has methods named like the capabilities whose signatures do not
// fit them: they compile and would never be called.
type misfit struct{}

func (misfit) Process(weir.KeyedContext[string], string, weir.Out[string]) error { return nil }
func (*misfit) Open(weir.OpenContext) error                                      { return nil }
func (misfit) OnTimer(weir.TimerContext[string]) error                           { return nil }
func (misfit) Close()                                                            {}

// A method named Open, OnTimer or Close whose signature is not the
// capability's is an error of Validate, naming both signatures.
func TestMisfitCapabilityMethods(t *testing.T) {
	for _, fn := range []weir.KeyedProcessFunction[string, string, string]{misfit{}, &misfit{}} {
		env := weir.New()
		weir.Collect(weir.Process(words(env), fn))
		err := env.Validate()
		if err == nil {
			t.Fatalf("%T: Validate accepted methods Weir would never call", fn)
		}
		for _, want := range []string{
			"has a method Open(weir.OpenContext) error, which is not KeyedOpener's Open(weir.KeyedOpenContext[string]) error, so Weir would never call it",
			"has a method OnTimer(weir.TimerContext[string]) error, which is not KeyedTimerHandler's OnTimer(weir.TimerContext[string], weir.Out[string]) error",
			"has a method Close(), which is not Closer's Close() error",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%T: error %q does not mention %q", fn, err, want)
			}
		}
	}
}
