package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Config configures a journal. Dir is required, and Partitions when the
// journal is created; the rest have defaults.
type Config struct {
	// Dir is the journal's directory, created if missing.
	Dir string
	// Partitions is the number of partitions. A new journal needs it; an
	// existing one keeps the number it was created with, and 0 or that
	// number opens it (another number is refused).
	Partitions int
	// SegmentBytes is the size at which a partition starts a new segment
	// file (default 16 MiB). Retention deletes whole segments, so it is
	// also the granularity of retention.
	SegmentBytes int64
	// SegmentAge, when positive, also starts a new segment at an append
	// once the active one's first record is older than SegmentAge, so that
	// Retention.MaxAge reaches quiet partitions too (the active segment is
	// never deleted). Default: a tenth of Retention.MaxAge (at least a
	// second) when that is set, else no age limit.
	SegmentAge time.Duration
	// MaxRecordBytes is the largest record value Append takes (default 1
	// MiB, at most MaxRecordLimit).
	MaxRecordBytes int
	// MaxPendingBytes bounds the values waiting for the next group commit
	// (default 64 MiB): an Append that would go beyond it fails at once
	// with ErrBacklog instead of waiting, so memory stays bounded.
	MaxPendingBytes int64
	// Retention says which segments are deleted.
	Retention Retention
}

// Retention is a journal's retention policy. A segment is deleted only
// when it is wholly outside the policy — all its records are older than
// MaxAge, or the newer segments alone fill MaxBytes — and never because a
// reader has read it: a job restored from an old checkpoint reads again
// what is still kept. A partition's active segment (the one appended to)
// is never deleted. Zero values mean no limit.
type Retention struct {
	// MaxAge deletes a segment once its newest record (the file's
	// modification time) is older than MaxAge.
	MaxAge time.Duration
	// MaxBytes bounds the journal's segments on disk, over all partitions:
	// the oldest segments (by their newest record) go first.
	MaxBytes int64
	// Interval is how often an Append checks the policy (default 1 min);
	// a roll to a new segment and Open always do, and Enforce does on
	// demand.
	Interval time.Duration
}

const (
	defaultSegmentBytes    = 16 << 20
	defaultMaxRecordBytes  = 1 << 20
	defaultMaxPendingBytes = 64 << 20
	defaultRetentionCheck  = time.Minute
	metaName               = "journal.json"
	lockName               = "LOCK"
	metaFormat             = 1
)

// Validate checks the configuration and names the field that is wrong.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("journal.Config.Dir is required"))
	}
	if c.Partitions < 0 || c.Partitions > 1<<16 {
		errs = append(errs, fmt.Errorf("journal.Config.Partitions is %d, want 1 to 65536 (0 opens an existing journal)", c.Partitions))
	}
	if c.SegmentAge < 0 {
		errs = append(errs, fmt.Errorf("journal.Config.SegmentAge is %v, must not be negative", c.SegmentAge))
	}
	if c.SegmentBytes < 0 {
		errs = append(errs, fmt.Errorf("journal.Config.SegmentBytes is %d, must not be negative", c.SegmentBytes))
	}
	if c.MaxRecordBytes < 0 || c.MaxRecordBytes > MaxRecordLimit {
		errs = append(errs, fmt.Errorf("journal.Config.MaxRecordBytes is %d, want 0 (default) to %d", c.MaxRecordBytes, MaxRecordLimit))
	}
	if c.MaxPendingBytes < 0 {
		errs = append(errs, fmt.Errorf("journal.Config.MaxPendingBytes is %d, must not be negative", c.MaxPendingBytes))
	}
	if c.Retention.MaxAge < 0 || c.Retention.MaxBytes < 0 || c.Retention.Interval < 0 {
		errs = append(errs, fmt.Errorf("journal.Config.Retention %+v: MaxAge, MaxBytes and Interval must not be negative", c.Retention))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.SegmentBytes == 0 {
		c.SegmentBytes = defaultSegmentBytes
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = defaultMaxRecordBytes
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = defaultMaxPendingBytes
	}
	if c.MaxPendingBytes < int64(c.MaxRecordBytes) {
		c.MaxPendingBytes = int64(c.MaxRecordBytes)
	}
	if c.SegmentAge == 0 && c.Retention.MaxAge > 0 {
		c.SegmentAge = max(c.Retention.MaxAge/10, time.Second)
	}
	if c.Retention.Interval == 0 {
		c.Retention.Interval = defaultRetentionCheck
	}
	return c
}

// Errors an Append returns; test for them with errors.Is.
var (
	// ErrBacklog: the appends waiting for the next group commit already
	// hold Config.MaxPendingBytes. Try again later.
	ErrBacklog = errors.New("journal: append queue full")
	// ErrClosed: the journal is closed.
	ErrClosed = errors.New("journal: closed")
)

