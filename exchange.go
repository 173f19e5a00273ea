package weir

import (
	"slices"
	"sync"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/internal/keygroup"
	"github.com/weirstream/weir/internal/runtime"
)

// writerBuild is what an edge needs to make the sending side of one
// upstream subtask: the queues to every downstream subtask it reaches.
type writerBuild struct {
	queues         []*runtime.Queue
	meta           *runtime.Meta
	subtask        int // the upstream subtask
	batchSize      int
	pool           *sync.Pool
	maxParallelism int
	parallelism    int // downstream parallelism
	broadcast      bool
}

// exchangeWriter fills one batch per downstream channel and sends a batch
// when it is full; the task flushes partial batches.
type exchangeWriter[T any] struct {
	all     bool // broadcast: every record to every channel
	queues  []*runtime.Queue
	batches []*runtime.Batch[T]
	route   func(T) (subtask int, kg int32) // nil for forward and round robin
	rr      int
	meta    *runtime.Meta
	size    int
	pool    *sync.Pool
	// debloat: the queues limit batches to what their consumers read in
	// the job's InFlightTarget.
	debloat bool
	// limits is the number of records at which each channel's open batch
	// is sent: size, or less when the queue asks for less. It is read
	// from the queue when a batch is started, so a record costs no more
	// than a comparison.
	limits []int
}

func newExchangeWriter[T any](w *writerBuild, route func(T) (int, int32)) *exchangeWriter[T] {
	limits := make([]int, len(w.queues))
	for i := range limits {
		limits[i] = w.batchSize
	}
	return &exchangeWriter[T]{
		queues:  w.queues,
		batches: make([]*runtime.Batch[T], len(w.queues)),
		route:   route,
		// Each upstream subtask starts its round robin at a channel of its
		// own, so that a few records from each do not all go to the first.
		rr:      w.subtask % max(len(w.queues), 1),
		all:     w.broadcast,
		meta:    w.meta,
		size:    w.batchSize,
		pool:    w.pool,
		debloat: len(w.queues) > 0 && w.queues[0].Debloats(),
		limits:  limits,
	}
}

func newBatchPool[T any](size int) *sync.Pool {
	return &sync.Pool{New: func() any { return &runtime.Batch[T]{Recs: make([]runtime.Rec[T], 0, size)} }}
}

// Push implements runtime.Pusher.
func (w *exchangeWriter[T]) Push(v T) error {
	if w.all {
		for i := range w.queues {
			if err := w.append(i, &v, 0); err != nil {
				return err
			}
		}
		return nil
	}
	i, kg := 0, int32(0)
	switch {
	case w.route != nil:
		i, kg = w.route(v)
	case len(w.queues) > 1:
		i = w.rr
		if w.rr++; w.rr == len(w.queues) {
			w.rr = 0
		}
	}
	return w.append(i, &v, kg)
}

// append adds v to the batch of channel i and sends the batch when it
// holds the channel's limit.
func (w *exchangeWriter[T]) append(i int, v *T, kg int32) error {
	b := w.batches[i]
	if b == nil {
		b = w.pool.Get().(*runtime.Batch[T])
		w.batches[i] = b
		if w.debloat {
			w.limits[i] = int(min(int64(w.size), w.queues[i].BatchLimit()))
		}
	}
	// The record is written in place: appending a composite literal
	// builds it on the stack first and copies it, which costs as much as
	// the rest of this function for a large T.
	n := len(b.Recs)
	if n == cap(b.Recs) {
		b.Recs = slices.Grow(b.Recs, 1)
	}
	b.Recs = b.Recs[:n+1]
	r, m := &b.Recs[n], w.meta
	r.V, r.Ts, r.Offset, r.Split, r.KG = *v, m.Ts, m.Origin.Offset, m.Origin.Split, kg
	if n+1 >= w.limits[i] {
		return w.send(i)
	}
	return nil
}

func (w *exchangeWriter[T]) send(i int) error {
	b := w.batches[i]
	w.batches[i] = nil
	return w.queues[i].Put(runtime.Message{Kind: runtime.Data, Batch: b})
}

// Flush implements runtime.Output.
func (w *exchangeWriter[T]) Flush() error {
	for i, b := range w.batches {
		if b != nil && len(b.Recs) > 0 {
			if err := w.send(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// Broadcast implements runtime.Output.
func (w *exchangeWriter[T]) Broadcast(m runtime.Message) error {
	if err := w.Flush(); err != nil {
		return err
	}
	for _, q := range w.queues {
		if err := q.Put(m); err != nil {
			return err
		}
	}
	return nil
}

// newExchangeReader returns the function that feeds a received batch to the
// chain head and recycles it.
func newExchangeReader[T any](head runtime.Pusher[T], meta *runtime.Meta, pool *sync.Pool) func(any) error {
	return func(x any) error {
		b := x.(*runtime.Batch[T])
		for i := range b.Recs {
			r := &b.Recs[i]
			meta.Ts, meta.Origin, meta.KG = r.Ts, runtime.Origin{Split: r.Split, Offset: r.Offset}, r.KG
			if err := head.Push(r.V); err != nil {
				return err
			}
		}
		clear(b.Recs)
		b.Recs = b.Recs[:0]
		pool.Put(b)
		return nil
	}
}

// keyInfo knows how to turn a key into its key group: the XXH64 hash of
// the key's encoding modulo the max parallelism.
type keyInfo[K comparable] struct {
	codec codec.Codec[K]
	// floats tells that keys hold floats, so a key may hold NaN, which has
	// no state (see keyid.go).
	floats bool
	// custom is the codec set with KeyCodec, nil for codec.For's.
	custom codec.Codec[K]
}

// nan reports whether k holds NaN. Only keys with floats are compared.
func (ki keyInfo[K]) nan(k K) bool { return ki.floats && k != k }

// group returns the key group of k, using buf as scratch space.
func (ki keyInfo[K]) group(buf []byte, k K, maxParallelism int) ([]byte, int) {
	buf = ki.codec.Append(buf[:0], k)
	return buf, keygroup.Of(buf, maxParallelism)
}

// hashRoute returns the routing function of a keyed exchange for one
// upstream subtask: the subtask owning the record's key group, and the key
// group, which travels with the record.
func hashRoute[K comparable, T any](key func(T) K, ki keyInfo[K]) func(w *writerBuild) func(T) (int, int32) {
	return func(w *writerBuild) func(T) (int, int32) {
		// The scratch space for the key's encoding is written with every
		// record: 64 bytes (a size class whose objects are line-aligned)
		// keep it off the cache lines of the other upstream subtasks',
		// allocated next to it. The variable buf itself changes only when
		// a key needs more room, so the closure's captured slice header is
		// not written per record either.
		buf := make([]byte, 0, 64)
		maxP, p := w.maxParallelism, w.parallelism
		owner := make([]int32, maxP) // key group → subtask
		for kg := range owner {
			owner[kg] = int32(keygroup.Subtask(kg, maxP, p))
		}
		return func(v T) (int, int32) {
			b, kg := ki.group(buf, key(v), maxP)
			if cap(b) > cap(buf) {
				buf = b
			}
			return int(owner[kg]), int32(kg)
		}
	}
}
