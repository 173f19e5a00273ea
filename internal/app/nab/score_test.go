package nab

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// corpusDir is the copy of NAB's corpus the repository carries.
var corpusDir = filepath.Join("..", "..", "..", "testdata", "nab")

func loadCorpus(t *testing.T) *Corpus {
	t.Helper()
	c, err := LoadCorpus(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// twitterADVec returns the published detections of Twitter's ADVec
// detector: the corpus copy keeps only its non-zero rows.
func twitterADVec(t *testing.T, c *Corpus) Detections {
	t.Helper()
	d := Detections{}
	for _, f := range c.Files {
		d[f.Name] = make([]float64, f.Len())
	}
	f, err := os.Open(filepath.Join(corpusDir, "results", "twitterADVec", "detections.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows[1:] {
		row, err1 := strconv.Atoi(r[1])
		v, err2 := strconv.ParseFloat(r[2], 64)
		if err1 != nil || err2 != nil || d[r[0]] == nil || row >= len(d[r[0]]) {
			t.Fatalf("bad detection row %v", r)
		}
		d[r[0]][row] = v
	}
	return d
}

func thresholds(t *testing.T, detector string) map[string]float64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpusDir, "config", "thresholds.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]map[string]struct{ Threshold float64 }
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for p, v := range all[detector] {
		out[p] = v.Threshold
	}
	return out
}

func TestCorpusShape(t *testing.T) {
	c := loadCorpus(t)
	rows, windows := 0, 0
	for _, f := range c.Files {
		rows += f.Len()
		windows += len(f.Windows)
	}
	if len(c.Files) != 58 || rows != 365558 || windows != 116 {
		t.Errorf("corpus has %d files, %d rows, %d windows; want 58, 365558, 116", len(c.Files), rows, windows)
	}
	if len(c.Profiles) != 3 || c.Profiles[0].Name != "standard" || c.Profiles[2].FNWeight != 2 {
		t.Errorf("profiles = %+v", c.Profiles)
	}
}

// TestPublishedScores reproduces NAB's published scores of twitterADVec and
// of the null detector from their published detections and thresholds.
func TestPublishedScores(t *testing.T) {
	c := loadCorpus(t)
	s, err := c.Score(twitterADVec(t, c))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"standard": 47.06, "reward_low_FP_rate": 33.61, "reward_low_FN_rate": 53.50}
	thr := thresholds(t, "twitterADVec")
	for _, p := range c.Profiles {
		r := s.At(p, thr[p.Name])
		if math.Abs(r.Normalized-want[p.Name]) > 0.1 {
			t.Errorf("twitterADVec %s at %v = %.2f (raw %.3f), want %.2f", p.Name, thr[p.Name], r.Normalized, r.Raw, want[p.Name])
		}
		if sw := s.Sweep(p); sw.Raw < r.Raw {
			t.Errorf("twitterADVec %s: the sweep found %.3f at %v, below %.3f at the published threshold", p.Name, sw.Raw, sw.Threshold, r.Raw)
		}
	}

	null := Detections{}
	for _, f := range c.Files {
		d := make([]float64, f.Len())
		for i := range d {
			d[i] = 0.5
		}
		null[f.Name] = d
	}
	s, err = c.Score(null)
	if err != nil {
		t.Fatal(err)
	}
	thr = thresholds(t, "null")
	for _, p := range c.Profiles {
		if r := s.At(p, thr[p.Name]); r.Normalized != 0 || r.Raw != -116*p.FNWeight {
			t.Errorf("null %s = %.2f (raw %.3f), want 0 (raw %v)", p.Name, r.Normalized, r.Raw, -116*p.FNWeight)
		}
		if r := s.Sweep(p); r.Normalized != 0 {
			t.Errorf("null %s swept = %.2f at %v, want 0", p.Name, r.Normalized, r.Threshold)
		}
	}
}

// TestPublishedFileScores compares every file's score and row counts with
// NAB's published per-file tables for twitterADVec.
func TestPublishedFileScores(t *testing.T) {
	c := loadCorpus(t)
	s, err := c.Score(twitterADVec(t, c))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Profiles {
		path := filepath.Join(corpusDir, "results", "twitterADVec", "twitterADVec_"+p.Name+"_scores.csv")
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, r := range rows[1:] {
			if r[0] == "Totals" {
				continue
			}
			i := -1
			for j, f := range c.Files {
				if f.Name == r[2] {
					i = j
				}
			}
			if i < 0 {
				t.Fatalf("%s names %s, not in the corpus", path, r[2])
			}
			thr, _ := strconv.ParseFloat(r[3], 64)
			want, _ := strconv.ParseFloat(r[4], 64)
			got := s.File(p, thr, i)
			counts := [4]int{got.TP, got.TN, got.FP, got.FN}
			var wantCounts [4]int
			for k := range wantCounts {
				wantCounts[k], _ = strconv.Atoi(r[5+k])
			}
			if math.Abs(got.Raw-want) > 1e-6 || counts != wantCounts {
				t.Errorf("%s %s: score %.6f, TP TN FP FN %v; want %.6f, %v", p.Name, r[2], got.Raw, counts, want, wantCounts)
			}
			checked++
		}
		if checked != 58 {
			t.Errorf("%s: checked %d files, want 58", path, checked)
		}
	}
}

// TestSweepFindsBestThreshold checks the incremental sweep against scoring
// at every threshold one by one, on scores of eleven levels.
func TestSweepFindsBestThreshold(t *testing.T) {
	c := loadCorpus(t)
	d := Detections{}
	x := uint64(1)
	for _, f := range c.Files {
		s := make([]float64, f.Len())
		for i := range s {
			x = x*6364136223846793005 + 1442695040888963407
			s[i] = float64((x>>33)%11) / 10
			if (x>>20)%1000 != 0 {
				s[i] /= 4 // mostly low scores, so some threshold beats the null
			}
		}
		d[f.Name] = s
	}
	s, err := c.Score(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Profiles {
		got := s.Sweep(p)
		best := s.At(p, 1.1)
		for _, thr := range []float64{1, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.225, 0.2, 0.175, 0.15, 0.125, 0.1, 0.075, 0.05, 0.025, 0} {
			if r := s.At(p, thr); r.Raw > best.Raw {
				best = r
			}
		}
		if math.Abs(got.Raw-best.Raw) > 1e-9 || got.Threshold != best.Threshold {
			t.Errorf("%s: sweep found %.6f at %v, scoring each threshold %.6f at %v", p.Name, got.Raw, got.Threshold, best.Raw, best.Threshold)
		}
		if best.Threshold == 1.1 {
			t.Errorf("%s: the best threshold detects nothing; the test is too weak", p.Name)
		}
	}
}
