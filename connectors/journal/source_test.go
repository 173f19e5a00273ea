package journal_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
	"github.com/weirstream/weir/connectors/journal"
	"github.com/weirstream/weir/connectortest"
)

// fixture writes numbered records into a journal, spread over its
// partitions.
type fixture struct {
	t    *testing.T
	j    *journal.Journal
	mu   sync.Mutex
	next int
}

func (f *fixture) write(vs []string) {
	f.t.Helper()
	recs := make([]journal.Record, len(vs))
	for i, v := range vs {
		recs[i] = journal.Record{Partition: f.j.Partition([]byte(v)), Value: []byte(v)}
	}
	if err := f.j.Append(context.Background(), recs...); err != nil {
		f.t.Error(err)
	}
}

func (f *fixture) add(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := make([]string, n)
	for i := range vs {
		vs[i] = fmt.Sprintf("record-%d", f.next)
		f.next++
	}
	f.write(vs)
	return vs
}

// The journal source passes the conformance suite as an unbounded source
// whose partitions are appended to while jobs read them.
func TestConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source[string]{
		Capabilities: connectortest.SourceCapabilities{Append: true},
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[string] {
			// Small segments, so that readers cross them.
			j, err := journal.Open(journal.Config{Dir: t.TempDir(), Partitions: in.Splits, SegmentBytes: 512})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			f := &fixture{t: t, j: j}
			d := connectortest.SourceData[string]{
				Source: func() weir.Source[string] {
					s, err := journal.NewSource(journal.SourceConfig[string]{Journal: j, Decoder: format.String()})
					if err != nil {
						t.Fatal(err)
					}
					return s
				},
				Append: f.add,
			}
			d.Good = f.add(in.Records)
			for i := range in.Bad {
				bad := fmt.Sprintf("bad record %d", i)
				f.write([]string{bad})
				d.Bad = append(d.Bad, bad)
			}
			return d
		},
		Decode: func(v string) error {
			if strings.HasPrefix(v, "bad") {
				return fmt.Errorf("%q is bad", v)
			}
			return nil
		},
	})
}

type beacon struct {
	View string `json:"view"`
	N    int    `json:"n"`
}

// Values the source's decoder rejects go to the dead letters with the
// partition as the split and their offset.
func TestSourceRejects(t *testing.T) {
	j, err := journal.Open(journal.Config{Dir: t.TempDir(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	ctx := context.Background()
	for _, v := range []string{`{"view":"a","n":1}`, `not json`, `{"view":"b","n":2}`} {
		if err := j.Append(ctx, journal.Record{Partition: 1, Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := journal.NewSource(journal.SourceConfig[beacon]{Journal: j, Decoder: format.JSON[beacon]()})
	if err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(t.TempDir(), "dead")
	stop := make(chan struct{})
	env := weir.New(weir.OnError(weir.DeadLetter), weir.DeadLetters(dead),
		weir.Checkpoints(10*time.Millisecond, t.TempDir()), weir.StopOn(stop))
	got := weir.Collect(weir.From(env, src).Name("beacons"))
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx) }()
	waitFor(t, func() bool { return len(got.Values()) == 2 })
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var letters []map[string]any
	files, _ := filepath.Glob(filepath.Join(dead, "part-*"))
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			letters = append(letters, m)
		}
		f.Close()
	}
	if len(letters) != 1 {
		t.Fatalf("dead letters %v, want 1", letters)
	}
	l := letters[0]
	if l["source"] != "beacons" || l["split"] != "1" || l["offset"] != 1.0 || l["record"] != "not json" || !strings.Contains(l["error"].(string), "json") {
		t.Fatalf("dead letter %v: want source beacons, split 1, offset 1, the record and a JSON error", l)
	}
	if vs := got.Values(); !slices.Equal(vs, []beacon{{"a", 1}, {"b", 2}}) {
		t.Fatalf("read %v", vs)
	}
}

// Two jobs read the same journal, each at its own positions; a record's
// event time is its append time.
func TestTwoJobs(t *testing.T) {
	j, err := journal.Open(journal.Config{Dir: t.TempDir(), Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	f := &fixture{t: t, j: j}
	first := f.add(50)
	before := time.Now()
	run := func(start journal.Start) (*weir.Collector[string], chan struct{}, chan error) {
		src, err := journal.NewSource(journal.SourceConfig[string]{Journal: j, Decoder: format.String(), Start: start})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		env := weir.New(weir.Parallelism(2), weir.Checkpoints(10*time.Millisecond, t.TempDir()), weir.StopOn(stop))
		got := weir.Collect(weir.From(env, src))
		done := make(chan error, 1)
		go func() { done <- env.Run(context.Background()) }()
		return got, stop, done
	}
	all, stopAll, doneAll := run(journal.Earliest)
	waitFor(t, func() bool { return len(all.Values()) == 50 })
	latest, stopLatest, doneLatest := run(journal.Latest)
	// Once the second job has opened its readers (three of each job's),
	// at the end, records appended are read by both.
	waitFor(t, func() bool { return j.Metrics().MaxLag == 0 && readers(j) == 6 })
	second := f.add(30)
	waitFor(t, func() bool { return len(all.Values()) == 80 && len(latest.Values()) == 30 })
	close(stopAll)
	close(stopLatest)
	if err := errorsJoin(<-doneAll, <-doneLatest); err != nil {
		t.Fatal(err)
	}
	if d := setDiff(all.Values(), append(first, second...)); d != "" {
		t.Fatalf("the first job read %s", d)
	}
	if d := setDiff(latest.Values(), second); d != "" {
		t.Fatalf("the job starting at the latest offsets read %s", d)
	}
	for _, r := range latest.Records() {
		if r.Time.Before(before.Truncate(time.Millisecond)) || r.Time.After(time.Now()) {
			t.Fatalf("record %q has event time %v, want its append time", r.Value, r.Time)
		}
	}
}

func readers(j *journal.Journal) int { return journal.OpenReaders(j) }

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func setDiff(got, want []string) string {
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if slices.Equal(g, w) {
		return ""
	}
	return fmt.Sprintf("%d records, want %d: %v", len(g), len(w), g)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
