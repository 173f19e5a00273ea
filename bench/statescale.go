package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weirstream/weir"
)

// StateScaleConfig configures StateScale. A zero field takes its default.
type StateScaleConfig struct {
	// Keys is the number of distinct keys (default 10 000 000).
	Keys int64
	// ValueSize is the length of each key's payload string (default 72:
	// with the key, the counters and the snapshot's framing, an entry
	// encodes to about 100 bytes).
	ValueSize int
	// Dir holds the checkpoints and the file dd writes, so both go to one
	// disk. It must exist.
	Dir string
	// Load is the share of the measured maximum rate the job runs at while
	// a checkpoint is measured (default 0.5).
	Load float64
	// Probe is how long the unthrottled run that measures the maximum rate
	// lasts (default 5 s).
	Probe time.Duration
	// Settle is how long the job runs at its reduced rate before the
	// measurement windows start (default 5 s).
	Settle time.Duration
	// Bucket is the width of a throughput bucket (default 1 s), Window the
	// number of buckets measured before a checkpoint and after it
	// completes (default 10).
	Bucket time.Duration
	Window int
	// Sample is how often the resident set size is read (default 50 ms).
	Sample time.Duration
	// Backend is the state backend (default: the memory backend).
	Backend weir.Backend
	// Writers is the jobs' weir.CheckpointWriters (default: Weir's).
	Writers int
	// Logf, when set, is told what the run is doing.
	Logf func(format string, args ...any)
}

