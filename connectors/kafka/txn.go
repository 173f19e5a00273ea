package kafka

import (
	"context"

	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/weirstream/weir"
)

// txnWriter is the exactly-once writer of one subtask: the records between
// two checkpoint barriers go into one Kafka transaction of a producer of
// their own, named "<prefix>-<subtask>-<n>" where n is the ID of the
// checkpoint before them plus one. Prepare flushes the transaction and
// hands its producer ID and epoch to the checkpoint; Commit ends it with a
// raw EndTxn request, which works from any client, after any restart. The
// runtime calls it from its task's goroutine only.
type txnWriter[T any] struct {
	s    *Sink[T]
	info weir.SinkInfo
	name string // the sink and subtask, for errors
	// ctx is the job's context, kept because Write and Prepare take none:
	// a Write waiting for room in a full buffer, or a Prepare waiting for
	// brokers that do not answer, ends when the job is canceled.
	ctx context.Context
	// admin sends the requests outside transactions: the fencing
	// InitProducerIDs, the EndTxns of commits, listing transactions.
	admin *kgo.Client

	cur  *transaction // open since the first Write after the last Prepare; nil before it
	next int64        // n of the next transaction's name

	havePrepared bool
	lastPrepared int64

	failed error // a transaction lost records: Write and Prepare fail until the job restarts
	closed bool
	mem    *arena[T]
}

var (
	_ weir.SinkWriter[int]      = (*txnWriter[int])(nil)
	_ weir.TwoPhaseWriter       = (*txnWriter[int])(nil)
	_ weir.EventTimeWriter[int] = (*txnWriter[int])(nil)
)

// transaction is the open transaction and its producer.
type transaction struct {
	id      string
	cl      *kgo.Client
	records int64
	out     produced
	// promise is the callback of every record: it notes failures in out
	// and gives the record's memory back to its writer's arena. Made
	// once per transaction.
	promise func(*kgo.Record, error)
}

// txnID is the transactional ID of subtask's transaction n.
func txnID(prefix string, subtask int, n int64) string {
	return fmt.Sprintf("%s-%d-%d", prefix, subtask, n)
}

// minTimeoutIntervals is how many checkpoint intervals TransactionTimeout
// must span at least: a transaction opens after one barrier and commits
// after the next checkpoint completes, an interval and a checkpoint's
// duration later.
const minTimeoutIntervals = 2

func (s *Sink[T]) openTxn(ctx context.Context, info weir.SinkInfo) (*txnWriter[T], error) {
	name := subtaskName(s.where(), info)
	if iv := info.CheckpointInterval; iv > 0 && s.cfg.TransactionTimeout < minTimeoutIntervals*iv {
		return nil, fmt.Errorf("%s: SinkConfig.TransactionTimeout %v is shorter than %d checkpoint intervals (%v): "+
			"a transaction stays open from one checkpoint until the next has completed, and the brokers would abort it; "+
			"set it to %v or more, or take checkpoints more often",
			name, s.cfg.TransactionTimeout, minTimeoutIntervals, iv, minTimeoutIntervals*iv)
	}
	admin, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	w := &txnWriter[T]{s: s, info: info, name: name, ctx: ctx, admin: admin, next: info.RestoredCheckpointID + 1,
		mem: s.arena(ctx)}
	if err := w.abortLingering(ctx); err != nil {
		admin.Close()
		return nil, err
	}
	return w, nil
}

// Write implements weir.SinkWriter: it hands v's message to the open
// transaction's producer, opening one at the first Write after a Prepare.
func (w *txnWriter[T]) Write(v T) error { return w.WriteEventTime(v, time.Time{}) }

// WriteEventTime implements weir.EventTimeWriter: Write, with ts, the
// record's event time, as the message's timestamp (the time of writing
// when ts is zero).
func (w *txnWriter[T]) WriteEventTime(v T, ts time.Time) error {
	if err := w.usable(); err != nil {
		return err
	}
	r, err := w.s.record(w.mem, v, ts)
	if err != nil {
		return err
	}
	if w.cur == nil {
		if err := w.begin(); err != nil {
			release[T](r) // never produced
			return w.fail(err)
		}
	} else if err := w.cur.out.failed(); err != nil {
		release[T](r)
		return w.fail(fmt.Errorf("transaction %s: %w", w.cur.id, err))
	}
	w.cur.cl.Produce(w.ctx, r, w.cur.promise)
	w.cur.records++
	return nil
}

