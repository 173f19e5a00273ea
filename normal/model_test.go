package normal

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// start is a Monday, so days and weeks of the generated series line up
// with the model's.
var start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const (
	step       = 5 * time.Minute
	perDay     = int(24 * time.Hour / step)
	learnDays  = 4 // the learning period the tests allow
	anomalyDay = 10
)

// normalSeries generates days of 5-minute values with a daily cycle (low
// at night, high by day), a slow upward drift, a daily batch spike at
// 09:10–09:20 and noise.
func normalSeries(days int, seed uint64) ([]time.Time, []float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	n := days * perDay
	ts := make([]time.Time, n)
	vs := make([]float64, n)
	for i := range n {
		t := start.Add(time.Duration(i) * step)
		h := float64(t.Hour()) + float64(t.Minute())/60
		v := 100 + 40*math.Sin((h-9)/24*2*math.Pi) // peak around 15:00
		v += 0.5 * float64(i) / float64(perDay)    // drift: +0.5 a day
		if h >= 9+10.0/60 && h < 9+20.0/60 {
			v += 60 // the daily batch
		}
		v += r.NormFloat64() * 3
		ts[i], vs[i] = t, v
	}
	return ts, vs
}

func scoreAll(m *Model, ts []time.Time, vs []float64) []float64 {
	out := make([]float64, len(vs))
	for i := range vs {
		out[i] = m.Score(ts[i], vs[i])
	}
	return out
}

// TestNoAlertOnNormal: after the learning period, a series with a daily
// cycle, drift and a daily batch spike raises no alert, the batch spike
// included; and no score during the warm-up is above 0.
func TestNoAlertOnNormal(t *testing.T) {
	for seed := range uint64(3) {
		ts, vs := normalSeries(21, seed)
		scores := scoreAll(mustNew(), ts, vs)
		for i, s := range scores {
			if s < 0 || s > 1 || math.IsNaN(s) {
				t.Fatalf("seed %d: score %v at %d is outside [0, 1]", seed, s, i)
			}
			if i < DefaultConfig().Warmup && s != 0 {
				t.Fatalf("seed %d: score %v at %d, during the warm-up", seed, s, i)
			}
			if i >= learnDays*perDay && s >= Threshold {
				t.Errorf("seed %d: score %.3f at %s (value %.1f) on a normal series", seed, s, ts[i].Format("Mon 15:04"), vs[i])
			}
		}
	}
}

