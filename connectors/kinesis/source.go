package kinesis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// Record is a record the source read, with its data decoded.
type Record[T any] struct {
	// Stream and Shard are where the record is; Sequence is its sequence
	// number, unique within the shard.
	Stream, Shard, Sequence string
	// PartitionKey is the key the producer wrote the record with.
	PartitionKey string
	// ArrivalTime is the record's approximate arrival timestamp, when the
	// stream stored it; the source emits the record with it as its event
	// time.
	ArrivalTime time.Time
	Value       T
}

// Start says where a shard the job has no position for is first read.
type Start uint8

const (
	// StartTrimHorizon reads from the oldest record the stream keeps.
	StartTrimHorizon Start = iota
	// StartLatest reads the records written after the job started.
	StartLatest
	// StartAtTimestamp reads the records that arrived at or after
	// SourceConfig.StartTime.
	StartAtTimestamp
)

// String returns the start's name as Kinesis spells it.
func (s Start) String() string {
	switch s {
	case StartTrimHorizon:
		return "TRIM_HORIZON"
	case StartLatest:
		return "LATEST"
	case StartAtTimestamp:
		return "AT_TIMESTAMP"
	}
	return fmt.Sprintf("Start(%d)", uint8(s))
}

// Defaults of SourceConfig.
const (
	DefaultLimit        = 1000
	DefaultIdleInterval = 250 * time.Millisecond
	maxLimit            = 10000
)

// SourceConfig configures a Source. The zero value of every field but
// Conn, Stream and Decoder has a default.
type SourceConfig[T any] struct {
	// Conn says how to reach Kinesis. Required.
	Conn Conn
	// Stream is the stream to read; it must exist when the job starts.
	// Required.
	Stream string
	// Decoder turns a record's data into a T. Data that does not decode is
	// rejected (weir.SourceOutput.Reject) with its bytes, and meets the
	// job's error policy; the error names the shard and sequence number.
	// Required.
	Decoder format.Decoder[T]
	// Start says where the shards of a job's first run are read from;
	// default StartTrimHorizon. StartTime is the time of
	// StartAtTimestamp. Shards that appear later by resharding are read
	// from their beginning, after their parents.
	Start     Start
	StartTime time.Time
	// Limit is how many records a GetRecords call asks for (at most
	// 10000); default DefaultLimit.
	Limit int
	// IdleInterval is how long a reader that has caught up with its shard
	// waits before asking again; default DefaultIdleInterval. Kinesis
	// allows five GetRecords calls per second per shard.
	IdleInterval time.Duration
	// Watermarks, when set, has each shard declare its watermark from the
	// arrival times it has read: the latest minus WatermarkLag, minus one
	// millisecond. Leave it unset when the job takes its event times from
	// the records' contents (weir.EventTime), which would make records
	// late by arrival time.
	Watermarks   bool
	WatermarkLag time.Duration
}

// Source reads a Kinesis stream with GetRecords. Every shard of the
// stream is a split, those that resharding creates while the job runs too
// (it implements weir.SplitDiscoverer). A shard is read only after each of
// its parents that the stream still lists has been read to its end, as the
// Kinesis Client Library does, so that the records of one partition key
// are read in the order they were written across a split or a merge; a
// shard read to its end stays a split of the job, idle, so that its
// children know it was.
//
// A split's position, kept in checkpoints, is the sequence number of the
// last record emitted; a restored job reads from the record after it.
// Before its first record a split's position is where it starts, so that
// a restore neither skips nor repeats: with StartLatest that is the time
// the shard's reader started, which it reads from with AT_TIMESTAMP (the
// stream's arrival times against this machine's clock: a clock ahead of
// Kinesis's skips the records of the difference).
//
// One Source value serves one job at a time: its readers tell each other,
// in memory, when a shard has finished.
//
// GetRecords calls that Kinesis throttles (ProvisionedThroughputExceeded)
// are retried after a backoff that doubles up to 5 s; an expired iterator
// is renewed from the last record read. A shard that has caught up and
// gets no records declares itself idle, so that it does not hold back the
// job's watermark.
type Source[T any] struct {
	cfg SourceConfig[T]

	mu struct {
		sync.Mutex
		// shards is the last listing of the stream's shards, by ID.
		shards map[string]types.Shard
		// open holds the shards whose readers are open in this process,
		// and whether they have finished; waiting are the readers that
		// wait for parents.
		open    map[string]*shardState
		waiting map[*reader[T]]struct{}
	}
}

// shardState is what a shard's open reader tells its children.
type shardState struct {
	finished bool
	// read: the shard was read to its end; unset when it was finished
	// without reading (a shard closed before a StartLatest job began).
	read bool
}

