package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirstream/weir"
)

// abortLingering aborts the transactions that runs after the restored
// checkpoint left open — those of this subtask and, on subtask 0, of the
// subtasks a rescale removed — and fences their producers, so that none
// of them holds back read_committed consumers until its timeout, nor
// writes on.
//
// Such a transaction is named with an n above the restored checkpoint's
// ID (or above 0 on a fresh start): the transactions a checkpoint covers
// have n at most its ID. As Flink does, it initializes the producer of
// each name from there up, n+1, n+2, …, until one that was never used
// (epoch 0): InitProducerID aborts the transaction of that name and
// bumps its epoch, fencing whoever still holds it. Names can skip a
// number (a checkpoint that failed before its barrier reached the
// subtask), and a run at a higher parallelism that died before its first
// checkpoint leaves transactions of subtasks the restored checkpoint knows
// nothing of; so the transactions still open under the sink's prefix are
// then listed (ListTransactions, Kafka 3.0; skipped on older brokers), and
// those above the restored checkpoint aborted: each subtask s of this run
// aborts those of the subtasks congruent to s modulo its parallelism, its
// own included.
func (w *txnWriter[T]) abortLingering(ctx context.Context) error {
	subtasks := []int{w.info.Subtask}
	if w.info.Subtask == 0 {
		for s := w.info.Parallelism; s < w.info.PreviousParallelism; s++ {
			subtasks = append(subtasks, s)
		}
	}
	after := w.info.RestoredCheckpointID
	prefix := w.s.cfg.TransactionalIDPrefix
	for _, s := range subtasks {
		for n := after + 1; ; n++ {
			epoch, err := w.initProducerID(ctx, txnID(prefix, s, n))
			if err != nil {
				return err
			}
			if epoch == 0 {
				break
			}
		}
	}
	listed, err := kadm.NewClient(w.admin).ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil {
		if errors.Is(err, kerr.UnsupportedVersion) || strings.Contains(err.Error(), "broker is too old") {
			return nil
		}
		return fmt.Errorf("%s: listing open transactions: %w", w.name, err)
	}
	for _, t := range listed.Sorted() {
		s, n, ok := parseTxnID(prefix, t.TxnID)
		if !ok || n <= after || s%w.info.Parallelism != w.info.Subtask {
			continue
		}
		if _, err := w.initProducerID(ctx, t.TxnID); err != nil {
			return err
		}
	}
	return nil
}

// parseTxnID returns the subtask and n of a transactional ID made by
// txnID with prefix.
func parseTxnID(prefix, id string) (subtask int, n int64, ok bool) {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok {
		return 0, 0, false
	}
	st, ns, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	s, err1 := strconv.Atoi(st)
	n, err2 := strconv.ParseInt(ns, 10, 64)
	if err1 != nil || err2 != nil || s < 0 || strconv.Itoa(s) != st || strconv.FormatInt(n, 10) != ns {
		return 0, 0, false
	}
	return s, n, true
}

