package normal

import (
	"time"

	"github.com/weirstream/weir"
)

// Point is one value of a keyed series.
type Point[K comparable] struct {
	Key   K
	Time  time.Time
	Value float64
}

// Scored is a point with its anomaly score (Model.Score) and the range of
// values the model expected for it (Model.Expected).
type Scored[K comparable] struct {
	Point[K]
	Score  float64
	Lo, Hi float64
}

// Scorer is a keyed process function that keeps one Model per key in keyed
// state — its encoding, StateSize bytes — and emits each point with its
// score. The models are checkpointed with the job's state and restored
// exactly, at any parallelism, so a restored job scores every later point
// as an uninterrupted one would.
//
//	scored := weir.Process(weir.KeyBy(points, func(p normal.Point[string]) string { return p.Key }), scorer)
type Scorer[K comparable] struct {
	cfg   Config
	state weir.ValueState[K, []byte]
	m     Model
}

var (
	_ weir.KeyedProcessFunction[string, Point[string], Scored[string]] = (*Scorer[string])(nil)
	_ weir.KeyedOpener[string]                                         = (*Scorer[string])(nil)
)

// NewScorer returns a Scorer whose models use cfg, or the error of
// cfg.Validate.
func NewScorer[K comparable](cfg Config) (*Scorer[K], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Scorer[K]{cfg: cfg}, nil
}

// Open declares the keyed state "normal-model".
func (s *Scorer[K]) Open(c weir.KeyedOpenContext[K]) error {
	s.state = weir.Value[[]byte](c, "normal-model")
	return nil
}

// Process scores p with its key's model and stores the updated model.
func (s *Scorer[K]) Process(c weir.KeyedContext[K], p Point[K], out weir.Out[Scored[K]]) error {
	enc, ok, err := s.state.Get(c)
	if err != nil {
		return err
	}
	s.m = Model{cfg: s.cfg}
	if ok {
		if err := s.m.UnmarshalBinary(enc); err != nil {
			return err
		}
	}
	score := s.m.Score(p.Time, p.Value)
	// A new slice each time: the state backend may keep the one it is given.
	enc, err = s.m.AppendBinary(make([]byte, 0, stateSize))
	if err != nil {
		return err
	}
	if err := s.state.Set(c, enc); err != nil {
		return err
	}
	lo, hi := s.m.Expected()
	out.Emit(Scored[K]{Point: p, Score: score, Lo: lo, Hi: hi})
	return nil
}