var (
	_ weir.Source[Record[int]] = (*Source[int])(nil)
	_ weir.SplitDiscoverer     = (*Source[int])(nil)
)

// NewSource checks cfg and returns a source.
func NewSource[T any](cfg SourceConfig[T]) (*Source[T], error) {
	if err := cfg.Conn.Validate(); err != nil {
		return nil, err
	}
	switch {
	case cfg.Stream == "":
		return nil, errors.New("kinesis: SourceConfig.Stream is required")
	case cfg.Decoder == nil:
		return nil, errors.New("kinesis: SourceConfig.Decoder is required")
	case cfg.Start > StartAtTimestamp:
		return nil, fmt.Errorf("kinesis: SourceConfig.Start %d is not a Start", cfg.Start)
	case cfg.Start == StartAtTimestamp && cfg.StartTime.IsZero():
		return nil, errors.New("kinesis: SourceConfig.StartTime is required with StartAtTimestamp")
	case cfg.Start != StartAtTimestamp && !cfg.StartTime.IsZero():
		return nil, fmt.Errorf("kinesis: SourceConfig.StartTime is set but Start is %v, not AT_TIMESTAMP", cfg.Start)
	case cfg.Limit < 0 || cfg.Limit > maxLimit:
		return nil, fmt.Errorf("kinesis: SourceConfig.Limit %d is out of 0–%d", cfg.Limit, maxLimit)
	case cfg.IdleInterval < 0:
		return nil, fmt.Errorf("kinesis: SourceConfig.IdleInterval %v must not be negative", cfg.IdleInterval)
	case cfg.WatermarkLag < 0:
		return nil, fmt.Errorf("kinesis: SourceConfig.WatermarkLag %v must not be negative", cfg.WatermarkLag)
	}
	if cfg.Limit == 0 {
		cfg.Limit = DefaultLimit
	}
	if cfg.IdleInterval == 0 {
		cfg.IdleInterval = DefaultIdleInterval
	}
	if _, _, err := cfg.Conn.client(); err != nil {
		return nil, err
	}
	s := &Source[T]{cfg: cfg}
	s.mu.shards = map[string]types.Shard{}
	s.mu.open = map[string]*shardState{}
	s.mu.waiting = map[*reader[T]]struct{}{}
	return s, nil
}

// Bounded implements weir.Source: a stream has no end.
func (s *Source[T]) Bounded() bool { return false }

// OffsetName implements weir.OffsetNamer: a record's offset is its
// number in its shard, counted from where the job first read it; errors
// name its sequence number too.
func (s *Source[T]) OffsetName() string { return "record" }

// list lists the stream's shards and keeps the listing.
func (s *Source[T]) list(ctx context.Context, client *kinesis.Client) ([]types.Shard, error) {
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(s.cfg.Stream)}
	for {
		o, err := client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("kinesis: stream %q: list shards: %w", s.cfg.Stream, err)
		}
		out = append(out, o.Shards...)
		if o.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: o.NextToken}
	}
	s.mu.Lock()
	for _, sh := range out {
		s.mu.shards[aws.ToString(sh.ShardId)] = sh
	}
	s.mu.Unlock()
	return out, nil
}

