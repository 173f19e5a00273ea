package nab

import (
	"fmt"
	"io"
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
