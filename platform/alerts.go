package platform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Alert is an alert the server opened: one rule's group of series (a job,
// an operator …) whose value went past the rule's threshold. It is
// delivered twice, when it opens and when it closes.
type Alert struct {
	// ID is the same in the opening and the closing: the rule, the
	// group's labels and when it opened.
	ID   string `json:"id"`
	Rule string `json:"rule"`
	// JobID is the group's job_id label, when it has one.
	JobID  string            `json:"job_id,omitempty"`
	Labels map[string]string `json:"labels"`
	// State is "open" or "closed".
	State string `json:"state"`
	// Value is the latest value: the one that opened the alert while it is
	// open, the one that closed it once closed; OpenValue is the one that
	// opened it.
	Value     float64    `json:"value"`
	OpenValue float64    `json:"open_value"`
	Threshold float64    `json:"threshold"`
	OpenedAt  time.Time  `json:"opened_at"`
	ClosedAt  *time.Time `json:"closed_at,omitempty"`
	Message   string     `json:"message"`
	// Score, ExpectedLow and ExpectedHigh are a normal rule's: the highest
	// anomaly score while the alert was open, and the range its model
	// expected for Value (for the value that opened the alert while it is
	// open and the values stay anomalous).
	Score        float64  `json:"score,omitempty"`
	ExpectedLow  *float64 `json:"expected_low,omitempty"`
	ExpectedHigh *float64 `json:"expected_high,omitempty"`
}

// AlertList is the answer of GET /api/v1/alerts.
type AlertList struct {
	// Alerts are the open alerts, oldest first, then the closed ones the
	// server keeps, the most recently closed first.
	Alerts []Alert `json:"alerts"`
}

// alertSink delivers alerts: the log, a webhook, a Kafka topic. deliver
// is called from one goroutine per sink, in order; it returns once the
// alert is delivered or given up on.
type alertSink interface {
	name() string
	deliver(ctx context.Context, a Alert) error
	close()
}

// sample is one value of a series at an evaluation.
type sample struct {
	t time.Time
	v float64
}

// trackState is what the evaluator keeps of one rule's group between
// evaluations.
type trackState struct {
	pending time.Time // when the value went past the threshold (alert closed)
	quiet   time.Time // when it came back past close (alert open)
	alert   *Alert    // the open alert
}

// alerter evaluates the rules against the server's metrics every
// interval and delivers the alerts that open and close. The threshold
// rules read the metrics of /metrics; the normal rules read the jobs'
// history (alerts_normal.go). What it keeps — open alerts, closed ones,
// the normal rules' models — is saved to path, when set, and read back by
// the next server (alerts_store.go).
type alerter struct {
	cfg    Alerting
	gather prometheus.Gatherer
	log    *slog.Logger
	sinks  []alertSink
	queues []chan Alert
	// hist is the jobs' history the normal rules learn from; known tells
	// whether the server still keeps a job (nil: every job is kept).
	hist  *history
	known func(jobID string) bool
	// path is the file the state is saved to ("" saves nothing); saved is
	// when it was last saved (only the evaluating goroutine uses it).
	path      string
	saved     time.Time
	saveEvery time.Duration

	mu struct {
		sync.Mutex
		history map[string][]sample // rule and series → samples within the window
		groups  map[string]*trackState
		closed  []Alert                 // newest last, at most cfg.Keep
		models  map[string]*normalModel // normal rule and series → its model
	}
}

func newAlerter(cfg Alerting, gather prometheus.Gatherer, log *slog.Logger) (*alerter, error) {
	a := &alerter{cfg: cfg, gather: gather, log: log, saveEvery: saveEvery}
	a.mu.history = map[string][]sample{}
	a.mu.groups = map[string]*trackState{}
	a.mu.models = map[string]*normalModel{}
	if cfg.Log {
		a.sinks = append(a.sinks, logSink{log})
	}
	if cfg.Webhook != nil {
		w, err := newWebhookSink(cfg)
		if err != nil {
			return nil, err
		}
		a.sinks = append(a.sinks, w)
	}
	if cfg.Kafka != nil {
		k, err := newKafkaSink(*cfg.Kafka)
		if err != nil {
			for _, s := range a.sinks {
				s.close()
			}
			return nil, err
		}
		a.sinks = append(a.sinks, k)
	}
	return a, nil
}

