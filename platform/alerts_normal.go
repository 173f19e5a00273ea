package platform

import (
	"maps"
	"slices"
	"time"

	"github.com/weirstream/weir/normal"
)

// The normal rules (kind: normal) keep a model of what is normal (package
// normal) for a series of each job, or of each of its sources: its
// throughput, consumer lag or watermark lag. The models learn from the
// history the server samples (history.go): the mean of each step (a
// minute by default) is one value, judged at the middle of its step, so
// that a model learns the series' level, its daily and weekly profile (a
// nightly batch that triples the throughput for a quarter of an hour is
// normal by its third day) and the size of its usual deviations at each
// time of day.
//
// A step counts as anomalous when the model scores it at or above the
// rule's threshold and its value is outside the range the model expected,
// on the rule's side, by more than the rule's tolerance; the alert then
// follows the threshold rules' hysteresis on that score (for, close,
// close_for). While an alert is open the model judges the steps that are
// still anomalous without learning from them, for at most the rule's
// adapt: a stall does not become the norm in an hour, but a lasting change
// does in the end.

// normalPoint is a normal rule's step as the alert sees it.
type normalPoint struct {
	value, score, lo, hi float64
}

// band is the range a model expected for one step.
type band struct {
	T    time.Time `json:"t"` // the step's start
	Low  float64   `json:"low"`
	High float64   `json:"high"`
}

// normalModel is a normal rule's model of one series.
type normalModel struct {
	rule   string
	labels map[string]string
	m      *normal.Model
	// fed is the end of the last step the model judged: samples before it
	// are done with.
	fed time.Time
	// last is the end of the last step the series had a value in.
	last time.Time
	// bands are the expected ranges of the last HistoryWindow of steps,
	// oldest first, for the dashboard's charts.
	bands []band
}

// modelConfig is the configuration of the rule r's models.
func modelConfig(r AlertRule) normal.Config {
	c := normal.DefaultConfig()
	c.Warmup = r.Warmup
	return c
}

// silentSteps is how many steps a series may go without a value before an
// open alert of it counts as gone (its job stopped, or lost its source).
const silentSteps = 10

// seriesField is the Sample field, in JSON, that a normal rule's series is
// read from; its expected ranges are served under the same name.
func seriesField(series string) string {
	switch series {
	case "consumer_lag":
		return "consumer_lag_records"
	case "latency":
		return "lag_seconds"
	}
	return "records_per_second"
}

// seriesValue is the series' value in a sample of a job (source "") or of
// one of its sources; false when the sample has no such source.
func seriesValue(series string, smp Sample, source string) (float64, bool) {
	if source != "" {
		src, ok := smp.Sources[source]
		if !ok {
			return 0, false
		}
		switch series {
		case "consumer_lag":
			return src.ConsumerLagRecords, true
		case "latency":
			return src.LagSeconds, true
		}
		return src.RecordsPerSecond, true
	}
	switch series {
	case "consumer_lag":
		return smp.ConsumerLagRecords, true
	case "latency":
		return smp.LagSeconds, true
	}
	return smp.RecordsPerSecond, true
}

// evaluateNormalLocked feeds the normal rule r's models the steps of the
// jobs' history that ended by now, moves their alerts on, and marks in
// seen the groups whose series still have values.
func (a *alerter) evaluateNormalLocked(r AlertRule, now time.Time, seen map[string]bool) []Alert {
	var events []Alert
	if a.hist != nil {
		for _, id := range a.hist.jobIDs() {
			samples := a.hist.samples(id)
			sources := []string{""}
			if r.Per == "source" {
				sources = sourcesOf(samples)
			}
			for _, src := range sources {
				labels := map[string]string{"job_id": id}
				if src != "" {
					labels["source"] = src
				}
				if !labelsMatch(r.Labels, labels) {
					continue
				}
				key := r.Name + "\x00" + labelKey(labels)
				nm := a.mu.models[key]
				if nm == nil {
					m, err := normal.New(modelConfig(r))
					if err != nil {
						a.log.Error("alerts: cannot make a model", "rule", r.Name, "error", err)
						return events
					}
					nm = &normalModel{rule: r.Name, labels: labels, m: m}
					a.mu.models[key] = nm
				}
				events = append(events, a.feedLocked(r, key, nm, samples, src, now)...)
			}
		}
	}
	for key, nm := range a.mu.models {
		if nm.rule == r.Name && !nm.last.IsZero() && now.Sub(nm.last) <= silentSteps*r.Step {
			seen[key] = true
		}
	}
	return events
}

