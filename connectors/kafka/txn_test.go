package kafka

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/kafka/kafkatest"
)

// The transactions of a checkpoint are invisible to read_committed readers
// until Commit, visible to read_uncommitted ones at once.
func TestTransactionVisibleAtCommit(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 3)
	w := openTxn(t, newTestSink(t, sinkConfig(c, "out", ExactlyOnce)), 0, 1, 0, 0)
	write(t, w, 0, 30)
	c1 := prepare(t, w, 1)
	equal(t, "committed before Commit", committed(t, c, "out"), nil)
	equal(t, "uncommitted before Commit", numbers(t, c.ReadUncommitted("out")), span([2]int{0, 30}))
	commit(t, w, c1)
	noneHeldBack(t, c, "out")
	equal(t, "committed after Commit", committed(t, c, "out"), span([2]int{0, 30}))
}

// A restored job commits the transactions its checkpoint covers that the
// process did not commit before it died — with a raw EndTxn, from a
// writer that never held their producers — and aborts the one it left
// open, so that it does not hold back read_committed readers.
func TestCrashBetweenPrepareAndCommit(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 3)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	old := openTxn(t, s, 0, 1, 0, 0)
	write(t, old, 0, 10)
	commit(t, old, prepare(t, old, 1))
	write(t, old, 10, 20)
	c2 := prepare(t, old, 2) // checkpoint 2 completes; the process dies before the commit
	write(t, old, 20, 30)    // in transaction 3, open at the crash
	sent(t, old)
	crash(old)
	equal(t, "committed after the crash", committed(t, c, "out"), span([2]int{0, 10}))
	if len(c.HeldBack("out")) == 0 {
		t.Fatal("the crash left no open transaction, so the test shows nothing")
	}

	r := openTxn(t, s, 0, 1, 2, 1)
	commit(t, r, c2)
	noneHeldBack(t, c, "out")
	equal(t, "committed after the restore", committed(t, c, "out"), span([2]int{0, 20}))
	equal(t, "uncommitted after the restore (the aborted records stay in the log)",
		numbers(t, c.ReadUncommitted("out")), span([2]int{0, 30}))

	write(t, r, 100, 110)
	commit(t, r, prepare(t, r, 3))
	equal(t, "committed after the restored run's checkpoint", committed(t, c, "out"), span([2]int{0, 20}, [2]int{100, 110}))
}

// Committing a transaction again — a retry, or a restore of a checkpoint
// whose commit had happened — succeeds and duplicates nothing.
func TestCommitIsIdempotent(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 2)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	w := openTxn(t, s, 0, 1, 0, 0)
	write(t, w, 0, 10)
	c1 := prepare(t, w, 1)
	commit(t, w, c1)
	commit(t, w, c1)
	crash(w)
	r := openTxn(t, s, 0, 1, 1, 1)
	commit(t, r, c1)
	equal(t, "committed", committed(t, c, "out"), span([2]int{0, 10}))
}

// A transaction the brokers aborted cannot be committed: its records are
// lost, and Commit says so with an error marked permanent.
func TestCommitOfAnAbortedTransactionFails(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 1)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	w := openTxn(t, s, 0, 1, 0, 0)
	write(t, w, 0, 10)
	c1 := prepare(t, w, 1)
	// Another writer with the same prefix and a fresh start fences
	// transaction 1 and aborts it.
	openTxn(t, s, 0, 1, 0, 0)
	err := w.Commit(context.Background(), [][]byte{c1})
	if err == nil || !weir.IsPermanent(err) || !strings.Contains(err.Error(), "lost") || !strings.Contains(err.Error(), txnID("weir-test-out", 0, 1)) {
		t.Fatalf("Commit of an aborted transaction: %v; want a permanent error naming it and saying its records are lost", err)
	}
	equal(t, "committed", committed(t, c, "out"), nil)
}