func (c StateScaleConfig) withDefaults() StateScaleConfig {
	if c.Keys == 0 {
		c.Keys = 10_000_000
	}
	if c.ValueSize == 0 {
		c.ValueSize = 72
	}
	if c.Load == 0 {
		c.Load = 0.5
	}
	if c.Probe == 0 {
		c.Probe = 5 * time.Second
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Second
	}
	if c.Bucket == 0 {
		c.Bucket = time.Second
	}
	if c.Window == 0 {
		c.Window = 10
	}
	if c.Sample == 0 {
		c.Sample = 50 * time.Millisecond
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Validate reports what is wrong with the configuration.
func (c StateScaleConfig) Validate() error {
	var errs []error
	if c.Keys < 1 {
		errs = append(errs, fmt.Errorf("state scale: Keys %d must be at least 1", c.Keys))
	}
	if c.ValueSize < 1 {
		errs = append(errs, fmt.Errorf("state scale: ValueSize %d must be at least 1", c.ValueSize))
	}
	if !(c.Load > 0 && c.Load <= 1) {
		errs = append(errs, fmt.Errorf("state scale: Load %v must be in (0, 1]", c.Load))
	}
	if c.Probe < 0 || c.Settle < 0 || c.Bucket < 0 || c.Sample < 0 || c.Window < 0 {
		errs = append(errs, fmt.Errorf("state scale: Probe %v, Settle %v, Bucket %v, Sample %v and Window %d must not be negative",
			c.Probe, c.Settle, c.Bucket, c.Sample, c.Window))
	}
	if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
		errs = append(errs, fmt.Errorf("state scale: Dir %q must be an existing directory", c.Dir))
	}
	return errors.Join(errs...)
}

// CheckpointFigures is one measured checkpoint of the state scale job.
type CheckpointFigures struct {
	Parallelism int
	// MaxRate is the records per second the job reached unthrottled; Rate
	// is what it ran at while the checkpoint was measured.
	MaxRate, Rate float64
	// Duration runs from the trigger to the completed metadata, as the
	// job reports it; Bytes is the size of the state files written.
	Duration time.Duration
	Bytes    int64
	// Sync, Async and Metadata are the parts of Duration the job reports
	// (weir.CheckpointMetrics): until the last task acknowledged, the
	// writes still running then, and the metadata.
	Sync, Async, Metadata time.Duration
	// DD is how long dd took to write DDBytes (Bytes rounded up to MiB)
	// with conv=fsync into the checkpoint directory right after.
	DD      time.Duration
	DDBytes int64
	// Before are the records per second of each bucket before the
	// trigger, During those from the trigger to completion (the bucket
	// the checkpoint completes in included), After those of the Window
	// buckets after.
	Before, During, After []float64
	// RSSSteady is the median resident set size in the buckets before the
	// trigger, RSSSteadyMax their largest sample, RSSPeak the largest from
	// the trigger to the end of the buckets after. Heap* are the same for
	// the bytes of live and not yet swept heap objects.
	RSSSteady, RSSSteadyMax, RSSPeak    int64
	HeapSteady, HeapSteadyMax, HeapPeak int64
	// Path is the savepoint the checkpoint wrote.
	Path string
}

// RestoreFigures is one measured restore of the state scale job.
type RestoreFigures struct {
	From, To int
	// Built runs from Run to the tasks being built (the checkpoint's
	// metadata read and matched against the job), Took from Run to the
	// first record in every subtask of the keyed operator: every state
	// file read and every key's state rebuilt, since no record flows
	// before every task has opened.
	Built, Took time.Duration
}

// StateScaleReport is what StateScale measured.
type StateScaleReport struct {
	Keys      int64
	ValueSize int
	Backend   string
	// Fill is how long the first job took to create every key's state.
	Fill time.Duration
	// Load is the system's load average over 1 minute at the start and at
	// the end (from /proc/loadavg; zero where there is none): the machine
	// may be shared.
	Load        [2]float64
	Checkpoints []CheckpointFigures
	Restores    []RestoreFigures
}

// StateScale measures checkpoints and restores of a large keyed state. A
// job at parallelism 1 creates Keys keys of state as fast as it can,
// measures its maximum rate, runs at Load of it and takes a savepoint (a
// checkpoint kept until deleted, taken like any other), measuring its
// duration, the resident set size and the throughput per bucket before
// and after; dd then writes as many bytes into the same directory. A job
// at parallelism 2 restores that savepoint (measuring the restore), and is
// measured the same way; a job at parallelism 1 restores its savepoint.
// The jobs run one after the other in this process; the heap is collected
// and returned to the system between them, and each checkpoint is
// compared with its own job's steady state.
func StateScale(cfg StateScaleConfig) (StateScaleReport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return StateScaleReport{}, err
	}
	if _, err := readRSS(); err != nil {
		return StateScaleReport{}, fmt.Errorf("state scale: the resident set size: %w", err)
	}
	rep := StateScaleReport{Keys: cfg.Keys, ValueSize: cfg.ValueSize, Backend: cfg.Backend.String(), Load: [2]float64{loadAvg()}}
	if rep.Backend == "" {
		rep.Backend = weir.MemoryBackend.String()
	}
	src := &scaleSource{splits: 2}
	rss := newRSSSampler(cfg.Sample)
	defer rss.stop()

	cfg.Logf("p1: creating %d keys", cfg.Keys)
	j, err := startScaleJob(cfg, src, 1, "")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(j.dir)
	if err := j.waitKeys(cfg.Keys); err != nil {
		return rep, j.fail(err)
	}
	rep.Fill = time.Since(j.started)
	cfg.Logf("p1: %d keys in %v", cfg.Keys, rep.Fill.Round(time.Millisecond))
	c, err := j.measureCheckpoint(cfg, src, rss)
	if err != nil {
		return rep, j.fail(err)
	}
	rep.Checkpoints = append(rep.Checkpoints, c)
	if err := j.stop(); err != nil {
		return rep, err
	}

	// p1 → p2, measured like p1, then p2 → p1.
	for _, p := range []int{2, 1} {
		from := rep.Checkpoints[len(rep.Checkpoints)-1]
		j = nil
		freeHeap()
		src.setRate(0)
		cfg.Logf("p%d: restoring the savepoint of p%d", p, from.Parallelism)
		if j, err = startScaleJob(cfg, src, p, from.Path); err != nil {
			return rep, err
		}
		defer os.RemoveAll(j.dir)
		r, err := j.waitRestored()
		if err != nil {
			return rep, j.fail(err)
		}
		r.From = from.Parallelism
		rep.Restores = append(rep.Restores, r)
		cfg.Logf("p%d: restored in %v (job built after %v)", p, r.Took.Round(time.Millisecond), r.Built.Round(time.Millisecond))
		if len(rep.Checkpoints) < 2 {
			c, err := j.measureCheckpoint(cfg, src, rss)
			if err != nil {
				return rep, j.fail(err)
			}
			rep.Checkpoints = append(rep.Checkpoints, c)
		}
		// Every key the restored job met must have been in the state it
		// restored.
		if n := j.newKeys(); n != 0 {
			return rep, j.fail(fmt.Errorf("p%d: %d keys were missing from the restored state", p, n))
		}
		if err := j.stop(); err != nil {
			return rep, err
		}
	}
	rep.Load[1] = loadAvg()
	return rep, nil
}

