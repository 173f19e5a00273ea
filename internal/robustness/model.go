package robustness

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// Generate writes n events over files JSON-lines files in dir, with keys
// and sides drawn from seed. Each file's events advance in event time with
// up to Disorder milliseconds of disorder; values are unique.
func Generate(dir string, files, n int, seed uint64) ([]Event, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var all []Event
	for f := range files {
		path := filepath.Join(dir, fmt.Sprintf("events-%02d.jsonl", f))
		out, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		w := bufio.NewWriter(out)
		enc := json.NewEncoder(w)
		base := int64(1_700_000_000_000)
		for i := f; i < n; i += files {
			base += int64(r.IntN(40))
			e := Event{
				Key:   fmt.Sprintf("k%02d", r.IntN(20)),
				Time:  base + int64(r.IntN(Disorder)),
				Value: int64(i),
				Side:  [2]string{"L", "R"}[r.IntN(2)],
			}
			if err := enc.Encode(e); err != nil {
				out.Close()
				return nil, err
			}
			all = append(all, e)
		}
		if err := w.Flush(); err != nil {
			out.Close()
			return nil, err
		}
		if err := out.Close(); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// Model computes the job's output from its input with plain Go, without
// the engine: the lines the committed output must hold, sorted.
func Model(events []Event) []string {
	type win struct {
		key   string
		start int64
	}
	acc := map[win][2]int64{}
	byKey := map[string][]Event{}
	var out []string
	for _, e := range events {
		w := win{e.Key, e.Time - e.Time%Window}
		a := acc[w]
		a[0]++
		a[1] += e.Value
		acc[w] = a
		byKey[e.Key] = append(byKey[e.Key], e)
	}
	for w, a := range acc {
		out = append(out, fmt.Sprintf("win %s %d %d %d", w.key, w.start, a[0], a[1]))
	}
	for key, es := range byKey {
		for _, l := range es {
			if l.Side != "L" {
				continue
			}
			for _, r := range es {
				if d := l.Time - r.Time; r.Side == "R" && d >= -JoinWithin && d <= JoinWithin {
					out = append(out, fmt.Sprintf("join %s %d %d", key, l.Value, r.Value))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// Committed reads the committed output of the file sink under dir: the
// lines of every visible file, sorted.
func Committed(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name()[0] == '.' {
			if d.IsDir() && path != dir {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		return sc.Err()
	})
	slices.Sort(out)
	return out, err
}

// Diff returns what want has more of than got (lost) and what got has more
// of than want (duplicated or wrong), as multisets.
func Diff(want, got []string) (lost, extra []string) {
	count := map[string]int{}
	for _, s := range want {
		count[s]++
	}
	for _, s := range got {
		count[s]--
	}
	for s, n := range count {
		for ; n > 0; n-- {
			lost = append(lost, s)
		}
		for ; n < 0; n++ {
			extra = append(extra, s)
		}
	}
	slices.Sort(lost)
	slices.Sort(extra)
	return lost, extra
}
