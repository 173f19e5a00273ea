package connector_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectortest"
	"github.com/weirstream/weir/examples/connector"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// segments is the source's test data: a directory of segment files with
// numbered lines; bad lines are not numbers.
type segments struct {
	t    *testing.T
	dir  string
	mu   sync.Mutex
	n    int // segments written
	next int // number of the next record
}

func (s *segments) write(name string, lines []string, flag int) {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.dir, name), flag|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	// One write of whole lines: a reader sees a line whole or not at all.
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *segments) records(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strconv.Itoa(s.next)
		s.next++
	}
	return out
}

// addSegment writes a new segment of n records.
func (s *segments) addSegment(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	recs := s.records(n)
	s.write(connector.SegmentName(s.n), recs, os.O_CREATE|os.O_EXCL)
	return recs
}

// appendRecords appends n records to the segments, spread over all of them.
func (s *segments) appendRecords(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs := s.records(n)
	per := make([][]string, s.n)
	for i, r := range recs {
		per[i%s.n] = append(per[i%s.n], r)
	}
	for i, lines := range per {
		if len(lines) > 0 {
			s.write(connector.SegmentName(i+1), lines, os.O_APPEND)
		}
	}
	return recs
}

// The segment source passes the whole conformance suite: it is unbounded,
// discovers new segments and reads what is appended to old ones.
func TestSegmentSourceConformance(t *testing.T) {
	connectortest.RunSource(t, connectortest.Source[string]{
		Capabilities: connectortest.SourceCapabilities{Discovery: true, Append: true},
		Setup: func(t *testing.T, in connectortest.Input) connectortest.SourceData[string] {
			s := &segments{t: t, dir: t.TempDir()}
			d := connectortest.SourceData[string]{
				Source:   func() weir.Source[string] { return connector.Segments(s.dir, 5*time.Millisecond) },
				Append:   s.appendRecords,
				AddSplit: s.addSegment,
			}
			for i := range in.Splits {
				n := in.Records / in.Splits
				if i < in.Records%in.Splits {
					n++
				}
				d.Good = append(d.Good, s.addSegment(n)...)
			}
			for i := range in.Bad {
				bad := fmt.Sprintf("bad record %d", i)
				s.write(connector.SegmentName(i%in.Splits+1), []string{bad}, os.O_APPEND)
				d.Bad = append(d.Bad, bad)
			}
			return d
		},
		Decode: func(line string) error {
			_, err := strconv.Atoi(line)
			return err
		},
	})
}

// The batch sink passes the whole conformance suite as an exactly-once
// sink that can change parallelism.
func TestBatchSinkConformance(t *testing.T) {
	connectortest.RunSink(t, connectortest.Sink[string]{
		Capabilities: connectortest.SinkCapabilities{ExactlyOnce: true, Rescale: true},
		Setup: func(t *testing.T) connectortest.SinkData[string] {
			dir := t.TempDir()
			return connectortest.SinkData[string]{
				Sink:      func() weir.Sink[string] { return connector.Batches(dir) },
				Committed: func() ([]string, error) { return committed(dir) },
			}
		},
		Record: func(n int64) string { return strconv.FormatInt(n, 10) },
	})
}

// committed reads the lines of the visible batch files in dir.
func committed(dir string) ([]string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "batch-*.txt"))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			out = append(out, strings.TrimSuffix(line, "\n"))
		}
	}
	return out, nil
}

// A batch sink opened after a restore aborts what the checkpoint does not
// hold: the transactions prepared for later checkpoints, its own and
// (subtask 0) those of subtasks the job no longer has, and files left
// open; it keeps the transactions the restore will commit.
func TestBatchSinkAbortsLingeringTransactions(t *testing.T) {
	dir := t.TempDir()
	sink := connector.Batches(dir)
	ctx := t.Context()
	prepare := func(subtask, p int, ids ...int64) {
		w, err := sink.Open(ctx, weir.SinkInfo{Subtask: subtask, Parallelism: p})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := w.Write(fmt.Sprint(subtask, "@", id)); err != nil {
				t.Fatal(err)
			}
			if _, err := w.(weir.TwoPhaseWriter).Prepare(id); err != nil {
				t.Fatal(err)
			}
		}
		// Written and never prepared: left open by a crash.
		if err := w.Write("open"); err != nil {
			t.Fatal(err)
		}
	}
	prepare(0, 2, 3, 4)
	prepare(1, 2, 3, 4)
	w, err := sink.Open(ctx, weir.SinkInfo{Subtask: 0, Parallelism: 1, RestoredCheckpointID: 3, PreviousParallelism: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var left []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		left = append(left, strings.Join(strings.Split(e.Name(), "-")[:3], "-"))
	}
	if want := []string{".txn-0-3", ".txn-1-3"}; !slices.Equal(left, want) {
		t.Fatalf("after the restore's Open the directory holds %v, want only %v", left, want)
	}
}
