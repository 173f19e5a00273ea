package normal

import (
	"fmt"
	"math"
	"time"
)

// Threshold is the score at and above which Weir calls a value anomalous:
// the fixed alert threshold a user gets. A score of Threshold means the
// recent values are about as unlikely as 1 in 100 000 under what the model
// has learned, or that a value left the recent range (or the recent
// residuals' range) by its tolerance.
const Threshold = 0.5

const (
	day  = 86400.0
	week = 7 * day
	// maxDaySlots is the finest time-of-day profile: 5-minute slots. A
	// series sampled less often gets coarser slots (a divisor of 288, at
	// least 24), chosen once its interval is known.
	maxDaySlots = 288
	minDaySlots = 24
	// scaleSlots is the resolution of the residual scale by time of day:
	// half hours, so that each slot learns from several values a day.
	scaleSlots = 48
	// weekSlots is the hour-of-week profile's size.
	weekSlots = 168
	// shortWindow is how many recent surprises the likelihood averages.
	shortWindow = 8
	// slotsAfter is how many values the model sees before it fixes its
	// time-of-day resolution from their typical interval.
	slotsAfter = 16
	// shapeBins is the number of bins of the residuals' distribution that
	// the shape judgement compares, recent against long-run.
	shapeBins = 8
)

// shapeEdges are the inner edges of the shape bins, in units of the
// residual scale (signed): a change of the residuals' spread, skew or sign
// moves mass between them.
var shapeEdges = [shapeBins - 1]float64{-3, -1.5, -0.5, 0, 0.5, 1.5, 3}

// Candidate predictors: the level alone, level + time-of-day profile, level
// + hour-of-week profile.
const (
	candNone = iota
	candDay
	candWeek
	nCand
)

// Model is a streaming model of what is normal for one numeric series. Feed
// it the series' values in arrival order with Score; each call returns how
// anomalous the value is in [0, 1] given only the values before it, then
// learns from it.
//
// The model predicts a value as a fast robust level plus, when the data
// shows it, a learned profile by time of day or by hour of the week,
// picking whichever has predicted best lately. The surprise of a value is
// its residual relative to the typical residual (at that time of day, for
// a seasonal series). The score is the highest of five judgements: the
// mean surprise of the last few values against the surprises the model is
// used to (Numenta's anomaly likelihood), log-scaled so that Threshold is a
// one-in-100 000 event; how far the value leaves the recent range of
// values; how far its residual exceeds the recent largest residual; and,
// judged like the likelihood, how far the recent residuals' distribution
// (their relative entropy to the long-run one) and their mean have moved.
//
// A Model is not safe for concurrent use. Its state has a fixed size
// (StateSize bytes encoded) whatever the length of the series.
type Model struct {
	cfg Config
	st  state
	// lo and hi are the expected range of the value last scored (Expected);
	// not part of the state: each Score sets them.
	lo, hi float64
}

// ExpectedWidth is the half-width of the expected range (Model.Expected),
// in typical residuals: the prediction ± 3 of them.
const ExpectedWidth = 3

// Expected is the range of values the model expected for the value last
// scored, from what it had learned before it: the prediction ± ExpectedWidth
// typical residuals (at that time of day, for a seasonal series). A value
// inside it is not anomalous on its own; a value outside it may be. Both
// are 0 before the first Score and for a NaN or infinite value's.
func (m *Model) Expected() (lo, hi float64) { return m.lo, m.hi }

