package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetcher is the Kafka client a source's readers share in one process. Its
// fetch goroutine polls the client for every partition being read and
// appends each partition's records to that partition's buffer, waking its
// reader; a buffer that holds its bound pauses its partition's fetches
// until the reader has taken half of it. Its commit goroutine commits the
// offsets readers hand it when checkpoints complete, batched into one
// request.
//
// Lock order: Source.mu, then fetcher.mu, then a partBuffer's mu.
type fetcher struct {
	cl    *kgo.Client
	adm   *kadm.Client
	group string
	// onCommitError is told of failed commits.
	onCommitError func(error)
	cancel        context.CancelFunc
	wg            sync.WaitGroup
	commitWake    chan struct{}

	mu struct {
		sync.Mutex
		parts map[topicPartition]*partBuffer
		// commits are the offsets to commit next, by partition.
		commits map[topicPartition]int64
	}
}

// partBuffer holds the records fetched for one partition and not yet
// taken by its reader.
type partBuffer struct {
	tp    topicPartition
	cl    *kgo.Client
	limit int

	mu     sync.Mutex
	recs   []*kgo.Record
	bytes  int
	paused bool
	// closed is set when the reader has closed: a fetch that got the
	// buffer before then neither fills nor pauses it.
	closed bool
	err    error
	wake   func()
}

func newFetcher(ctx context.Context, conn Conn, opts []kgo.Opt, group string, onCommitError func(error)) (*fetcher, error) {
	// A direct consumer of no partition yet: readers add theirs.
	cl, err := conn.newClient(ctx, append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{}))...)
	if err != nil {
		return nil, explainStart(conn, err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{cl: cl, adm: kadm.NewClient(cl), group: group, onCommitError: onCommitError,
		cancel: cancel, commitWake: make(chan struct{}, 1)}
	f.mu.parts = map[topicPartition]*partBuffer{}
	f.wg.Add(2)
	go f.fetch(fctx)
	go f.commit(fctx)
	return f, nil
}

// close stops the goroutines, then closes the client.
func (f *fetcher) close() {
	f.cancel()
	f.wg.Wait()
	f.cl.Close()
}

// register returns the buffer of tp's records. The partition is fetched
// once its reader calls start.
func (f *fetcher) register(tp topicPartition, limit int) (*partBuffer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.parts[tp] != nil {
		return nil, fmt.Errorf("kafka: split %q is open already: a Source value serves one job at a time", tp)
	}
	b := &partBuffer{tp: tp, cl: f.cl, limit: limit}
	f.mu.parts[tp] = b
	return b, nil
}

// start fetches tp from offset next (earliestOffset: the earliest).
func (f *fetcher) start(tp topicPartition, next int64) {
	o := kgo.NewOffset().At(next)
	if next == earliestOffset {
		o = kgo.NewOffset().AtStart()
	}
	f.cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{tp.topic: {tp.partition: o}})
}

// unregister stops fetching tp and drops its buffer.
func (f *fetcher) unregister(tp topicPartition) {
	f.mu.Lock()
	b := f.mu.parts[tp]
	delete(f.mu.parts, tp)
	f.mu.Unlock()
	if b != nil {
		b.mu.Lock()
		b.closed, b.recs = true, nil
		b.mu.Unlock()
	}
	f.cl.RemoveConsumePartitions(map[string][]int32{tp.topic: {tp.partition}})
	f.cl.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
}

// fetch polls the client and hands each partition its records until ctx
// is canceled.
func (f *fetcher) fetch(ctx context.Context) {
	defer f.wg.Done()
	for {
		fs := f.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, partition int32, err error) {
			if !fatalFetchError(err) {
				return
			}
			if b := f.buffer(topicPartition{topic, partition}); b != nil {
				b.fail(err)
			}
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			if b := f.buffer(topicPartition{p.Topic, p.Partition}); b != nil {
				b.push(p.Records)
			}
		})
	}
}