// run evaluates the rules every interval until ctx ends, then lets the
// sinks deliver what they were given and closes them.
func (a *alerter) run(ctx context.Context) {
	var wg sync.WaitGroup
	// Deliveries outlive ctx a little, so the alerts of the last
	// evaluation go out.
	dctx, dcancel := context.WithCancel(context.Background())
	defer dcancel()
	a.queues = make([]chan Alert, len(a.sinks))
	for i, s := range a.sinks {
		q := make(chan Alert, 1024)
		a.queues[i] = q
		wg.Go(func() {
			for al := range q {
				if err := s.deliver(dctx, al); err != nil {
					a.log.Error("cannot deliver an alert", "sink", s.name(), "alert", al.ID, "state", al.State, "error", err)
				}
			}
		})
	}
	t := time.NewTicker(a.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, q := range a.queues {
				close(q)
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				dcancel()
				<-done
			}
			for _, s := range a.sinks {
				s.close()
			}
			a.save(time.Now())
			return
		case now := <-t.C:
			a.evaluate(now)
		}
	}
}

// evaluate reads the metrics once and moves every rule's groups on.
func (a *alerter) evaluate(now time.Time) {
	fams, err := a.gather.Gather()
	if err != nil && len(fams) == 0 {
		a.log.Warn("alerts: cannot read the metrics", "error", err)
		return
	}
	byName := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	var events []Alert
	a.mu.Lock()
	seenSeries := map[string]bool{}
	seenGroups := map[string]bool{}
	for _, r := range a.cfg.Rules {
		if r.Kind == "normal" {
			events = append(events, a.evaluateNormalLocked(r, now, seenGroups)...)
			continue
		}
		groups := a.groupValuesLocked(r, byName[r.Metric], now, seenSeries)
		for key, g := range groups {
			seenGroups[key] = true
			if ev, ok := a.stepLocked(r, key, g.labels, g.value, nil, true, now); ok {
				events = append(events, ev)
			}
		}
	}
	a.pruneModelsLocked()
	// A group with no value this time (its job ended, its process is
	// restarting) counts as quiet: an open alert of it closes after
	// close_for, with the last value it had.
	for key, st := range a.mu.groups {
		if seenGroups[key] {
			continue
		}
		if st.alert == nil {
			delete(a.mu.groups, key)
			continue
		}
		r := a.ruleNamed(st.alert.Rule)
		if ev, ok := a.stepLocked(r, key, st.alert.Labels, st.alert.Value, nil, false, now); ok {
			events = append(events, ev)
		}
	}
	for k := range a.mu.history {
		if !seenSeries[k] {
			delete(a.mu.history, k)
		}
	}
	a.mu.Unlock()
	if len(events) > 0 || now.Sub(a.saved) >= a.saveEvery {
		a.save(now)
	}
	for _, ev := range events {
		for _, q := range a.queues {
			select {
			case q <- ev:
			default:
				a.log.Error("alerts: a delivery queue is full; dropping an alert", "alert", ev.ID, "state", ev.State)
			}
		}
	}
}

func (a *alerter) ruleNamed(name string) AlertRule {
	for _, r := range a.cfg.Rules {
		if r.Name == name {
			return r
		}
	}
	return AlertRule{Name: name}
}

type groupValue struct {
	labels map[string]string
	value  float64
	n      int
}

