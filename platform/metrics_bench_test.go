package platform

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// fakeJobs gives s n running jobs, each with a control socket that answers
// the figures of ops operators of subtasks subtasks each — what a job's
// process answers the server's scrape — and returns the number of
// operator series.
func fakeJobs(tb testing.TB, s *Server, n, ops, subtasks int) int {
	tb.Helper()
	var m jobcontrol.Metrics
	for o := range ops {
		for st := range subtasks {
			m.Operators = append(m.Operators, jobcontrol.Operator{Operator: fmt.Sprintf("step%d", o), ID: fmt.Sprintf("step/step%d", o),
				Subtask: st, In: 123456789, Out: 123456000, Filtered: 12, DeadLettered: 3, Late: 1,
				WatermarkLagSeconds: 1.5, BackpressuredSeconds: 0.25})
			if o == 0 {
				// A source's connector reports figures of its own.
				m.Operators[len(m.Operators)-1].Connector = []jobcontrol.Metric{
					{Name: "kafka_consumer_lag_records", Help: "Records behind.", Labels: [][2]string{{"topic", "t"}, {"partition", fmt.Sprint(st)}}, Value: 7},
					{Name: "http_ingest_requests_accepted_total", Value: 5, Counter: true},
					{Name: "bad name", Value: 1},
				}
			}
		}
	}
	m.CheckpointsCompleted = 42
	m.LastCheckpoint = &jobcontrol.Checkpoint{ID: 42, Time: time.Now(), DurationSeconds: 0.05, Bytes: 1 << 20}
	body, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("j%012x", i)
		dir := filepath.Join(s.root, jobsDir, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			tb.Fatal(err)
		}
		j := newJob(dir, jobSpec{ID: id, Name: fmt.Sprintf("job-%d", i), Submitted: time.Now(), Parallelism: subtasks,
			CheckpointInterval: "10s", State: Running})
		j.mu.pid = 1
		ln, err := net.Listen("unix", j.path(socketFile))
		if err != nil {
			tb.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		})}
		go srv.Serve(ln)
		tb.Cleanup(func() { srv.Close() })
		s.mu.Lock()
		s.mu.jobs[id] = j
		s.mu.Unlock()
	}
	return n * ops * subtasks
}

// BenchmarkMetrics is one scrape of /metrics with 20 jobs of 10 operators
// of 2 subtasks each: 400 operator subtasks, each 8 series.
func BenchmarkMetrics(b *testing.B) {
	dir, err := os.MkdirTemp("", "wm")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := Open(Config{Dir: dir, Executable: "/bin/false", Alerting: &Alerting{Interval: time.Hour, Keep: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fakeJobs(b, s, 20, 10, 2)
	h := s.Handler()
	for _, enc := range []string{"", "gzip"} {
		name := "text"
		if enc != "" {
			name = enc
		}
		b.Run(name, func(b *testing.B) { benchmarkScrape(b, h, enc) })
	}
}

func benchmarkScrape(b *testing.B, h http.Handler, acceptEncoding string) {
	var size int
	b.ReportAllocs()
	var before syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("GET /metrics: %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	// CPU time, which a loaded machine does not stretch as it stretches
	// the wall time; it includes the fake jobs' answers, which are the
	// jobs' processes' work in a real server.
	var after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(size), "bytes/scrape")
}

// The benchmark's fake jobs are scraped: every job's operators are on
// /metrics.
func TestFakeJobsScraped(t *testing.T) {
	dir, err := os.MkdirTemp("", "wm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := Open(Config{Dir: dir, Executable: "/bin/false", Alerting: &Alerting{Interval: time.Hour, Keep: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	series := fakeJobs(t, s, 3, 4, 2)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got := strings.Count(rec.Body.String(), "\nweir_operator_records_in_total{"); got != series {
		t.Fatalf("/metrics has %d weir_operator_records_in_total series; want %d", got, series)
	}
}

// The text /metrics writes itself holds the same weir_ families, help,
// types, series and values as the collector the alert rules read.
func TestMetricsTextMatchesCollector(t *testing.T) {
	dir, err := os.MkdirTemp("", "wm")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := Open(Config{Dir: dir, Executable: "/bin/false", Alerting: &Alerting{Interval: time.Hour, Keep: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fakeJobs(t, s, 3, 4, 2)
	// A job that has ended, and one whose process does not answer.
	for i, st := range []State{Failed, Running} {
		id := fmt.Sprintf("jf%011x", i)
		dir := filepath.Join(s.root, jobsDir, id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		j := newJob(dir, jobSpec{ID: id, Name: "x\"y\\z", State: st, Restarts: 3})
		if st == Running {
			j.mu.pid = 1
		}
		s.mu.jobs[id] = j
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	text, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	fams, err := s.newRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	render := func(f *dto.MetricFamily) string {
		var lines []string
		for _, m := range f.Metric {
			var ls []string
			for _, l := range m.Label {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			slices.Sort(ls)
			v, _ := metricValue(m)
			lines = append(lines, fmt.Sprintf("%v %v", ls, v))
		}
		slices.Sort(lines)
		return fmt.Sprintf("%s %s %v\n%s", f.GetName(), f.GetHelp(), f.GetType(), strings.Join(lines, "\n"))
	}
	n := 0
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "weir_") {
			continue
		}
		n++
		tf, ok := text[f.GetName()]
		if !ok {
			t.Errorf("/metrics lacks %s", f.GetName())
			continue
		}
		if got, want := render(tf), render(f); got != want {
			t.Errorf("/metrics has\n%s\nthe collector\n%s", got, want)
		}
	}
	for name := range text {
		if strings.HasPrefix(name, "weir_") {
			n--
		}
	}
	if n != 0 {
		t.Errorf("/metrics and the collector have different numbers of weir_ families")
	}
	if _, ok := text["process_cpu_seconds_total"]; !ok {
		t.Errorf("/metrics lacks the process's own figures")
	}
}