// initProducerID initializes the producer of transactional ID id, which
// aborts its open transaction and fences its producer, and returns the
// new epoch: 0 when the ID was never used.
func (w *txnWriter[T]) initProducerID(ctx context.Context, id string) (int16, error) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = int32(w.s.cfg.TransactionTimeout.Milliseconds())
	req.ProducerID, req.ProducerEpoch = -1, -1
	var resp *kmsg.InitProducerIDResponse
	err := retryConcurrent(ctx, func() error {
		var err error
		if resp, err = req.RequestWith(ctx, w.admin); err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	switch {
	case errors.Is(err, kerr.InvalidTransactionTimeout):
		return 0, fmt.Errorf("%s: SinkConfig.TransactionTimeout %v is above the brokers' maximum, transaction.max.timeout.ms (15 min unless set): "+
			"lower it or raise theirs: %w", w.name, w.s.cfg.TransactionTimeout, err)
	case err != nil:
		return 0, fmt.Errorf("%s: fencing transactional ID %s: %w", w.name, id, err)
	}
	return resp.ProducerEpoch, nil
}

// commit commits c's transaction with a raw EndTxn request, as its
// producer would have: franz-go's client can end only the transactions
// it began, and initializing a producer for the ID would abort this one.
//
// What the brokers answer when the transaction was committed before:
//
//   - Apache Kafka answers a repeated commit with the same epoch with no
//     error; with transactions version 2 (KIP-890), where a commit bumps
//     the epoch, it recognizes the retry of epoch-1 the same way. kfake
//     does both.
//   - After the epoch moved on further (an InitProducerID for the ID, or
//     the transaction timed out) they answer PRODUCER_FENCED (older
//     brokers INVALID_PRODUCER_EPOCH), and after an abort
//     INVALID_TXN_STATE; a transactional ID they forgot
//     (transactional.id.expiration.ms) gives INVALID_PRODUCER_ID_MAPPING.
//
// For those, DescribeTransactions tells whether the transaction of that
// producer committed (CompleteCommit at its epoch or the next); otherwise
// its records are lost, which is a permanent error.
func (w *txnWriter[T]) commit(ctx context.Context, c committableV1) error {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID = c.TransactionalID
	req.ProducerID = c.ProducerID
	req.ProducerEpoch = c.ProducerEpoch
	req.Commit = true
	err := retryConcurrent(ctx, func() error {
		resp, err := req.RequestWith(ctx, w.admin)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.ErrorCode)
	})
	what := fmt.Sprintf("transaction %s of checkpoint %d (producer ID %d, epoch %d, %d records, subtask %d)",
		c.TransactionalID, c.Checkpoint, c.ProducerID, c.ProducerEpoch, c.Records, c.Subtask)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.ProducerFenced), errors.Is(err, kerr.InvalidProducerEpoch),
		errors.Is(err, kerr.InvalidTxnState), errors.Is(err, kerr.InvalidProducerIDMapping),
		errors.Is(err, kerr.TransactionalIDNotFound):
		state, derr := w.describe(ctx, c)
		if derr != nil {
			return fmt.Errorf("commit %s: %w (and describing it failed: %v)", what, err, derr)
		}
		if state == "" {
			return nil
		}
		return weir.Permanent(fmt.Errorf("commit %s: the brokers answer %w and the transactional ID is now %s: "+
			"the transaction was aborted and its records are lost (its TransactionTimeout passed before the commit, "+
			"or another producer used the same TransactionalIDPrefix)", what, err, state))
	}
	return fmt.Errorf("commit %s: %w", what, err)
}

// describe returns "" when c's transaction is known committed, and the
// transactional ID's state otherwise.
func (w *txnWriter[T]) describe(ctx context.Context, c committableV1) (string, error) {
	ds, err := kadm.NewClient(w.admin).DescribeTransactions(ctx, c.TransactionalID)
	if err != nil {
		return "", err
	}
	d, ok := ds[c.TransactionalID]
	switch {
	case !ok:
		return "unknown to the brokers", nil
	case d.Err != nil:
		if errors.Is(d.Err, kerr.TransactionalIDNotFound) {
			return "unknown to the brokers", nil
		}
		return "", d.Err
	case d.State == "CompleteCommit" && d.ProducerID == c.ProducerID &&
		(d.ProducerEpoch == c.ProducerEpoch || d.ProducerEpoch == c.ProducerEpoch+1):
		return "", nil
	}
	return fmt.Sprintf("%s with producer ID %d, epoch %d", d.State, d.ProducerID, d.ProducerEpoch), nil
}

// retryConcurrent calls fn again while the coordinator answers
// CONCURRENT_TRANSACTIONS (it is still writing the markers of an earlier
// end), backing off from 20 ms to 1 s, until ctx is done.
func retryConcurrent(ctx context.Context, fn func() error) error {
	backoff := 20 * time.Millisecond
	for {
		err := fn()
		if !errors.Is(err, kerr.ConcurrentTransactions) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while the coordinator answered %v)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}
