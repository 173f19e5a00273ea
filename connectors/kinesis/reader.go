package kinesis

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/weirstream/weir"
)

// A position's kind: where a reader opened at it starts.
const (
	kindFresh    byte = iota // no position: the shard has not started
	kindAfter                // after the sequence number seq
	kindAt                   // at the arrival time at (AT_TIMESTAMP)
	kindTrim                 // at the trim horizon
	kindFinished             // the shard has finished; read says whether it was read
)

const positionVersion = 1

// position is where a split is: what the checkpoint keeps for it.
type position struct {
	kind  byte
	seq   string
	at    time.Time
	read  bool
	count int64 // records read from the shard by the job, for offsets
}

// encode appends the position: version, kind, count (uvarint), then the
// sequence number, the time (ms, 8 bytes) or the read flag.
func (p position) encode(dst []byte) []byte {
	dst = append(dst, positionVersion, p.kind)
	dst = binary.AppendUvarint(dst, uint64(p.count))
	switch p.kind {
	case kindAfter:
		dst = append(dst, p.seq...)
	case kindAt:
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.at.UnixMilli()))
	case kindFinished:
		b := byte(0)
		if p.read {
			b = 1
		}
		dst = append(dst, b)
	}
	return dst
}

func decodePosition(b []byte) (position, error) {
	if len(b) == 0 {
		return position{kind: kindFresh}, nil
	}
	if len(b) < 3 || b[0] != positionVersion {
		return position{}, fmt.Errorf("position %x is not one this source wrote", b)
	}
	p := position{kind: b[1]}
	n, k := binary.Uvarint(b[2:])
	if k <= 0 {
		return position{}, fmt.Errorf("position %x: bad record count", b)
	}
	p.count = int64(n)
	rest := b[2+k:]
	ok := true
	switch p.kind {
	case kindAfter:
		p.seq, ok = string(rest), len(rest) > 0
	case kindAt:
		ok = len(rest) == 8
		if ok {
			p.at = time.UnixMilli(int64(binary.BigEndian.Uint64(rest)))
		}
	case kindFresh, kindTrim:
		ok = len(rest) == 0
	case kindFinished:
		ok = len(rest) == 1
		p.read = ok && rest[0] == 1
	default:
		ok = false
	}
	if !ok {
		return position{}, fmt.Errorf("position %x is not one this source wrote", b)
	}
	return p, nil
}

// batch is what one GetRecords call returned.
type batch struct {
	recs   []types.Record
	behind int64 // MillisBehindLatest
	end    bool  // the shard is closed and read to its end
}

// reader reads a shard: it waits for the shard's parents, then a
// goroutine calls GetRecords and hands each response to Poll.
type reader[T any] struct {
	src     *Source[T]
	client  *kinesis.Client
	tr      *http.Transport
	shard   string
	parents []string // to finish before this shard starts
	closed  bool     // the shard was closed when opened
	p       position
	state   *shardState // under src.mu
	pos     []byte

	started bool
	cur     batch
	next    int // of cur.recs
	maxAt   time.Time
	batches chan batch
	cancel  context.CancelFunc
	done    chan struct{}

	behind    atomic.Int64
	throttled atomic.Int64

	mu   sync.Mutex
	wake func()
	err  error // of the fetch goroutine, under mu
}

var (
	_ weir.WakingReader    = (*reader[int])(nil)
	_ weir.MetricsReporter = (*reader[int])(nil)
)

// SetWake implements weir.WakingReader.
func (r *reader[T]) SetWake(wake func()) {
	r.mu.Lock()
	r.wake = wake
	r.mu.Unlock()
}

func (r *reader[T]) woken() {
	r.mu.Lock()
	w := r.wake
	r.mu.Unlock()
	if w != nil {
		w()
	}
}

