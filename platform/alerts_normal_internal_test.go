package platform

import (
	"bytes"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/platform/jobcontrol"
)

// fakeJob is a job whose history a test writes minute by minute: its
// source reads at rate(t) records a second, and its Kafka reader is lag(t)
// records behind.
type fakeJob struct {
	h    *history
	id   string
	read float64
	rate func(t time.Time) float64
	lag  func(t time.Time) float64
}

var fakeGraph = &jobcontrol.Graph{
	Operators: []jobcontrol.GraphOperator{{ID: "input/orders"}, {ID: "output/out"}},
	Edges:     []jobcontrol.GraphEdge{{From: "input/orders", To: "output/out"}},
}

// sample adds the job's figures at t, for the minute before it.
func (f *fakeJob) sample(t time.Time) {
	f.read += f.rate(t) * 60
	src := jobcontrol.Operator{ID: "input/orders", Out: int64(f.read)}
	if f.lag != nil {
		src.Connector = []jobcontrol.Metric{
			{Name: "kafka_consumer_lag_records", Value: f.lag(t) / 2},
			{Name: "kafka_consumer_lag_records", Value: f.lag(t) / 2},
		}
	}
	m := jobcontrol.Metrics{Operators: []jobcontrol.Operator{src, {ID: "output/out", In: int64(f.read)}}}
	f.h.add(f.id, 7, fakeGraph, m, t)
}

func normalAlerter(t *testing.T, yaml string, h *history, path string) *alerter {
	t.Helper()
	a := testAlerter(t, yaml, &fakeMetrics{})
	a.hist, a.path = h, path
	a.load()
	return a
}

// throughput is a job's normal day: a daily cycle between 50 and 150
// records a second with some noise, and a nightly batch at 02:00 that
// reads 400 more for a quarter of an hour.
func throughput(rng *rand.Rand) func(t time.Time) float64 {
	return func(t time.Time) float64 {
		h := float64(t.Hour()) + float64(t.Minute())/60
		v := 100 + 50*math.Sin(2*math.Pi*h/24) + 4*rng.NormFloat64()
		if t.Hour() == 2 && t.Minute() < 15 {
			v += 400
		}
		return v
	}
}

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// A normal rule learns a job's daily cycle and its nightly batch: after
// the learning days the batch opens no alert, while a drop to a tenth of
// the normal throughput opens one within minutes, which stays open while
// the drop lasts and closes once the throughput is back. The dashboard's
// samples carry the range the model expected.
func TestNormalRuleLearnsDailyBatchAndAlertsOnDrop(t *testing.T) {
	h := newHistory(time.Minute)
	a := normalAlerter(t, `
alerts:
  defaults: false
  rules:
    - {name: tput, kind: normal, series: throughput, direction: both}
`, h, "")
	rng := rand.New(rand.NewPCG(1, 2))
	normalDay := throughput(rng)
	dropAt, dropEnd := day0.Add(6*24*time.Hour+14*time.Hour), day0.Add(6*24*time.Hour+15*time.Hour)
	job := &fakeJob{h: h, id: "j1", rate: func(t time.Time) float64 {
		v := normalDay(t)
		if !t.Before(dropAt.Add(time.Minute)) && !t.After(dropEnd) {
			v /= 10
		}
		return v
	}}
	for t0 := day0; t0.Before(day0.Add(7 * 24 * time.Hour)); t0 = t0.Add(time.Minute) {
		job.sample(t0.Add(30 * time.Second))
		a.evaluate(t0.Add(time.Minute))
	}
	learned := day0.Add(3 * 24 * time.Hour)
	var drop []Alert
	for _, al := range a.list() {
		switch {
		case al.State == "open":
			t.Errorf("alert %s still open at the end: %s", al.ID, al.Message)
		case al.OpenedAt.Before(learned):
			// Learning: the first batches may alert.
		case al.OpenedAt.Before(dropAt):
			t.Errorf("alert at %v, after the learning days and before the drop: %s", al.OpenedAt, al.Message)
		default:
			drop = append(drop, al)
		}
	}
	if len(drop) != 1 {
		t.Fatalf("%d alerts from the drop, want 1: %+v", len(drop), drop)
	}
	al := drop[0]
	if al.OpenedAt.After(dropAt.Add(5*time.Minute)) || al.ClosedAt.Before(dropEnd) || al.ClosedAt.After(dropEnd.Add(15*time.Minute)) {
		t.Errorf("the drop's alert opened at %v and closed at %v; want opened by %v, closed between %v and %v",
			al.OpenedAt, al.ClosedAt, dropAt.Add(5*time.Minute), dropEnd, dropEnd.Add(15*time.Minute))
	}
	if al.ExpectedLow == nil || al.OpenValue >= *al.ExpectedLow || al.Score < 0.5 || al.JobID != "j1" {
		t.Errorf("the drop's alert %+v: want its opening value below the expected range, a score of at least 0.5, job j1", al)
	}
	if !strings.Contains(al.Message, "throughput") || strings.Contains(al.Message, "{{") {
		t.Errorf("message %q: want the series named and every {{…}} replaced", al.Message)
	}

	// The last hour's samples carry the expected range, and the normal
	// values are inside it.
	samples := h.samples("j1")
	a.fillExpected("j1", samples)
	inside := 0
	for _, smp := range samples {
		r, ok := smp.Expected["records_per_second"]
		if !ok {
			t.Fatalf("sample at %v has no expected range: %+v", smp.Time, smp)
		}
		if r.Low <= smp.RecordsPerSecond && smp.RecordsPerSecond <= r.High {
			inside++
		}
	}
	if inside < len(samples)*9/10 {
		t.Errorf("%d of %d normal samples inside their expected range; want at least 90%%", inside, len(samples))
	}
	if _, shared := h.samples("j1")[0].Expected["records_per_second"]; shared {
		t.Error("filling the expected ranges changed the history's own samples")
	}
}

