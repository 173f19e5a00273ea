package weir

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// BroadcastStream is a stream whose every record reaches every parallel
// subtask of the operator it feeds — rules or configuration for a keyed
// stream.
type BroadcastStream[B any] struct{ s Stream[B] }

// Broadcast makes s a broadcast stream for ProcessBroadcast.
func Broadcast[B any](s Stream[B]) BroadcastStream[B] { return BroadcastStream[B]{s: s} }

// BroadcastState is operator state that every parallel subtask holds
// identically, because it is written only from broadcast records: a map
// from a name to a value. It is checkpointed, and after a restore at any
// parallelism every subtask has it.
type BroadcastState[B any] struct {
	m map[string]B
}

// Get returns the value under name.
func (s *BroadcastState[B]) Get(name string) (B, bool) {
	v, ok := s.m[name]
	return v, ok
}

// Put sets the value under name. Only ProcessBroadcast may call it.
func (s *BroadcastState[B]) Put(name string, v B) { s.m[name] = v }

// Delete removes name. Only ProcessBroadcast may call it.
func (s *BroadcastState[B]) Delete(name string) { delete(s.m, name) }

// All yields the entries in name order.
func (s *BroadcastState[B]) All() iter.Seq2[string, B] {
	return func(yield func(string, B) bool) {
		for _, k := range slices.Sorted(maps.Keys(s.m)) {
			if !yield(k, s.m[k]) {
				return
			}
		}
	}
}

// Len returns the number of entries.
func (s *BroadcastState[B]) Len() int { return len(s.m) }

// KeyedBroadcastProcessFunction processes a keyed stream with the help of a
// broadcast one: ProcessElement sees each keyed record with its keyed state
// and timers and may read the broadcast state; ProcessBroadcast sees each
// broadcast record on every subtask and updates the broadcast state — the
// same way on every subtask, so that they stay identical. Optional
// capabilities are those of KeyedProcessFunction.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.KeyedBroadcastProcessFunction[string, Event, Rule, Rule, Alert] = (*ruleEngine)(nil)
type KeyedBroadcastProcessFunction[K comparable, T, B, S, R any] interface {
	ProcessElement(c KeyedContext[K], v T, bs *BroadcastState[S], out Out[R]) error
	ProcessBroadcast(c Context, b B, bs *BroadcastState[S], out Out[R]) error
}

// ProcessBroadcast runs fn on a keyed stream and a broadcast one, with a
// broadcast state of values S. The order in which records of the two meet
// is not defined, as with any two inputs. S must be a type codec.For
// encodes whole, as keyed state's values (see Value); it evolves as they
// do. fn is passed by pointer when its optional methods have pointer
// receivers, as with Process.
//
// Its watermark is the lesser of the two inputs', as with CoProcess: a
// broadcast input that sends no watermark (a source without EventTime,
// such as a FromChannel of rules) holds the function's watermark, its
// event-time timers and Context.Watermark at the zero time until that
// input ends. Lateness (a record's time at or before Context.Watermark)
// is thus better told in a keyed step before ProcessBroadcast, whose only
// input is the keyed stream.
//
// F, fn's own type, is a type parameter rather than fn a
// KeyedBroadcastProcessFunction so that a compile error names the method
// fn lacks or gets wrong (docs/errors.md).
func ProcessBroadcast[K comparable, T, B, S, R any, F KeyedBroadcastProcessFunction[K, T, B, S, R]](ks KeyedStream[K, T], bs BroadcastStream[B], fn F) Stream[R] {
	return processBroadcast[K, T, B, S, R](ks, bs, fn)
}

func processBroadcast[K comparable, T, B, S, R any](ks KeyedStream[K, T], bs BroadcastStream[B], fn KeyedBroadcastProcessFunction[K, T, B, S, R]) Stream[R] {
	ek := newEdge[T](ks.s.n, "", hashed, hashRoute(ks.key, ks.keys))
	eb := newEdge[B](bs.s.n, "", broadcast, nil)
	eb.input = 1
	n := ks.s.n.env.addNode("broadcast-process", ek, eb)
	n.keyed = true
	n.fanout = fanoutOf[R]
	sc, err := codec.For[S]()
	if err == nil {
		err = codec.Lossless[S]()
	}
	if err != nil {
		ks.s.n.env.fail(fmt.Errorf("broadcast state: %w", err))
	}
	n.check = func() error { return checkKeyedFunc[K, R](fn) }
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		fn := cloneFunc(fn)
		op := &broadcastOp[K, T, B, S, R]{fn: fn, key: ks.key, codec: sc, state: &BroadcastState[S]{m: map[string]S{}}}
		op.keyedCore = newKeyedCore[K, R](b, ks.keys, fn, op)
		op.ctx.bstate = op.state
		return op, []any{broadcastKeyed[K, T, B, S, R]{op}, broadcastRules[K, T, B, S, R]{op}}, nil
	}
	return Stream[R]{n: n}
}