// state is everything a Model learns; it is what MarshalBinary encodes.
type state struct {
	n       uint64  // values learned from
	lastT   float64 // seconds since the Unix epoch of the latest timestamp
	first   float64 // timestamp of the first value
	dt      float64 // typical interval between values, seconds (0: unknown)
	slots   uint16  // time-of-day slots in use (0: not chosen yet)
	cand    uint8   // chosen candidate
	ri      uint8   // next slot of recent
	hold    uint32  // values left whose score is damped after an alert
	slow    float64 // slow level: the baseline the profiles are learned against
	fast    [nCand]float64
	err     [nCand]float64 // recent mean absolute residual of each candidate
	errL    [nCand]float64 // its mean over about a day, not clipped
	lo, hi  float64        // recent envelope: decaying minimum and maximum
	zmax    float64        // recent largest residual in units of its scale (decaying)
	mu, vr  float64        // long-run mean and variance of the averaged surprise
	daySum  float64        // sum of dayP over the slots in use
	weekSum float64        // sum of weekP
	recent  [shortWindow]float32
	shortH  [shapeBins]float32   // recent distribution of the residuals (decaying weights)
	longH   [shapeBins]float32   // long-run distribution of the residuals
	klMu    float64              // long-run mean of the recent-vs-long divergence
	klVr    float64              // and its variance
	bias    float64              // recent mean of the signed residuals (decaying weights)
	bMu     float64              // its long-run mean
	bVr     float64              // and variance
	dayP    [maxDaySlots]float32 // time-of-day profile: offset from the slow level
	dayS    [scaleSlots]float32  // mean absolute residual by half hour of the day
	weekP   [weekSlots]float32   // hour-of-week profile: offset from the slow level
	dayN    [maxDaySlots]uint8   // visits of each slot, saturating
	scaleN  [scaleSlots]uint8
	weekN   [weekSlots]uint8
}

// Config tunes a Model. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Warmup is how many values a new model learns from before it scores
	// anything above 0.
	Warmup int
	// FastAlpha is the weight of a new value in the fast level (per value).
	FastAlpha float64
	// SlowHalfLife is the half-life of the slow level the seasonal profiles
	// are learned against.
	SlowHalfLife time.Duration
	// ProfileAlpha is the weight of a new value in a profile slot once the
	// profile has seen a few periods (before that, slots are running means).
	ProfileAlpha float64
	// ScaleAlpha is the weight of a new residual in the residual scales.
	ScaleAlpha float64
	// LongAlpha is the weight of a new averaged surprise in its long-run
	// mean and variance.
	LongAlpha float64
	// EnvelopeHalfLife is how fast the recent range of values, and the
	// recent largest residual, forget.
	EnvelopeHalfLife time.Duration
	// EnvelopeTolerance is the fraction of the recent range's width a value
	// may leave it by before it scores Threshold on that account.
	EnvelopeTolerance float64
	// EnvelopeGate is the smallest residual (in units of its scale) of a
	// value that leaving the recent range makes anomalous.
	EnvelopeGate float64
	// ResidualHalfLife is how fast the recent largest residual forgets.
	ResidualHalfLife time.Duration
	// ResidualTolerance is the fraction by which a residual may exceed the
	// recent largest residual before it scores Threshold on that account.
	ResidualTolerance float64
	// ScaleFloor is the smallest fraction of the overall residual scale a
	// time of day's own scale may be.
	ScaleFloor float64
	// Hold is how many values after a score at or above Threshold have
	// their scores damped, so that one event raises one alert.
	Hold int
	// HoldDamping multiplies the scores during a hold.
	HoldDamping float64
	// ShapeAlpha is the weight of a new residual in the recent distribution
	// of residuals that the shape judgement compares with the long-run
	// one; 0 turns the shape judgement off.
	ShapeAlpha float64
	// BiasAlpha is the weight of a new residual in the recent mean of the
	// signed residuals, which the shape judgement also compares with its
	// long-run distribution (a small shift that persists).
	BiasAlpha float64
}

// DefaultConfig returns the configuration Weir's NAB results were measured
// with.
func DefaultConfig() Config {
	return Config{
		Warmup:            150,
		FastAlpha:         0.1,
		SlowHalfLife:      24 * time.Hour,
		ProfileAlpha:      0.05,
		ScaleAlpha:        0.01,
		LongAlpha:         0.002,
		EnvelopeHalfLife:  30 * 24 * time.Hour,
		EnvelopeTolerance: 0.05,
		EnvelopeGate:      4,
		ResidualTolerance: 0.2,
		ResidualHalfLife:  30 * 24 * time.Hour,
		ScaleFloor:        0.25,
		Hold:              200,
		HoldDamping:       0.5,
		ShapeAlpha:        0.03,
		BiasAlpha:         0.05,
	}
}