func (f *fetcher) buffer(tp topicPartition) *partBuffer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.parts[tp]
}

// fatalFetchError reports whether a fetch error fails the partition's
// reader. The client retries what can be retried — a broker that is away,
// a leader that moves — and reports some of those errors meanwhile; a
// position lost to retention continues at the earliest offset
// (ErrDataLoss says so).
func fatalFetchError(err error) bool {
	var loss *kgo.ErrDataLoss
	switch {
	case errors.As(err, &loss), retriable(err):
		return false
	}
	return true
}

// retriable reports whether err is one that goes away by itself: the
// network, a broker restarting, a timeout.
func retriable(err error) bool {
	var ne net.Error
	return kerr.IsRetriable(err) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled) ||
		errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.NotLeaderForPartition)
}

// push appends fetched records and pauses the partition when its buffer is
// full.
func (b *partBuffer) push(recs []*kgo.Record) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.recs = append(b.recs, recs...)
	for _, r := range recs {
		b.bytes += recordBytes(r)
	}
	if b.bytes >= b.limit && !b.paused {
		// Under the lock, so that the reader's resume cannot come first.
		b.paused = true
		b.cl.PauseFetchPartitions(map[string][]int32{b.tp.topic: {b.tp.partition}})
	}
	wake := b.wake
	b.mu.Unlock()
	if wake != nil {
		wake()
	}
}

func (b *partBuffer) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	wake := b.wake
	b.mu.Unlock()
	if wake != nil {
		wake()
	}
}

// take moves up to n records into dst and reports whether more are
// buffered; it resumes the partition's fetches once its buffer is below
// half its bound.
func (b *partBuffer) take(dst []*kgo.Record, n int) ([]*kgo.Record, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, len(b.recs))
	dst = append(dst, b.recs[:n]...)
	for i, r := range b.recs[:n] {
		b.bytes -= recordBytes(r)
		b.recs[i] = nil
	}
	b.recs = b.recs[n:]
	if len(b.recs) == 0 {
		b.recs = nil
	}
	if b.paused && b.bytes <= b.limit/2 {
		b.paused = false
		b.cl.ResumeFetchPartitions(map[string][]int32{b.tp.topic: {b.tp.partition}})
	}
	return dst, len(b.recs) > 0, b.err
}

func (b *partBuffer) setWake(wake func()) {
	b.mu.Lock()
	b.wake = wake
	b.mu.Unlock()
}

// recordBytes is what a buffered record counts against its buffer's bound:
// its key, value and headers and a little for the rest.
func recordBytes(r *kgo.Record) int {
	n := len(r.Key) + len(r.Value) + 128
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// commitLater queues next as the offset to commit for tp.
func (f *fetcher) commitLater(tp topicPartition, next int64) {
	f.mu.Lock()
	if f.mu.commits == nil {
		f.mu.commits = map[topicPartition]int64{}
	}
	f.mu.commits[tp] = next
	f.mu.Unlock()
	select {
	case f.commitWake <- struct{}{}:
	default:
	}
}

// commitTimeout bounds one commit request.
const commitTimeout = 30 * time.Second

// commit commits the queued offsets to the group until ctx is canceled.
func (f *fetcher) commit(ctx context.Context) {
	defer f.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.commitWake:
		}
		f.mu.Lock()
		queued := f.mu.commits
		f.mu.commits = nil
		f.mu.Unlock()
		offs := kadm.Offsets{}
		for tp, next := range queued {
			offs.Add(kadm.Offset{Topic: tp.topic, Partition: tp.partition, At: next, LeaderEpoch: -1})
		}
		cctx, cancel := context.WithTimeout(ctx, commitTimeout)
		resp, err := f.adm.CommitOffsets(cctx, f.group, offs)
		cancel()
		if err == nil {
			err = resp.Error()
		}
		if err != nil && ctx.Err() == nil && f.onCommitError != nil {
			f.onCommitError(fmt.Errorf("kafka: commit offsets of group %q: %w", f.group, err))
		}
	}
}
