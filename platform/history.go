package platform

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// The server samples every running job's figures at a fixed interval
// (Config.HistoryInterval, 5s by default) and keeps the last hour of them
// per job in a ring of fixed size, so that the dashboard can draw the
// hour's throughput, lag and checkpoints whenever it is opened: at most
// HistoryWindow/HistoryInterval samples (720) per job, and at most
// Config.MaxJobs jobs. The latest sample also gives each operator's rates,
// backpressure and watermark for the job's graph.

// Sample is one point of a job's metric history.
type Sample struct {
	Time time.Time `json:"t"`
	// RecordsPerSecond is the rate at which the job's sources read since
	// the sample before.
	RecordsPerSecond float64 `json:"records_per_second"`
	// LagSeconds is the largest watermark lag of the job's operators: how
	// far event time is behind the wall clock (0 without watermarks).
	LagSeconds float64 `json:"lag_seconds"`
	// CheckpointSeconds and CheckpointBytes are the duration and size of
	// the job's last completed checkpoint at that time.
	CheckpointSeconds float64 `json:"checkpoint_seconds"`
	CheckpointBytes   int64   `json:"checkpoint_bytes"`
	// ConsumerLagRecords is how many records the job's sources are behind
	// their input, summed over the partitions their connectors report
	// (kafka_consumer_lag_records and the like); 0 when none does.
	ConsumerLagRecords float64 `json:"consumer_lag_records"`
	// Sources are the figures of each source operator, by its ID.
	Sources map[string]SourceSample `json:"sources,omitempty"`
	// Expected is the range the job's learned-normal alert rules expected
	// for its series at this time, by the series' field name
	// (records_per_second, lag_seconds, consumer_lag_records); absent
	// while a model is learning, and for a time no model judged yet.
	Expected map[string]Range `json:"expected,omitempty"`
}

// SourceSample is one source operator's part of a Sample.
type SourceSample struct {
	RecordsPerSecond   float64          `json:"records_per_second"`
	LagSeconds         float64          `json:"lag_seconds"`
	ConsumerLagRecords float64          `json:"consumer_lag_records"`
	Expected           map[string]Range `json:"expected,omitempty"`
}

// Range is an expected range of values: what a learned-normal model
// (package normal) expected for a series at a time.
type Range struct {
	Low  float64 `json:"expected_low"`
	High float64 `json:"expected_high"`
}

// consumerLagMetric tells whether a connector's metric is a consumer lag
// in records (kafka_consumer_lag_records, one per partition).
func consumerLagMetric(name string) bool { return strings.HasSuffix(name, "consumer_lag_records") }

// OperatorStats are an operator's figures over the last sampling
// interval, summed over its subtasks.
type OperatorStats struct {
	InPerSecond  float64 `json:"records_in_per_second"`
	OutPerSecond float64 `json:"records_out_per_second"`
	// Backpressure is the share of the interval the operator's subtasks
	// waited for room downstream, from 0 to 1 (their mean).
	Backpressure float64 `json:"backpressure"`
	// Watermark is the earliest watermark of its subtasks, and
	// WatermarkLagSeconds the largest lag.
	Watermark           *time.Time `json:"watermark,omitempty"`
	WatermarkLagSeconds float64    `json:"watermark_lag_seconds"`
	DeadLettered        int64      `json:"dead_lettered"`
}

// jobHistory is what the server keeps of one job's figures.
type jobHistory struct {
	pid   int               // the process sampled last
	graph *jobcontrol.Graph // the graph of pid's job
	last  *jobcontrol.Metrics
	lastT time.Time

	ring  []Sample // len ≤ capacity; next is where the next sample goes
	next  int
	ops   map[string]OperatorStats
	ckpts []jobcontrol.Checkpoint
}

// history is the metric history of every job.
type history struct {
	interval time.Duration
	capacity int
	mu       struct {
		sync.Mutex
		jobs map[string]*jobHistory
	}
}

// HistoryWindow is how far back the server keeps each job's metric
// history.
const HistoryWindow = time.Hour

func newHistory(interval time.Duration) *history {
	h := &history{interval: interval, capacity: max(int(HistoryWindow/interval), 2)}
	h.mu.jobs = map[string]*jobHistory{}
	return h
}

// sampleLoop samples the jobs every interval until ctx ends.
func (s *Server) sampleLoop(ctx context.Context) {
	t := time.NewTicker(s.hist.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.sampleAll(ctx)
		}
	}
}

// sampleAll asks every running job's process for its figures, all at
// once, and adds a sample to each job's history.
func (s *Server) sampleAll(ctx context.Context) {
	jobs := s.jobs()
	live := make(map[string]bool, len(jobs))
	var wg sync.WaitGroup
	for _, j := range jobs {
		v := j.view()
		live[v.ID] = true
		if v.PID == 0 {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, s.cfg.ScrapeTimeout)
			defer cancel()
			socket := j.path(socketFile)
			m, err := controlMetrics(ctx, socket)
			if err != nil {
				return
			}
			var g *jobcontrol.Graph
			if !s.hist.hasGraph(v.ID, v.PID) {
				if gg, err := controlGraph(ctx, socket); err == nil {
					g = &gg
				}
			}
			s.hist.add(v.ID, v.PID, g, m, time.Now())
		})
	}
	wg.Wait()
	s.hist.prune(live)
}

func (h *history) hasGraph(id string, pid int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	jh := h.mu.jobs[id]
	return jh != nil && jh.pid == pid && jh.graph != nil
}