// Apache Kafka answers PRODUCER_FENCED to a commit of a transaction that
// was committed before when the epoch has moved on; DescribeTransactions
// then shows it committed, which kfake does not model, so its answers are
// injected here.
func TestCommitRecognizesACommittedTransactionByItsState(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 1)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	w := openTxn(t, s, 0, 1, 0, 0)
	write(t, w, 0, 5)
	c1 := prepare(t, w, 1)
	commit(t, w, c1)
	d, err := decodeCommittable(c1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		state   string
		epoch   int16
		wantErr bool
	}{
		{"CompleteCommit", d.ProducerEpoch + 1, false},
		{"CompleteCommit", d.ProducerEpoch, false},
		{"CompleteAbort", d.ProducerEpoch + 1, true},
		{"CompleteCommit", d.ProducerEpoch + 2, true}, // a later transaction of the ID committed
	} {
		c.ControlKey(int16(kmsg.EndTxn), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = kerr.ProducerFenced.Code
			return resp, nil, true
		})
		c.ControlKey(int16(kmsg.DescribeTransactions), func(req kmsg.Request) (kmsg.Response, error, bool) {
			resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.State, st.ProducerID, st.ProducerEpoch = d.TransactionalID, tc.state, d.ProducerID, tc.epoch
			resp.TransactionStates = append(resp.TransactionStates, st)
			return resp, nil, true
		})
		err := w.Commit(context.Background(), [][]byte{c1})
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, kerr.ProducerFenced)) {
			t.Errorf("PRODUCER_FENCED, then %s at epoch %d (prepared at %d): Commit: %v; want an error: %v",
				tc.state, tc.epoch, d.ProducerEpoch, err, tc.wantErr)
		}
	}
}

// A checkpoint that failed before its barrier reached the subtask leaves a
// gap in the transaction numbers; the restored run still aborts the open
// transactions beyond it.
func TestLingeringTransactionsBeyondAGapAreAborted(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 2)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	old := openTxn(t, s, 0, 1, 0, 0)
	write(t, old, 0, 10)
	commit(t, old, prepare(t, old, 1))
	write(t, old, 10, 20)
	prepare(t, old, 3)    // transaction 2; checkpoint 2 failed elsewhere, and 3 does not complete
	write(t, old, 20, 30) // transaction 4
	sent(t, old)
	crash(old)

	openTxn(t, s, 0, 1, 1, 1)
	noneHeldBack(t, c, "out")
	equal(t, "committed", committed(t, c, "out"), span([2]int{0, 10}))
}

// Brokers before Kafka 3.0 cannot list transactions; the restored run
// finds the transactions of earlier runs by their numbers, from the
// restored checkpoint's up to the first never used.
func TestLingeringTransactionsAbortedWithoutListTransactions(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 2)
	c.ControlKey(int16(kmsg.ListTransactions), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		return resp, nil, true
	})
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	old := openTxn(t, s, 0, 1, 0, 0)
	write(t, old, 0, 10)
	commit(t, old, prepare(t, old, 1))
	write(t, old, 10, 20)
	prepare(t, old, 2) // does not complete
	write(t, old, 20, 30)
	sent(t, old)
	crash(old)

	openTxn(t, s, 0, 1, 1, 1)
	noneHeldBack(t, c, "out")
	equal(t, "committed", committed(t, c, "out"), span([2]int{0, 10}))
}

// Subtask 0 of a job restored at a lower parallelism aborts what the
// subtasks that no longer exist left open.
func TestRescaleDownAbortsRemovedSubtasks(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 2)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	w0, w1 := openTxn(t, s, 0, 2, 0, 0), openTxn(t, s, 1, 2, 0, 0)
	write(t, w0, 0, 10)
	write(t, w1, 10, 20)
	c0, c1 := prepare(t, w0, 1), prepare(t, w1, 1) // checkpoint 1 completes, uncommitted
	write(t, w0, 20, 30)
	write(t, w1, 30, 40) // left open by subtask 1
	sent(t, w1)
	crash(w0)
	crash(w1)

	r := openTxn(t, s, 0, 1, 1, 2)
	commit(t, r, c0, c1)
	noneHeldBack(t, c, "out")
	equal(t, "committed after the restore at parallelism 1", committed(t, c, "out"), span([2]int{0, 20}))
}

