package normal

import (
	"fmt"
	"time"

	"github.com/weirstream/weir"
)

// AlertConfig turns scores into alerts. The zero value is not valid; start
// from DefaultAlertConfig.
type AlertConfig struct {
	// Open is the score at and above which an alert opens.
	Open float64
	// Close is the score below which a value counts as quiet. Between
	// Close and Open an open alert stays open and a closed one stays
	// closed (hysteresis).
	Close float64
	// CloseAfter is how many quiet values in a row close an alert.
	CloseAfter int
	// MinDuration is the least time (of the points' timestamps) an alert
	// stays open: quiet values before it has passed do not close it.
	MinDuration time.Duration
}

// DefaultAlertConfig opens an alert at Threshold, closes it after 6 values
// in a row below 0.25 once it has been open 30 minutes.
//
// The model halves its scores for Config.Hold values after a score at or
// above Threshold, so that Close = 0.25 is, during that time, an undamped
// score of 0.5: an alert stays open while the values stay anomalous.
func DefaultAlertConfig() AlertConfig {
	return AlertConfig{Open: Threshold, Close: 0.25, CloseAfter: 6, MinDuration: 30 * time.Minute}
}

// Validate reports the first field of c that is out of range.
func (c AlertConfig) Validate() error {
	switch {
	case !(c.Open > 0 && c.Open <= 1):
		return fmt.Errorf("normal.AlertConfig.Open must be in (0, 1], not %v", c.Open)
	case !(c.Close >= 0 && c.Close <= c.Open):
		return fmt.Errorf("normal.AlertConfig.Close must be in [0, Open = %v], not %v", c.Open, c.Close)
	case c.CloseAfter < 1:
		return fmt.Errorf("normal.AlertConfig.CloseAfter must be ≥ 1, not %d", c.CloseAfter)
	case c.MinDuration < 0:
		return fmt.Errorf("normal.AlertConfig.MinDuration must be ≥ 0, not %v", c.MinDuration)
	}
	return nil
}

// Alert is an anomaly of one key's series, from the value that opened it
// to the quiet values that closed it. An alert is emitted twice: when it
// opens (ClosedAt zero) and when it closes.
type Alert[K comparable] struct {
	Key K
	// Value is the value that opened the alert, and Lo and Hi the range the
	// model expected for it (Model.Expected).
	Value  float64
	Lo, Hi float64
	// Score is the highest score while the alert was open (so far).
	Score float64
	// OpenedAt is the timestamp of the value that opened the alert;
	// ClosedAt that of the value that closed it, zero while it is open.
	OpenedAt time.Time
	ClosedAt time.Time
}

// IsOpen reports whether a is the opening of an alert rather than its
// closing.
func (a Alert[K]) IsOpen() bool { return a.ClosedAt.IsZero() }

// AlertState is what an AlertTracker keeps between values: whether an
// alert is open, and the alert. Its fields are exported so that keyed
// state can keep it; treat them as opaque.
type AlertState struct {
	Open     bool
	Value    float64
	Lo, Hi   float64
	Score    float64
	OpenedAt int64 // Unix nanoseconds
	Quiet    int   // quiet values in a row while open
}

// AlertTracker turns one series' scores into alerts: a plain Go type,
// usable outside a job (Alerter is its keyed operator). Not safe for
// concurrent use.
type AlertTracker[K comparable] struct {
	cfg AlertConfig
	st  AlertState
}

// NewAlertTracker returns a tracker with no alert open, or the error of
// cfg.Validate.
func NewAlertTracker[K comparable](cfg AlertConfig) (*AlertTracker[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &AlertTracker[K]{cfg: cfg}, nil
}

// State returns what the tracker keeps; SetState restores it.
func (a *AlertTracker[K]) State() AlertState { return a.st }

// SetState replaces what the tracker keeps with st, from State.
func (a *AlertTracker[K]) SetState(st AlertState) { a.st = st }

// Observe takes the next scored value of the series and returns the alert
// it opens or closes, if any.
func (a *AlertTracker[K]) Observe(s Scored[K]) (Alert[K], bool) {
	st := &a.st
	if !st.Open {
		if s.Score < a.cfg.Open {
			return Alert[K]{}, false
		}
		*st = AlertState{Open: true, Value: s.Value, Lo: s.Lo, Hi: s.Hi, Score: s.Score, OpenedAt: s.Time.UnixNano()}
		return a.alert(s.Key, time.Time{}), true
	}
	st.Score = max(st.Score, s.Score)
	if s.Score >= a.cfg.Close {
		st.Quiet = 0
		return Alert[K]{}, false
	}
	st.Quiet++
	if st.Quiet < a.cfg.CloseAfter || s.Time.UnixNano()-st.OpenedAt < int64(a.cfg.MinDuration) {
		return Alert[K]{}, false
	}
	al := a.alert(s.Key, s.Time)
	*st = AlertState{}
	return al, true
}

func (a *AlertTracker[K]) alert(key K, closed time.Time) Alert[K] {
	st := &a.st
	return Alert[K]{Key: key, Value: st.Value, Lo: st.Lo, Hi: st.Hi, Score: st.Score,
		OpenedAt: time.Unix(0, st.OpenedAt).UTC(), ClosedAt: closed}
}

// Alerter is a keyed process function that turns each key's scored points
// (from Scorer) into alerts, keeping each key's AlertState in keyed state
// ("normal-alert"), checkpointed and restored with the job at any
// parallelism. Its output is a stream of alerts, each emitted when it opens
// and when it closes, for the job to route to any sink:
//
//	scored := weir.Process(weir.KeyBy(points, func(p normal.Point[string]) string { return p.Key }), scorer)
//	alerts := weir.Process(weir.KeyBy(scored, func(s normal.Scored[string]) string { return s.Key }), alerter)
type Alerter[K comparable] struct {
	cfg   AlertConfig
	state weir.ValueState[K, AlertState]
}

var (
	_ weir.KeyedProcessFunction[string, Scored[string], Alert[string]] = (*Alerter[string])(nil)
	_ weir.KeyedOpener[string]                                         = (*Alerter[string])(nil)
)

// NewAlerter returns an Alerter, or the error of cfg.Validate.
func NewAlerter[K comparable](cfg AlertConfig) (*Alerter[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Alerter[K]{cfg: cfg}, nil
}

// Open declares the keyed state "normal-alert".
func (a *Alerter[K]) Open(c weir.KeyedOpenContext[K]) error {
	a.state = weir.Value[AlertState](c, "normal-alert")
	return nil
}

// Process observes s with its key's tracker and emits the alert it opens
// or closes.
func (a *Alerter[K]) Process(c weir.KeyedContext[K], s Scored[K], out weir.Out[Alert[K]]) error {
	st, _, err := a.state.Get(c)
	if err != nil {
		return err
	}
	t := AlertTracker[K]{cfg: a.cfg, st: st}
	al, ok := t.Observe(s)
	if t.st != st {
		if err := a.state.Set(c, t.st); err != nil {
			return err
		}
	}
	if ok {
		out.Emit(al)
	}
	return nil
}
