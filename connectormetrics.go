package weir

import (
	"slices"
	"sync"
)

// A Metric is a value a connector reports about itself, beside the counts
// Weir keeps for every operator: a Kafka split's consumer lag, the requests
// an HTTP collector accepted. Env.Metrics returns them with their operator
// subtask's counts, and `weir serve` exports them to Prometheus as
// weir_<Name>, labelled with the job, operator and subtask and Labels.
type Metric struct {
	// Name follows Prometheus's naming rules without the weir_ prefix:
	// lower snake case with the unit at the end, and a counter's ending in
	// _total (kafka_consumer_lag_records,
	// http_ingest_requests_accepted_total).
	Name string
	// Help says what the metric measures, in one sentence.
	Help string
	// Labels tell apart the metrics of one name within an operator
	// subtask, as name and value pairs: [["topic", "orders"], ["partition", "3"]].
	// A split reader's metrics get a "split" label with the split's ID
	// when they have none.
	Labels [][2]string
	Value  float64
	// Counter marks a total that only grows; otherwise the metric is a
	// gauge.
	Counter bool
}

// MetricsReporter is implemented by a Source, a SplitReader, a Sink or a
// SinkWriter that reports metrics of its own. Metrics is called whenever
// the job's metrics are read, from that goroutine, concurrently with the
// connector's other methods: keep what it reports in atomics or behind a
// lock. A split reader reports from when its split is opened until it
// ends or is closed, a sink writer from when it is opened (its last
// values stay readable after the job has ended); a Source's or a
// Sink's own metrics, shared by its subtasks, are reported by subtask 0.
type MetricsReporter interface {
	Metrics() []Metric
}

// reporters are the metrics reporters of an operator subtask: its
// connector's, and its open split readers'.
type reporters struct {
	mu   sync.Mutex
	list []reporter
}

type reporter struct {
	r     MetricsReporter
	split string // the split of a split reader, "" otherwise
}

// add registers v, when it reports metrics, for split ("" for a
// connector's own).
func (rs *reporters) add(v any, split string) {
	r, ok := v.(MetricsReporter)
	if !ok {
		return
	}
	rs.mu.Lock()
	rs.list = append(rs.list, reporter{r: r, split: split})
	rs.mu.Unlock()
}

// remove forgets v.
func (rs *reporters) remove(v any) {
	r, ok := v.(MetricsReporter)
	if !ok {
		return
	}
	rs.mu.Lock()
	rs.list = slices.DeleteFunc(rs.list, func(x reporter) bool { return x.r == r })
	rs.mu.Unlock()
}

// metrics collects what the reporters report now.
func (rs *reporters) metrics() []Metric {
	rs.mu.Lock()
	list := slices.Clone(rs.list)
	rs.mu.Unlock()
	var out []Metric
	for _, r := range list {
		for _, m := range r.r.Metrics() {
			if r.split != "" && !slices.ContainsFunc(m.Labels, func(l [2]string) bool { return l[0] == "split" }) {
				m.Labels = append(slices.Clip(m.Labels), [2]string{"split", r.split})
			}
			out = append(out, m)
		}
	}
	return out
}