// A run at a higher parallelism that dies before its first checkpoint
// leaves transactions of subtasks that the checkpoint a later run restores
// knows nothing of (its parallelism is the lower one): the restored
// subtasks abort every open transaction under the prefix above that
// checkpoint, each the ones of the old subtasks congruent to it, so none
// holds back read_committed readers.
func TestRestoreAbortsSubtasksOfARunWithoutCheckpoint(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 2)
	s := newTestSink(t, sinkConfig(c, "out", ExactlyOnce))
	w := openTxn(t, s, 0, 1, 0, 0)
	write(t, w, 0, 10)
	commit(t, w, prepare(t, w, 1)) // checkpoint 1, at parallelism 1
	crash(w)

	a0, a1 := openTxn(t, s, 0, 2, 1, 1), openTxn(t, s, 1, 2, 1, 1)
	write(t, a0, 10, 20)
	write(t, a1, 20, 30)
	sent(t, a0)
	sent(t, a1)
	crash(a0)
	crash(a1) // a run at parallelism 2 dies before its first checkpoint

	openTxn(t, s, 0, 1, 1, 1) // the next run restores checkpoint 1 at parallelism 1
	noneHeldBack(t, c, "out")
	equal(t, "committed after the restore", committed(t, c, "out"), span([2]int{0, 10}))
}

func TestTransactionTimeoutChecks(t *testing.T) {
	c := kafkatest.NewCluster(t, kfake.BrokerConfigs(map[string]string{"transaction.max.timeout.ms": "60000"}))
	c.Topic("out", 1)
	for _, tc := range []struct {
		name     string
		timeout  time.Duration
		interval time.Duration
		want     string
	}{
		{"shorter than two intervals", 50 * time.Second, 30 * time.Second, "TransactionTimeout 50s is shorter than 2 checkpoint intervals (30s)"},
		{"above the brokers' maximum", 2 * time.Minute, time.Second, "TransactionTimeout 2m0s is above the brokers' maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := sinkConfig(c, "out", ExactlyOnce)
			cfg.TransactionTimeout = tc.timeout
			_, err := newTestSink(t, cfg).Open(context.Background(), weir.SinkInfo{Parallelism: 1, CheckpointInterval: tc.interval})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v; want an error saying %q", err, tc.want)
			}
		})
	}
	cfg := sinkConfig(c, "out", ExactlyOnce)
	cfg.TransactionTimeout = time.Minute
	w, err := newTestSink(t, cfg).Open(context.Background(), weir.SinkInfo{Parallelism: 1, CheckpointInterval: 30 * time.Second})
	if err != nil {
		t.Fatalf("Open with a timeout of two intervals, at the brokers' maximum: %v", err)
	}
	w.Close()
}

// Close aborts the transaction no Prepare handed out, so a job that fails
// and is not restored holds back no read_committed reader.
func TestCloseAbortsTheOpenTransaction(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 2)
	w := openTxn(t, newTestSink(t, sinkConfig(c, "out", ExactlyOnce)), 0, 1, 0, 0)
	write(t, w, 0, 10)
	commit(t, w, prepare(t, w, 1))
	write(t, w, 10, 20)
	sent(t, w)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	noneHeldBack(t, c, "out")
	equal(t, "committed", committed(t, c, "out"), span([2]int{0, 10}))
}