// Record is a value to append to a partition.
type Record struct {
	Partition int
	Value     []byte
}

// Journal is an open journal: one writer in one process, any number of
// readers in the same process. Its methods are safe for concurrent use.
type Journal struct {
	cfg   Config
	parts []*partition
	lock  *os.File

	// lead is the commit leadership: held by the Append that writes and
	// syncs a group, by retention and by Close.
	lead chan struct{}

	mu struct {
		sync.Mutex
		pending      []*batch
		pendingBytes int64
		closed       bool
		// failed is set when a write or sync failed: what reached the
		// disk is unknown until the journal is opened again.
		failed error
	}
	// beforeCommit, when set (by tests), runs in the leader before it
	// takes the pending appends.
	beforeCommit func()
	// closed mirrors mu.closed for readers, which check it on every read.
	closed atomic.Bool
	// lastRetention is when retention last ran (Unix nanoseconds), and
	// rolled is set when a commit started a new segment; both are read and
	// written by the leader only.
	lastRetention int64
	rolled        bool

	m struct {
		appends, records, bytes, commits, syncs, backlog atomic.Int64
		truncated, deleted, retentionFailures            atomic.Int64
	}
}

// batch is the records of one Append waiting for a group commit.
type batch struct {
	recs  []Record
	bytes int64
	err   error
	done  chan struct{}
}

type meta struct {
	Format     int `json:"format"`
	Partitions int `json:"partitions"`
}

// Open opens the journal in cfg.Dir, creating it if needed. It takes an
// exclusive lock on the directory, so a second Open of the same journal,
// in this process or another, fails until Close. Each partition's last
// segment is checked record by record: a torn or damaged tail, left by a
// crash during an append that was never acknowledged, is truncated
// (Metrics.TruncatedBytes counts it).
func Open(cfg Config) (*Journal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, lockName))
	if err != nil {
		return nil, err
	}
	j := &Journal{cfg: cfg, lock: lock, lead: make(chan struct{}, 1)}
	if err := j.open(); err != nil {
		j.closeFiles()
		return nil, err
	}
	return j, nil
}

func (j *Journal) open() error {
	n, err := j.readMeta()
	if err != nil {
		return err
	}
	j.cfg.Partitions = n
	j.parts = make([]*partition, n)
	for i := range j.parts {
		p, truncated, err := openPartition(j, i)
		if err != nil {
			return err
		}
		j.parts[i] = p
		j.m.truncated.Add(truncated)
	}
	return j.retainLocked(time.Now())
}

// readMeta reads the journal's partition count, writing it for a new
// journal.
func (j *Journal) readMeta() (int, error) {
	path := filepath.Join(j.cfg.Dir, metaName)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if j.cfg.Partitions == 0 {
			return 0, fmt.Errorf("journal: %s holds no journal; Config.Partitions is needed to create one", j.cfg.Dir)
		}
		b, _ = json.Marshal(meta{Format: metaFormat, Partitions: j.cfg.Partitions})
		if err := writeFileSync(path, b); err != nil {
			return 0, fmt.Errorf("journal: %w", err)
		}
		return j.cfg.Partitions, nil
	}
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b, &m); err != nil {
		return 0, fmt.Errorf("journal: %s: %w", path, err)
	}
	if m.Format != metaFormat || m.Partitions < 1 {
		return 0, fmt.Errorf("journal: %s: format %d with %d partitions, want format %d with at least one", path, m.Format, m.Partitions, metaFormat)
	}
	if j.cfg.Partitions != 0 && j.cfg.Partitions != m.Partitions {
		return 0, fmt.Errorf("journal: %s has %d partitions, Config.Partitions asks for %d; the number cannot change", j.cfg.Dir, m.Partitions, j.cfg.Partitions)
	}
	return m.Partitions, nil
}

// writeFileSync writes a small file durably: a temporary file, synced,
// renamed over path, and the directory synced.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Partitions returns the number of partitions.
func (j *Journal) Partitions() int { return len(j.parts) }

// MaxRecordBytes returns the largest value Append takes.
func (j *Journal) MaxRecordBytes() int { return j.cfg.MaxRecordBytes }

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.cfg.Dir }

// Partition returns the partition of key: XXH64 of the key's bytes (seed
// 0) modulo the number of partitions. It depends only on the key and the
// number of partitions, so it is stable across runs and versions.
func (j *Journal) Partition(key []byte) int {
	return int(xxhash.Sum64(key) % uint64(len(j.parts)))
}

