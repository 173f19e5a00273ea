package robustness

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
)

// Generate writes n events over files JSON-lines files in dir, with keys
// and sides drawn from seed. Each file's events advance in event time with
// up to Disorder milliseconds of disorder; values are unique. Between them,
// each file has rule changes of the fraud check, drawn from seed too but
// from a generator of their own (so the events are the same as without
// them): one within every RuleEvery lines and one as the last line (with
// no newline after it, which the lines source must read as a line too).
// After every BadEvery events of a file comes a line that is not JSON, which
// the job dead-letters; every other one of them is not UTF-8 either. It
// returns every record written, events and rule changes, and the bad lines.
func Generate(dir string, files, n int, seed uint64) ([]Event, []string, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	rr := rand.New(rand.NewPCG(seed^0x5bd1e9955bd1e995, seed+1))
	taken := map[string]bool{} // rule name and From, unique
	var all []Event
	var bad []string
	for f := range files {
		path := filepath.Join(dir, fmt.Sprintf("events-%02d.jsonl", f))
		out, err := os.Create(path)
		if err != nil {
			return nil, nil, err
		}
		w := bufio.NewWriter(out)
		lines := 0
		events := 0
		writeBad := func() {
			l := fmt.Sprintf(`{"bad":"%d-%d" oops`, f, events)
			if len(bad)%2 == 1 {
				l += "\xff\xfe"
			}
			w.WriteByte('\n') // after an event, so never the first line
			lines++
			w.WriteString(l)
			bad = append(bad, l)
		}
		write := func(e Event) error {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if lines > 0 {
				w.WriteByte('\n')
			}
			lines++
			w.Write(b)
			all = append(all, e)
			return nil
		}
		base := int64(1_700_000_000_000)
		since, gap := 0, ruleGap(rr)
		for i := f; i < n; i += files {
			if since == gap {
				if err := write(ruleChange(rr, base, taken)); err != nil {
					out.Close()
					return nil, nil, err
				}
				since, gap = 0, ruleGap(rr)
			}
			base += int64(r.IntN(40))
			e := Event{
				Key:   fmt.Sprintf("k%02d", r.IntN(20)),
				Time:  base + int64(r.IntN(Disorder)),
				Value: int64(i),
				Side:  [2]string{"L", "R"}[r.IntN(2)],
			}
			if err := write(e); err != nil {
				out.Close()
				return nil, nil, err
			}
			since++
			if events++; events%BadEvery == 0 {
				writeBad()
			}
		}
		if err := write(ruleChange(rr, base, taken)); err != nil {
			out.Close()
			return nil, nil, err
		}
		if err := w.Flush(); err != nil {
			out.Close()
			return nil, nil, err
		}
		if err := out.Close(); err != nil {
			return nil, nil, err
		}
	}
	return all, bad, nil
}

// ruleGap draws how many events come before the next rule change: at most
// RuleEvery, so that a file never has more lines without one.
func ruleGap(r *rand.Rand) int { return RuleEvery/4 + r.IntN(RuleEvery-RuleEvery/4) }

// rules are the fraud check's rule names, and for each the windows its
// versions draw from and how far above a key's expected number of events
// within the window their counts are (a factor from lo to hi); off is the
// chance in 100 that a version switches the rule off.
var rules = []struct {
	name    string
	windows []int64
	lo, hi  float64
	off     int
}{
	{"burst", []int64{500, 1_000, 1_500}, 1.5, 2.0, 0},
	{"sustained", []int64{3_000, 4_000, MaxWithin}, 1.15, 1.35, 0},
	{"probe", []int64{1_000, 2_000, 2_500}, 1.2, 1.6, 30},
}

// keyRate is about how many events a key has per millisecond: four files
// of events 19.5 ms apart on average, over 20 keys.
const keyRate = 4 / 19.5 / 20

// ruleChange draws a rule change that takes effect within Disorder after
// base, at a time no other version of the rule has.
func ruleChange(r *rand.Rand, base int64, taken map[string]bool) Event {
	spec := rules[r.IntN(len(rules))]
	within := spec.windows[r.IntN(len(spec.windows))]
	count := int64(float64(within)*keyRate*(spec.lo+r.Float64()*(spec.hi-spec.lo)) + 0.5)
	if r.IntN(100) < spec.off {
		count = 0
	}
	for {
		t := base + int64(r.IntN(Disorder))
		if k := fmt.Sprint(spec.name, t); !taken[k] {
			taken[k] = true
			return Event{Time: t, Rule: &Rule{Name: spec.name, Count: count, Within: within}}
		}
	}
}

// Model computes the job's output from its input (events and rule changes)
// with plain Go, without the engine: the lines the committed output must
// hold, sorted.
func Model(records []Event) []string {
	type win struct {
		key   string
		start int64
	}
	acc := map[win][2]int64{}
	byKey := map[string][]Event{}
	type version struct{ from, count, within int64 }
	versions := map[string][]version{} // by rule name
	var out []string
	for _, e := range records {
		if e.Rule != nil {
			versions[e.Rule.Name] = append(versions[e.Rule.Name], version{e.Time, e.Rule.Count, e.Rule.Within})
			continue
		}
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
	// The fraud check: at every time a key has an event, each rule in the
	// version in force then (the latest from at or before it; none before
	// the rule's first) alerts when the key has at least count events
	// within the last within milliseconds, unless the count is zero.
	for _, vs := range versions {
		slices.SortFunc(vs, func(a, b version) int { return int(a.from - b.from) })
	}
	for key, es := range byKey {
		times := make([]int64, len(es))
		for i, e := range es {
			times[i] = e.Time
		}
		slices.Sort(times)
		// upTo is how many of the key's events are at or before t.
		upTo := func(t int64) int64 {
			i, _ := slices.BinarySearch(times, t+1)
			return int64(i)
		}
		for i, t := range times {
			if i > 0 && times[i-1] == t {
				continue
			}
			for name, vs := range versions {
				j, _ := slices.BinarySearchFunc(vs, t+1, func(v version, t int64) int { return int(v.from - t) })
				j-- // the last from at or before t
				if j < 0 || vs[j].count == 0 {
					continue
				}
				v := vs[j]
				if n := upTo(t) - upTo(t-v.within); n >= v.count {
					out = append(out, fmt.Sprintf("alert %s %s %d %d %d", name, key, t, n, v.from))
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

// DeadLetterRecords reads the committed dead letters under dir (the visible
// part files) and returns their records, the original lines: a record that
// is not UTF-8 is decoded from its base64 form.
func DeadLetterRecords(dir string) ([]string, error) {
	lines, err := Committed(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		var d struct {
			Record       *string `json:"record"`
			RecordBase64 string  `json:"recordBase64"`
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			return nil, fmt.Errorf("dead letter %s: %w", l, err)
		}
		switch {
		case d.Record != nil:
			out = append(out, *d.Record)
		default:
			b, err := base64.StdEncoding.DecodeString(d.RecordBase64)
			if err != nil {
				return nil, fmt.Errorf("dead letter %s: %w", l, err)
			}
			out = append(out, string(b))
		}
	}
	slices.Sort(out)
	return out, nil
}
