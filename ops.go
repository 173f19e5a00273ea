package weir

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	goruntime "runtime"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/runtime"
	"github.com/weirstream/weir/internal/state"
)

// opBuild is what a node's build function gets for one subtask.
type opBuild struct {
	// job is the job's context, canceled when the job stops or fails.
	job         context.Context
	cfg         config
	task        *runtime.Task
	meta        *runtime.Meta
	idx         int // the operator's position in its chain
	name, id    string
	subtask     int
	parallelism int
	keyGroups   state.KeyGroupRange
	main        any            // runtime.Pusher of the main output
	sides       map[string]any // runtime.Pusher per side-output tag
	// splits are the source splits assigned to this subtask, and hub what
	// hands it those discovered later (nil without discovery).
	splits []assignedSplit
	hub    *splitHub
	// clock links a source to the AssignTime step chained to it that
	// reads event times per split; it is given to both, nil otherwise.
	clock *splitClock
	// restore is the operator subtask's share of the checkpoint the job
	// restores from; nil when it starts empty. restoredID is that
	// checkpoint's ID, 0 without one.
	restore    *opRestore
	restoredID int64
	// checkpoints tells whether the job takes checkpoints.
	checkpoints bool
	// policy is the operator's error policy and dead its dead-letter
	// output (nil without one).
	policy ErrorPolicy
	dead   *deadLetterWriter
	// counters registers the operator subtask's counts with the job.
	counters func(*counters)
	node     int
	// attempt counts the job's restarts before this run (SinkInfo.Attempt).
	attempt int
}

// opBase carries what every operator has: its name, ID and place in the
// chain.
type opBase struct {
	name, id string
	idx      int
	meta     *runtime.Meta
	task     *runtime.Task
	c        *counters
	policy   ErrorPolicy
	dead     *deadLetterWriter
}

func newOpBase(b *opBuild) opBase {
	c := &counters{name: b.name, id: b.id, subtask: b.subtask, node: b.node, task: b.task, idx: b.idx}
	if b.counters != nil {
		b.counters(c)
	}
	return opBase{name: b.name, id: b.id, idx: b.idx, meta: b.meta, task: b.task, c: c, policy: b.policy, dead: b.dead}
}

// fail attributes an error of the operator's own making (not about one
// record) to the operator and the record at hand; it always fails the job.
func (o *opBase) fail(err error) error { return o.task.RecordError(o.idx, err) }

// Publish implements runtime.Publisher.
func (o *opBase) Publish() { o.c.Publish() }

func (o *opBase) Name() string               { return o.name }
func (o *opBase) Open(context.Context) error { return nil }
func (o *opBase) OnWatermark(int64) error    { return nil }
func (o *opBase) EndInput() error            { return nil }
func (o *opBase) Close() error               { return nil }
func (o *opBase) enter()                     { o.meta.Op = o.idx }

// oneInput makes a node fed by s through the exchange s asks for: forward
// (chained when the parallelism allows) unless s was rebalanced.
func oneInput[T any](s Stream[T], kind string) *node {
	return s.n.env.addNode(kind, newEdge[T](s.n, "", s.part, nil))
}

type mapOp[T, R any] struct {
	opBase
	fn   func(T) R
	next runtime.Pusher[R]
}

func (o *mapOp[T, R]) Push(v T) error {
	o.enter()
	o.c.in++
	r := o.fn(v)
	o.c.out++
	return o.next.Push(r)
}

// Map applies fn to every record.
func Map[T, R any](s Stream[T], fn func(T) R) Stream[R] {
	n := oneInput(s, "map")
	n.fanout = fanoutOf[R]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &mapOp[T, R]{opBase: newOpBase(b), fn: fn, next: b.main.(runtime.Pusher[R])}
		return op, op, nil
	}
	return Stream[R]{n: n}
}

type tryMapOp[T, R any] struct {
	opBase
	fn   func(T) (R, error)
	next runtime.Pusher[R]
}