// Append appends records and returns once they are durable (written and
// fsynced) and visible to readers, or with an error. Concurrent Appends
// share one write per partition and one fsync per partition written (group
// commit): while one group is being synced the next gathers.
//
// Append copies the values; the caller may reuse them when it returns. It
// fails at once with ErrBacklog when the appends waiting already hold
// Config.MaxPendingBytes, and with ErrClosed after Close. Once its records
// are queued it waits for their commit whatever ctx says, since they may
// be written. After a write or sync error the records of the failed group
// may or may not be on disk, and the journal refuses every later Append
// with that error until it is opened again (which recovers what was
// durable).
func (j *Journal) Append(ctx context.Context, recs ...Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var size int64
	for i, r := range recs {
		if r.Partition < 0 || r.Partition >= len(j.parts) {
			return fmt.Errorf("journal: record %d: partition %d is outside [0, %d)", i, r.Partition, len(j.parts))
		}
		if len(r.Value) > j.cfg.MaxRecordBytes {
			return fmt.Errorf("journal: record %d: %d bytes is above MaxRecordBytes (%d)", i, len(r.Value), j.cfg.MaxRecordBytes)
		}
		size += int64(len(r.Value))
	}
	if len(recs) == 0 {
		return nil
	}
	b := &batch{recs: recs, bytes: size, done: make(chan struct{})}
	j.mu.Lock()
	switch {
	case j.mu.closed:
		j.mu.Unlock()
		return ErrClosed
	case j.mu.failed != nil:
		err := j.mu.failed
		j.mu.Unlock()
		return err
	case j.mu.pendingBytes > 0 && j.mu.pendingBytes+size > j.cfg.MaxPendingBytes:
		pending := j.mu.pendingBytes
		j.mu.Unlock()
		j.m.backlog.Add(1)
		return fmt.Errorf("%w: %d bytes wait for the next commit, %d more would pass MaxPendingBytes (%d)",
			ErrBacklog, pending, size, j.cfg.MaxPendingBytes)
	}
	j.mu.pending = append(j.mu.pending, b)
	j.mu.pendingBytes += size
	j.mu.Unlock()

	select {
	case <-b.done:
		return b.err
	case j.lead <- struct{}{}:
	}
	select {
	case <-b.done: // committed by the leader before this one
	default:
		if j.beforeCommit != nil {
			j.beforeCommit()
		}
		j.commit(j.takePending())
	}
	j.maybeRetain()
	<-j.lead
	return b.err
}

// pendingAppends returns how many Appends wait for a commit.
func (j *Journal) pendingAppends() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.mu.pending)
}

func (j *Journal) takePending() []*batch {
	j.mu.Lock()
	defer j.mu.Unlock()
	g := j.mu.pending
	j.mu.pending, j.mu.pendingBytes = nil, 0
	return g
}

// maybeRetain runs retention when Retention.Interval has passed; the
// caller holds the leadership.
func (j *Journal) maybeRetain() {
	if (j.cfg.Retention.MaxAge == 0 && j.cfg.Retention.MaxBytes == 0) || j.isClosed() {
		return
	}
	now := time.Now()
	if !j.rolled && now.UnixNano()-j.lastRetention < int64(j.cfg.Retention.Interval) {
		return
	}
	if err := j.retainLocked(now); err != nil {
		// Appends go on; a segment that could not be deleted stays on
		// disk, forgotten, until the journal is next opened.
		j.m.retentionFailures.Add(1)
	}
}

func (j *Journal) setFailed(err error) {
	j.mu.Lock()
	if j.mu.failed == nil {
		j.mu.failed = err
	}
	j.mu.Unlock()
}

// commit writes and syncs a group of batches and publishes them to
// readers; the caller holds the leadership.
func (j *Journal) commit(group []*batch) {
	if len(group) == 0 {
		return
	}
	nanos := time.Now().UnixNano()
	var dirty []*partition
	var err error
	var records, bytes int64
	for _, b := range group {
		for _, r := range b.recs {
			p := j.parts[r.Partition]
			if !p.w.dirty {
				p.w.dirty = true
				dirty = append(dirty, p)
			}
			if err == nil {
				err = p.add(r.Value, nanos)
			}
			records++
			bytes += int64(len(r.Value))
		}
	}
	if err == nil {
		err = j.flush(dirty)
	}
	for _, p := range dirty {
		if err == nil {
			p.publish()
		}
		if len(p.w.rolled) > 0 {
			j.rolled = true
		}
		p.w.dirty = false
		p.w.buf = p.w.buf[:0]
		p.w.rolled = p.w.rolled[:0]
	}
	if err != nil {
		j.setFailed(fmt.Errorf("journal %s: %w", j.cfg.Dir, err))
		err = j.failure()
	} else {
		j.m.commits.Add(1)
		j.m.appends.Add(int64(len(group)))
		j.m.records.Add(records)
		j.m.bytes.Add(bytes)
	}
	for _, b := range group {
		b.err = err
		close(b.done)
	}
}

