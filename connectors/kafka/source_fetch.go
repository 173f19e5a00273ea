package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetcher is the Kafka client a source's readers share in one process. Its
// fetch goroutine polls the client for every partition being read and
// appends each partition's records to that partition's buffer, waking its
// reader. Its commit goroutine commits the offsets readers hand it when
// checkpoints complete, batched into one request.
//
// Backpressure: once a buffer holds its bound, the fetch goroutine stops
// polling until the reader has taken half of it. The client then holds
// what it fetched meanwhile (one response per broker) and fetches no
// more, and nothing is fetched twice. Pausing the partition instead would
// let the others go on, but the client drops a paused partition's records
// that it has fetched and not yet handed out, and fetches them again
// after the resume: at full speed that was about a sixth more records
// fetched and decoded than read. So a full partition is paused only while
// another partition's reader is starved (its buffer is empty and the
// brokers said they hold records it has not been given) for longer than
// a full buffer takes to drain within one subtask: a subtask that is slow
// for a while holds the others back no longer than that.
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
	// room wakes the fetch goroutine while it waits for a full buffer to
	// drain: a buffer drained to half or emptied, or closed.
	room chan struct{}
	// full counts the buffers that are full, so that a poll looks at
	// them only when there are some.
	full atomic.Int32
	// fetched counts the records of the batches the client decoded
	// (control records included), for the tests.
	fetched *fetchCount

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
	room  chan struct{}
	nfull *atomic.Int32

	mu    sync.Mutex
	recs  []*kgo.Record
	bytes int
	// full is set when the buffer reached its bound and cleared when its
	// reader has taken half of it; paused when the partition's fetches
	// were paused meanwhile (fetcher.waitRoom).
	full, paused bool
	// fetchedTo is the offset after the last record fetched; logEnd the
	// offset up to which the brokers said, in that fetch, that there were
	// records to read (the last stable offset under read_committed).
	fetchedTo, logEnd int64
	// fetched is set by the first fetch that returned records.
	fetched bool
	// starved is when the reader emptied the buffer while the brokers
	// held more records for it; zero once records came.
	starved time.Time
	// closed is set when the reader has closed: a fetch that got the
	// buffer before then neither fills nor pauses it.
	closed bool
	err    error
	wake   func()
}

func newFetcher(ctx context.Context, conn Conn, opts []kgo.Opt, group string, onCommitError func(error)) (*fetcher, error) {
	// A direct consumer of no partition yet: readers add theirs.
	fetched := new(fetchCount)
	cl, err := conn.newClient(ctx, append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{}), kgo.WithHooks(fetched))...)
	if err != nil {
		return nil, explainStart(conn, err)
	}
	fctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{cl: cl, adm: kadm.NewClient(cl), group: group, onCommitError: onCommitError,
		cancel: cancel, commitWake: make(chan struct{}, 1), room: make(chan struct{}, 1), fetched: fetched}
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
	b := &partBuffer{tp: tp, cl: f.cl, limit: limit, room: f.room, nfull: &f.full}
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
		if b.full {
			b.full = false
			b.nfull.Add(-1)
		}
		b.mu.Unlock()
	}
	f.cl.RemoveConsumePartitions(map[string][]int32{tp.topic: {tp.partition}})
	f.cl.ResumeFetchPartitions(map[string][]int32{tp.topic: {tp.partition}})
	signal(f.room)
}

// signal wakes whoever waits on c, a channel of capacity one, without
// blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// fetch polls the client and hands each partition its records until ctx
// is canceled.
func (f *fetcher) fetch(ctx context.Context) {
	defer f.wg.Done()
	for {
		if !f.waitRoom(ctx) {
			return
		}
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
				end := p.HighWatermark
				if p.LastStableOffset >= 0 {
					end = p.LastStableOffset
				}
				b.push(p.Records, end)
			}
		})
	}
}

// waitRoom returns once no buffer is full, or a full one's partition is
// paused because another partition's reader has been starved for
// starveTimeout (see fetcher); it returns false if ctx is canceled first.
func (f *fetcher) waitRoom(ctx context.Context) bool {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for f.full.Load() > 0 {
		var full []*partBuffer
		var starved time.Time
		f.mu.Lock()
		for _, b := range f.mu.parts {
			b.mu.Lock()
			switch {
			case b.closed:
			case b.full && !b.paused:
				full = append(full, b)
			case !b.starved.IsZero() && (starved.IsZero() || b.starved.Before(starved)):
				starved = b.starved
			}
			b.mu.Unlock()
		}
		f.mu.Unlock()
		if len(full) == 0 {
			return true
		}
		var expired <-chan time.Time
		if !starved.IsZero() {
			wait := starveTimeout - time.Since(starved)
			if wait <= 0 {
				for _, b := range full {
					b.pause()
				}
				return true
			}
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			expired = timer.C
		}
		select {
		case <-ctx.Done():
			return false
		case <-f.room:
		case <-expired:
		}
	}
	return true
}

// starveTimeout is how long a partition's reader may go without records
// that the brokers hold for it, because another partition's buffer is full,
// before that partition's fetches are paused. Within one subtask, whose
// readers are drained in turn, a full buffer drains well within it.
const starveTimeout = 50 * time.Millisecond

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

// end is the partition's end offset as of the last fetch that returned
// records, -1 before one did.
func (b *partBuffer) end() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.fetched {
		return -1
	}
	return b.logEnd
}

// push appends fetched records, the brokers having said that the
// partition's records to read end at logEnd, and marks the buffer full at
// its bound.
func (b *partBuffer) push(recs []*kgo.Record, logEnd int64) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.recs = append(b.recs, recs...)
	for _, r := range recs {
		b.bytes += recordBytes(r)
	}
	b.fetchedTo, b.logEnd, b.fetched = recs[len(recs)-1].Offset+1, logEnd, true
	b.starved = time.Time{}
	if b.bytes >= b.limit && !b.full {
		b.full = true
		b.nfull.Add(1)
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

// pause pauses the partition's fetches while its buffer is full.
func (b *partBuffer) pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.full && !b.paused && !b.closed {
		// Under the lock, so that the reader's resume cannot come first.
		b.paused = true
		b.cl.PauseFetchPartitions(map[string][]int32{b.tp.topic: {b.tp.partition}})
	}
}

// take moves up to n records into dst and reports whether more are
// buffered. Once a full buffer is down to half its bound it lets the
// fetches go on, resuming the partition's if they were paused; a buffer
// emptied while the brokers hold more records for it is starved, and wakes
// the fetch goroutine too, which may be waiting for another's
// (fetcher.waitRoom).
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
	switch {
	case b.full && b.bytes <= b.limit/2:
		if b.paused {
			b.cl.ResumeFetchPartitions(map[string][]int32{b.tp.topic: {b.tp.partition}})
		}
		b.full, b.paused = false, false
		b.nfull.Add(-1)
		signal(b.room)
	case n > 0 && len(b.recs) == 0 && b.logEnd > b.fetchedTo:
		b.starved = time.Now()
		signal(b.room)
	}
	return dst, len(b.recs) > 0, b.err
}

func (b *partBuffer) setWake(wake func()) {
	b.mu.Lock()
	b.wake = wake
	b.mu.Unlock()
}

// fetchCount counts the records of the batches a client decoded.
type fetchCount struct{ n atomic.Int64 }

// OnFetchBatchRead implements kgo.HookFetchBatchRead.
func (c *fetchCount) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	c.n.Add(int64(m.NumRecords))
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