// scaleValue is each key's state.
type scaleValue struct {
	Seq, Count int64
	Data       string
}

// scaleJob is a running state scale job: generator → keyBy → a keyed
// function keeping a scaleValue per key → a sink that discards.
type scaleJob struct {
	env     *weir.Env
	p       int
	dir     string
	counts  []scaleCounts
	running atomic.Int64 // when the tasks were built (UnixNano), 0 before
	started time.Time
	cancel  context.CancelFunc
	done    chan error
}

// scaleCounts are one keyed subtask's figures, on cache lines of their own.
type scaleCounts struct {
	_       [64]byte
	records atomic.Int64
	newKeys atomic.Int64
	first   atomic.Int64 // UnixNano of the first record, 0 before
	_       [64]byte
}

func startScaleJob(cfg StateScaleConfig, src *scaleSource, p int, restore string) (*scaleJob, error) {
	dir, err := os.MkdirTemp(cfg.Dir, fmt.Sprintf("p%d-", p))
	if err != nil {
		return nil, fmt.Errorf("state scale: checkpoint directory: %w", err)
	}
	j := &scaleJob{p: p, dir: dir, counts: make([]scaleCounts, p), done: make(chan error, 1)}
	opts := []weir.Option{
		weir.Parallelism(p),
		// Only the savepoints asked for are taken.
		weir.Checkpoints(24*time.Hour, dir),
		weir.Logger(slog.New(&runningHandler{at: &j.running})),
	}
	if cfg.Backend.String() != "" {
		opts = append(opts, weir.StateBackend(cfg.Backend))
	}
	if cfg.Writers > 0 {
		opts = append(opts, weir.CheckpointWriters(cfg.Writers))
	}
	if restore != "" {
		opts = append(opts, weir.Restore(restore))
	}
	j.env = weir.New(opts...)
	seqs := weir.From(j.env, weir.Source[int64](src)).ID("gen")
	keys := cfg.Keys
	counted := weir.Process(weir.KeyBy(seqs, func(seq int64) int64 { return seq % keys }),
		&scaleState{counts: j.counts, size: cfg.ValueSize}).ID("state")
	weir.To(counted, weir.Sink[int64](discardSink[int64]{})).ID("sink")
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	j.started = time.Now()
	go func() { j.done <- j.env.Run(ctx) }()
	return j, nil
}

// records returns how many records the keyed operator has processed.
func (j *scaleJob) records() int64 {
	var n int64
	for i := range j.counts {
		n += j.counts[i].records.Load()
	}
	return n
}

func (j *scaleJob) newKeys() int64 {
	var n int64
	for i := range j.counts {
		n += j.counts[i].newKeys.Load()
	}
	return n
}

// ended returns why the job ended, or nil while it runs.
func (j *scaleJob) ended() error {
	select {
	case err := <-j.done:
		j.done <- err
		if err == nil {
			err = errors.New("it returned nil")
		}
		return fmt.Errorf("p%d: the job ended: %w", j.p, err)
	default:
		return nil
	}
}