// Metrics implements weir.MetricsReporter.
func (r *reader[T]) Metrics() []weir.Metric {
	return []weir.Metric{
		{Name: "kinesis_millis_behind_latest", Help: "How far the shard's last GetRecords response was behind the tip of the shard, in milliseconds.",
			Value: float64(r.behind.Load())},
		{Name: "kinesis_throttled_total", Help: "GetRecords and GetShardIterator calls Kinesis throttled, retried after a backoff.",
			Value: float64(r.throttled.Load()), Counter: true},
	}
}

// Poll implements weir.SplitReader. A shard that has finished, or waits
// for its parents, is idle: it returns Wait and is woken when a parent
// finishes. A finished shard never returns End, so that it stays in the
// job's checkpoints as finished for its children to see after a restore.
func (r *reader[T]) Poll(out weir.SourceOutput[Record[T]], n int) (weir.PollStatus, error) {
	if r.p.kind == kindFinished {
		out.Idle()
		return weir.Wait, nil
	}
	if !r.started {
		if !r.start(out) {
			out.Idle()
			return weir.Wait, nil
		}
		if r.p.kind == kindFinished {
			out.Idle()
			return weir.Wait, nil
		}
	}
	cfg := &r.src.cfg
	for i := 0; i < n; {
		if r.next == len(r.cur.recs) {
			if r.cur.end {
				r.p = position{kind: kindFinished, read: true, count: r.p.count}
				r.src.finish(r, true)
				out.Idle()
				return weir.Wait, nil
			}
			select {
			case b := <-r.batches:
				r.cur, r.next = b, 0
				if len(b.recs) == 0 && b.behind == 0 && !b.end {
					out.Idle()
				}
				continue
			default:
			}
			r.mu.Lock()
			err := r.err
			r.mu.Unlock()
			if err != nil && len(r.batches) == 0 {
				return weir.Wait, err
			}
			if i > 0 {
				return weir.More, nil
			}
			return weir.Wait, nil
		}
		rec := &r.cur.recs[r.next]
		r.next++
		i++
		seq := aws.ToString(rec.SequenceNumber)
		at := aws.ToTime(rec.ApproximateArrivalTimestamp)
		off := r.p.count
		r.p = position{kind: kindAfter, seq: seq, count: r.p.count + 1}
		v, err := cfg.Decoder.Decode(rec.Data)
		if err != nil {
			out.Reject(rec.Data, off, fmt.Errorf("shard %s, sequence number %s: %w", r.shard, seq, err))
			continue
		}
		out.EmitAt(Record[T]{Stream: cfg.Stream, Shard: r.shard, Sequence: seq, PartitionKey: aws.ToString(rec.PartitionKey),
			ArrivalTime: at, Value: v}, at, off)
		if cfg.Watermarks && at.After(r.maxAt) {
			r.maxAt = at
			out.Watermark(at.Add(-cfg.WatermarkLag - time.Millisecond))
		}
	}
	return weir.More, nil
}

// start starts reading once the shard's parents have finished: it decides
// where a shard with no position begins and starts the fetch goroutine.
// It reports false while a parent has not finished.
func (r *reader[T]) start(out weir.SourceOutput[Record[T]]) bool {
	cfg := &r.src.cfg
	if r.p.kind == kindFresh {
		done, parentRead := r.src.parentsFinished(r)
		if !done {
			return false
		}
		switch {
		case parentRead:
			// A child of a shard the job read: every record in it came
			// after what the job read of its parents.
			r.p.kind = kindTrim
		case cfg.Start == StartTrimHorizon:
			r.p.kind = kindTrim
		case cfg.Start == StartAtTimestamp:
			r.p.kind, r.p.at = kindAt, cfg.StartTime
		case r.closed:
			// StartLatest and closed before the job read anything of it:
			// nothing in it comes after the start.
			r.p = position{kind: kindFinished}
			r.started = true
			r.src.finish(r, false)
			return true
		default:
			// StartLatest: the records that arrive from now on, read
			// AT_TIMESTAMP now rather than with a LATEST iterator, so
			// that the position kept before the first record reads the
			// same after a restore.
			r.p.kind, r.p.at = kindAt, time.Now()
		}
	}
	in := &kinesis.GetShardIteratorInput{}
	switch r.p.kind {
	case kindAfter:
		in.ShardIteratorType, in.StartingSequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, aws.String(r.p.seq)
	case kindAt:
		in.ShardIteratorType, in.Timestamp = types.ShardIteratorTypeAtTimestamp, aws.Time(r.p.at)
	default:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	}
	r.startFetch(in)
	return true
}

