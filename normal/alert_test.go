package normal

import (
	"testing"
	"time"
)

// alertAt is an alert and the index of the value that emitted it.
type alertAt struct {
	i int
	a Alert[string]
}

func alertsOf(t *testing.T, ts []time.Time, vs []float64) []alertAt {
	t.Helper()
	m := mustNew()
	tr, err := NewAlertTracker[string](DefaultAlertConfig())
	if err != nil {
		t.Fatal(err)
	}
	var out []alertAt
	for i := range vs {
		s := Scored[string]{Point: Point[string]{Key: "k", Time: ts[i], Value: vs[i]}, Score: m.Score(ts[i], vs[i])}
		s.Lo, s.Hi = m.Expected()
		if a, ok := tr.Observe(s); ok {
			out = append(out, alertAt{i, a})
		}
	}
	return out
}

// TestNoAlertOnNormalSeries: a series with a daily cycle, drift and a
// daily batch spike raises no alert after the learning period, the batch
// spike included.
func TestNoAlertOnNormalSeries(t *testing.T) {
	for seed := range uint64(3) {
		ts, vs := normalSeries(21, seed)
		for _, a := range alertsOf(t, ts, vs) {
			if a.i >= learnDays*perDay {
				t.Errorf("seed %d: alert at %s on a normal series: %+v", seed, ts[a.i].Format("Mon 15:04"), a.a)
			}
		}
	}
}

// TestAlertsOnAnomalies injects a step, a ramp and a burst at 14:00 on day
// 10: each opens an alert within a stated number of points, carrying the
// value, the expected range and the score; the burst's alert closes
// within a stated number of points after it ends, no sooner than
// MinDuration after it opened.
func TestAlertsOnAnomalies(t *testing.T) {
	at := anomalyDay*perDay + 14*12
	cases := []struct {
		name        string
		within      int // points from the start to the alert's opening
		end         int // index after the anomaly's last value, 0 if it persists
		closeWithin int // points from end to the alert's closing
		inject      func(vs []float64)
	}{
		{"step", 3, 0, 0, func(vs []float64) {
			for i := at; i < len(vs); i++ {
				vs[i] += 40
			}
		}},
		{"ramp", 12, 0, 0, func(vs []float64) {
			for i := at; i < len(vs); i++ {
				vs[i] += 3 * float64(i-at)
			}
		}},
		{"burst", 2, at + 3, 12, func(vs []float64) {
			for i := at; i < at+3; i++ {
				vs[i] += 80
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, vs := normalSeries(14, 7)
			c.inject(vs)
			var first *alertAt // the first opening
			closed := false
			for _, a := range alertsOf(t, ts, vs) {
				if a.i < learnDays*perDay {
					continue
				}
				if a.i < at {
					t.Fatalf("alert at %s, before the anomaly: %+v", ts[a.i].Format("Mon 15:04"), a.a)
				}
				if first == nil {
					if !a.a.IsOpen() {
						t.Fatalf("first alert is a closing: %+v", a.a)
					}
					if a.i > at+c.within {
						t.Fatalf("alert opened %d points after the anomaly's start, want within %d", a.i-at, c.within)
					}
					if a.a.Value != vs[a.i] || !a.a.OpenedAt.Equal(ts[a.i]) || a.a.Score < Threshold || a.a.Value <= a.a.Hi || a.a.Lo >= a.a.Hi {
						t.Fatalf("opening alert %+v: want the value %.1f at %s above its expected range, a score ≥ %v", a.a, vs[a.i], ts[a.i], Threshold)
					}
					t.Logf("opened %d points after the start: value %.1f, expected [%.1f, %.1f], score %.2f", a.i-at, a.a.Value, a.a.Lo, a.a.Hi, a.a.Score)
					first = &a
					continue
				}
				if closed || a.a.IsOpen() {
					t.Logf("%d points after the start: %+v", a.i-at, a.a)
					continue
				}
				closed = true
				if !a.a.OpenedAt.Equal(first.a.OpenedAt) || !a.a.ClosedAt.Equal(ts[a.i]) || a.a.Score < first.a.Score {
					t.Fatalf("closing alert %+v does not match its opening %+v", a.a, first.a)
				}
				if d := a.a.ClosedAt.Sub(a.a.OpenedAt); d < DefaultAlertConfig().MinDuration {
					t.Fatalf("closed %v after it opened, before MinDuration", d)
				}
				t.Logf("closed %d points after the start", a.i-at)
				if c.end > 0 && a.i > c.end+c.closeWithin {
					t.Fatalf("closed %d points after the anomaly ended, want within %d", a.i-c.end, c.closeWithin)
				}
			}
			if first == nil {
				t.Fatal("no alert")
			}
			if c.end > 0 && !closed {
				t.Fatalf("the alert did not close within %d points after the anomaly ended", c.closeWithin)
			}
		})
	}
}

func TestAlertConfigValidate(t *testing.T) {
	if err := DefaultAlertConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultAlertConfig()
	c.Close = 0.6
	if _, err := NewAlertTracker[int](c); err == nil {
		t.Error("Close above Open accepted")
	}
	c = DefaultAlertConfig()
	c.CloseAfter = 0
	if _, err := NewAlerter[int](c); err == nil {
		t.Error("CloseAfter 0 accepted")
	}
}

// TestAlertTrackerHysteresis feeds scores by hand, a value a minute: an
// alert opens at Open, stays open while scores stay at or above Close
// (below Open), and closes after CloseAfter quiet values once MinDuration
// has passed.
func TestAlertTrackerHysteresis(t *testing.T) {
	cfg := AlertConfig{Open: 0.5, Close: 0.25, CloseAfter: 3, MinDuration: 5 * time.Minute}
	tr, err := NewAlertTracker[int](cfg)
	if err != nil {
		t.Fatal(err)
	}
	scores := []float64{
		0.1, 0.6, // opens at 1
		0.1, 0.1, 0.3, // 0.3, between Close and Open, restarts the quiet run
		0.1, 0.1, 0.1, // closes at 7: 3 quiet in a row, 6 minutes open
		0.6,                // opens at 8
		0.1, 0.1, 0.1, 0.1, // 3 quiet at 11, but only 3 minutes open
		0.1,            // closes at 13: 5 minutes open
		0.3, 0.49, 0.2, // 0.49 does not open
		0.5, // opens at 17
	}
	want := map[int]bool{1: true, 7: false, 8: true, 13: false, 17: true} // index → opening
	for i, sc := range scores {
		at := start.Add(time.Duration(i) * time.Minute)
		a, ok := tr.Observe(Scored[int]{Point: Point[int]{Key: 1, Time: at, Value: float64(i)}, Score: sc})
		open, want := want[i]
		if ok != want {
			t.Fatalf("value %d (score %v): alert %v, want %v", i, sc, ok, want)
		}
		if ok && a.IsOpen() != open {
			t.Fatalf("value %d: alert %+v, want an opening %v", i, a, open)
		}
	}
}