// prune forgets the jobs the server no longer keeps.
func (h *history) prune(live map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.mu.jobs {
		if !live[id] {
			delete(h.mu.jobs, id)
		}
	}
}

// add records the figures m that the job's process pid answered at now,
// with its graph g when it was asked for.
func (h *history) add(id string, pid int, g *jobcontrol.Graph, m jobcontrol.Metrics, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	jh := h.mu.jobs[id]
	if jh == nil {
		jh = &jobHistory{}
		h.mu.jobs[id] = jh
	}
	if jh.pid != pid {
		// A new process: its counters start over, and its graph may differ.
		jh.pid, jh.graph, jh.last = pid, nil, nil
	}
	if g != nil {
		jh.graph = g
	}
	sources := map[string]bool{}
	if jh.graph != nil {
		targets := map[string]bool{}
		for _, e := range jh.graph.Edges {
			targets[e.To] = true
		}
		for _, o := range jh.graph.Operators {
			if !targets[o.ID] {
				sources[o.ID] = true
			}
		}
	}
	type key struct {
		id      string
		subtask int
	}
	prev := map[key]jobcontrol.Operator{}
	var dt float64
	if jh.last != nil {
		dt = now.Sub(jh.lastT).Seconds()
		for _, o := range jh.last.Operators {
			prev[key{o.ID, o.Subtask}] = o
		}
	}
	rate := func(cur, old float64) float64 {
		if dt <= 0 || cur < old {
			return 0
		}
		return (cur - old) / dt
	}
	ops := map[string]OperatorStats{}
	subtasks := map[string]int{}
	smp := Sample{Time: now.UTC()}
	for _, o := range m.Operators {
		st := ops[o.ID]
		p, had := prev[key{o.ID, o.Subtask}]
		if had {
			in, out := rate(float64(o.In), float64(p.In)), rate(float64(o.Out), float64(p.Out))
			st.InPerSecond += in
			st.OutPerSecond += out
			st.Backpressure += min(rate(o.BackpressuredSeconds, p.BackpressuredSeconds), 1)
			if sources[o.ID] {
				smp.RecordsPerSecond += out
			}
		}
		subtasks[o.ID]++
		if o.Watermark != nil && (st.Watermark == nil || o.Watermark.Before(*st.Watermark)) {
			st.Watermark = o.Watermark
		}
		st.WatermarkLagSeconds = max(st.WatermarkLagSeconds, o.WatermarkLagSeconds)
		smp.LagSeconds = max(smp.LagSeconds, o.WatermarkLagSeconds)
		if sources[o.ID] {
			if smp.Sources == nil {
				smp.Sources = map[string]SourceSample{}
			}
			src := smp.Sources[o.ID]
			if had {
				src.RecordsPerSecond += rate(float64(o.Out), float64(p.Out))
			}
			src.LagSeconds = max(src.LagSeconds, o.WatermarkLagSeconds)
			for _, cm := range o.Connector {
				if consumerLagMetric(cm.Name) {
					src.ConsumerLagRecords += cm.Value
				}
			}
			smp.Sources[o.ID] = src
		}
		for _, cm := range o.Connector {
			if consumerLagMetric(cm.Name) {
				smp.ConsumerLagRecords += cm.Value
			}
		}
		st.DeadLettered += o.DeadLettered
		ops[o.ID] = st
	}
	for id, st := range ops {
		st.Backpressure /= float64(subtasks[id])
		ops[id] = st
	}
	if c := m.LastCheckpoint; c != nil {
		smp.CheckpointSeconds, smp.CheckpointBytes = c.DurationSeconds, c.Bytes
	}
	jh.last, jh.lastT, jh.ops, jh.ckpts = &m, now, ops, m.Checkpoints
	if dt == 0 {
		// The first figures of a process give no rate yet.
		return
	}
	if len(jh.ring) < h.capacity {
		jh.ring = append(jh.ring, smp)
	} else {
		jh.ring[jh.next] = smp
	}
	jh.next = (jh.next + 1) % h.capacity
}

// samples returns the job's history, oldest first.
func (h *history) samples(id string) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	jh := h.mu.jobs[id]
	if jh == nil {
		return []Sample{}
	}
	out := make([]Sample, 0, len(jh.ring))
	if len(jh.ring) == h.capacity {
		out = append(out, jh.ring[jh.next:]...)
		return append(out, jh.ring[:jh.next]...)
	}
	return append(out, jh.ring...)
}

// jobIDs returns the IDs of the jobs that have a history.
func (h *history) jobIDs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]string, 0, len(h.mu.jobs))
	for id := range h.mu.jobs {
		ids = append(ids, id)
	}
	return ids
}

// latest returns the job's latest sample; ok is false when it has none.
func (h *history) latest(id string) (smp Sample, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	jh := h.mu.jobs[id]
	if jh == nil || len(jh.ring) == 0 {
		return Sample{}, false
	}
	return jh.ring[(jh.next+h.capacity-1)%h.capacity], true
}

// current returns the job's graph, its operators' latest figures and its
// recent checkpoints.
func (h *history) current(id string) (g *jobcontrol.Graph, ops map[string]OperatorStats, ckpts []jobcontrol.Checkpoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	jh := h.mu.jobs[id]
	if jh == nil {
		return nil, nil, nil
	}
	return jh.graph, jh.ops, jh.ckpts
}
