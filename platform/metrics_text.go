package platform

import (
	"bytes"
	"compress/gzip"
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// /metrics writes the jobs' series as Prometheus text itself rather than
// through client_golang's const metrics: with 20 jobs of 10 operators of 2
// subtasks (3 200 series) building a metric object, its label pairs and
// their consistency checks for every series, then encoding them, took
// several times the whole budget of a scrape (docs/benchmarks.md). The
// collector (metrics.go) stays what the alert rules read, every interval;
// TestMetricsTextMatchesCollector keeps the two the same.

// metricsTextHandler serves /metrics: the jobs' series, then the server
// process's own (CPU, memory, Go runtime) through client_golang.
func (s *Server) metricsTextHandler() http.Handler {
	proc := prometheus.NewRegistry()
	proc.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	var pool sync.Pool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf, _ := pool.Get().(*bytes.Buffer)
		if buf == nil {
			buf = new(bytes.Buffer)
		}
		defer func() {
			buf.Reset()
			pool.Put(buf)
		}()
		s.writeJobMetrics(buf)
		fams, _ := proc.Gather()
		for _, f := range fams {
			_, _ = expfmt.MetricFamilyToText(buf, f)
		}
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		if acceptsGzip(r) {
			w.Header().Set("Content-Encoding", "gzip")
			gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
			_, _ = gz.Write(buf.Bytes())
			_ = gz.Close()
			return
		}
		_, _ = w.Write(buf.Bytes())
	})
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		if enc, _, _ := strings.Cut(strings.TrimSpace(part), ";"); enc == "gzip" {
			return true
		}
	}
	return false
}

// jobFigures is one job as a scrape sees it.
type jobFigures struct {
	v   Job
	ok  bool // its process answered
	m   jobcontrol.Metrics
	run bool // it has a process
}

// writeJobMetrics asks every running job's process for its figures, all
// at once, and writes the weir_ series.
func (s *Server) writeJobMetrics(buf *bytes.Buffer) {
	jobs := s.jobs()
	figs := make([]jobFigures, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		figs[i].v = j.view()
		if figs[i].v.PID == 0 {
			continue
		}
		figs[i].run = true
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ScrapeTimeout)
			defer cancel()
			m, err := controlMetrics(ctx, j.path(socketFile))
			figs[i].m, figs[i].ok = m, err == nil
		})
	}
	wg.Wait()

	w := textWriter{buf: buf}
	counts := map[State]int{}
	for _, f := range figs {
		counts[f.v.State]++
	}
	w.family("weir_server_jobs", "Jobs the server keeps, by state.", "gauge")
	for _, st := range states {
		w.sample("weir_server_jobs", float64(counts[st]), "state", string(st))
	}
	w.family("weir_job_info", "One per job, with its name and state.", "gauge")
	for _, f := range figs {
		w.sample("weir_job_info", 1, "job_id", f.v.ID, "name", f.v.Name, "state", string(f.v.State))
	}
	w.family("weir_job_restarts_total", "Times the server started the job's process again after it failed.", "counter")
	for _, f := range figs {
		w.sample("weir_job_restarts_total", float64(f.v.Restarts), "job_id", f.v.ID)
	}
	perJob := func(name, help, typ string, value func(f *jobFigures) (float64, bool)) {
		w.pending(name, help, typ)
		for i := range figs {
			if v, ok := value(&figs[i]); ok {
				w.sample(name, v, "job_id", figs[i].v.ID)
			}
		}
	}
	perJob("weir_job_up", "1 when the job's process answered this scrape, 0 when it runs but did not.", "gauge",
		func(f *jobFigures) (float64, bool) { return map[bool]float64{true: 1, false: 0}[f.ok], f.run })
	perJob("weir_job_checkpoints_completed_total", "Checkpoints and savepoints completed by the job's current process.", "counter",
		func(f *jobFigures) (float64, bool) { return float64(f.m.CheckpointsCompleted), f.ok })
	perJob("weir_job_checkpoints_failed_total", "Checkpoints and savepoints that failed in the job's current process.", "counter",
		func(f *jobFigures) (float64, bool) { return float64(f.m.CheckpointsFailed), f.ok })
	perJob("weir_job_last_checkpoint_duration_seconds", "How long the job's last completed checkpoint took.", "gauge",
		func(f *jobFigures) (float64, bool) {
			if !f.ok || f.m.LastCheckpoint == nil {
				return 0, false
			}
			return f.m.LastCheckpoint.DurationSeconds, true
		})
	perJob("weir_job_last_checkpoint_size_bytes", "The size of the state files of the job's last completed checkpoint.", "gauge",
		func(f *jobFigures) (float64, bool) {
			if !f.ok || f.m.LastCheckpoint == nil {
				return 0, false
			}
			return float64(f.m.LastCheckpoint.Bytes), true
		})
	perOp := func(name, help, typ string, value func(o *jobcontrol.Operator) (float64, bool)) {
		w.pending(name, help, typ)
		for i := range figs {
			if !figs[i].ok {
				continue
			}
			for k := range figs[i].m.Operators {
				o := &figs[i].m.Operators[k]
				if v, ok := value(o); ok {
					w.sample(name, v, "job_id", figs[i].v.ID, "operator", o.ID, "subtask", strconv.Itoa(o.Subtask))
				}
			}
		}
	}
	count := func(v int64) (float64, bool) { return float64(v), true }
	perOp("weir_operator_records_in_total", "Records the operator subtask received (a source: read).", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return count(o.In) })
	perOp("weir_operator_records_out_total", "Records the operator subtask emitted (a sink: wrote).", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return count(o.Out) })
	perOp("weir_operator_records_filtered_total", "Records a filter dropped.", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return count(o.Filtered) })
	perOp("weir_operator_records_dead_lettered_total", "Records that failed and were written to the dead letters.", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return count(o.DeadLettered) })
	perOp("weir_operator_records_skipped_total", "Records that failed and were skipped.", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return count(o.Skipped) })
	perOp("weir_operator_records_late_total", "Records a window received after its allowed lateness.", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return count(o.Late) })
	perOp("weir_operator_backpressured_seconds_total", "Time the operator subtask's output waited for room downstream.", "counter",
		func(o *jobcontrol.Operator) (float64, bool) { return o.BackpressuredSeconds, true })
	perOp("weir_operator_watermark_lag_seconds", "How far the operator subtask's watermark is behind the wall clock.", "gauge",
		func(o *jobcontrol.Operator) (float64, bool) {
			// Zero means the operator has no watermark (yet, or any more).
			return o.WatermarkLagSeconds, o.WatermarkLagSeconds != 0
		})
	writeConnectorMetrics(&w, figs)
}