func (o *tryMapOp[T, R]) Push(v T) error {
	o.enter()
	o.c.in++
	r, err := o.fn(v)
	if err != nil {
		return o.handle(err, v)
	}
	o.c.out++
	return o.next.Push(r)
}

// TryMap applies fn to every record; an error fails the job with the
// operator's name and the record's origin.
func TryMap[T, R any](s Stream[T], fn func(T) (R, error)) Stream[R] {
	n := oneInput(s, "map")
	n.fanout = fanoutOf[R]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &tryMapOp[T, R]{opBase: newOpBase(b), fn: fn, next: b.main.(runtime.Pusher[R])}
		return op, op, nil
	}
	return Stream[R]{n: n}
}

type filterOp[T any] struct {
	opBase
	fn   func(T) bool
	next runtime.Pusher[T]
}

func (o *filterOp[T]) Push(v T) error {
	o.enter()
	o.c.in++
	if !o.fn(v) {
		o.c.filtered++
		return nil
	}
	o.c.out++
	return o.next.Push(v)
}

// Filter keeps the records for which keep returns true.
func (s Stream[T]) Filter(keep func(T) bool) Stream[T] {
	n := oneInput(s, "filter")
	n.fanout = fanoutOf[T]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &filterOp[T]{opBase: newOpBase(b), fn: keep, next: b.main.(runtime.Pusher[T])}
		return op, op, nil
	}
	return Stream[T]{n: n}
}

// Out receives what an operator emits. Emitted records carry the event time
// of the record (or timer) being processed.
type Out[T any] interface {
	Emit(v T)
}

// out is the Out an operator hands to user code. A downstream failure is
// kept and returned when the user function returns, so user code does not
// have to check every Emit.
type out[T any] struct {
	next  runtime.Pusher[T]
	meta  *runtime.Meta
	idx   int
	err   error
	count *int64 // the operator's out counter; nil for side outputs
}

func (o *out[T]) Emit(v T) {
	if o.err != nil {
		return
	}
	if o.count != nil {
		*o.count++
	}
	o.err = o.next.Push(v)
	o.meta.Op = o.idx
}

// take returns and clears the kept downstream error.
func (o *out[T]) take() error {
	err := o.err
	o.err = nil
	return err
}

type flatMapOp[T, R any] struct {
	opBase
	fn  func(T, Out[R]) error
	out out[R]
}

func (o *flatMapOp[T, R]) Push(v T) error {
	o.enter()
	o.c.in++
	if err := o.fn(v, &o.out); err != nil {
		if err := o.out.take(); err != nil {
			return err
		}
		return o.handle(err, v)
	}
	return o.out.take()
}

// FlatMap calls fn for every record; fn emits any number of records.
func FlatMap[T, R any](s Stream[T], fn func(T, Out[R]) error) Stream[R] {
	n := oneInput(s, "flatmap")
	n.fanout = fanoutOf[R]
	n.build = func(b *opBuild) (runtime.Operator, any, error) {
		op := &flatMapOp[T, R]{opBase: newOpBase(b), fn: fn}
		op.out = out[R]{next: b.main.(runtime.Pusher[R]), meta: b.meta, idx: b.idx, count: &op.c.out}
		return op, op, nil
	}
	return Stream[R]{n: n}
}

// identityOp passes records through; it stands for unions and side outputs
// so that they are operators like any other.
type identityOp[T any] struct {
	opBase
	next runtime.Pusher[T]
}

func (o *identityOp[T]) Push(v T) error {
	o.c.in++
	o.c.out++
	return o.next.Push(v)
}

func identityBuild[T any](b *opBuild) (runtime.Operator, any, error) {
	op := &identityOp[T]{opBase: newOpBase(b), next: b.main.(runtime.Pusher[T])}
	return op, op, nil
}

