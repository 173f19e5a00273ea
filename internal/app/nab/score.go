package nab

import (
	"fmt"
	"math"
	"slices"
)

// ProbationRows is how many rows at the start of a file of n rows NAB does
// not score: 15 % of them, at most 750 (15 % of 5 000).
func ProbationRows(n int) int {
	return int(math.Min(math.Floor(0.15*float64(n)), 0.15*5000))
}

// scaledSigmoid is NAB's reward for a row at relative position x of a
// window: x = −1 is the window's first row (≈ 0.987), 0 its right edge (0),
// and positive x is past it, down to −1 from x > 3 on.
func scaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// maxTP is the reward of a detection at the first row of a window; a
// window's reward is divided by it so that this detection earns exactly the
// profile's true-positive weight.
var maxTP = scaledSigmoid(-1)

// point is one scored row (probation rows are left out).
type point struct {
	score float64 // the detector's anomaly score
	// sigmoid is the unweighted reward of a detection here: scaled by the
	// true-positive weight inside a window, by the false-positive weight
	// outside.
	sigmoid float64
	window  int32 // index of the window in the corpus, or −1 outside every window
	file    int32
}

// Detections are a detector's anomaly scores, one per row of each file, by
// file name.
type Detections map[string][]float64

// Scored are a detector's scored rows over a corpus, ready to be scored
// under any profile and threshold.
type Scored struct {
	c       *Corpus
	points  []point // by score, highest first
	windows int     // windows in the corpus
	// scorable[w] is whether window w has a row after the probation
	// period: only those count as missed when nothing detects them.
	scorable []bool
	fileOf   []int32 // file index of each window
}