// A normal rule per source judges each source's consumer lag on its own,
// and alerts on a lag that grows far above its normal (and only upwards,
// by default).
func TestNormalRulePerSourceConsumerLag(t *testing.T) {
	h := newHistory(time.Minute)
	a := normalAlerter(t, "alerts:\n  defaults: false\n  rules:\n    - {name: lag, kind: normal, series: consumer_lag, per: source}\n", h, "")
	rng := rand.New(rand.NewPCG(3, 4))
	stuckAt := day0.Add(3*24*time.Hour + 10*time.Hour)
	job := &fakeJob{h: h, id: "j2", rate: func(time.Time) float64 { return 500 },
		lag: func(t time.Time) float64 {
			v := 2000 + 300*rng.NormFloat64()
			if t.After(stuckAt) {
				v += 200 * t.Sub(stuckAt).Minutes() // the consumer is stuck
			}
			return v
		}}
	var opened []Alert
	for t0 := day0; t0.Before(stuckAt.Add(30 * time.Minute)); t0 = t0.Add(time.Minute) {
		job.sample(t0.Add(30 * time.Second))
		a.evaluate(t0.Add(time.Minute))
	}
	for _, al := range a.list() {
		if al.OpenedAt.After(day0.Add(24 * time.Hour)) {
			opened = append(opened, al)
		}
	}
	if len(opened) != 1 || opened[0].Labels["source"] != "input/orders" || opened[0].State != "open" || opened[0].OpenedAt.Before(stuckAt) {
		t.Fatalf("alerts %+v; want one open for source input/orders, after the consumer got stuck", opened)
	}
}