// connectorSeries is one series a connector reported.
type connectorSeries struct {
	labels []string // name, value pairs
	value  float64
}

// writeConnectorMetrics writes the metrics the operators' connectors
// report (weir.MetricsReporter), one family per name, with the operator's
// labels and their own; it leaves out what connectorMetric leaves out.
func writeConnectorMetrics(w *textWriter, figs []jobFigures) {
	type family struct {
		help, typ string
		series    []connectorSeries
	}
	fams := map[string]*family{}
	var names []string
	for i := range figs {
		if !figs[i].ok {
			continue
		}
		for k := range figs[i].m.Operators {
			o := &figs[i].m.Operators[k]
			l := []string{figs[i].v.ID, o.ID, strconv.Itoa(o.Subtask)}
			for _, cm := range o.Connector {
				if _, ok := connectorMetric(cm, l); !ok {
					continue
				}
				name := "weir_" + cm.Name
				f := fams[name]
				if f == nil {
					help := cm.Help
					if help == "" {
						help = "Reported by the operator's connector."
					}
					f = &family{help: help, typ: "gauge"}
					if cm.Counter {
						f.typ = "counter"
					}
					fams[name] = f
					names = append(names, name)
				}
				labels := []string{"job_id", l[0], "operator", l[1], "subtask", l[2]}
				for _, kv := range cm.Labels {
					labels = append(labels, kv[0], kv[1])
				}
				f.series = append(f.series, connectorSeries{labels: labels, value: cm.Value})
			}
		}
	}
	slices.Sort(names)
	for _, name := range names {
		f := fams[name]
		w.family(name, f.help, f.typ)
		for _, s := range f.series {
			w.sample(name, s.value, s.labels...)
		}
	}
}

// textWriter writes the Prometheus text format (version 0.0.4).
type textWriter struct {
	buf *bytes.Buffer
	// A family's HELP and TYPE wait for its first sample: a family without
	// samples is left out, as client_golang leaves it out.
	name, help, typ string
}

func (w *textWriter) family(name, help, typ string) {
	w.pending(name, help, typ)
	w.flush()
}

func (w *textWriter) pending(name, help, typ string) { w.name, w.help, w.typ = name, help, typ }

func (w *textWriter) flush() {
	if w.name == "" {
		return
	}
	b := w.buf
	b.WriteString("# HELP ")
	b.WriteString(w.name)
	b.WriteByte(' ')
	writeEscaped(b, w.help, false)
	b.WriteString("\n# TYPE ")
	b.WriteString(w.name)
	b.WriteByte(' ')
	b.WriteString(w.typ)
	b.WriteByte('\n')
	w.name = ""
}

// sample writes one sample; labels are name, value pairs.
func (w *textWriter) sample(name string, v float64, labels ...string) {
	w.flush()
	b := w.buf
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(labels[i])
			b.WriteString(`="`)
			writeEscaped(b, labels[i+1], true)
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	var num [32]byte
	switch {
	case math.IsInf(v, 1):
		b.WriteString("+Inf")
	case math.IsInf(v, -1):
		b.WriteString("-Inf")
	case math.IsNaN(v):
		b.WriteString("NaN")
	default:
		b.Write(strconv.AppendFloat(num[:0], v, 'g', -1, 64))
	}
	b.WriteByte('\n')
}

// writeEscaped escapes a backslash and a newline, and in a label value a
// double quote, as the text format wants.
func writeEscaped(b *bytes.Buffer, s string, quote bool) {
	if !strings.ContainsAny(s, "\\\n\"") {
		b.WriteString(s)
		return
	}
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
}
