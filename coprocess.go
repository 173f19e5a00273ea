package weir

import (
	"fmt"
	"reflect"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/runtime"
)

// ConnectedKeyed is two keyed streams with the same key type that one
// function processes together, sharing keyed state and timers: the records
// of both with equal keys reach the same subtask and the same state.
type ConnectedKeyed[K comparable, A, B any] struct {
	a KeyedStream[K, A]
	b KeyedStream[K, B]
}

// Connect joins two keyed streams for CoProcess.
// Both must encode keys alike — the default codec, or one KeyCodec — or
// equal keys would reach different key groups.
func Connect[K comparable, A, B any](a KeyedStream[K, A], b KeyedStream[K, B]) ConnectedKeyed[K, A, B] {
	if !sameCodec(a.keys.custom, b.keys.custom) {
		a.s.n.env.fail(fmt.Errorf("connect %q and %q: the two keyed streams encode keys differently (KeyCodec %T and %T), so equal keys would reach different key groups; set one KeyCodec on both or on neither",
			a.s.n.displayName(), b.s.n.displayName(), a.keys.custom, b.keys.custom))
	}
	return ConnectedKeyed[K, A, B]{a: a, b: b}
}

// sameCodec reports whether two KeyCodecs (nil for the default) are the
// same. Codecs of one type that cannot be compared are taken to be.
func sameCodec[K any](a, b codec.Codec[K]) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	t := reflect.TypeOf(a)
	if t != reflect.TypeOf(b) {
		return false
	}
	return !t.Comparable() || a == b
}

// KeyedCoProcessFunction processes the records of two connected keyed
// streams: Process1 those of the first, Process2 those of the second, with
// one keyed state and one set of timers. Optional capabilities are those of
// KeyedProcessFunction: KeyedOpener, KeyedTimerHandler, Closer.
//
// Assert that your type implements it where the type is declared, so that
// the compiler names the method it lacks or gets wrong, with the type
// arguments spelled out (docs/errors.md):
//
//	var _ weir.KeyedCoProcessFunction[string, Order, Payment, Match] = (*matcher)(nil)
type KeyedCoProcessFunction[K comparable, A, B, R any] interface {
	Process1(c KeyedContext[K], v A, out Out[R]) error
	Process2(c KeyedContext[K], v B, out Out[R]) error
}

// CoProcess runs fn on the records of both connected streams. Its
// watermark is the lesser of the two inputs'. Each parallel subtask gets its
// own shallow copy of fn, as with Process.
//
// F, fn's own type, is a type parameter rather than fn a
// KeyedCoProcessFunction so that a compile error names the method fn lacks
// or gets wrong (docs/errors.md).
func CoProcess[K comparable, A, B, R any, F KeyedCoProcessFunction[K, A, B, R]](cs ConnectedKeyed[K, A, B], fn F) Stream[R] {
	return coProcess[K, A, B, R](cs, fn)
}

func coProcess[K comparable, A, B, R any](cs ConnectedKeyed[K, A, B], fn KeyedCoProcessFunction[K, A, B, R]) Stream[R] {
	ea := newEdge[A](cs.a.s.n, "", hashed, hashRoute(cs.a.key, cs.a.keys))
	eb := newEdge[B](cs.b.s.n, "", hashed, hashRoute(cs.b.key, cs.b.keys))
	eb.input = 1
	n := cs.a.s.n.env.addNode("coprocess", ea, eb)
	n.keyed = true
	n.fanout = fanoutOf[R]
	n.check = func() error { return checkKeyedFunc[K, R](fn) }
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		fn := cloneFunc(fn)
		op := &coProcessOp[K, A, B, R]{fn: fn, keyA: cs.a.key, keyB: cs.b.key}
		op.keyedCore = newKeyedCore[K, R](b, cs.a.keys, fn, op)
		return op, []any{coInput1[K, A, B, R]{op}, coInput2[K, A, B, R]{op}}, nil
	}
	return Stream[R]{n: n}
}

// coProcessOp runs a KeyedCoProcessFunction; its two inputs are the
// pushers coInput1 and coInput2.
type coProcessOp[K comparable, A, B, R any] struct {
	keyedCore[K, R]
	fn   KeyedCoProcessFunction[K, A, B, R]
	keyA func(A) K
	keyB func(B) K
}

type coInput1[K comparable, A, B, R any] struct{ o *coProcessOp[K, A, B, R] }

func (in coInput1[K, A, B, R]) Push(v A) error {
	o := in.o
	k := o.keyA(v)
	if o.keys.nan(k) {
		return o.nanKey(k, v)
	}
	if err := o.begin(k); err != nil {
		return err
	}
	if err := o.fn.Process1(&o.ctx, v, &o.out); err != nil {
		return o.failed(err, v)
	}
	return o.end()
}

type coInput2[K comparable, A, B, R any] struct{ o *coProcessOp[K, A, B, R] }

func (in coInput2[K, A, B, R]) Push(v B) error {
	o := in.o
	k := o.keyB(v)
	if o.keys.nan(k) {
		return o.nanKey(k, v)
	}
	if err := o.begin(k); err != nil {
		return err
	}
	if err := o.fn.Process2(&o.ctx, v, &o.out); err != nil {
		return o.failed(err, v)
	}
	return o.end()
}