// groupValuesLocked computes the rule's value of every group of the
// family's series.
func (a *alerter) groupValuesLocked(r AlertRule, f *dto.MetricFamily, now time.Time, seen map[string]bool) map[string]*groupValue {
	groups := map[string]*groupValue{}
	if f == nil {
		return groups
	}
next:
	for _, m := range f.GetMetric() {
		labels := make(map[string]string, len(m.GetLabel()))
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		for k, v := range r.Labels {
			if labels[k] != v {
				continue next
			}
		}
		v, ok := metricValue(m)
		if !ok {
			continue
		}
		if r.Func != "value" {
			skey := r.Name + "\x00" + labelKey(labels)
			seen[skey] = true
			h := append(a.mu.history[skey], sample{now, v})
			// Keep the samples within the window, and the one just before
			// it, which the increase starts from.
			i := 0
			for i+1 < len(h) && now.Sub(h[i+1].t) >= r.Window {
				i++
			}
			h = slices.Delete(h, 0, i)
			a.mu.history[skey] = h
			if len(h) < 2 {
				continue
			}
			inc := 0.0
			for j := 1; j < len(h); j++ {
				if d := h[j].v - h[j-1].v; d >= 0 {
					inc += d
				} else {
					// A counter that went down started again from 0.
					inc += h[j].v
				}
			}
			v = inc
			if r.Func == "rate" {
				v = inc / h[len(h)-1].t.Sub(h[0].t).Seconds()
			}
		}
		gl := labels
		if len(r.By) > 0 {
			gl = make(map[string]string, len(r.By))
			for _, k := range r.By {
				gl[k] = labels[k]
			}
		}
		key := r.Name + "\x00" + labelKey(gl)
		g := groups[key]
		if g == nil {
			groups[key] = &groupValue{labels: gl, value: v, n: 1}
			continue
		}
		switch r.Aggregate {
		case "max":
			g.value = math.Max(g.value, v)
		case "min":
			g.value = math.Min(g.value, v)
		default:
			g.value += v
		}
		g.n++
	}
	return groups
}

func metricValue(m *dto.Metric) (float64, bool) {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Untyped != nil:
		return m.Untyped.GetValue(), true
	}
	return 0, false
}

// labelKey is labels in a canonical form, name=value pairs sorted.
func labelKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}

// past tells whether v is past limit in the rule's direction.
func past(op string, v, limit float64) bool {
	switch op {
	case ">=":
		return v >= limit
	case "<":
		return v < limit
	case "<=":
		return v <= limit
	}
	return v > limit
}

// stepLocked moves one group on with its value at now (present false: the
// group has no value this time) and returns the alert that opened or
// closed, if any. For a normal rule, v is the score compared with the
// rule's and np the value it scores.
func (a *alerter) stepLocked(r AlertRule, key string, labels map[string]string, v float64, np *normalPoint, present bool, now time.Time) (Alert, bool) {
	value := v
	if np != nil {
		value = np.value
	}
	st := a.mu.groups[key]
	if st == nil {
		st = &trackState{}
		a.mu.groups[key] = st
	}
	if st.alert == nil {
		if !present || !past(r.Op, v, r.Threshold) {
			st.pending = time.Time{}
			return Alert{}, false
		}
		if st.pending.IsZero() {
			st.pending = now
		}
		if now.Sub(st.pending) < r.For {
			return Alert{}, false
		}
		al := &Alert{Rule: r.Name, JobID: labels["job_id"], Labels: labels, State: "open", Value: value, OpenValue: value,
			Threshold: r.Threshold, OpenedAt: now.UTC()}
		sum := sha256.Sum256([]byte(key + "\x00" + now.UTC().Format(time.RFC3339Nano)))
		al.ID = "a" + hex.EncodeToString(sum[:6])
		if np != nil {
			al.Score = np.score
			al.ExpectedLow, al.ExpectedHigh = &np.lo, &np.hi
		}
		al.Message = expandMessage(r.Message, labels, value, r.Threshold, np)
		st.alert, st.pending, st.quiet = al, time.Time{}, time.Time{}
		return *al, true
	}
	if present {
		st.alert.Value = value
		if np != nil {
			st.alert.Score = max(st.alert.Score, np.score)
			if past(r.Op, v, r.Close) {
				// The range the value is still outside of.
				st.alert.ExpectedLow, st.alert.ExpectedHigh = &np.lo, &np.hi
			}
		}
	}
	if present && past(r.Op, v, r.Close) {
		st.quiet = time.Time{}
		return Alert{}, false
	}
	if st.quiet.IsZero() {
		st.quiet = now
	}
	if now.Sub(st.quiet) < r.CloseFor {
		return Alert{}, false
	}
	al := *st.alert
	closed := now.UTC()
	al.State, al.ClosedAt = "closed", &closed
	delete(a.mu.groups, key)
	a.mu.closed = append(a.mu.closed, al)
	if over := len(a.mu.closed) - a.cfg.Keep; over > 0 {
		a.mu.closed = slices.Delete(a.mu.closed, 0, over)
	}
	return al, true
}