// begin opens transaction w.next with a new producer.
func (w *txnWriter[T]) begin() error {
	id := txnID(w.s.cfg.TransactionalIDPrefix, w.info.Subtask, w.next)
	opts := append(w.s.cfg.Conn.options(), w.s.producerOpts()...)
	// A producer lives for one checkpoint interval: client telemetry
	// (KIP-714) would only add a final push to every Prepare's Close.
	opts = append(opts, kgo.TransactionalID(id), kgo.TransactionTimeout(w.s.cfg.TransactionTimeout), kgo.DisableClientMetrics())
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("producer of transaction %s: %w", id, err)
	}
	if err := cl.BeginTransaction(); err != nil {
		cl.Close()
		return fmt.Errorf("begin transaction %s: %w", id, err)
	}
	t := &transaction{id: id, cl: cl}
	t.promise = func(r *kgo.Record, err error) {
		t.out.promise(r, err)
		release[T](r)
	}
	w.cur = t
	return nil
}

// Prepare implements weir.TwoPhaseWriter. It waits until the brokers have
// acknowledged every message of the open transaction and returns a
// committable naming the transaction, its producer ID and epoch; the
// transaction stays open, to be committed by Commit. The next Write opens
// transaction checkpointID+1. Checkpoint IDs must increase.
func (w *txnWriter[T]) Prepare(checkpointID int64) ([]byte, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if w.havePrepared && checkpointID <= w.lastPrepared {
		return nil, fmt.Errorf("%s: Prepare(%d) after Prepare(%d): checkpoint IDs must increase", w.name, checkpointID, w.lastPrepared)
	}
	c := committableV1{Subtask: w.info.Subtask, Checkpoint: checkpointID}
	if t := w.cur; t != nil {
		if err := t.cl.Flush(w.ctx); err != nil {
			return nil, w.fail(fmt.Errorf("transaction %s: flush: %w", t.id, err))
		}
		if err := t.out.failed(); err != nil {
			return nil, w.fail(fmt.Errorf("transaction %s: %w", t.id, err))
		}
		pid, epoch, err := t.cl.ProducerID(w.ctx)
		if err != nil {
			return nil, w.fail(fmt.Errorf("transaction %s: producer ID: %w", t.id, err))
		}
		c.TransactionalID, c.ProducerID, c.ProducerEpoch, c.Records = t.id, pid, epoch, t.records
		// Closing the producer leaves its transaction open on the
		// brokers; Commit ends it by producer ID and epoch.
		t.cl.Close()
		w.cur = nil
	}
	w.havePrepared, w.lastPrepared = true, checkpointID
	w.next = max(w.next, checkpointID+1)
	return encodeCommittable(c), nil
}

// Commit implements weir.TwoPhaseWriter: it commits the transactions the
// committables name, which may come from other subtasks and earlier runs.
// A transaction committed before counts as committed; one the brokers
// aborted (its timeout passed, or another producer took its
// transactional ID) is an error marked weir.Permanent, since its records
// are lost.
func (w *txnWriter[T]) Commit(ctx context.Context, committables [][]byte) error {
	if w.closed {
		return fmt.Errorf("%s: Commit after Close", w.name)
	}
	for i, b := range committables {
		c, err := decodeCommittable(b)
		if err != nil {
			return weir.Permanent(fmt.Errorf("%s: committable %d of %d: %w", w.name, i+1, len(committables), err))
		}
		if c.TransactionalID == "" {
			continue
		}
		if err := w.commit(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		if f := w.s.cfg.Committed; f != nil {
			f(c.TransactionalID)
		}
	}
	return nil
}

// Close implements weir.SinkWriter. It aborts the open transaction, which
// no Prepare has handed out, so that it does not hold back read_committed
// consumers until its timeout; transactions Prepare handed out stay open
// for a Commit, perhaps that of a restored job.
func (w *txnWriter[T]) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	var err error
	if t := w.cur; t != nil {
		w.cur = nil
		// The job's context may be canceled by now; the abort gets a
		// bounded one of its own, short, since brokers that do not answer
		// would hold up the job's end (the restored run aborts it anyway).
		ctx, cancel := context.WithTimeout(context.Background(), min(w.s.cfg.Conn.startTimeout(), abortTimeout))
		if aerr := t.cl.AbortBufferedRecords(ctx); aerr == nil {
			aerr = t.cl.EndTransaction(ctx, kgo.TryAbort)
			if aerr != nil {
				err = fmt.Errorf("%s: abort transaction %s: %w", w.name, t.id, aerr)
			}
		}
		cancel()
		t.cl.Close()
	}
	w.admin.Close()
	return err
}

// abortTimeout bounds Close's abort of the open transaction.
const abortTimeout = 10 * time.Second

func (w *txnWriter[T]) usable() error {
	if w.closed {
		return fmt.Errorf("%s: writer is closed", w.name)
	}
	return w.failed
}

// fail stops the writer: a transaction that lost a record must never be
// committed, and the records since the last checkpoint are written again
// only when the job restarts from it.
func (w *txnWriter[T]) fail(err error) error {
	w.failed = fmt.Errorf("%s: %w", w.name, err)
	return w.failed
}