// waitKeys waits until the job has created n keys.
func (j *scaleJob) waitKeys(n int64) error {
	for j.newKeys() < n {
		if err := j.ended(); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// waitRestored waits until every keyed subtask has processed a record.
func (j *scaleJob) waitRestored() (RestoreFigures, error) {
	for {
		if err := j.ended(); err != nil {
			return RestoreFigures{}, err
		}
		var last int64
		for i := range j.counts {
			f := j.counts[i].first.Load()
			if f == 0 {
				last = 0
				break
			}
			last = max(last, f)
		}
		if last != 0 {
			r := RestoreFigures{To: j.p, Took: time.Unix(0, last).Sub(j.started)}
			if b := j.running.Load(); b != 0 {
				r.Built = time.Unix(0, b).Sub(j.started)
			}
			return r, nil
		}
		time.Sleep(time.Millisecond)
	}
}

// measureCheckpoint measures the job's maximum rate, sets the source to
// cfg.Load of it and measures a savepoint taken at that rate.
func (j *scaleJob) measureCheckpoint(cfg StateScaleConfig, src *scaleSource, rss *rssSampler) (CheckpointFigures, error) {
	f := CheckpointFigures{Parallelism: j.p}
	// What creating or restoring the state left to collect would slow the
	// probe down.
	src.setRate(0)
	freeHeap()
	n0, t0 := j.records(), time.Now()
	if err := j.sleep(cfg.Probe); err != nil {
		return f, err
	}
	f.MaxRate = float64(j.records()-n0) / time.Since(t0).Seconds()
	if f.MaxRate == 0 {
		return f, fmt.Errorf("p%d: no record processed in the %v that measure the maximum rate", j.p, cfg.Probe)
	}
	f.Rate = f.MaxRate * cfg.Load
	src.setRate(f.Rate)
	// The steady state's resident set is what is live. Collecting a large
	// heap slows the job down, and the source would then catch up at full
	// speed: it starts its rate over afterwards.
	freeHeap()
	src.setRate(f.Rate)
	cfg.Logf("p%d: maximum %.0f records/s; running at %.0f", j.p, f.MaxRate, f.Rate)
	if err := j.sleep(cfg.Settle); err != nil {
		return f, err
	}

	tick := time.NewTicker(cfg.Bucket)
	defer tick.Stop()
	prevN, prevT := j.records(), time.Now()
	windowStart := prevT
	bucket := func(now time.Time) float64 {
		n := j.records()
		r := float64(n-prevN) / now.Sub(prevT).Seconds()
		prevN, prevT = n, now
		return r
	}
	for len(f.Before) < cfg.Window {
		select {
		case now := <-tick.C:
			f.Before = append(f.Before, bucket(now))
		case err := <-j.done:
			j.done <- err
			return f, fmt.Errorf("p%d: the job ended before the checkpoint: %v", j.p, err)
		}
	}
	trigger := time.Now()
	type result struct {
		path string
		err  error
		at   time.Time
	}
	sp := make(chan result, 1)
	go func() {
		path, err := j.env.Savepoint(context.Background())
		sp <- result{path, err, time.Now()}
	}()
	var doneAt time.Time
	for doneAt.IsZero() || len(f.After) < cfg.Window {
		select {
		case r := <-sp:
			if r.err != nil {
				return f, fmt.Errorf("p%d: %w", j.p, r.err)
			}
			f.Path, doneAt = r.path, r.at
		case now := <-tick.C:
			if b := bucket(now); doneAt.IsZero() || !now.After(doneAt.Add(cfg.Bucket)) {
				f.During = append(f.During, b)
			} else {
				f.After = append(f.After, b)
			}
		}
	}
	end := time.Now()
	rssBefore, heapBefore := rss.window(windowStart, trigger)
	rssAfter, heapAfter := rss.window(trigger, end)
	f.RSSSteady, f.RSSSteadyMax, f.RSSPeak = medianInt(rssBefore), slices.Max(rssBefore), slices.Max(rssAfter)
	f.HeapSteady, f.HeapSteadyMax, f.HeapPeak = medianInt(heapBefore), slices.Max(heapBefore), slices.Max(heapAfter)

	m := j.env.JobMetrics()
	if len(m.Checkpoints) == 0 || m.Checkpoints[len(m.Checkpoints)-1].Err != nil {
		return f, fmt.Errorf("p%d: the job reports no completed savepoint: %+v", j.p, m.Checkpoints)
	}
	last := m.Checkpoints[len(m.Checkpoints)-1]
	f.Duration, f.Bytes = last.Duration, last.Bytes
	f.Sync, f.Async, f.Metadata = last.SyncDuration, last.AsyncDuration, last.MetadataDuration
	cfg.Logf("p%d: checkpoint of %d bytes in %v (sync %v, async %v, metadata %v)", j.p, f.Bytes, f.Duration.Round(time.Millisecond),
		f.Sync.Round(time.Millisecond), f.Async.Round(time.Millisecond), f.Metadata.Round(time.Millisecond))

	f.DDBytes = (f.Bytes + 1<<20 - 1) >> 20 << 20
	dd, err := ddFsync(cfg.Dir, f.DDBytes)
	if err != nil {
		return f, err
	}
	f.DD = dd
	cfg.Logf("p%d: dd wrote %d bytes in %v", j.p, f.DDBytes, dd.Round(time.Millisecond))
	return f, nil
}

// sleep waits d, or fails if the job ends meanwhile.
func (j *scaleJob) sleep(d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case err := <-j.done:
		j.done <- err
		return fmt.Errorf("p%d: the job ended: %v", j.p, err)
	}
}

// stop cancels the job and waits for it.
func (j *scaleJob) stop() error {
	j.cancel()
	err := <-j.done
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("p%d: %w", j.p, err)
	}
	return nil
}

