package nab

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"
)

// Detector scores one series: it is called once per row, in file order,
// and returns the row's anomaly score.
type Detector func(t time.Time, v float64) float64

// Detect runs a fresh detector (from newDetector) over every file of the
// corpus and returns its scores.
func (c *Corpus) Detect(newDetector func() Detector) Detections {
	d := make(Detections, len(c.Files))
	for _, f := range c.Files {
		det := newDetector()
		scores := make([]float64, f.Len())
		for i, v := range f.Values {
			scores[i] = det(f.Times[i], v)
		}
		d[f.Name] = scores
	}
	return d
}

// Rows is the number of rows in the corpus.
func (c *Corpus) Rows() int {
	n := 0
	for _, f := range c.Files {
		n += f.Len()
	}
	return n
}

// Report holds a detector's scores under every profile, with the swept
// threshold and at a fixed one.
type Report struct {
	Swept []Result
	Fixed []Result
}

// Evaluate scores detections under every profile of the corpus, with the
// threshold swept and at the fixed threshold.
func (c *Corpus) Evaluate(d Detections, fixed float64) (*Report, *Scored, error) {
	s, err := c.Score(d)
	if err != nil {
		return nil, nil, err
	}
	r := &Report{}
	for _, p := range c.Profiles {
		r.Swept = append(r.Swept, s.Sweep(p))
		r.Fixed = append(r.Fixed, s.At(p, fixed))
	}
	return r, s, nil
}

// WriteTable writes the report as a Markdown table: one row per profile.
func (r *Report) WriteTable(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "| profile | swept: score | threshold | fixed: score | threshold |\n|---|---:|---:|---:|---:|\n"); err != nil {
		return err
	}
	for i, sw := range r.Swept {
		fx := r.Fixed[i]
		if _, err := fmt.Fprintf(w, "| %s | %.1f | %.4f | %.1f | %.2f |\n", sw.Profile, sw.Normalized, sw.Threshold, fx.Normalized, fx.Threshold); err != nil {
			return err
		}
	}
	return nil
}

// WriteFiles writes each file's raw score under the first profile at its
// swept threshold, worst first, with the windows it detected and its false
// positives (rows detected outside every window).
func (r *Report) WriteFiles(w io.Writer, c *Corpus, s *Scored) error {
	p, thr := c.Profiles[0], r.Swept[0].Threshold
	type fileResult struct {
		name string
		r    Result
	}
	out := make([]fileResult, len(c.Files))
	for i, f := range c.Files {
		out[i] = fileResult{f.Name, s.File(p, thr, i)}
	}
	slices.SortStableFunc(out, func(a, b fileResult) int { return cmp.Compare(a.r.Raw, b.r.Raw) })
	if _, err := fmt.Fprintf(w, "%s at %.4f: %d of %d windows detected, %d false positive rows\n", p.Name, thr, r.Swept[0].Detected, r.Swept[0].Windows, r.Swept[0].FP); err != nil {
		return err
	}
	for _, f := range out {
		if _, err := fmt.Fprintf(w, "%8.3f  windows %d/%d  FP %4d  %s\n", f.r.Raw, f.r.Detected, f.r.Windows, f.r.FP, f.name); err != nil {
			return err
		}
	}
	return nil
}