// BroadcastView reads a broadcast state without changing it.
type BroadcastView[S any] interface {
	Get(name string) (S, bool)
	All() iter.Seq2[string, S]
	Len() int
}

// ReadBroadcastState gives read access to the broadcast state of the
// ProcessBroadcast operator whose timer (or keyed record) c belongs to, as
// Flink gives onTimer a read-only context: an OnTimer of a
// KeyedBroadcastProcessFunction reads its rules with it. It is false for
// any other operator, or when S is not the broadcast state's value type.
// Only ProcessBroadcast may change the state, so that every subtask keeps
// the same.
func ReadBroadcastState[S any](c Context) (BroadcastView[S], bool) {
	h, ok := c.(interface{ broadcastState() any })
	if !ok {
		return nil, false
	}
	bs, ok := h.broadcastState().(*BroadcastState[S])
	if !ok || bs == nil {
		return nil, false
	}
	return bs, true
}

// broadcastEntry is one entry of the broadcast state in a checkpoint.
type broadcastEntry[B any] struct {
	Name  string
	Value B
}

type broadcastOp[K comparable, T, B, S, R any] struct {
	keyedCore[K, R]
	fn    KeyedBroadcastProcessFunction[K, T, B, S, R]
	key   func(T) K
	codec codec.Codec[S]
	state *BroadcastState[S]
	list  state.OperatorList[broadcastEntry[S]]
}

func (o *broadcastOp[K, T, B, S, R]) Open(ctx context.Context) error {
	if err := o.keyedCore.Open(ctx); err != nil {
		return err
	}
	ec := broadcastEntryCodec[S]{o.codec}
	l, err := state.NewOperatorList[broadcastEntry[S]](o.backend, "_broadcast", state.Broadcast, ec)
	if err != nil {
		return err
	}
	o.list = l
	restored, err := l.Get()
	if err != nil {
		return err
	}
	for _, e := range restored {
		o.state.m[e.Name] = e.Value
	}
	return nil
}

// Snapshot implements runtime.Stateful: the broadcast state goes into the
// backend's broadcast list, then the backend is snapshotted with it.
func (o *broadcastOp[K, T, B, S, R]) Snapshot(ctx context.Context, id int64, savepoint bool) (runtime.OperatorState, error) {
	entries := make([]broadcastEntry[S], 0, len(o.state.m))
	for k, v := range o.state.All() {
		entries = append(entries, broadcastEntry[S]{Name: k, Value: v})
	}
	slices.SortFunc(entries, func(a, b broadcastEntry[S]) int { return cmp.Compare(a.Name, b.Name) })
	if err := o.list.Update(entries); err != nil {
		return runtime.OperatorState{}, err
	}
	return o.keyedCore.Snapshot(ctx, id, savepoint)
}

type broadcastKeyed[K comparable, T, B, S, R any] struct{ o *broadcastOp[K, T, B, S, R] }

func (in broadcastKeyed[K, T, B, S, R]) Push(v T) error {
	o := in.o
	k := o.key(v)
	if o.keys.nan(k) {
		return o.nanKey(k, v)
	}
	if err := o.begin(k); err != nil {
		return err
	}
	if err := o.fn.ProcessElement(&o.ctx, v, o.state, &o.out); err != nil {
		return o.failed(err, v)
	}
	return o.end()
}

type broadcastRules[K comparable, T, B, S, R any] struct{ o *broadcastOp[K, T, B, S, R] }

func (in broadcastRules[K, T, B, S, R]) Push(v B) error {
	o := in.o
	o.enter()
	o.c.in++
	o.ctx.ts = o.meta.Ts
	if err := o.fn.ProcessBroadcast(&o.ctx, v, o.state, &o.out); err != nil {
		return o.failed(err, v)
	}
	return o.end()
}

// broadcastEntryCodec encodes a broadcast state entry: the name, then the
// value.
type broadcastEntryCodec[B any] struct{ value codec.Codec[B] }

func (c broadcastEntryCodec[B]) Append(dst []byte, e broadcastEntry[B]) []byte {
	return c.value.Append(codec.String().Append(dst, e.Name), e.Value)
}

func (c broadcastEntryCodec[B]) Decode(src []byte) (broadcastEntry[B], int, error) {
	name, n, err := codec.String().Decode(src)
	if err != nil {
		return broadcastEntry[B]{}, 0, err
	}
	v, m, err := c.value.Decode(src[n:])
	if err != nil {
		return broadcastEntry[B]{}, 0, err
	}
	return broadcastEntry[B]{Name: name, Value: v}, n + m, nil
}