// fail stops the job after err.
func (j *scaleJob) fail(err error) error {
	return errors.Join(err, j.stop())
}

// freeHeap collects the heap and returns what is free to the system, so
// that the resident set size measures what is live.
func freeHeap() {
	runtime.GC()
	debug.FreeOSMemory()
}

// scaleState keeps each key's scaleValue; a key's first record creates its
// payload.
type scaleState struct {
	v      weir.ValueState[int64, scaleValue]
	counts []scaleCounts
	c      *scaleCounts
	size   int
}

func (s *scaleState) Open(c weir.KeyedOpenContext[int64]) error {
	s.v = weir.Value[scaleValue](c, "v")
	s.c = &s.counts[c.Subtask()]
	return nil
}

func (s *scaleState) Process(c weir.KeyedContext[int64], seq int64, out weir.Out[int64]) error {
	if s.c.first.Load() == 0 {
		s.c.first.Store(time.Now().UnixNano())
	}
	v, ok, err := s.v.Get(c)
	if err != nil {
		return err
	}
	if !ok {
		s.c.newKeys.Add(1)
		v.Data = scalePayload(c.Key(), s.size)
	}
	v.Seq = seq
	v.Count++
	if err := s.v.Set(c, v); err != nil {
		return err
	}
	s.c.records.Add(1)
	out.Emit(v.Count)
	return nil
}

// scalePayload is key's payload: size letters depending on the key, in
// memory of their own.
func scalePayload(key int64, size int) string {
	var b strings.Builder
	b.Grow(size)
	for i := range size {
		b.WriteByte(byte('a' + (key+int64(i))%26))
	}
	return b.String()
}

// scaleSource is an unbounded generator of sequence numbers over a fixed
// number of splits (so a restore at another parallelism reads the same
// ones) whose rate can change while it runs. Like a source with a backlog,
// a split that fell behind its rate catches up as fast as the job takes
// records.
type scaleSource struct {
	splits int
	// rate is the records per second over all splits (float64 bits; 0 is
	// as fast as possible), epoch counts its changes.
	rate, epoch atomic.Uint64
}

func (s *scaleSource) setRate(r float64) {
	s.rate.Store(math.Float64bits(r))
	s.epoch.Add(1)
}

func (s *scaleSource) Splits(context.Context) ([]weir.Split, error) {
	out := make([]weir.Split, s.splits)
	for i := range out {
		out[i] = weir.Split{ID: strconv.Itoa(i)}
	}
	return out, nil
}

func (s *scaleSource) Bounded() bool { return false }