// TestAnomaliesCaught injects anomalies of several shapes on day 10 and
// requires each to score at or above Threshold within a stated number of
// points from its start.
func TestAnomaliesCaught(t *testing.T) {
	at := anomalyDay*perDay + 14*12 // 14:00, in the busy part of the day
	cases := []struct {
		name   string
		within int // points (5 minutes each) from the anomaly's start
		inject func(vs []float64)
	}{
		{"step up", 3, func(vs []float64) {
			for i := at; i < len(vs); i++ {
				vs[i] += 40
			}
		}},
		{"step down", 3, func(vs []float64) {
			for i := at; i < len(vs); i++ {
				vs[i] -= 40
			}
		}},
		{"ramp", 12, func(vs []float64) {
			for i := at; i < len(vs); i++ {
				vs[i] += 3 * float64(i-at) // +36 an hour
			}
		}},
		{"burst", 2, func(vs []float64) {
			for i := at; i < at+3; i++ {
				vs[i] += 80
			}
		}},
		{"drop to zero", 2, func(vs []float64) {
			for i := at; i < len(vs); i++ {
				vs[i] = 0
			}
		}},
		{"noisier", 12, func(vs []float64) {
			// The spread grows fivefold, the level stays: the extra noise
			// is a fixed pseudo-random pattern of ±12. No single value
			// leaves the daily range; the residuals' distribution changes.
			for i := at; i < len(vs); i++ {
				vs[i] += 12 * float64(int(uint32(i)*2654435761>>31)*2-1)
			}
		}},
		{"batch missing", 2, func(vs []float64) {
			// The day's batch spike does not come: 09:10–09:20.
			b := anomalyDay*perDay + 9*12 + 2
			for i := b; i < b+2; i++ {
				vs[i] -= 60
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts, vs := normalSeries(14, 7)
			c.inject(vs)
			scores := scoreAll(mustNew(), ts, vs)
			first := at
			if c.name == "batch missing" {
				first = anomalyDay*perDay + 9*12 + 2
			}
			for i := learnDays * perDay; i < first; i++ {
				if scores[i] >= Threshold {
					t.Fatalf("score %.3f at %s, before the anomaly", scores[i], ts[i].Format("Mon 15:04"))
				}
			}
			for i := first; i <= first+c.within; i++ {
				if scores[i] >= Threshold {
					t.Logf("caught %d points after its start (score %.3f)", i-first, scores[i])
					return
				}
			}
			best := 0.0
			for i := first; i < first+200 && i < len(scores); i++ {
				best = math.Max(best, scores[i])
			}
			t.Errorf("not caught within %d points; highest score in the next 200 points: %.3f", c.within, best)
		})
	}
}

// TestNoLookAhead: cutting the series anywhere never changes the scores
// before the cut.
func TestNoLookAhead(t *testing.T) {
	ts, vs := normalSeries(12, 3)
	vs[9*perDay+100] += 100
	full := scoreAll(mustNew(), ts, vs)
	for _, cut := range []int{1, 50, DefaultConfig().Warmup, perDay, 3*perDay + 7, 9*perDay + 101, len(vs) - 1} {
		part := scoreAll(mustNew(), ts[:cut], vs[:cut])
		for i := range part {
			if part[i] != full[i] {
				t.Fatalf("cut at %d: score %d is %v, uncut %v", cut, i, part[i], full[i])
			}
		}
	}
}

// TestEncodingRoundTrip: a model decoded from another's encoding scores
// every later value exactly as the original does.
func TestEncodingRoundTrip(t *testing.T) {
	ts, vs := normalSeries(12, 5)
	vs[10*perDay] = 0
	for _, cut := range []int{0, 1, 10, 200, 3 * perDay, 9*perDay + 17} {
		a := mustNew()
		scoreAll(a, ts[:cut], vs[:cut])
		enc, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(enc) != a.StateSize() || a.StateSize() > 4096 {
			t.Fatalf("encoding is %d bytes, StateSize %d, goal 4096", len(enc), a.StateSize())
		}
		b := mustNew()
		if err := b.UnmarshalBinary(enc); err != nil {
			t.Fatal(err)
		}
		again, _ := b.MarshalBinary()
		if !bytes.Equal(enc, again) {
			t.Fatalf("cut %d: encoding the decoded model gives other bytes", cut)
		}
		sa := scoreAll(a, ts[cut:], vs[cut:])
		sb := scoreAll(b, ts[cut:], vs[cut:])
		for i := range sa {
			if sa[i] != sb[i] {
				t.Fatalf("cut %d: after the round trip score %d is %v, want %v", cut, i, sb[i], sa[i])
			}
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	m := mustNew()
	good, _ := m.MarshalBinary()
	for name, data := range map[string][]byte{
		"short":   good[:len(good)-1],
		"long":    append(append([]byte{}, good...), 0),
		"version": append([]byte{9}, good[1:]...),
	} {
		if err := m.UnmarshalBinary(data); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	bad := append([]byte{}, good...)
	bad[1+4*8] = 7 // 7 time-of-day slots
	if err := m.UnmarshalBinary(bad); err == nil {
		t.Error("7 slots: no error")
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	ts, vs := normalSeries(3, 1)
	m := mustNew()
	scoreAll(m, ts, vs)
	enc, _ := m.MarshalBinary()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := mustNew()
		if err := m.UnmarshalBinary(data); err != nil {
			return
		}
		again, _ := m.MarshalBinary()
		if !bytes.Equal(again, data) {
			t.Fatal("decoded state encodes differently")
		}
		s := m.Score(start.Add(100*24*time.Hour), 1)
		if !(s >= 0 && s <= 1) && !math.IsNaN(s) {
			t.Fatalf("score %v outside [0, 1]", s)
		}
	})
}

// TestIrregularTimestamps: missing values, a long gap, repeated and
// out-of-order timestamps and NaNs neither break the model nor make it
// alert on a normal series.
func TestIrregularTimestamps(t *testing.T) {
	ts, vs := normalSeries(16, 11)
	r := rand.New(rand.NewPCG(2, 2))
	var its []time.Time
	var ivs []float64
	for i := range ts {
		switch {
		case i > 8*perDay && i < 8*perDay+6*12: // six hours missing
			continue
		case r.IntN(5) == 0: // a fifth of the values missing
			continue
		case r.IntN(50) == 0: // a value repeated
			its = append(its, ts[i], ts[i])
			ivs = append(ivs, vs[i], vs[i])
		case r.IntN(50) == 0 && i > 1: // an earlier value arriving late
			its = append(its, ts[i], ts[i-2])
			ivs = append(ivs, vs[i], vs[i-2])
		case r.IntN(200) == 0:
			its = append(its, ts[i])
			ivs = append(ivs, math.NaN())
		default:
			its = append(its, ts[i])
			ivs = append(ivs, vs[i])
		}
	}
	scores := scoreAll(mustNew(), its, ivs)
	for i, s := range scores {
		if !(s >= 0 && s <= 1) {
			t.Fatalf("score %v at %d", s, i)
		}
		if its[i].Sub(start) >= learnDays*24*time.Hour && s >= Threshold {
			t.Errorf("score %.3f at %s (value %.1f) on a normal series", s, its[i].Format("Mon 15:04"), ivs[i])
		}
	}
}

func mustNew() *Model {
	m, err := New(DefaultConfig())
	if err != nil {
		panic(err)
	}
	return m
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.FastAlpha = 0
	if _, err := New(c); err == nil || !strings.Contains(err.Error(), "Config.FastAlpha") {
		t.Errorf("FastAlpha 0: error %v, want one naming the field", err)
	}
	c = DefaultConfig()
	c.HoldDamping = 2
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Config.HoldDamping") {
		t.Errorf("HoldDamping 2: error %v, want one naming the field", err)
	}
}

// TestShapeChangeRaisesScore: when the noise stops (the values become the
// exact cycle, as from a sensor that interpolates), no value is far from
// the expected, yet the residuals' distribution changes; the shape
// judgement raises the score, though not to Threshold (a known weakness:
// the residual scale adapts to the quieter series within about 100
// values).
func TestShapeChangeRaisesScore(t *testing.T) {
	at := anomalyDay*perDay + 14*12
	ts, vs := normalSeries(14, 7)
	for i := at; i < len(vs); i++ {
		h := float64(i%perDay) / 12
		vs[i] = 100 + 40*math.Sin((h-9)/24*2*math.Pi) + 0.5*float64(i)/float64(perDay)
	}
	scores := scoreAll(mustNew(), ts, vs)
	best := 0.0
	for i := at; i < at+100; i++ {
		best = math.Max(best, scores[i])
	}
	t.Logf("best %.3f", best)
	if best < 0.3 {
		t.Errorf("highest score in the 100 values after the noise stopped: %.3f, want ≥ 0.3", best)
	}
}

// TestShapeJudgesDistribution feeds the shape judgements residuals
// directly: 3 000 from a normal distribution, then residuals of the same
// mean (0) but a sixth of the size (±0.2 scale, alternating), as when the
// noise nearly stops. The relative entropy of the recent histogram to the
// long-run one reaches Threshold within 40 values; the mean does not move.
func TestShapeJudgesDistribution(t *testing.T) {
	m := mustNew()
	r := rand.New(rand.NewPCG(5, 1))
	s := &m.st
	for range 3000 {
		s.n++
		if sc := m.shape(r.NormFloat64()*1.25, 0); sc >= Threshold {
			t.Fatalf("score %.3f at value %d, before the change", sc, s.n)
		}
	}
	for i := range 40 {
		s.n++
		x := 0.2
		if i%2 == 1 {
			x = -0.2
		}
		if sc := m.shape(x, 0); sc >= Threshold {
			t.Logf("caught %d values after the change (score %.3f, recent mean %.3f)", i, sc, s.bias)
			return
		}
	}
	t.Error("a change of the residuals' distribution not caught within 40 values")
}