// New returns a model with no history, or the error of cfg.Validate.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Model{cfg: cfg}, nil
}

// Validate reports the first field of c that is out of range.
func (c Config) Validate() error {
	type check struct {
		field string
		ok    bool
		want  string
	}
	for _, k := range []check{
		{"Warmup", c.Warmup >= 0, "≥ 0"},
		{"FastAlpha", c.FastAlpha > 0 && c.FastAlpha <= 1, "in (0, 1]"},
		{"SlowHalfLife", c.SlowHalfLife > 0, "> 0"},
		{"ProfileAlpha", c.ProfileAlpha > 0 && c.ProfileAlpha <= 1, "in (0, 1]"},
		{"ScaleAlpha", c.ScaleAlpha > 0 && c.ScaleAlpha <= 1, "in (0, 1]"},
		{"LongAlpha", c.LongAlpha > 0 && c.LongAlpha <= 1, "in (0, 1]"},
		{"EnvelopeHalfLife", c.EnvelopeHalfLife > 0, "> 0"},
		{"EnvelopeTolerance", c.EnvelopeTolerance > 0, "> 0"},
		{"EnvelopeGate", c.EnvelopeGate >= 0, "≥ 0"},
		{"ResidualTolerance", c.ResidualTolerance >= 0, "≥ 0"},
		{"ResidualHalfLife", c.ResidualHalfLife > 0, "> 0"},
		{"ScaleFloor", c.ScaleFloor > 0 && c.ScaleFloor <= 1, "in (0, 1]"},
		{"Hold", c.Hold >= 0, "≥ 0"},
		{"HoldDamping", c.HoldDamping >= 0 && c.HoldDamping <= 1, "in [0, 1]"},
		{"ShapeAlpha", c.ShapeAlpha >= 0 && c.ShapeAlpha <= 1, "in [0, 1]"},
		{"BiasAlpha", c.BiasAlpha > 0 && c.BiasAlpha <= 1, "in (0, 1]"},
	} {
		if !k.ok {
			return fmt.Errorf("normal.Config.%s must be %s", k.field, k.want)
		}
	}
	return nil
}

// Count is how many values the model has learned from.
func (m *Model) Count() uint64 { return m.st.n }