func (s *scaleSource) OpenSplit(_ context.Context, sp weir.Split, pos []byte) (weir.SplitReader[int64], error) {
	i, err := strconv.Atoi(sp.ID)
	if err != nil || i < 0 || i >= s.splits {
		return nil, fmt.Errorf("state scale source: no split %q", sp.ID)
	}
	r := &scaleReader{src: s, next: int64(i), stride: int64(s.splits)}
	if pos != nil {
		next, n := binary.Varint(pos)
		if n <= 0 || next%r.stride != int64(i) {
			return nil, fmt.Errorf("state scale source: split %q: bad position %x", sp.ID, pos)
		}
		r.next = next
	}
	return r, nil
}

type scaleReader struct {
	src          *scaleSource
	next, stride int64
	epoch        uint64
	rate         float64 // this split's share
	start        time.Time
	sent         int64
}

func (r *scaleReader) Poll(out weir.SourceOutput[int64], max int) (weir.PollStatus, error) {
	if e := r.src.epoch.Load(); e != r.epoch {
		r.epoch, r.rate = e, math.Float64frombits(r.src.rate.Load())/float64(r.src.splits)
		r.start, r.sent = time.Now(), 0
	}
	n := int64(max)
	if r.rate > 0 {
		due := int64(time.Since(r.start).Seconds()*r.rate) - r.sent
		if due <= 0 {
			return weir.Wait, nil
		}
		n = min(n, due)
	}
	for range n {
		out.Emit(r.next, r.next)
		r.next += r.stride
	}
	r.sent += n
	return weir.More, nil
}

func (r *scaleReader) Position() []byte { return binary.AppendVarint(nil, r.next) }
func (r *scaleReader) Close() error     { return nil }

type discardSink[T any] struct{}

func (discardSink[T]) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[T], error) {
	return discardSink[T]{}, nil
}
func (discardSink[T]) Write(T) error { return nil }
func (discardSink[T]) Close() error  { return nil }

// runningHandler records when the job logs that its tasks are built and
// about to open.
type runningHandler struct{ at *atomic.Int64 }

func (h *runningHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *runningHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "job running" {
		h.at.Store(r.Time.UnixNano())
	}
	return nil
}
func (h *runningHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *runningHandler) WithGroup(string) slog.Handler      { return h }

// rssSampler reads the process's resident set size and heap every interval.
type rssSampler struct {
	quit chan struct{}
	wg   sync.WaitGroup
	mu   struct {
		sync.Mutex
		samples []memSample
	}
}

type memSample struct {
	at         time.Time
	rss, heapB int64
}

func newRSSSampler(every time.Duration) *rssSampler {
	s := &rssSampler{quit: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		heap := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			// StateScale read it once already: it does not fail.
			rss, _ := readRSS()
			metrics.Read(heap)
			s.mu.Lock()
			s.mu.samples = append(s.mu.samples, memSample{at: time.Now(), rss: rss, heapB: int64(heap[0].Value.Uint64())})
			s.mu.Unlock()
			select {
			case <-t.C:
			case <-s.quit:
				return
			}
		}
	})
	return s
}

func (s *rssSampler) stop() {
	close(s.quit)
	s.wg.Wait()
}

// window returns the resident set sizes and heap sizes sampled in [from,
// to), and the last sample before from when there is none.
func (s *rssSampler) window(from, to time.Time) (rss, heap []int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var prev *memSample
	for i := range s.mu.samples {
		m := &s.mu.samples[i]
		if m.at.Before(from) {
			prev = m
			continue
		}
		if !m.at.Before(to) {
			break
		}
		rss, heap = append(rss, m.rss), append(heap, m.heapB)
	}
	if len(rss) == 0 && prev != nil {
		rss, heap = append(rss, prev.rss), append(heap, prev.heapB)
	}
	if len(rss) == 0 {
		rss, heap = []int64{0}, []int64{0}
	}
	return rss, heap
}

// readRSS returns the process's resident set size (VmRSS) in bytes.
func readRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

// parseVmRSS reads the VmRSS line of /proc/<pid>/status.
func parseVmRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want a number of kB", sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", sc.Text(), err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS line in /proc/self/status")
}