func expandMessage(msg string, labels map[string]string, v, threshold float64, np *normalPoint) string {
	msg = strings.ReplaceAll(msg, "{{value}}", strconv.FormatFloat(v, 'g', 4, 64))
	msg = strings.ReplaceAll(msg, "{{threshold}}", strconv.FormatFloat(threshold, 'g', 4, 64))
	if np != nil {
		msg = strings.ReplaceAll(msg, "{{expected_low}}", strconv.FormatFloat(np.lo, 'g', 4, 64))
		msg = strings.ReplaceAll(msg, "{{expected_high}}", strconv.FormatFloat(np.hi, 'g', 4, 64))
		msg = strings.ReplaceAll(msg, "{{score}}", strconv.FormatFloat(np.score, 'f', 2, 64))
	}
	for {
		i := strings.Index(msg, "{{label:")
		if i < 0 {
			return msg
		}
		j := strings.Index(msg[i:], "}}")
		if j < 0 {
			return msg
		}
		msg = msg[:i] + labels[msg[i+len("{{label:"):i+j]] + msg[i+j+2:]
	}
}

// list returns the open alerts, oldest first, then the closed ones, the
// most recently closed first.
func (a *alerter) list() []Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []Alert{}
	for _, st := range a.mu.groups {
		if st.alert != nil {
			al := *st.alert
			out = append(out, al)
		}
	}
	slices.SortFunc(out, func(x, y Alert) int {
		if c := x.OpenedAt.Compare(y.OpenedAt); c != 0 {
			return c
		}
		return strings.Compare(x.ID, y.ID)
	})
	for i := len(a.mu.closed) - 1; i >= 0; i-- {
		out = append(out, a.mu.closed[i])
	}
	return out
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) {
	l := AlertList{Alerts: []Alert{}}
	if s.alerts != nil {
		l.Alerts = s.alerts.list()
	}
	q := r.URL.Query()
	if st := q.Get("state"); st != "" {
		if st != "open" && st != "closed" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid state %q: want open or closed", st))
			return
		}
		l.Alerts = slices.DeleteFunc(l.Alerts, func(a Alert) bool { return a.State != st })
	}
	if id := q.Get("job"); id != "" {
		l.Alerts = slices.DeleteFunc(l.Alerts, func(a Alert) bool { return a.JobID != id })
	}
	writeJSON(w, http.StatusOK, l)
}

// logSink writes alerts to the server's log.
type logSink struct{ log *slog.Logger }

func (logSink) name() string { return "log" }
func (logSink) close()       {}
func (l logSink) deliver(_ context.Context, a Alert) error {
	attrs := []any{"alert", a.ID, "rule", a.Rule, "value", a.Value, "threshold", a.Threshold, "opened_at", a.OpenedAt.Format(time.RFC3339)}
	if a.JobID != "" {
		attrs = append(attrs, "job", a.JobID)
	}
	if a.State == "open" {
		l.log.Warn("alert opened: "+a.Message, attrs...)
	} else {
		l.log.Info("alert closed: "+a.Message, append(attrs, "closed_at", a.ClosedAt.Format(time.RFC3339))...)
	}
	return nil
}

// alertJSON is an alert as the webhook and Kafka deliveries send it.
func alertJSON(a Alert) []byte {
	b, _ := json.Marshal(a)
	return b
}

// startAlerts starts evaluating the alert rules, on the same figures
// /metrics serves.
func (s *Server) startAlerts() error {
	cfg := s.cfg.Alerting
	if cfg == nil {
		d := DefaultAlerting()
		cfg = &d
	}
	a, err := newAlerter(*cfg, s.newRegistry(), s.log)
	if err != nil {
		return err
	}
	a.hist = s.hist
	a.known = func(id string) bool { return s.job(id) != nil }
	a.path = filepath.Join(s.root, alertsStateFile)
	a.load()
	s.alerts = a
	s.wg.Go(func() { a.run(s.ctx) })
	return nil
}

// Alerts lists the server's open and recently closed alerts (GET
// /api/v1/alerts); state "open" or "closed" keeps those only, and job
// those of one job; empty keeps all.
func (c *Client) Alerts(ctx context.Context, state, job string) ([]Alert, error) {
	q := url.Values{}
	if state != "" {
		q.Set("state", state)
	}
	if job != "" {
		q.Set("job", job)
	}
	path := "/api/v1/alerts"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l AlertList
	err := c.do(ctx, http.MethodGet, path, nil, &l)
	return l.Alerts, err
}