// Score scores the value v observed at t against what the model has
// learned from earlier values, then learns from it. The score is in
// [0, 1]; 0 during the warm-up. A NaN or infinite value scores 0 and is
// not learned from. Timestamps need not be regular nor increasing: a value
// stamped at or before the latest timestamp is judged at its own time of
// day, and no time passes for the model.
func (m *Model) Score(t time.Time, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		m.lo, m.hi = 0, 0
		return 0
	}
	ts := float64(t.Unix()) + float64(t.Nanosecond())*1e-9
	s := &m.st
	if s.n == 0 {
		m.init(ts, v)
		m.lo, m.hi = v, v
		return 0
	}
	gap := ts - s.lastT
	if gap > 0 {
		if s.dt == 0 {
			s.dt = gap
		} else {
			// The typical interval follows the gaps, but a long gap (data
			// missing) moves it only a little.
			s.dt += 0.05 * (math.Min(gap, 4*s.dt) - s.dt)
		}
		s.lastT = ts
	} else {
		gap = 0 // a late value is judged at its own time of day
	}
	if s.slots == 0 && s.n >= slotsAfter {
		s.slots = daySlots(s.dt)
	}
	seasonal := s.slots > 0
	var di, si, wi int
	if seasonal {
		ph := math.Mod(ts, day) / day
		di = int(ph * float64(s.slots))
		si = int(ph * scaleSlots)
		// Weeks start on Monday 00:00 UTC (the epoch was a Thursday).
		wi = int(math.Mod(ts+4*day, week) / week * weekSlots)
	}

	// Each candidate's prediction, before learning from v.
	var pred [nCand]float64
	pred[candNone] = s.fast[candNone]
	dayOff, weekOff := s.dayOffset(di), s.weekOffset(wi)
	pred[candDay] = s.fast[candDay] + dayOff
	pred[candWeek] = s.fast[candWeek] + weekOff

	c := s.cand
	global := m.scale()
	scale := global
	if c != candNone && s.dayS[si] > 0 {
		// Residuals are larger at some times of day (a daily batch, the
		// edges of a busy period): judge them by that time's own scale.
		scale = math.Max(float64(s.dayS[si]), m.cfg.ScaleFloor*global)
	}
	m.lo, m.hi = pred[c]-ExpectedWidth*scale, pred[c]+ExpectedWidth*scale
	r := (v - pred[c]) / scale
	z := math.Abs(r)
	score := m.score(z, v)
	if m.cfg.ShapeAlpha > 0 {
		score = m.shape(r, score)
	}

	// Learn.
	s.n++
	for k := range nCand {
		e := math.Min(math.Abs(v-pred[k]), 6*math.Max(s.err[k], 0.1*scale))
		if s.n <= 3 {
			e = math.Abs(v - pred[k])
		}
		s.err[k] += math.Max(m.cfg.ScaleAlpha, 1/float64(s.n)) * (e - s.err[k])
	}
	// Over a day, unclipped: a daily batch the level alone cannot predict
	// weighs here with its full size, once a day.
	longA := math.Max(1/float64(s.n), 1-math.Exp(-math.Max(gap, s.dt)/day))
	for k := range nCand {
		s.errL[k] += longA * (math.Abs(v-pred[k]) - s.errL[k])
	}
	// Huber-clipped updates keep a single outlier from moving the levels
	// far; a shift that persists moves them a clipped step at a time while
	// the scale grows with it.
	clip := 3 * global
	for k := range nCand {
		s.fast[k] += m.cfg.FastAlpha * clamp(v-pred[k], clip)
	}
	if seasonal {
		// The slow level is the deseasonalised series, so that the
		// profiles, learned against it, keep the daily cycle's full shape.
		off := dayOff
		if c == candWeek {
			off = weekOff
		}
		slowA := 1 - math.Exp2(-math.Max(gap, s.dt)/m.cfg.SlowHalfLife.Seconds())
		s.slow += slowA * clamp(v-off-s.slow, clip)
		span := ts - s.first
		// A slot is about a running mean of its first periods, then forgets
		// at the profile's rate; its first visit sets it, so that a slot the
		// data skipped at first does not start near 0.
		dayA := math.Max(m.cfg.ProfileAlpha, 1/(math.Floor(span/day)+1))
		if s.dayN[di] == 0 {
			dayA = 1
		}
		weekA := math.Max(m.cfg.ProfileAlpha, 1/(math.Floor(span/week)+1))
		if s.weekN[wi] == 0 {
			weekA = 1
		}
		sc := c
		if sc == candNone {
			sc = candDay
		}
		// The scale by time of day learns from the third day on, when the
		// profile has seen the slot twice.
		if span >= 2*day {
			res := math.Abs(v - pred[sc])
			if s.dayS[si] > 0 {
				res = math.Min(res, 6*float64(s.dayS[si]))
			}
			a := math.Max(2*m.cfg.ProfileAlpha, 1/(float64(s.scaleN[si])+1))
			s.dayS[si] += float32(a * (res - float64(s.dayS[si])))
			s.scaleN[si] = min(s.scaleN[si]+1, 255)
		}
		// A profile learns without limit while it is a running mean (its
		// first periods), then by steps clipped to its slot's scale.
		dev := v - s.slow
		lim := math.Inf(1)
		if s.dayN[di] >= 3 {
			lim = 3 * math.Max(float64(s.dayS[si]), global)
		}
		p := float64(s.dayP[di])
		np := float32(p + dayA*clamp(dev-dayOff, lim))
		s.daySum += float64(np) - p
		s.dayP[di] = np
		s.dayN[di] = min(s.dayN[di]+1, 255)
		if s.weekN[wi] < 3 {
			lim = math.Inf(1)
		}
		p = float64(s.weekP[wi])
		np = float32(p + weekA*clamp(dev-weekOff, lim))
		s.weekSum += float64(np) - p
		s.weekP[wi] = np
		s.weekN[wi] = min(s.weekN[wi]+1, 255)

		// Pick the candidate that has predicted best lately; a seasonal one
		// must beat the level alone clearly, after two periods.
		best := uint8(candNone)
		if span >= 2*day && (s.err[candDay] < 0.8*s.err[best] || s.errL[candDay] < 0.8*s.errL[best]) {
			best = candDay
		}
		if span >= 2*week && s.err[candWeek] < 0.9*s.err[best] {
			best = candWeek
		}
		s.cand = best
	}

	// The recent range, forgetting towards the fast level.
	envA := math.Exp2(-math.Max(gap, s.dt) / m.cfg.EnvelopeHalfLife.Seconds())
	mid := s.fast[candNone]
	s.hi = math.Max(v, mid+(s.hi-mid)*envA)
	s.lo = math.Min(v, mid+(s.lo-mid)*envA)
	// The largest residual is tracked once the profiles have had two days
	// to settle: residuals of the first days say little about later ones.
	if s.n > uint64(m.cfg.Warmup) && ts-s.first >= 2*day {
		s.zmax = math.Max(z, s.zmax*math.Exp2(-math.Max(gap, s.dt)/m.cfg.ResidualHalfLife.Seconds()))
	}
	return score
}