// loadAvg returns the load average over 1 minute, 0 where it is unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l
}

func medianInt(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// ddFsync times dd writing size bytes (a whole number of MiB) into a new
// file in dir and flushing them to disk (conv=fsync), then removes the
// file.
func ddFsync(dir string, size int64) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "dd-")
	if err != nil {
		return 0, fmt.Errorf("dd: %w", err)
	}
	name := f.Name()
	f.Close()
	defer os.Remove(name)
	cmd := exec.Command("dd", "if=/dev/zero", "of="+name, "bs=1M", "count="+strconv.FormatInt(size>>20, 10), "conv=fsync")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, out)
	}
	return time.Since(start), nil
}

// The goals StateScale's figures are held to.
const (
	// RestoreGoal bounds a restore, Run to every subtask processing.
	RestoreGoal = 5 * time.Second
	// CheckpointToDDGoal bounds a checkpoint's duration as a multiple of
	// dd writing as many bytes to the same disk.
	CheckpointToDDGoal = 1.5
	// ExtraMemoryGoal bounds the resident set size a checkpoint adds at
	// its peak over the steady state, as a share of the state's bytes.
	ExtraMemoryGoal = 0.25
	// DipGoal bounds how far below the rate before a checkpoint (the
	// median of the buckets before) any bucket from its trigger to Window
	// buckets after it completed may fall.
	DipGoal = 0.10
)

// ScaleGoal is one goal checked against one measured run.
type ScaleGoal struct {
	Goal, Run, Figure string
	Met               bool
}

// Goals checks every measured checkpoint and restore against the goals.
func (r StateScaleReport) Goals() []ScaleGoal {
	var out []ScaleGoal
	for _, x := range r.Restores {
		out = append(out, ScaleGoal{
			Goal:   fmt.Sprintf("restore ≤ %.0f s", RestoreGoal.Seconds()),
			Run:    fmt.Sprintf("p%d → p%d", x.From, x.To),
			Figure: seconds(x.Took),
			Met:    x.Took <= RestoreGoal,
		})
	}
	for _, c := range r.Checkpoints {
		run := fmt.Sprintf("checkpoint at p%d", c.Parallelism)
		ratio := c.Duration.Seconds() / c.DD.Seconds()
		out = append(out, ScaleGoal{
			Goal:   fmt.Sprintf("checkpoint ≤ %.1f× dd", CheckpointToDDGoal),
			Run:    run,
			Figure: fmt.Sprintf("%s = %.2f× dd (%s for %d MiB)", seconds(c.Duration), ratio, seconds(c.DD), c.DDBytes>>20),
			Met:    c.DD > 0 && ratio <= CheckpointToDDGoal,
		})
		extra := c.RSSPeak - c.RSSSteady
		out = append(out, ScaleGoal{
			Goal: fmt.Sprintf("extra peak RSS ≤ %.0f %% of the state", ExtraMemoryGoal*100),
			Run:  run,
			Figure: fmt.Sprintf("%s over %s = %.0f %% of %s", mib(extra), mib(c.RSSSteady),
				float64(extra)/float64(c.Bytes)*100, mib(c.Bytes)),
			Met: float64(extra) <= ExtraMemoryGoal*float64(c.Bytes),
		})
		before := medianFloat(c.Before)
		low, at := lowest(c.During, c.After)
		out = append(out, ScaleGoal{
			Goal:   fmt.Sprintf("no bucket > %.0f %% below the rate before", DipGoal*100),
			Run:    run,
			Figure: fmt.Sprintf("lowest %s = %.0f %% of %s (%s)", rate(low), low/before*100, rate(before), at),
			Met:    low >= (1-DipGoal)*before,
		})
	}
	return out
}

// lowest returns the lowest of the buckets during and after a checkpoint
// and which it is.
func lowest(during, after []float64) (float64, string) {
	low, at := math.Inf(1), "no bucket"
	for i, v := range during {
		if v < low {
			low, at = v, fmt.Sprintf("bucket %d of %d during the checkpoint", i+1, len(during))
		}
	}
	for i, v := range after {
		if v < low {
			low, at = v, fmt.Sprintf("bucket %d after it", i+1)
		}
	}
	return low, at
}

