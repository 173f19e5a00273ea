package platform

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakeMetrics is a gatherer whose series the test sets.
type fakeMetrics struct {
	fams map[string]*dto.MetricFamily
}

func (f *fakeMetrics) set(name string, typ dto.MetricType, v float64, labels ...string) {
	if f.fams == nil {
		f.fams = map[string]*dto.MetricFamily{}
	}
	fam := f.fams[name]
	if fam == nil {
		fam = &dto.MetricFamily{Name: &name, Type: &typ}
		f.fams[name] = fam
	}
	var lps []*dto.LabelPair
	for i := 0; i+1 < len(labels); i += 2 {
		lps = append(lps, &dto.LabelPair{Name: &labels[i], Value: &labels[i+1]})
	}
	m := &dto.Metric{Label: lps}
	if typ == dto.MetricType_COUNTER {
		m.Counter = &dto.Counter{Value: &v}
	} else {
		m.Gauge = &dto.Gauge{Value: &v}
	}
	key := labelKey(labelMap(lps))
	for i, old := range fam.Metric {
		if labelKey(labelMap(old.Label)) == key {
			fam.Metric[i] = m
			return
		}
	}
	fam.Metric = append(fam.Metric, m)
}

func (f *fakeMetrics) drop(name string) { delete(f.fams, name) }

func labelMap(lps []*dto.LabelPair) map[string]string {
	m := map[string]string{}
	for _, lp := range lps {
		m[lp.GetName()] = lp.GetValue()
	}
	return m
}

func (f *fakeMetrics) Gather() ([]*dto.MetricFamily, error) {
	var out []*dto.MetricFamily
	for _, fam := range f.fams {
		out = append(out, fam)
	}
	return out, nil
}

var _ prometheus.Gatherer = (*fakeMetrics)(nil)