// dayOffset is the time-of-day profile at slot i, centred on 0 over the
// day.
func (s *state) dayOffset(i int) float64 {
	if s.slots == 0 {
		return 0
	}
	return float64(s.dayP[i]) - s.daySum/float64(s.slots)
}

func (s *state) weekOffset(i int) float64 {
	return float64(s.weekP[i]) - s.weekSum/weekSlots
}

// daySlots is the time-of-day resolution for values dt seconds apart: the
// largest divisor of 288 no finer than the interval, at least 24.
func daySlots(dt float64) uint16 {
	for _, n := range []uint16{288, 144, 96, 72, 48, 36, 32} {
		if day/float64(n) >= dt*0.9 {
			return n
		}
	}
	return minDaySlots
}

func (m *Model) init(ts, v float64) {
	s := &m.st
	s.n = 1
	s.lastT, s.first = ts, ts
	s.slow = v
	for k := range nCand {
		s.fast[k] = v
	}
	s.lo, s.hi = v, v
}

// scale is the residual scale of the chosen candidate: its recent mean
// absolute residual, with a floor so that a flat series does not make
// every change infinitely surprising.
func (m *Model) scale() float64 {
	s := &m.st
	floor := 1e-3*math.Abs(s.fast[candNone]) + 1e-9
	if w := s.hi - s.lo; w > 0 {
		floor = math.Max(floor, 1e-3*w)
	}
	return math.Max(s.err[s.cand], floor)
}

// score turns a residual z (in units of its scale) and the value into the
// model's anomaly score, and learns the surprise's long-run distribution.
func (m *Model) score(z, v float64) float64 {
	s := &m.st
	// The surprise of one value: the two-sided tail probability of z under
	// a normal whose mean absolute deviation is the scale.
	a := math.Erf(z * 0.8862269254527579 / math.Sqrt2)
	s.recent[s.ri] = float32(a)
	s.ri = (s.ri + 1) % shortWindow
	var sum float64
	for _, x := range s.recent {
		sum += float64(x)
	}
	avg := sum / shortWindow
	var score float64
	if s.n >= uint64(m.cfg.Warmup) {
		sd := math.Max(math.Sqrt(s.vr), 0.01)
		score = logScale(0.5 * math.Erfc((avg-s.mu)/sd/math.Sqrt2))
		// Leaving the recent range counts only for a value the model did not
		// expect: a new high that the profile and drift predict is normal.
		if w := s.hi - s.lo; w > 0 && z >= m.cfg.EnvelopeGate {
			ex := math.Max(v-s.hi, s.lo-v) / w
			score = math.Max(score, math.Min(1, 0.5*ex/m.cfg.EnvelopeTolerance))
		}
		// The largest residual is judged against once it has a day of
		// history.
		if s.zmax > 0 && s.lastT-s.first >= 3*day {
			q := z / s.zmax
			score = math.Max(score, math.Min(1, 0.5*q/(1+m.cfg.ResidualTolerance)))
		}
	}
	// Learn the long-run distribution of the averaged surprise.
	la := math.Max(m.cfg.LongAlpha, 1/float64(s.n+1))
	d := avg - s.mu
	s.mu += la * d
	s.vr += la * (d*d - s.vr)
	if s.hold > 0 {
		s.hold--
		score *= m.cfg.HoldDamping
	}
	if score >= Threshold && m.cfg.Hold > 0 {
		s.hold = uint32(m.cfg.Hold)
	}
	return score
}