// Union merges streams of the same type. Its watermark is the minimum of its
// inputs' watermarks.
func Union[T any](first Stream[T], more ...Stream[T]) Stream[T] {
	edges := []*edge{newEdge[T](first.n, "", first.part, nil)}
	for _, s := range more {
		if s.n.env != first.n.env {
			first.n.env.fail(fmt.Errorf("union: streams belong to different jobs"))
			continue
		}
		edges = append(edges, newEdge[T](s.n, "", s.part, nil))
	}
	n := first.n.env.addNode("union", edges...)
	n.fanout = fanoutOf[T]
	n.build = identityBuild[T]
	return Stream[T]{n: n}
}

// OutputTag names a side output of type T.
type OutputTag[T any] struct {
	id string
}

// NewOutputTag returns the tag of a side output. Tags are told apart by
// name.
func NewOutputTag[T any](name string) OutputTag[T] { return OutputTag[T]{id: name} }

// Name returns the tag's name.
func (t OutputTag[T]) Name() string { return t.id }

// SideOutput returns the records the operator of s emits to tag, at that
// operator's parallelism unless set otherwise.
func SideOutput[X, T any](s Stream[T], tag OutputTag[X]) Stream[X] {
	n := s.n.env.addNode("side-output", newEdge[X](s.n, tag.id, forward, nil))
	n.name = "side-output " + tag.id
	n.inheritParallelism = true
	n.fanout = fanoutOf[X]
	n.build = identityBuild[X]
	return Stream[X]{n: n}
}

// KeyOption configures KeyBy.
type KeyOption[K comparable] struct {
	codec codec.Codec[K]
}

// KeyCodec sets how keys are encoded for key-group hashing and state
// snapshots, for key types codec.For does not support.
func KeyCodec[K comparable](c codec.Codec[K]) KeyOption[K] { return KeyOption[K]{codec: c} }

// KeyBy partitions s by key: records with equal keys go to the same
// subtask. The key is hashed from its encoding (see package codec), so the
// assignment is stable across processes, machines and Weir versions.
//
// A key's identity is its encoding, and keyed state and timers follow it:
// floats are taken with -0 as +0 and times as their instant (UTC, without
// a monotonic reading, as codec.CanonicalTime gives them), in keyed state,
// timers and what KeyedContext.Key returns. A record whose key holds NaN,
// which equals nothing, is an error of the keyed operator, under its error
// policy. Key types whose == cannot
// agree with an encoding — pointers, channels, interfaces, or structs and
// arrays holding them, and, with the default codec, structs with fields it
// leaves out — are rejected when the job is validated.
func KeyBy[K comparable, T any](s Stream[T], key func(T) K, opts ...KeyOption[K]) KeyedStream[K, T] {
	s.part = forward // the keyed exchange replaces a Rebalance
	ks := KeyedStream[K, T]{s: s, key: key}
	for _, o := range opts {
		if o.codec != nil {
			ks.keys.custom = o.codec
		}
	}
	where := "KeyBy"
	if _, file, line, ok := goruntime.Caller(1); ok {
		where = fmt.Sprintf("KeyBy at %s:%d", filepath.Base(file), line)
	}
	rule, err := keyRuleOf(reflect.TypeFor[K](), ks.keys.custom != nil)
	if err != nil {
		s.n.env.fail(fmt.Errorf("%s after %q: %w", where, s.n.displayName(), err))
		return ks
	}
	ks.keys.codec, ks.keys.floats = ks.keys.custom, rule.floats
	if ks.keys.codec == nil {
		c, err := codec.For[K]()
		if err != nil {
			s.n.env.fail(fmt.Errorf("%s after %q: key type: %w (set one with KeyCodec)", where, s.n.displayName(), err))
		}
		ks.keys.codec = c
	}
	if canon := canonicalizer[K](rule); canon != nil {
		ks.key = func(v T) K { return canon(key(v)) }
		if ks.keys.custom != nil {
			ks.keys.codec = canonCodec[K]{Codec: ks.keys.custom, canon: canon}
		}
	}
	return ks
}