func (j *Journal) failure() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.failed
}

// flush writes each dirty partition's buffer in one write and syncs its
// file, the partitions in parallel.
func (j *Journal) flush(dirty []*partition) error {
	j.m.syncs.Add(int64(len(dirty)))
	if len(dirty) == 1 {
		return dirty[0].flush()
	}
	errs := make([]error, len(dirty))
	var wg sync.WaitGroup
	for i, p := range dirty {
		wg.Go(func() { errs[i] = p.flush() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Enforce applies the retention policy now.
func (j *Journal) Enforce() error {
	j.lead <- struct{}{}
	defer func() { <-j.lead }()
	if j.isClosed() {
		return ErrClosed
	}
	return j.retainLocked(time.Now())
}

func (j *Journal) isClosed() bool { return j.closed.Load() }

// Close commits what is queued, then closes the journal and releases its
// directory. Readers opened on it fail with ErrClosed from then on.
func (j *Journal) Close() error {
	j.lead <- struct{}{}
	defer func() { <-j.lead }()
	j.mu.Lock()
	if j.mu.closed {
		j.mu.Unlock()
		return nil
	}
	j.mu.closed = true
	j.closed.Store(true)
	group := j.mu.pending
	j.mu.pending, j.mu.pendingBytes = nil, 0
	j.mu.Unlock()
	j.commit(group)
	return j.closeFiles()
}

func (j *Journal) closeFiles() error {
	var errs []error
	for _, p := range j.parts {
		if p != nil && p.w.f != nil {
			errs = append(errs, p.w.f.Close())
			p.w.f = nil
		}
	}
	if j.lock != nil {
		errs = append(errs, unlockDir(j.lock))
		j.lock = nil
	}
	return errors.Join(errs...)
}

// Metrics are a journal's counters since Open, and its size.
type Metrics struct {
	// Appends, Records and Bytes count the Append calls that succeeded,
	// their records and their values' bytes.
	Appends, Records, Bytes int64
	// Commits counts group commits: each wrote and synced the records of
	// one or more Appends.
	Commits int64
	// Syncs counts segment file fsyncs by commits (one per partition
	// written per commit).
	Syncs int64
	// Backlog counts Appends refused with ErrBacklog.
	Backlog int64
	// TruncatedBytes is how many bytes of torn or damaged tails Open cut
	// off.
	TruncatedBytes int64
	// DeletedSegments counts the segments retention deleted, and
	// RetentionFailures the times it failed to (Enforce returns the error).
	DeletedSegments, RetentionFailures int64
	// Segments and DiskBytes are the segments kept and their committed
	// bytes.
	Segments  int
	DiskBytes int64
	// MaxLag is how many records the readers open now are behind, at
	// most, in their partitions.
	MaxLag int64
}

// Metrics returns the journal's counters.
func (j *Journal) Metrics() Metrics {
	m := Metrics{
		Appends: j.m.appends.Load(), Records: j.m.records.Load(), Bytes: j.m.bytes.Load(),
		Commits: j.m.commits.Load(), Syncs: j.m.syncs.Load(), Backlog: j.m.backlog.Load(),
		TruncatedBytes: j.m.truncated.Load(), DeletedSegments: j.m.deleted.Load(),
		RetentionFailures: j.m.retentionFailures.Load(),
	}
	for _, p := range j.parts {
		p.mu.Lock()
		m.Segments += len(p.mu.segs)
		for _, s := range p.mu.segs {
			m.DiskBytes += s.size
		}
		for r := range p.mu.readers {
			m.MaxLag = max(m.MaxLag, p.mu.committed-r.next.Load())
		}
		p.mu.Unlock()
	}
	return m
}

// MaxLag returns how many records the readers open now are behind, at
// most, in their partitions: 0 without readers.
func (j *Journal) MaxLag() int64 {
	var lag int64
	for _, p := range j.parts {
		p.mu.Lock()
		for r := range p.mu.readers {
			lag = max(lag, p.mu.committed-r.next.Load())
		}
		p.mu.Unlock()
	}
	return lag
}

// Bounds returns the first offset a partition keeps and the offset its
// next record will have.
func (j *Journal) Bounds(partition int) (first, next int64, err error) {
	if partition < 0 || partition >= len(j.parts) {
		return 0, 0, fmt.Errorf("journal: partition %d is outside [0, %d)", partition, len(j.parts))
	}
	p := j.parts[partition]
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.segs[0].base, p.mu.committed, nil
}