// shape judges a change in the distribution of the residuals r (signed, in
// scales): a recent histogram with decaying weights (ShapeAlpha) against a
// long-run one (LongAlpha), compared by their relative entropy (after Wang
// et al., "Statistical techniques for online anomaly detection in data
// centers", IM 2011, NAB's "relative entropy" detector). The divergence is
// judged against its own long-run mean and variance like the surprise, so
// that a series whose residuals are autocorrelated is not always
// surprising. It returns the higher of score and that judgement, applying
// the hold like score does.
func (m *Model) shape(r, score float64) float64 {
	s := &m.st
	b := 0
	for b < len(shapeEdges) && r >= shapeEdges[b] {
		b++
	}
	// The recent distribution and mean include r; the long-run ones learn
	// from it after the judgement.
	sa := math.Max(m.cfg.ShapeAlpha, 1/float64(s.n))
	for i := range shapeBins {
		x := float32(0)
		if i == b {
			x = 1
		}
		s.shortH[i] += float32(sa) * (x - s.shortH[i])
	}
	s.bias += math.Max(m.cfg.BiasAlpha, 1/float64(s.n)) * (clamp(r, 4) - s.bias)
	mature := s.n > uint64(m.cfg.Warmup)
	var kl float64
	if mature {
		for i := range shapeBins {
			p := float64(s.shortH[i])
			if p > 0 {
				kl += p * math.Log(p/(float64(s.longH[i])+1e-3))
			}
		}
		// The divergence is skewed like a chi-square (2·n·KL is one, for
		// n independent values); its square root is close to normal
		// (Fisher's approximation).
		kl = math.Sqrt(math.Max(kl, 0))
	}
	la := math.Max(m.cfg.LongAlpha, 1/float64(s.n))
	for i := range shapeBins {
		x := float32(0)
		if i == b {
			x = 1
		}
		s.longH[i] += float32(la) * (x - s.longH[i])
	}
	if !mature {
		return score
	}
	var js, jb float64
	if s.n > uint64(m.cfg.Warmup)+uint64(1/m.cfg.ShapeAlpha) {
		sd := math.Max(math.Sqrt(s.klVr), 0.01)
		js = logScale(0.5 * math.Erfc((kl-s.klMu)/sd/math.Sqrt2))
		sd = math.Max(math.Sqrt(s.bVr), 0.01)
		jb = logScale(math.Erfc(math.Abs(s.bias-s.bMu) / sd / math.Sqrt2))
		if s.hold > 0 {
			js *= m.cfg.HoldDamping
			jb *= m.cfg.HoldDamping
		}
	}
	ka := math.Max(m.cfg.LongAlpha, 1/float64(s.n-uint64(m.cfg.Warmup)+1))
	d := kl - s.klMu
	s.klMu += ka * d
	s.klVr += ka * (d*d - s.klVr)
	d = s.bias - s.bMu
	s.bMu += ka * d
	s.bVr += ka * (d*d - s.bVr)
	js = math.Max(js, jb)
	if js > score {
		if js >= Threshold && score < Threshold && m.cfg.Hold > 0 {
			s.hold = uint32(m.cfg.Hold)
		}
		return js
	}
	return score
}

// logScale maps a tail probability p to a score: 0.5 at 1e-5, 1 at 1e-10
// and below.
func logScale(p float64) float64 {
	const eps = 1e-10
	return math.Min(1, math.Log(p+eps)/math.Log(eps))
}

func clamp(x, lim float64) float64 {
	if x > lim {
		return lim
	}
	if x < -lim {
		return -lim
	}
	return x
}
