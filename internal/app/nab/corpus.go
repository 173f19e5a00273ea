package nab

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Window is a labelled anomaly window: the rows from the first row stamped
// Start to the first row stamped End, both included.
type Window struct {
	Start, End time.Time
}

// File is one series of the corpus with its labelled windows.
type File struct {
	// Name is the file's path under data/, with forward slashes, e.g.
	// "realKnownCause/nyc_taxi.csv".
	Name string
	Series
	Windows []Window
}

// Profile is a scoring profile's cost matrix (config/profiles.json).
type Profile struct {
	Name     string
	TPWeight float64
	FPWeight float64
	FNWeight float64
}

// Corpus is NAB's data with its labels and profiles.
type Corpus struct {
	Files []*File // by name
	// Profiles in NAB's reporting order: standard, reward_low_FP_rate,
	// reward_low_FN_rate, then any other profile by name.
	Profiles []Profile
}

// File returns the file of the given name, or nil.
func (c *Corpus) File(name string) *File {
	i, ok := slices.BinarySearchFunc(c.Files, name, func(f *File, n string) int { return strings.Compare(f.Name, n) })
	if !ok {
		return nil
	}
	return c.Files[i]
}

// Profile returns the profile of the given name.
func (c *Corpus) Profile(name string) (Profile, bool) {
	for _, p := range c.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// windowTimeLayout is how combined_windows.json writes its timestamps.
const windowTimeLayout = "2006-01-02 15:04:05.999999"

// LoadCorpus reads a NAB corpus from dir: the series named in
// labels/combined_windows.json under data/, their windows, and
// config/profiles.json. Every window bound must stamp exactly one row of its
// file, as NAB requires.
func LoadCorpus(dir string) (*Corpus, error) {
	wpath := filepath.Join(dir, "labels", "combined_windows.json")
	raw, err := os.ReadFile(wpath)
	if err != nil {
		return nil, err
	}
	var windows map[string][][2]string
	if err := json.Unmarshal(raw, &windows); err != nil {
		return nil, fmt.Errorf("%s: %w", wpath, err)
	}
	c := &Corpus{}
	for name, ws := range windows {
		path := filepath.Join(dir, "data", filepath.FromSlash(name))
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%s names %s: %w", wpath, name, err)
		}
		s, err := ReadSeries(f, path)
		f.Close()
		if err != nil {
			return nil, err
		}
		file := &File{Name: name, Series: *s}
		for i, w := range ws {
			var win Window
			for j, ts := range w {
				t, err := time.Parse(windowTimeLayout, ts)
				if err != nil {
					return nil, fmt.Errorf("%s: %s window %d: %w", wpath, name, i, err)
				}
				if n := count(s.Times, t); n != 1 {
					return nil, fmt.Errorf("%s: %s window %d: timestamp %s stamps %d rows of %s, want exactly 1", wpath, name, i, ts, n, path)
				}
				if j == 0 {
					win.Start = t
				} else {
					win.End = t
				}
			}
			file.Windows = append(file.Windows, win)
		}
		c.Files = append(c.Files, file)
	}
	slices.SortFunc(c.Files, func(a, b *File) int { return strings.Compare(a.Name, b.Name) })

	ppath := filepath.Join(dir, "config", "profiles.json")
	raw, err = os.ReadFile(ppath)
	if err != nil {
		return nil, err
	}
	var profiles map[string]struct {
		CostMatrix struct {
			TP float64 `json:"tpWeight"`
			FP float64 `json:"fpWeight"`
			FN float64 `json:"fnWeight"`
		}
	}
	if err := json.Unmarshal(raw, &profiles); err != nil {
		return nil, fmt.Errorf("%s: %w", ppath, err)
	}
	for name, p := range profiles {
		c.Profiles = append(c.Profiles, Profile{Name: name, TPWeight: p.CostMatrix.TP, FPWeight: p.CostMatrix.FP, FNWeight: p.CostMatrix.FN})
	}
	order := map[string]int{"standard": 0, "reward_low_FP_rate": 1, "reward_low_FN_rate": 2}
	slices.SortFunc(c.Profiles, func(a, b Profile) int {
		oa, ok := order[a.Name]
		if !ok {
			oa = len(order)
		}
		ob, ok := order[b.Name]
		if !ok {
			ob = len(order)
		}
		if oa != ob {
			return oa - ob
		}
		return strings.Compare(a.Name, b.Name)
	})
	return c, nil
}

func count(ts []time.Time, t time.Time) int {
	n := 0
	for _, u := range ts {
		if u.Equal(t) {
			n++
		}
	}
	return n
}

func index(ts []time.Time, t time.Time) int {
	for i, u := range ts {
		if u.Equal(t) {
			return i
		}
	}
	return -1
}
