package weir

import (
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/weirstream/weir/internal/runtime"
)

// Stream is a stream of records of type T in a job being described.
// Type-changing steps are package functions (Map, FlatMap, KeyBy, Process);
// type-preserving ones are methods.
//
// How a record travels from one operator to the next is the exchange
// between them, chosen by these rules:
//
//   - forward: by default each subtask of an operator feeds the subtask
//     with the same index of the next one, which then runs in the same
//     task, chained to it (a function call, no queue), when both have the
//     same parallelism and the next operator has one input;
//   - rebalance: when the parallelism of the two differs, or after
//     Rebalance, every subtask deals its records round robin over all
//     subtasks of the next operator, across a queue;
//   - hash: after KeyBy, a record goes to the subtask that owns its key's
//     key group, whatever the parallelism;
//   - broadcast: the broadcast input of ProcessBroadcast gets every record
//     on every subtask.
//
// KeyBy and Broadcast replace a Rebalance before them. Env.Plan shows the
// exchange chosen for every edge.
type Stream[T any] struct {
	n *node
	// part is the exchange the next operator reads s through: forward
	// unless Rebalance asked for another.
	part partitioning
}

// KeyedStream is a stream partitioned by a key: every record with the same
// key goes to the same subtask, where keyed state and timers are scoped to
// it.
type KeyedStream[K comparable, T any] struct {
	s    Stream[T]
	key  func(T) K
	keys keyInfo[K]
}

// Name sets the operator's name, used in errors, metrics and plans.
func (s Stream[T]) Name(name string) Stream[T] {
	s.n.name = name
	return s
}

// ID sets the operator's stable ID, which matches its state across job
// versions. Without it the ID is derived from the graph: the same program
// always gets the same IDs.
func (s Stream[T]) ID(id string) Stream[T] {
	s.n.uid = id
	return s
}

// Parallelism sets the number of parallel subtasks of the operator.
func (s Stream[T]) Parallelism(n int) Stream[T] {
	if n <= 0 {
		s.n.env.fail(fmt.Errorf("operator %q: parallelism %d must be positive", s.n.displayName(), n))
		return s
	}
	s.n.parallelism = n
	return s
}

// Rebalance makes the next operator read s round robin: each subtask of
// the operator before sends its records in turn to every subtask of the
// next one, so work spreads evenly even where the input does not — a
// source with fewer splits than subtasks (one file is one split), or
// splits of uneven size. It is Flink's rebalance. Without it, an operator
// with the parallelism of the one before reads only what the subtask of
// the same index emits, in the same task.
//
// Rebalance makes no operator: it sets the exchange into the operator that
// consumes the returned stream (Map, AsyncMap, To, Union, …), which is then
// never chained to the one before. Name, ID and Parallelism called on the
// returned stream still set the operator before. KeyBy and Broadcast choose
// their own exchange, so a Rebalance before them has no effect; the
// operators' IDs do not depend on it, so adding it keeps a job's state
// restorable.
func (s Stream[T]) Rebalance() Stream[T] {
	s.part = rebalance
	return s
}

// Env returns the job the stream belongs to.
func (s Stream[T]) Env() *Env { return s.n.env }

// partitioning says how records cross from one operator to the next.
type partitioning uint8

const (
	forward   partitioning = iota // subtask i to subtask i, chained when possible
	rebalance                     // round robin over the downstream subtasks
	hashed                        // by key group
	broadcast                     // every record to every downstream subtask
)

func (p partitioning) String() string {
	return [...]string{"forward", "rebalance", "hash", "broadcast"}[p]
}

// node is one operator of the logical graph.
type node struct {
	env         *Env
	index       int
	kind        string
	name        string
	uid         string
	id          string
	parallelism int
	inputs      []*edge
	outputs     []*edge
	keyed       bool
	onError     *ErrorPolicy // overrides the job's policy
	// inheritParallelism gives the node its input's parallelism unless set,
	// so that it chains to its input.
	inheritParallelism bool

	// source is set for source nodes.
	source sourceNode
	// build creates the operator of one subtask given its typed outputs: the
	// main one and one per side-output tag. It returns the operator and the
	// Pusher its inputs feed (nil for sources).
	build func(b *opBuild) (runtime.Operator, any, error)
	// fanout builds the typed fan-out of the main output.
	fanout func(ps []any) any
	// check, when set, reports mistakes in the node's user function; the
	// job's validation runs it.
	check func() error
}