// medianFloat is the median of v: the rate before a checkpoint, which a
// stall of the machine and the catching up after it do not move.
func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(n int64) string {
	if n < 0 {
		return "-" + mib(-n)
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}

func rate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2f M/s", r/1e6)
	default:
		return fmt.Sprintf("%.0f k/s", r/1e3)
	}
}

func rates(v []float64) string {
	s := make([]string, len(v))
	for i, r := range v {
		s[i] = fmt.Sprintf("%.0f", r/1e3)
	}
	return strings.Join(s, " ")
}

// String is the report as Markdown: the figures of each run, then the
// goals.
func (r StateScaleReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d keys, payload %d B, %s backend; every key created in %s (%s, GOMAXPROCS %d, load average %.1f at the start, %.1f at the end).\n\n",
		r.Keys, r.ValueSize, r.Backend, seconds(r.Fill), runtime.Version(), runtime.GOMAXPROCS(0), r.Load[0], r.Load[1])
	b.WriteString("| | " + strings.Join(mapRuns(r.Checkpoints, func(c CheckpointFigures) string { return fmt.Sprintf("checkpoint at p%d", c.Parallelism) }), " | ") + " |\n")
	b.WriteString("|---" + strings.Repeat("|---", len(r.Checkpoints)) + "|\n")
	row := func(name string, f func(c CheckpointFigures) string) {
		b.WriteString("| " + name + " | " + strings.Join(mapRuns(r.Checkpoints, f), " | ") + " |\n")
	}
	row("maximum rate → run at", func(c CheckpointFigures) string { return rate(c.MaxRate) + " → " + rate(c.Rate) })
	row("state files", func(c CheckpointFigures) string {
		return fmt.Sprintf("%s (%.0f B per key)", mib(c.Bytes), float64(c.Bytes)/float64(r.Keys))
	})
	row("checkpoint duration", func(c CheckpointFigures) string { return seconds(c.Duration) })
	row("sync + async + metadata", func(c CheckpointFigures) string {
		return seconds(c.Sync) + " + " + seconds(c.Async) + " + " + seconds(c.Metadata)
	})
	row("dd conv=fsync, same bytes", func(c CheckpointFigures) string { return seconds(c.DD) })
	row("RSS steady (median, max) → peak", func(c CheckpointFigures) string {
		return fmt.Sprintf("%s, %s → %s", mib(c.RSSSteady), mib(c.RSSSteadyMax), mib(c.RSSPeak))
	})
	row("Go heap steady (median, max) → peak", func(c CheckpointFigures) string {
		return fmt.Sprintf("%s, %s → %s", mib(c.HeapSteady), mib(c.HeapSteadyMax), mib(c.HeapPeak))
	})
	row("rate before (median bucket; share of the rate set)", func(c CheckpointFigures) string {
		return fmt.Sprintf("%s (%.0f %%)", rate(medianFloat(c.Before)), medianFloat(c.Before)/c.Rate*100)
	})
	row("buckets before (k/s)", func(c CheckpointFigures) string { return rates(c.Before) })
	row("buckets during (k/s)", func(c CheckpointFigures) string { return rates(c.During) })
	row("buckets after (k/s)", func(c CheckpointFigures) string { return rates(c.After) })
	b.WriteString("\n| restore | Run → tasks built | Run → every subtask processing |\n|---|---|---|\n")
	for _, x := range r.Restores {
		fmt.Fprintf(&b, "| p%d → p%d | %s | %s |\n", x.From, x.To, seconds(x.Built), seconds(x.Took))
	}
	b.WriteString("\n| goal | run | figure | |\n|---|---|---|---|\n")
	for _, g := range r.Goals() {
		verdict := "MISS"
		if g.Met {
			verdict = "PASS"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Goal, g.Run, g.Figure, verdict)
	}
	return b.String()
}

func mapRuns(cs []CheckpointFigures, f func(CheckpointFigures) string) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = f(c)
	}
	return out
}
