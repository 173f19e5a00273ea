package weir

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/weirstream/weir/internal/runtime"
)

// SplitDiscoverer is implemented by unbounded sources whose splits appear
// while the job runs: partitions added to a Kafka topic, shards of a
// resharded Kinesis stream, files arriving in a watched directory. The
// runtime lists the splits with Source.Splits when the job starts, then
// asks the source's enumerator for more every DiscoveryInterval and deals
// the splits it did not know yet to the source's subtasks.
type SplitDiscoverer interface {
	// Enumerator opens the source's split enumerator. state is what an
	// earlier enumerator's State returned in the checkpoint the job
	// restores from; nil on a fresh start.
	Enumerator(ctx context.Context, state []byte) (SplitEnumerator, error)
}

// SplitEnumerator finds a source's new splits. Its methods are called on
// the task goroutine of the source's subtask 0, so Discover must not block
// for long: a connector whose listing takes a network round trip runs it on
// a goroutine of its own and returns what it has.
type SplitEnumerator interface {
	// Discover returns splits of the source: all it has now, or those that
	// appeared since the last call. Splits the job already knows (listed
	// at the start, discovered earlier, or restored) are ignored; the
	// others are dealt round robin to the source's subtasks, which open and
	// read them.
	Discover(ctx context.Context) ([]Split, error)
	// State returns what the enumerator needs to resume (a cursor, say);
	// every checkpoint stores a copy of it. The runtime keeps the IDs of
	// the splits it knows itself.
	State() ([]byte, error)
	// Close releases the enumerator.
	Close() error
}

// DiscoveryInterval sets how often a source that implements
// SplitDiscoverer looks for new splits (default 10 s).
func DiscoveryInterval(d time.Duration) SourceOption {
	return sourceOptionFunc(func(c *sourceConfig) { c.discovery = d })
}

const defaultDiscoveryInterval = 10 * time.Second

// splitHub hands the splits a source's enumerator discovers to the
// source's subtasks. Each subtask has an inbox the enumerator appends to
// and the subtask empties when it polls, woken through its task: a
// bounded mailbox could block the enumerator's task behind a subtask
// that is itself blocked on backpressure, and the splits never wait in
// it for long.
type splitHub struct {
	source   string
	unit     string // what the source's offsets count, for errors
	disc     SplitDiscoverer
	interval time.Duration
	origins  *runtime.OriginTable
	tasks    []*runtime.Task // by subtask
	inboxes  []splitInbox
	// known are the splits dealt when the job started (listed, restored,
	// and those the restored enumerator knew); dealt is how many.
	known    []string
	restored []byte // the enumerator's state in the restored checkpoint
}

type splitInbox struct {
	mu     sync.Mutex
	splits []assignedSplit
	_      [64]byte // subtasks' inboxes on lines of their own
}

func newSplitHub(source string, disc SplitDiscoverer, interval time.Duration, p int) *splitHub {
	return &splitHub{source: source, disc: disc, interval: interval, inboxes: make([]splitInbox, p)}
}

// give hands s to subtask i and wakes its task.
func (h *splitHub) give(i int, s assignedSplit) {
	in := &h.inboxes[i]
	in.mu.Lock()
	in.splits = append(in.splits, s)
	in.mu.Unlock()
	h.tasks[i].Notify()
}

// take returns the splits handed to subtask i since it last took them.
func (h *splitHub) take(i int) []assignedSplit {
	in := &h.inboxes[i]
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.splits
	in.splits = nil
	return s
}

// enumeratorRun is a split enumerator running in subtask 0 of its source.
type enumeratorRun struct {
	e     SplitEnumerator
	known map[string]bool
	ids   []string // known, in the order the job learned them
	dealt int
	next  time.Time // when to discover next
}

func (r *enumeratorRun) snapshot() (*runtime.EnumeratorState, error) {
	st, err := r.e.State()
	if err != nil {
		return nil, fmt.Errorf("split enumerator state: %w", err)
	}
	// A copy: the checkpoint is written after the enumerator has
	// discovered on, and it may reuse the slice it returned.
	return &runtime.EnumeratorState{State: bytes.Clone(st), Splits: slices.Clone(r.ids)}, nil
}

func (o *sourceOp[T]) openEnumerator(ctx context.Context, now time.Time) error {
	e, err := o.hub.disc.Enumerator(ctx, o.hub.restored)
	if err != nil {
		return fmt.Errorf("split enumerator: %w", err)
	}
	r := &enumeratorRun{e: e, known: map[string]bool{}, next: now.Add(o.hub.interval)}
	for _, id := range o.hub.known {
		if !r.known[id] {
			r.known[id] = true
			r.ids = append(r.ids, id)
		}
	}
	r.dealt = len(r.ids)
	o.enum = r
	return nil
}

// discover asks the enumerator for splits when it is due and deals the new
// ones to the subtasks, continuing the round robin of the job's start.
func (o *sourceOp[T]) discover(ctx context.Context, now time.Time) error {
	r := o.enum
	if r == nil || now.Before(r.next) {
		return nil
	}
	r.next = now.Add(o.hub.interval)
	splits, err := r.e.Discover(ctx)
	if err != nil {
		return fmt.Errorf("split enumerator: discover: %w", err)
	}
	for _, s := range splits {
		if r.known[s.ID] {
			continue
		}
		r.known[s.ID] = true
		r.ids = append(r.ids, s.ID)
		a := assignedSplit{split: s, origin: o.hub.origins.Add(runtime.OriginInfo{Source: o.hub.source, Split: s.ID, Unit: o.hub.unit})}
		o.hub.give(r.dealt%len(o.hub.inboxes), a)
		r.dealt++
	}
	return nil
}