// A record the brokers refuse fails its transaction: Prepare says so,
// naming the topic, and the writer stays failed — the transaction must
// never be committed, and only a restart from the last checkpoint writes
// its records again.
func TestRefusedRecordFailsTheTransaction(t *testing.T) {
	c := kafkatest.NewCluster(t)
	c.Topic("out", 1)
	cfg := sinkConfig(c, "out", ExactlyOnce)
	cfg.Topic, cfg.TopicOf = "", func(e event) string { return e.User }
	w := openTxn(t, newTestSink(t, cfg), 0, 1, 0, 0)
	if err := w.Write(event{N: 1, User: "out"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(event{N: 2, User: "no-such-topic"}); err != nil {
		t.Fatalf("Write: %v (the failure comes later, from the brokers)", err)
	}
	if _, err := w.Prepare(1); err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("Prepare after a refused record: %v; want an error naming its topic", err)
	}
	if _, err := w.Prepare(2); err == nil {
		t.Fatal("a second Prepare succeeded after a refused record")
	}
	if err := w.Write(event{N: 3, User: "out"}); err == nil {
		t.Fatal("Write succeeded after a refused record")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	noneHeldBack(t, c, "out")
	equal(t, "committed", committed(t, c, "out"), nil)
}

func TestCommittableRoundTripAndDamage(t *testing.T) {
	in := committableV1{TransactionalID: "p-1-7", ProducerID: 42, ProducerEpoch: 3, Subtask: 1, Checkpoint: 7, Records: 9}
	b := encodeCommittable(in)
	out, err := decodeCommittable(b)
	if err != nil || out != in {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", in, out, err)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x40
		if _, err := decodeCommittable(bad); err == nil {
			t.Errorf("a committable with byte %d flipped decoded without error", i)
		}
	}
	if _, err := decodeCommittable(b[:len(b)-1]); err == nil {
		t.Error("a truncated committable decoded without error")
	}
}

func TestParseTxnID(t *testing.T) {
	for _, tc := range []struct {
		id      string
		subtask int
		n       int64
		ok      bool
	}{
		{"job-a-3-17", 3, 17, true},
		{"job-a-0-1", 0, 1, true},
		{"job-a-3", 0, 0, false},
		{"job-b-3-17", 0, 0, false},
		{"job-a-03-17", 0, 0, false},
		{"job-a-3-17-1", 0, 0, false},
		{"job-a--3-17", 0, 0, false},
	} {
		s, n, ok := parseTxnID("job-a", tc.id)
		if s != tc.subtask || n != tc.n || ok != tc.ok {
			t.Errorf("parseTxnID(job-a, %s) = %d, %d, %v; want %d, %d, %v", tc.id, s, n, ok, tc.subtask, tc.n, tc.ok)
		}
	}
}

// A committable read back from a checkpoint is either rejected or encodes
// to the same bytes: decoding never panics and never accepts damage.
func FuzzDecodeCommittable(f *testing.F) {
	f.Add(encodeCommittable(committableV1{TransactionalID: "p-1-7", ProducerID: 42, ProducerEpoch: 3, Subtask: 1, Checkpoint: 7, Records: 9}))
	f.Add(encodeCommittable(committableV1{Subtask: 0, Checkpoint: 1}))
	f.Add([]byte("WKTX\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCommittable(b)
		if err != nil {
			return
		}
		if again := encodeCommittable(c); string(again) != string(b) {
			t.Fatalf("decoded %+v from %x, which encodes to %x", c, b, again)
		}
	})
}

// parseTxnID reads back exactly the names txnID makes.
func FuzzParseTxnID(f *testing.F) {
	f.Add("job-a", "job-a-3-17")
	f.Add("a-1", "a-1-1-2")
	f.Fuzz(func(t *testing.T, prefix, id string) {
		s, n, ok := parseTxnID(prefix, id)
		if ok && txnID(prefix, s, n) != id {
			t.Fatalf("parseTxnID(%q, %q) = %d, %d, but txnID gives %q", prefix, id, s, n, txnID(prefix, s, n))
		}
	})
}