func testAlerter(t *testing.T, yaml string, m *fakeMetrics) *alerter {
	t.Helper()
	cfg, err := ParseConfig("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAlerter(cfg, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// alertStates lists the alerts, one "rule state job" line each.
func alertStates(a *alerter) string {
	var b strings.Builder
	for _, al := range a.list() {
		b.WriteString(al.Rule + " " + al.State + " " + al.JobID + "\n")
	}
	return b.String()
}

func TestAlertHysteresisAndFor(t *testing.T) {
	m := &fakeMetrics{}
	a := testAlerter(t, `
alerts:
  defaults: false
  rules:
    - name: lag
      metric: weir_operator_watermark_lag_seconds
      by: [job_id]
      aggregate: max
      threshold: 10
      close: 5
      for: 2s
      close_for: 1s
`, m)
	t0 := time.Unix(1_700_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	steps := []struct {
		sec  int
		v    float64
		want string
	}{
		{0, 3, ""},
		{1, 11, ""},              // past the threshold, for 0s
		{2, 12, ""},              // for 1s
		{3, 12, "lag open j1\n"}, // for 2s: opens
		{4, 7, "lag open j1\n"},  // between close and threshold: stays open
		{5, 4, "lag open j1\n"},  // back past close, for 0s
		{6, 11, "lag open j1\n"}, // past close again: the quiet time starts over
		{7, 4, "lag open j1\n"},
		{8, 4, "lag closed j1\n"}, // quiet for 1s: closes
		{9, 11, "lag closed j1\n"},
	}
	for _, s := range steps {
		m.set("weir_operator_watermark_lag_seconds", dto.MetricType_GAUGE, s.v, "job_id", "j1", "operator", "input/a", "subtask", "0")
		m.set("weir_operator_watermark_lag_seconds", dto.MetricType_GAUGE, 0, "job_id", "j1", "operator", "input/a", "subtask", "1")
		a.evaluate(at(s.sec))
		if got := alertStates(a); got != s.want {
			t.Fatalf("at %ds, value %v: alerts\n%s\nwant\n%s", s.sec, s.v, got, s.want)
		}
	}
	l := a.list()
	if l[0].OpenValue != 12 || l[0].Value != 4 || !l[0].OpenedAt.Equal(at(3)) || !l[0].ClosedAt.Equal(at(8)) {
		t.Fatalf("closed alert %+v: want opened at 3s with 12, closed at 8s with 4", l[0])
	}
}

func TestAlertIncreaseCountsResets(t *testing.T) {
	m := &fakeMetrics{}
	a := testAlerter(t, `
alerts:
  defaults: false
  rules:
    - {name: ckpt, metric: weir_job_checkpoints_failed_total, func: increase, window: 3s, by: [job_id], threshold: 3}
`, m)
	t0 := time.Unix(1_700_000_000, 0)
	for i, v := range []float64{5, 6, 1, 2} {
		// 5 → 6 is 1; the drop to 1 is a new process, which failed once;
		// 1 → 2 is 1: 3 in all, not past 3.
		m.set("weir_job_checkpoints_failed_total", dto.MetricType_COUNTER, v, "job_id", "j1")
		a.evaluate(t0.Add(time.Duration(i) * time.Second))
	}
	if got := alertStates(a); got != "" {
		t.Fatalf("alerts %q; want none at an increase of 3", got)
	}
	// Within the window, 3s back from 4s: from 6 at 1s, 1 (a new process)
	// and 3 more.
	m.set("weir_job_checkpoints_failed_total", dto.MetricType_COUNTER, 4, "job_id", "j1")
	a.evaluate(t0.Add(4 * time.Second))
	if got := alertStates(a); got != "ckpt open j1\n" {
		t.Fatalf("alerts %q; want ckpt open", got)
	}
	// Nothing more fails: once the window has passed the failures, it
	// closes.
	for i := 5; i < 10; i++ {
		a.evaluate(t0.Add(time.Duration(i) * time.Second))
	}
	if got := alertStates(a); got != "ckpt closed j1\n" {
		t.Fatalf("alerts %q; want ckpt closed", got)
	}
}

func TestAlertGoneSeriesCloses(t *testing.T) {
	m := &fakeMetrics{}
	a := testAlerter(t, `
alerts:
  defaults: false
  rules:
    - {name: dl, metric: weir_operator_records_dead_lettered_total, func: rate, window: 10s, by: [job_id], threshold: 1, close_for: 2s}
`, m)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 4 {
		m.set("weir_operator_records_dead_lettered_total", dto.MetricType_COUNTER, float64(10*i), "job_id", "j1", "operator", "step/x", "subtask", "0")
		m.set("weir_operator_records_dead_lettered_total", dto.MetricType_COUNTER, float64(i), "job_id", "j1", "operator", "step/x", "subtask", "1")
		a.evaluate(t0.Add(time.Duration(i) * time.Second))
	}
	l := a.list()
	if len(l) != 1 || l[0].State != "open" || l[0].OpenValue != 11 {
		t.Fatalf("alerts %+v; want one open at 11 records a second (10 + 1)", l)
	}
	m.drop("weir_operator_records_dead_lettered_total")
	a.evaluate(t0.Add(5 * time.Second))
	a.evaluate(t0.Add(6 * time.Second))
	if got := alertStates(a); got != "dl open j1\n" {
		t.Fatalf("alerts %q; want still open before close_for", got)
	}
	a.evaluate(t0.Add(7 * time.Second))
	if got := alertStates(a); got != "dl closed j1\n" {
		t.Fatalf("alerts %q; want closed once its series have been gone for close_for", got)
	}
}

func TestDefaultAlerting(t *testing.T) {
	a := DefaultAlerting()
	var names []string
	for _, r := range a.Rules {
		names = append(names, r.Name)
	}
	if got, want := strings.Join(names, " "), "job-restarting checkpoints-failing watermark-stalled dead-letters consumer-lag-growing throughput-abnormal consumer-lag-abnormal latency-abnormal"; got != want {
		t.Fatalf("default rules %q, want %q", got, want)
	}
	if !a.Log || a.Interval != 10*time.Second {
		t.Fatalf("default alerting %+v: want the log, every 10s", a)
	}
}

func TestConfigOverlaysBuiltInRule(t *testing.T) {
	a, err := ParseConfig("c.yaml", []byte(`
alerts:
  rules:
    - {name: job-restarting, window: 3s}
    - {name: dead-letters, disabled: true}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range a.Rules {
		switch r.Name {
		case "job-restarting":
			if r.Window != 3*time.Second || r.Metric != "weir_job_restarts_total" || r.Func != "increase" {
				t.Fatalf("job-restarting %+v: want the built-in rule with a 3s window", r)
			}
		case "dead-letters":
			t.Fatal("dead-letters is disabled but still a rule")
		}
	}
}

func TestConfigNormalRuleDefaults(t *testing.T) {
	a, err := ParseConfig("c.yaml", []byte(`
alerts:
  rules:
    - {name: throughput-abnormal, step: 5m, tolerance: 20}
    - {name: lag, kind: normal, series: consumer_lag, per: source, labels: {job_id: j1}, threshold: 0.7}
`))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]AlertRule{}
	for _, r := range a.Rules {
		byName[r.Name] = r
	}
	for name, want := range map[string]AlertRule{
		"throughput-abnormal": {Kind: "normal", Series: "throughput", Per: "job", Direction: "below", Step: 5 * time.Minute, Tolerance: 20,
			Op: ">=", Threshold: 0.5, Close: 0.25, CloseFor: 5 * time.Minute, Adapt: 6 * time.Hour},
		"lag": {Kind: "normal", Series: "consumer_lag", Per: "source", Direction: "above", Step: time.Minute, Tolerance: 1000,
			Op: ">=", Threshold: 0.7, Close: 0.25, CloseFor: 5 * time.Minute, Adapt: 6 * time.Hour},
		"latency-abnormal": {Kind: "normal", Series: "latency", Per: "job", Direction: "above", Step: time.Minute, Tolerance: 5,
			Op: ">=", Threshold: 0.5, Close: 0.25, CloseFor: 5 * time.Minute, Adapt: 6 * time.Hour},
	} {
		r := byName[name]
		got := AlertRule{Kind: r.Kind, Series: r.Series, Per: r.Per, Direction: r.Direction, Step: r.Step, Tolerance: r.Tolerance,
			Op: r.Op, Threshold: r.Threshold, Close: r.Close, CloseFor: r.CloseFor, Adapt: r.Adapt}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("rule %s: %+v, want %+v", name, got, want)
		}
	}
	if byName["lag"].Labels["job_id"] != "j1" {
		t.Errorf("rule lag keeps labels %v, want job_id j1", byName["lag"].Labels)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown field", "alerts:\n  rules:\n    - name: x\n      treshold: 1\n", "c.yaml:4:"},
		{"bad op", "alerts:\n  rules:\n    - name: x\n      metric: m\n      threshold: 1\n      op: '=='\n", `c.yaml:6:11: rule "x": unknown op "=="`},
		{"no threshold", "alerts:\n  defaults: false\n  rules:\n    - name: x\n      metric: m\n", `c.yaml:4:11: rule "x" needs a threshold`},
		{"close past threshold", "alerts:\n  rules:\n    - {name: x, metric: m, threshold: 1, close: 2}\n", `c.yaml:3:49: rule "x": close 2 is past the threshold 1`},
		{"bad duration", "alerts:\n  interval: 5\n", `c.yaml:2:13: invalid duration "5"`},
		{"bad webhook", "alerts:\n  webhook: {url: 'ftp://x'}\n", `c.yaml:2:18: invalid webhook url`},
		{"duplicate key", "alerts:\n  interval: 1s\n  interval: 2s\n", "c.yaml:3:"},
		{"not yaml", "alerts: [\n", "c.yaml:"},
		{"unknown kind", "alerts:\n  rules:\n    - {name: x, kind: smart, metric: m, threshold: 1}\n", `c.yaml:3:23: rule "x": unknown kind "smart"`},
		{"normal without series", "alerts:\n  rules:\n    - {name: x, kind: normal}\n", `c.yaml:3:7: rule "x": unknown series ""`},
		{"normal bad series", "alerts:\n  rules:\n    - {name: x, kind: normal, series: errors}\n", `c.yaml:3:39: rule "x": unknown series "errors"`},
		{"normal with metric", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, metric: m}\n", `rule "x": a normal rule takes no metric`},
		{"normal score threshold", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, threshold: 3}\n", `rule "x": invalid threshold 3: a normal rule's threshold is an anomaly score in (0, 1]`},
		{"normal close", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, threshold: 0.6, close: 0.7}\n", `rule "x": invalid close 0.7`},
		{"normal per", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, per: operator}\n", `unknown per "operator"; want job or source`},
		{"normal direction", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, direction: up}\n", `unknown direction "up"`},
		{"normal step", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, step: 10ms}\n", `invalid duration "10ms": want a Go duration of at least 1s`},
		{"normal warmup", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, warmup: 0}\n", `invalid warmup 0`},
		{"normal tolerance", "alerts:\n  rules:\n    - {name: x, kind: normal, series: latency, tolerance: -1}\n", `invalid tolerance -1`},
		{"series on a threshold rule", "alerts:\n  rules:\n    - {name: x, metric: m, threshold: 1, series: latency}\n", `rule "x": series is a field of a normal rule`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("c.yaml", []byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one containing %q", err, tc.want)
			}
		})
	}
}