// Score prepares a detector's scores for scoring: every file of the corpus
// must have one score per row.
func (c *Corpus) Score(d Detections) (*Scored, error) {
	s := &Scored{c: c}
	for fi, f := range c.Files {
		scores, ok := d[f.Name]
		if !ok {
			return nil, fmt.Errorf("no anomaly scores for %s", f.Name)
		}
		if len(scores) != f.Len() {
			return nil, fmt.Errorf("%s has %d rows but %d anomaly scores", f.Name, f.Len(), len(scores))
		}
		base := s.windows
		for range f.Windows {
			s.scorable = append(s.scorable, false)
			s.fileOf = append(s.fileOf, int32(fi))
		}
		s.windows += len(f.Windows)
		probation := ProbationRows(f.Len())
		f.sweep(func(i, w int, sigmoid float64) {
			if i < probation {
				return
			}
			p := point{score: scores[i], sigmoid: sigmoid, window: -1, file: int32(fi)}
			if w >= 0 {
				p.window = int32(base + w)
				s.scorable[base+w] = true
			}
			s.points = append(s.points, p)
		})
	}
	slices.SortStableFunc(s.points, func(a, b point) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	return s, nil
}

// sweep calls fn for each row i of f with the window it is in (its index in
// f.Windows, or −1) and the unweighted reward of a detection there. A window
// is entered at the row stamped with its start and left after the row
// stamped with its end; its width and edges are the rows first stamped
// with its bounds. A row outside every window is rewarded by its distance
// past the previous window, relative to that window's width.
func (f *File) sweep(fn func(i, w int, sigmoid float64)) {
	next, cur := 0, -1
	var right, width float64
	prevRight, prevWidth := -1.0, 0.0
	for i, t := range f.Times {
		if next < len(f.Windows) && t.Equal(f.Windows[next].Start) {
			cur = next
			next++
			r := index(f.Times, f.Windows[cur].End)
			right = float64(r)
			width = float64(r - index(f.Times, f.Windows[cur].Start) + 1)
		}
		var sig float64
		switch {
		case cur >= 0:
			sig = scaledSigmoid(-(right - float64(i) + 1) / width)
		case prevRight < 0 || prevWidth <= 1:
			sig = -1
		default:
			sig = scaledSigmoid(math.Abs(prevRight-float64(i)) / (prevWidth - 1))
		}
		fn(i, cur, sig)
		if cur >= 0 && t.Equal(f.Windows[cur].End) {
			prevRight, prevWidth = float64(i), width
			cur = -1
		}
	}
}

// Result is the score of a detector under one profile at one threshold:
// rows whose anomaly score is at least the threshold are detections.
type Result struct {
	Profile   string
	Threshold float64
	// Raw is NAB's raw score: the sum over windows of the weighted reward of
	// each window's earliest detection (or −FNWeight when none), plus the
	// weighted (negative) rewards of the detections outside every window.
	Raw float64
	// Normalized is 100 × (Raw − null) ÷ (perfect − null), where null is the
	// raw score of a detector that never detects and perfect is TPWeight
	// per window.
	Normalized float64
	// Row counts, as NAB reports them: detected rows in and outside windows,
	// and undetected rows in and outside windows.
	TP, FP, FN, TN int
	// Windows is the number of windows scored and Detected how many of them
	// had a detection.
	Windows, Detected int
}

// Null is the raw score of a detector that never detects under profile p.
func (s *Scored) Null(p Profile) float64 {
	n := 0
	for _, ok := range s.scorable {
		if ok {
			n++
		}
	}
	return -p.FNWeight * float64(n)
}

// Perfect is the raw score of a detector that detects every window at its
// first row and nothing else.
func (s *Scored) Perfect(p Profile) float64 {
	return p.TPWeight * float64(s.windows)
}

func (s *Scored) normalize(p Profile, raw float64) float64 {
	null, perfect := s.Null(p), s.Perfect(p)
	return 100 * (raw - null) / (perfect - null)
}

func weight(p Profile, pt point) float64 {
	if pt.window < 0 {
		return pt.sigmoid * p.FPWeight
	}
	return pt.sigmoid * p.TPWeight / maxTP
}

// At scores the detector under profile p at a threshold.
func (s *Scored) At(p Profile, threshold float64) Result {
	return s.at(p, threshold, -1)
}

// File scores one file of the corpus, by its index in Corpus.Files.
func (s *Scored) File(p Profile, threshold float64, file int) Result {
	return s.at(p, threshold, file)
}

func (s *Scored) at(p Profile, threshold float64, file int) Result {
	best := make([]float64, s.windows)
	detected := make([]bool, s.windows)
	r := Result{Profile: p.Name, Threshold: threshold}
	for _, pt := range s.points {
		if file >= 0 && int(pt.file) != file {
			continue
		}
		hit := pt.score >= threshold
		switch {
		case pt.window < 0 && hit:
			r.FP++
			r.Raw += weight(p, pt)
		case pt.window < 0:
			r.TN++
		case hit:
			r.TP++
			w := weight(p, pt)
			if !detected[pt.window] || w > best[pt.window] {
				best[pt.window] = w
			}
			detected[pt.window] = true
		default:
			r.FN++
		}
	}
	for w := range s.windows {
		if file >= 0 && int(s.fileOf[w]) != file || !s.scorable[w] {
			continue
		}
		r.Windows++
		if detected[w] {
			r.Detected++
			r.Raw += best[w]
		} else {
			r.Raw -= p.FNWeight
		}
	}
	if file < 0 {
		r.Normalized = s.normalize(p, r.Raw)
	}
	return r
}

// Sweep finds the threshold that maximises the corpus's raw score under
// profile p, trying every distinct anomaly score (and one above them all,
// which detects nothing). Of equal scores the highest threshold wins.
func (s *Scored) Sweep(p Profile) Result {
	best := make([]float64, s.windows)
	detected := make([]bool, s.windows)
	raw := s.Null(p)
	top := Result{Profile: p.Name, Threshold: 1.1, Raw: raw}
	for i := 0; i < len(s.points); {
		thr := s.points[i].score
		for ; i < len(s.points) && s.points[i].score == thr; i++ {
			pt := s.points[i]
			w := weight(p, pt)
			switch {
			case pt.window < 0:
				raw += w
			case !detected[pt.window]:
				detected[pt.window] = true
				best[pt.window] = w
				raw += w + p.FNWeight
			case w > best[pt.window]:
				raw += w - best[pt.window]
				best[pt.window] = w
			}
		}
		if raw > top.Raw {
			top.Threshold, top.Raw = thr, raw
		}
	}
	return s.At(p, top.Threshold)
}