// Open alerts, closed ones and the models survive a restart of the server:
// a new alerter reading the saved file lists the same alerts, its models
// are the same byte for byte, and an alert open at the restart closes once
// the values come back.
func TestAlertsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), alertsStateFile)
	cfg := "alerts:\n  defaults: false\n  rules:\n    - {name: tput, kind: normal, series: throughput}\n"
	h := newHistory(time.Minute)
	a := normalAlerter(t, cfg, h, path)
	a.saveEvery = 6 * time.Hour // fewer writes in a week of minutes
	rng := rand.New(rand.NewPCG(5, 6))
	normalDay := throughput(rng)
	stallAt := day0.Add(4*24*time.Hour + 9*time.Hour)
	stalled := true
	job := &fakeJob{h: h, id: "j3", rate: func(t time.Time) float64 {
		if t.After(stallAt) && stalled {
			return 0
		}
		return normalDay(t)
	}}
	run := func(a *alerter, from, to time.Time) {
		for t0 := from; t0.Before(to); t0 = t0.Add(time.Minute) {
			job.sample(t0.Add(30 * time.Second))
			a.evaluate(t0.Add(time.Minute))
		}
	}
	restartAt := stallAt.Add(20 * time.Minute)
	run(a, day0, restartAt)
	open := a.list()[0]
	if open.State != "open" || open.OpenedAt.Before(stallAt) {
		t.Fatalf("before the restart, alerts %+v; want the stall's open", a.list())
	}
	a.save(restartAt)
	before := a.list()
	var model []byte
	for _, nm := range a.mu.models {
		model, _ = nm.m.MarshalBinary()
	}

	// The new server has no history yet; its alerter reads the file.
	h = newHistory(time.Minute)
	job.h = h
	b := normalAlerter(t, cfg, h, path)
	if got := b.list(); len(got) != len(before) || got[0].ID != open.ID || got[0].State != "open" || *got[0].ExpectedLow != *open.ExpectedLow {
		t.Fatalf("after the restart, alerts %+v; want %+v", got, before)
	}
	if len(b.mu.models) != 1 {
		t.Fatalf("%d models after the restart, want 1", len(b.mu.models))
	}
	for _, nm := range b.mu.models {
		if got, _ := nm.m.MarshalBinary(); !bytes.Equal(got, model) {
			t.Fatal("the model read back differs from the one saved")
		}
	}
	// Down for five minutes; the stall goes on, then ends.
	run(b, restartAt.Add(5*time.Minute), restartAt.Add(time.Hour))
	if got := b.list(); got[0].ID != open.ID || got[0].State != "open" {
		t.Fatalf("alerts %+v; want the stall's alert still open while it lasts", got)
	}
	stalled = false
	run(b, restartAt.Add(time.Hour), restartAt.Add(2*time.Hour))
	if got := b.list(); got[0].ID != open.ID || got[0].State != "closed" {
		t.Fatalf("alerts %+v; want the stall's alert closed once the throughput is back", got)
	}
}

// A file that cannot be read is set aside and the server starts without
// it.
func TestAlertsUnreadableStateIsSetAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), alertsStateFile)
	if err := writeFileAtomic(path, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	cfg, err := ParseConfig("c.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAlerter(cfg, &fakeMetrics{}, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.path = path
	a.load()
	if len(a.list()) != 0 || !strings.Contains(logged.String(), "cannot read the saved alerts") {
		t.Fatalf("alerts %v, log %q; want none and the error logged", a.list(), logged.String())
	}
	if _, err := os.Stat(path + ".bad"); err != nil {
		t.Fatalf("the unreadable file was not set aside: %v", err)
	}
}

// A server saves its alerts when it stops, in its data directory, and the
// next server on that directory lists them.
func TestServerKeepsAlertsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := alertingOf(t, "alerts:\n  interval: 1h\n  rules:\n    - {name: lagging, metric: weir_job_up, threshold: 0}\n")
	s, err := Open(Config{Dir: dir, Executable: "/bin/false", Alerting: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	open := Alert{ID: "a0123456789ab", Rule: "lagging", JobID: "j000000000001", Labels: map[string]string{"job_id": "j000000000001"},
		State: "open", Value: 3, OpenValue: 3, OpenedAt: day0}
	s.alerts.mu.Lock()
	s.alerts.mu.groups["lagging\x00"+labelKey(open.Labels)] = &trackState{alert: &open}
	s.alerts.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, alertsStateFile)); err != nil {
		t.Fatalf("no %s in the data directory after the server stopped: %v", alertsStateFile, err)
	}
	s, err = Open(Config{Dir: dir, Executable: "/bin/false", Alerting: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.alerts.list(); len(got) != 1 || got[0].ID != open.ID || got[0].State != "open" || !got[0].OpenedAt.Equal(day0) {
		t.Fatalf("the restarted server lists %+v; want the open alert %s", got, open.ID)
	}
}

func alertingOf(t *testing.T, yaml string) Alerting {
	t.Helper()
	a, err := ParseConfig("c.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