func (r *reader[T]) startFetch(in *kinesis.GetShardIteratorInput) {
	in.StreamName, in.ShardId = aws.String(r.src.cfg.Stream), aws.String(r.shard)
	r.started = true
	r.batches = make(chan batch, 2)
	r.done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.fetch(ctx, in)
}

// Backoff of throttled and failed calls.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// maxFailures is how many calls in a row may fail for a reason other
	// than throttling before the job does.
	maxFailures = 10
)

// fetch calls GetRecords until the shard ends or ctx is canceled.
func (r *reader[T]) fetch(ctx context.Context, in *kinesis.GetShardIteratorInput) {
	defer close(r.done)
	client, cfg := r.client, &r.src.cfg
	var iter *string
	var last string // sequence number of the last record fetched
	backoff, fails := minBackoff, 0
	// retry decides what a failed call leads to: false ends the
	// goroutine with the error.
	retry := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if throttled(err) {
			r.throttled.Add(1)
		} else if fails++; fails > maxFailures || !retriable(err) {
			r.mu.Lock()
			r.err = fmt.Errorf("kinesis: shard %q: %s: %w", r.shard, what, err)
			r.mu.Unlock()
			r.woken()
			return false
		}
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, maxBackoff)
		return true
	}
	for {
		if iter == nil {
			if last != "" {
				in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp = types.ShardIteratorTypeAfterSequenceNumber, aws.String(last), nil
			}
			o, err := client.GetShardIterator(ctx, in)
			if err != nil {
				if !retry("get shard iterator", err) {
					return
				}
				continue
			}
			iter = o.ShardIterator
		}
		o, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(cfg.Limit))})
		if err != nil {
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				iter = nil // renewed from the last record fetched
				continue
			}
			if !retry("get records", err) {
				return
			}
			continue
		}
		backoff, fails = minBackoff, 0
		b := batch{recs: o.Records, behind: aws.ToInt64(o.MillisBehindLatest), end: o.NextShardIterator == nil}
		r.behind.Store(b.behind)
		if len(b.recs) > 0 {
			last = aws.ToString(b.recs[len(b.recs)-1].SequenceNumber)
		}
		select {
		case r.batches <- b:
		case <-ctx.Done():
			return
		}
		r.woken()
		if b.end {
			return
		}
		iter = o.NextShardIterator
		if len(b.recs) == 0 && b.behind == 0 && !sleep(ctx, cfg.IdleInterval) {
			return
		}
	}
}

// sleep waits for d unless ctx ends first, and reports whether it did not.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// throttled reports whether Kinesis refused a call for going over a
// limit, which waiting cures.
func throttled(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "ProvisionedThroughputExceededException", "LimitExceededException", "KMSThrottlingException", "ThrottlingException":
		return true
	}
	return false
}

// retriable reports whether a failure may go away by itself: throttling,
// a server error, the network. A request Kinesis refuses for what it
// asks (no such stream, no access, a bad argument) is not.
func retriable(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return true // the network
	}
	if throttled(err) {
		return true
	}
	return ae.ErrorFault() == smithy.FaultServer
}

// Position implements weir.SplitReader.
func (r *reader[T]) Position() []byte {
	r.pos = r.p.encode(r.pos[:0])
	return r.pos
}

// Close implements weir.SplitReader.
func (r *reader[T]) Close() error {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
	}
	r.tr.CloseIdleConnections()
	r.src.closeReader(r)
	return nil
}