// sourcesOf lists the sources that the samples have figures of.
func sourcesOf(samples []Sample) []string {
	set := map[string]bool{}
	for _, smp := range samples {
		for id := range smp.Sources {
			set[id] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

func labelsMatch(want, labels map[string]string) bool {
	for k, v := range want {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// feedLocked gives the model nm the steps of samples (oldest first) that
// it has not judged and that ended by now, and returns the alerts they
// open or close.
func (a *alerter) feedLocked(r AlertRule, key string, nm *normalModel, samples []Sample, source string, now time.Time) []Alert {
	var events []Alert
	end := now.Truncate(r.Step)
	var start time.Time
	var sum float64
	var n int
	flush := func() {
		if n == 0 {
			return
		}
		if ev, ok := a.judgeLocked(r, key, nm, start, sum/float64(n)); ok {
			events = append(events, ev)
		}
		n, sum = 0, 0
	}
	for _, smp := range samples {
		if smp.Time.Before(nm.fed) || !smp.Time.Before(end) {
			continue
		}
		v, ok := seriesValue(r.Series, smp, source)
		if !ok {
			continue
		}
		if st := smp.Time.Truncate(r.Step); !st.Equal(start) {
			flush()
			start = st
		}
		sum += v
		n++
	}
	flush()
	if nm.fed.Before(end) {
		nm.fed = end
	}
	return events
}

// judgeLocked scores one step's mean v and moves the group's alert on.
func (a *alerter) judgeLocked(r AlertRule, key string, nm *normalModel, start time.Time, v float64) (Alert, bool) {
	stepEnd := start.Add(r.Step)
	st := a.mu.groups[key]
	frozen := st != nil && st.alert != nil && stepEnd.Sub(st.alert.OpenedAt) < r.Adapt
	var saved normal.Model
	if frozen {
		saved = *nm.m
	}
	score := nm.m.Score(start.Add(r.Step/2), v)
	lo, hi := nm.m.Expected()
	g := gate(r, v, score, lo, hi)
	if frozen && g >= r.Close {
		// Judged, not learned from: what the model expects stays what it
		// was before the alert.
		*nm.m = saved
	}
	nm.last = stepEnd
	if nm.m.Count() > uint64(r.Warmup) {
		nm.bands = append(nm.bands, band{T: start, Low: lo, High: hi})
		if over := len(nm.bands) - int(HistoryWindow/r.Step) - 1; over > 0 {
			nm.bands = slices.Delete(nm.bands, 0, over)
		}
	}
	return a.stepLocked(r, key, nm.labels, g, &normalPoint{value: v, score: score, lo: lo, hi: hi}, true, stepEnd)
}

// gate is the score of a step for the alert: the model's, when the value
// is outside the expected range on the rule's side by more than its
// tolerance; 0 otherwise.
func gate(r AlertRule, v, score, lo, hi float64) float64 {
	below, above := v < lo-r.Tolerance, v > hi+r.Tolerance
	var out bool
	switch r.Direction {
	case "above":
		out = above
	case "below":
		out = below
	default:
		out = above || below
	}
	if !out {
		return 0
	}
	return score
}

// pruneModelsLocked forgets the models of rules that are gone and of jobs
// the server no longer keeps.
func (a *alerter) pruneModelsLocked() {
	rules := map[string]bool{}
	for _, r := range a.cfg.Rules {
		if r.Kind == "normal" {
			rules[r.Name] = true
		}
	}
	for key, nm := range a.mu.models {
		if !rules[nm.rule] || (a.known != nil && !a.known(nm.labels["job_id"])) {
			delete(a.mu.models, key)
		}
	}
}

// fillExpected sets the Expected ranges of a job's samples (from
// history.samples, which it changes) from the bands of the first normal
// rule of each series, per job and per source.
func (a *alerter) fillExpected(jobID string, samples []Sample) {
	if a == nil || len(samples) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	type source struct{ name, field string }
	bands := map[source][]band{}
	steps := map[source]time.Duration{}
	for _, r := range a.cfg.Rules {
		if r.Kind != "normal" {
			continue
		}
		for _, nm := range a.mu.models {
			if nm.rule != r.Name || nm.labels["job_id"] != jobID || len(nm.bands) == 0 {
				continue
			}
			k := source{nm.labels["source"], seriesField(r.Series)}
			if _, ok := bands[k]; !ok {
				bands[k], steps[k] = nm.bands, r.Step
			}
		}
	}
	if len(bands) == 0 {
		return
	}
	for i := range samples {
		smp := &samples[i]
		copied := false
		for k, bs := range bands {
			j, found := slices.BinarySearchFunc(bs, smp.Time, func(b band, t time.Time) int { return b.T.Compare(t) })
			if !found {
				j--
			}
			if j < 0 || !smp.Time.Before(bs[j].T.Add(steps[k])) {
				continue
			}
			rg := Range{Low: bs[j].Low, High: bs[j].High}
			if k.name == "" {
				if smp.Expected == nil {
					smp.Expected = map[string]Range{}
				}
				smp.Expected[k.field] = rg
				continue
			}
			src, ok := smp.Sources[k.name]
			if !ok {
				continue
			}
			if !copied {
				// The sources' map is the history's: change a copy.
				smp.Sources = maps.Clone(smp.Sources)
				copied = true
			}
			src.Expected = maps.Clone(src.Expected)
			if src.Expected == nil {
				src.Expected = map[string]Range{}
			}
			src.Expected[k.field] = rg
			smp.Sources[k.name] = src
		}
	}
}
