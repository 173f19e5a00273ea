package connectortest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// Input says what test data a source fixture writes.
type Input struct {
	// Splits is how many splits the data is in, at least 2 so that
	// parallelism changes move splits between subtasks. A source whose
	// splits are fixed by what it reads may make another number, at least
	// 2.
	Splits int
	// Records is how many good records to write over all splits.
	Records int
	// Bad is how many records the Source's Decode rejects to write among
	// them; 0 except in the DeadLetters check.
	Bad int
}

// SourceData is one check's test data, written by a Source's Setup, and the
// ways to read and extend it.
type SourceData[T any] struct {
	// Source returns a source reading the data. The suite calls it for
	// every run of a job, as a new run of a program would, so it returns a
	// new value each time (or one that can serve any number of jobs).
	// Required.
	Source func() weir.Source[T]
	// Good are the good records written, in any order; Bad are the bad
	// ones (Input.Bad of them).
	Good, Bad []T
	// Append writes n more good records into the existing splits and
	// returns them. It is called while a job may be reading, so a record
	// must become visible to readers whole. Required with
	// SourceCapabilities.Append.
	Append func(n int) []T
	// AddSplit writes a new split holding n good records and returns them.
	// It is called while a job may be running, which the source must
	// discover. Required with SourceCapabilities.Discovery.
	AddSplit func(n int) []T
}

// SourceCapabilities declares what a source does beyond reading its splits.
// Whether it is bounded is what its Bounded method says.
type SourceCapabilities struct {
	// Discovery: the source is unbounded, implements weir.SplitDiscoverer,
	// and finds the splits SourceData.AddSplit adds.
	Discovery bool
	// Append: the source is unbounded and its readers read the records
	// SourceData.Append adds to their splits.
	Append bool
}

// Source describes a source connector to RunSource.
type Source[T any] struct {
	// Capabilities declares the checks beyond the common ones.
	Capabilities SourceCapabilities
	// Setup writes in's test data into a place of the check's own (under
	// t.TempDir, say) and returns it. Required.
	Setup func(t *testing.T, in Input) SourceData[T]
	// Decode is the decode step of the job in the DeadLetters check: nil
	// for a good record, an error for a bad one. Without it that check is
	// skipped.
	Decode func(T) error
	// Key returns the string records are compared by; nil means
	// fmt.Sprint.
	Key func(T) string
}

// SinkCapabilities declares what a sink guarantees.
type SinkCapabilities struct {
	// ExactlyOnce: the sink's writers implement weir.TwoPhaseWriter, and
	// after failures and restores the committed output holds every record
	// exactly once. Without it the suite checks at-least-once: nothing
	// lost, duplicates allowed after a failure.
	ExactlyOnce bool
	// Rescale: a job restored at another parallelism goes on writing the
	// same output.
	Rescale bool
}

// SinkData is one check's output place and the ways to write and read it.
type SinkData[T any] struct {
	// Sink returns a sink writing to the check's output. The suite calls
	// it for every run of a job, as a new run of a program would.
	// Required.
	Sink func() weir.Sink[T]
	// Committed reads back what the sink has committed: the output a
	// reader of it would see. The suite calls it after jobs have returned.
	// Required.
	Committed func() ([]T, error)
}

// Sink describes a sink connector to RunSink.
type Sink[T any] struct {
	// Capabilities declares what the sink guarantees.
	Capabilities SinkCapabilities
	// Setup prepares an empty output of the check's own (under t.TempDir,
	// say). Required.
	Setup func(t *testing.T) SinkData[T]
	// Record returns the record the suite writes as number n; different
	// numbers must give records with different Keys. Required.
	Record func(n int64) T
	// Key returns the string records are compared by; nil means
	// fmt.Sprint.
	Key func(T) string
	// EventTime, when set, gives the suite's records their event times
	// (weir.EventTime), for a sink that writes by event time
	// (weir.EventTimeWriter).
	EventTime func(T) time.Time
}

func keyFunc[T any](key func(T) string) func(T) string {
	if key != nil {
		return key
	}
	return func(v T) string { return fmt.Sprint(v) }
}

func keys[T any](key func(T) string, vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = key(v)
	}
	return out
}

// distinct fails the test when the fixture's records are not distinct by
// key: the suite could not tell a repeat from a second record.
func distinct(t *testing.T, what string, ks []string) {
	t.Helper()
	s := slices.Sorted(slices.Values(ks))
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			t.Fatalf("%s: two records have the key %q; the fixture's records must be distinct", what, s[i])
		}
	}
}

// diff compares the multisets got and want and describes how they differ:
// the records missing and those repeated or unexpected, a few of each.
func diff(got, want []string) string {
	count := map[string]int{}
	for _, k := range want {
		count[k]++
	}
	for _, k := range got {
		count[k]--
	}
	var missing, extra []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range count {
			if !yield(k) {
				return
			}
		}
	}) {
		switch n := count[k]; {
		case n > 0:
			for range n {
				missing = append(missing, k)
			}
		case n < 0:
			for range -n {
				extra = append(extra, k)
			}
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("%d records, want %d: %d missing %s, %d repeated or unexpected %s",
		len(got), len(want), len(missing), sample(missing), len(extra), sample(extra))
}

// covers describes the records of want that got lacks, ignoring repeats;
// "" when got holds every one.
func covers(got, want []string) string {
	have := map[string]bool{}
	for _, k := range got {
		have[k] = true
	}
	var missing []string
	for _, k := range want {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	slices.Sort(missing)
	return fmt.Sprintf("%d of %d records missing: %s", len(missing), len(want), sample(missing))
}

// repeats counts the records of ks beyond the first of each key.
func repeats(ks []string) int {
	seen := map[string]bool{}
	n := 0
	for _, k := range ks {
		if seen[k] {
			n++
		}
		seen[k] = true
	}
	return n
}

func sample(ks []string) string {
	const most = 8
	if len(ks) <= most {
		return fmt.Sprintf("%q", ks)
	}
	return fmt.Sprintf("%q…", ks[:most])
}

// joinErrs joins messages for a test failure.
func joinErrs(msgs []string) string { return strings.Join(msgs, "; ") }
