package platform

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/model"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// The metrics of /metrics. A job is labelled job_id, not job: Prometheus
// gives every scraped series the label job (the scrape configuration's
// name), which would rename the server's own to exported_job.
var (
	descJobs     = prometheus.NewDesc("weir_server_jobs", "Jobs the server keeps, by state.", []string{"state"}, nil)
	descInfo     = prometheus.NewDesc("weir_job_info", "One per job, with its name and state.", []string{"job_id", "name", "state"}, nil)
	descRestarts = prometheus.NewDesc("weir_job_restarts_total", "Times the server started the job's process again after it failed.", []string{"job_id"}, nil)
	descUp       = prometheus.NewDesc("weir_job_up", "1 when the job's process answered this scrape, 0 when it runs but did not.", []string{"job_id"}, nil)

	descCkptDone   = prometheus.NewDesc("weir_job_checkpoints_completed_total", "Checkpoints and savepoints completed by the job's current process.", []string{"job_id"}, nil)
	descCkptFailed = prometheus.NewDesc("weir_job_checkpoints_failed_total", "Checkpoints and savepoints that failed in the job's current process.", []string{"job_id"}, nil)
	descCkptDur    = prometheus.NewDesc("weir_job_last_checkpoint_duration_seconds", "How long the job's last completed checkpoint took.", []string{"job_id"}, nil)
	descCkptSize   = prometheus.NewDesc("weir_job_last_checkpoint_size_bytes", "The size of the state files of the job's last completed checkpoint.", []string{"job_id"}, nil)

	opLabels     = []string{"job_id", "operator", "subtask"}
	descIn       = prometheus.NewDesc("weir_operator_records_in_total", "Records the operator subtask received (a source: read).", opLabels, nil)
	descOut      = prometheus.NewDesc("weir_operator_records_out_total", "Records the operator subtask emitted (a sink: wrote).", opLabels, nil)
	descFiltered = prometheus.NewDesc("weir_operator_records_filtered_total", "Records a filter dropped.", opLabels, nil)
	descDead     = prometheus.NewDesc("weir_operator_records_dead_lettered_total", "Records that failed and were written to the dead letters.", opLabels, nil)
	descSkipped  = prometheus.NewDesc("weir_operator_records_skipped_total", "Records that failed and were skipped.", opLabels, nil)
	descLate     = prometheus.NewDesc("weir_operator_records_late_total", "Records a window received after its allowed lateness.", opLabels, nil)
	descBP       = prometheus.NewDesc("weir_operator_backpressured_seconds_total", "Time the operator subtask's output waited for room downstream.", opLabels, nil)
	descWMLag    = prometheus.NewDesc("weir_operator_watermark_lag_seconds", "How far the operator subtask's watermark is behind the wall clock.", opLabels, nil)
)

// collector gathers the server's figures and its running jobs', asking
// each job's process at scrape time, all at once.
type collector struct{ s *Server }

// Describe describes nothing: the collector is unchecked, since the
// metrics connectors report (weir.MetricsReporter) are known only once a
// job's process answers.
func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	jobs := c.s.jobs()
	counts := map[State]int{}
	var wg sync.WaitGroup
	for _, j := range jobs {
		v := j.view()
		counts[v.State]++
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, v.ID, v.Name, string(v.State))
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(v.Restarts), v.ID)
		if v.PID == 0 {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.ScrapeTimeout)
			defer cancel()
			m, err := controlMetrics(ctx, j.path(socketFile))
			if err != nil {
				ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0, v.ID)
				return
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1, v.ID)
			collectJob(ch, v.ID, m)
		})
	}
	wg.Wait()
	for _, st := range states {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}

func collectJob(ch chan<- prometheus.Metric, id string, m jobcontrol.Metrics) {
	ch <- prometheus.MustNewConstMetric(descCkptDone, prometheus.CounterValue, float64(m.CheckpointsCompleted), id)
	ch <- prometheus.MustNewConstMetric(descCkptFailed, prometheus.CounterValue, float64(m.CheckpointsFailed), id)
	if c := m.LastCheckpoint; c != nil {
		ch <- prometheus.MustNewConstMetric(descCkptDur, prometheus.GaugeValue, c.DurationSeconds, id)
		ch <- prometheus.MustNewConstMetric(descCkptSize, prometheus.GaugeValue, float64(c.Bytes), id)
	}
	for _, o := range m.Operators {
		l := []string{id, o.ID, strconv.Itoa(o.Subtask)}
		ch <- prometheus.MustNewConstMetric(descIn, prometheus.CounterValue, float64(o.In), l...)
		ch <- prometheus.MustNewConstMetric(descOut, prometheus.CounterValue, float64(o.Out), l...)
		ch <- prometheus.MustNewConstMetric(descFiltered, prometheus.CounterValue, float64(o.Filtered), l...)
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.CounterValue, float64(o.DeadLettered), l...)
		ch <- prometheus.MustNewConstMetric(descSkipped, prometheus.CounterValue, float64(o.Skipped), l...)
		ch <- prometheus.MustNewConstMetric(descLate, prometheus.CounterValue, float64(o.Late), l...)
		ch <- prometheus.MustNewConstMetric(descBP, prometheus.CounterValue, o.BackpressuredSeconds, l...)
		if o.WatermarkLagSeconds != 0 {
			// Zero means the operator has no watermark (yet, or any more).
			ch <- prometheus.MustNewConstMetric(descWMLag, prometheus.GaugeValue, o.WatermarkLagSeconds, l...)
		}
		for _, cm := range o.Connector {
			if m, ok := connectorMetric(cm, l); ok {
				ch <- m
			}
		}
	}
}

// connectorMetric is a connector's metric with the operator's labels
// (job_id, operator, subtask) and its own; false for one whose name or
// labels Prometheus would refuse, or that reuse the operator's.
func connectorMetric(cm jobcontrol.Metric, opLabelValues []string) (prometheus.Metric, bool) {
	name := "weir_" + cm.Name
	if !model.LegacyValidation.IsValidMetricName(name) {
		return nil, false
	}
	names, values := slices.Clone(opLabels), slices.Clone(opLabelValues)
	for _, l := range cm.Labels {
		if !model.LegacyValidation.IsValidLabelName(l[0]) || slices.Contains(names, l[0]) {
			return nil, false
		}
		names, values = append(names, l[0]), append(values, l[1])
	}
	help := cm.Help
	if help == "" {
		help = "Reported by the operator's connector."
	}
	kind := prometheus.GaugeValue
	if cm.Counter {
		kind = prometheus.CounterValue
	}
	m, err := prometheus.NewConstMetric(prometheus.NewDesc(name, help, names, nil), kind, cm.Value, values...)
	return m, err == nil
}

// metricsHandler serves the server's registry: the jobs' figures, and the
// server process's own (CPU, memory, Go runtime).
func (s *Server) metricsHandler() http.Handler {
	return s.metricsTextHandler()
}

// newRegistry returns a registry of everything /metrics serves.
func (s *Server) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s}, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return reg
}