func splitsOf(shards []types.Shard) []weir.Split {
	out := make([]weir.Split, len(shards))
	for i, sh := range shards {
		out[i] = weir.Split{ID: aws.ToString(sh.ShardId)}
	}
	slices.SortFunc(out, func(a, b weir.Split) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Splits implements weir.Source: every shard the stream lists, closed
// ones included. A stream that does not exist fails the job at its start.
func (s *Source[T]) Splits(ctx context.Context) ([]weir.Split, error) {
	client, tr, err := s.cfg.Conn.client()
	if err != nil {
		return nil, err
	}
	defer tr.CloseIdleConnections()
	shards, err := s.list(ctx, client)
	if err != nil {
		return nil, err
	}
	return splitsOf(shards), nil
}

// shard returns the listing of a shard, listing the stream again when the
// last listing does not have it.
func (s *Source[T]) shard(ctx context.Context, client *kinesis.Client, id string) (types.Shard, error) {
	s.mu.Lock()
	sh, ok := s.mu.shards[id]
	s.mu.Unlock()
	if ok {
		return sh, nil
	}
	if _, err := s.list(ctx, client); err != nil {
		return types.Shard{}, err
	}
	s.mu.Lock()
	sh, ok = s.mu.shards[id]
	s.mu.Unlock()
	if !ok {
		return types.Shard{}, fmt.Errorf("kinesis: stream %q has no shard %q (expired past the stream's retention?)", s.cfg.Stream, id)
	}
	return sh, nil
}

// OpenSplit implements weir.Source.
func (s *Source[T]) OpenSplit(ctx context.Context, split weir.Split, position []byte) (weir.SplitReader[Record[T]], error) {
	p, err := decodePosition(position)
	if err != nil {
		return nil, fmt.Errorf("kinesis: shard %q: %w", split.ID, err)
	}
	client, tr, err := s.cfg.Conn.client()
	if err != nil {
		return nil, err
	}
	r := &reader[T]{src: s, shard: split.ID, p: p, client: client, tr: tr}
	if p.kind == kindFresh {
		sh, err := s.shard(ctx, client, split.ID)
		if err != nil {
			tr.CloseIdleConnections()
			return nil, err
		}
		r.closed = sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
		s.mu.Lock()
		// Only the parents the stream still lists are waited for: one
		// past the stream's retention holds nothing to read first.
		for _, id := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if _, listed := s.mu.shards[aws.ToString(id)]; id != nil && listed {
				r.parents = append(r.parents, *id)
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	st := &shardState{}
	if p.kind == kindFinished {
		st.finished, st.read = true, p.read
	}
	s.mu.open[split.ID] = st
	r.state = st
	s.mu.Unlock()
	if st.finished {
		// Its children may be waiting for it.
		s.wakeWaiting()
	}
	return r, nil
}

// parentsFinished reports whether every parent of r has finished and
// whether any was read to its end; while they have not, r waits and is
// woken when one finishes.
func (s *Source[T]) parentsFinished(r *reader[T]) (done, read bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range r.parents {
		st, ok := s.mu.open[p]
		if !ok || !st.finished {
			s.mu.waiting[r] = struct{}{}
			return false, false
		}
		read = read || st.read
	}
	delete(s.mu.waiting, r)
	return true, read
}

// finish records that r's shard has finished, and wakes the readers
// waiting for it.
func (s *Source[T]) finish(r *reader[T], read bool) {
	s.mu.Lock()
	r.state.finished, r.state.read = true, read
	s.mu.Unlock()
	s.wakeWaiting()
}

func (s *Source[T]) wakeWaiting() {
	s.mu.Lock()
	waiting := make([]*reader[T], 0, len(s.mu.waiting))
	for r := range s.mu.waiting {
		waiting = append(waiting, r)
	}
	s.mu.Unlock()
	for _, r := range waiting {
		r.woken()
	}
}

// closeReader forgets r's shard: a new job reading the same source learns of
// it from its own readers.
func (s *Source[T]) closeReader(r *reader[T]) {
	s.mu.Lock()
	if s.mu.open[r.shard] == r.state {
		delete(s.mu.open, r.shard)
	}
	delete(s.mu.waiting, r)
	s.mu.Unlock()
}

// Enumerator implements weir.SplitDiscoverer: it lists the stream's
// shards every weir.DiscoveryInterval, so that the shards a reshard
// creates become splits. It keeps no state of its own.
func (s *Source[T]) Enumerator(ctx context.Context, _ []byte) (weir.SplitEnumerator, error) {
	client, tr, err := s.cfg.Conn.client()
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	e := &enumerator[T]{src: s, client: client, tr: tr, cancel: cancel, kick: make(chan struct{}, 1)}
	e.wg.Add(1)
	go e.run(lctx)
	return e, nil
}

// enumerator lists the shards on a goroutine of its own, so that Discover
// never waits for Kinesis: each Discover returns what the last listing
// found and asks for another.
type enumerator[T any] struct {
	src    *Source[T]
	client *kinesis.Client
	tr     *http.Transport
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}

	mu struct {
		sync.Mutex
		found []weir.Split
		err   error
		fails int
	}
}

// maxListFailures is how many listings in a row may fail before the job
// does: Kinesis being away for a while is not a reason to stop.
const maxListFailures = 10

// Discover implements weir.SplitEnumerator.
func (e *enumerator[T]) Discover(context.Context) ([]weir.Split, error) {
	e.mu.Lock()
	found, err := e.mu.found, e.mu.err
	e.mu.found, e.mu.err = nil, nil
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
	return found, err
}

func (e *enumerator[T]) run(ctx context.Context) {
	defer e.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		shards, err := e.src.list(lctx, e.client)
		cancel()
		if ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		if err == nil {
			e.mu.found, e.mu.fails = splitsOf(shards), 0
		} else if e.mu.fails++; e.mu.fails >= maxListFailures || !retriable(err) {
			e.mu.err = err
		}
		e.mu.Unlock()
	}
}

// State implements weir.SplitEnumerator: the runtime keeps the splits it
// knows, which is all the enumerator needs.
func (e *enumerator[T]) State() ([]byte, error) { return nil, nil }

// Close implements weir.SplitEnumerator.
func (e *enumerator[T]) Close() error {
	e.cancel()
	e.wg.Wait()
	e.tr.CloseIdleConnections()
	return nil
}