func (n *node) displayName() string {
	if n.name != "" {
		return n.name
	}
	return n.kind
}

// edge connects a node's main output (tag "") or one of its side outputs to
// another node's input. Its functions are typed by the record type, fixed
// when the edge was made.
type edge struct {
	from, to *node
	tag      string
	// declared is the exchange the program asked for; part the one the
	// job uses, resolved by validate (forward between operators of
	// different parallelism becomes rebalance).
	declared partitioning
	part     partitioning
	// input is which input of a two-input operator the edge feeds.
	input int
	// writer makes the sending side for one upstream subtask; reader makes
	// the function that feeds a batch to the downstream chain head.
	writer func(w *writerBuild) (runtime.Output, any)
	reader func(head any, meta *runtime.Meta, pool *sync.Pool) func(any) error
	pool   func(batchSize int) *sync.Pool
	fanout func(ps []any) any
	// sideOut wraps the fan-out of a side output in the Out that Output
	// emits to.
	sideOut func(next any, meta *runtime.Meta, idx int) any
}

// addNode appends a node whose inputs are the given edges.
func (e *Env) addNode(kind string, inputs ...*edge) *node {
	n := &node{env: e, index: len(e.nodes), kind: kind}
	for _, in := range inputs {
		in.to = n
		n.inputs = append(n.inputs, in)
		in.from.outputs = append(in.from.outputs, in)
	}
	e.nodes = append(e.nodes, n)
	return n
}

// newEdge returns an edge carrying records of type T from the output tag of
// from.
func newEdge[T any](from *node, tag string, part partitioning, route func(*writerBuild) func(T) (int, int32)) *edge {
	return &edge{
		from:     from,
		tag:      tag,
		declared: part,
		part:     part,
		writer: func(w *writerBuild) (runtime.Output, any) {
			var r func(T) (int, int32)
			if route != nil {
				r = route(w)
			}
			x := newExchangeWriter[T](w, r)
			return x, x
		},
		reader: func(head any, meta *runtime.Meta, pool *sync.Pool) func(any) error {
			return newExchangeReader[T](head.(runtime.Pusher[T]), meta, pool)
		},
		pool:   newBatchPool[T],
		fanout: fanoutOf[T],
		sideOut: func(next any, meta *runtime.Meta, idx int) any {
			return &out[T]{next: next.(runtime.Pusher[T]), meta: meta, idx: idx}
		},
	}
}

func fanoutOf[T any](ps []any) any {
	switch len(ps) {
	case 0:
		return runtime.Discard[T]{}
	case 1:
		return ps[0].(runtime.Pusher[T])
	}
	f := make(runtime.Fanout[T], len(ps))
	for i, p := range ps {
		f[i] = p.(runtime.Pusher[T])
	}
	return f
}

// derivedID returns the node's default ID: a hash of its kind, name, input
// IDs and output tags, and its rank among nodes with the same signature, so
// the same program always gets the same IDs and adding an unrelated branch
// does not change them.
func derivedID(n *node, seen map[string]int) string {
	sig := n.kind + "\x00" + n.name
	for _, in := range n.inputs {
		// An explicit rebalance reads like forward here: adding Rebalance
		// to a job keeps its operators' IDs, and so their state.
		part := in.declared
		if part == rebalance {
			part = forward
		}
		sig += "\x00" + in.from.id + "/" + in.tag + "/" + part.String()
	}
	rank := seen[sig]
	seen[sig] = rank + 1
	return fmt.Sprintf("%016x", xxhash.Sum64String(fmt.Sprintf("%s\x00%d", sig, rank)))
}
