package weir_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirstream/weir"
)

// deadLetterSeqs returns the record of every committed dead letter in dir,
// as sequence numbers, sorted.
func deadLetterSeqs(t *testing.T, dir string) []int64 {
	t.Helper()
	var out []int64
	for _, l := range readDeadLetters(t, dir) {
		var d struct{ Record int64 }
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("dead letter %s: %v", l, err)
		}
		out = append(out, d.Record)
	}
	slices.Sort(out)
	return out
}

// A job that fails after a checkpoint and is restored from it writes every
// dead letter exactly once: those after the checkpoint, which the restored
// run writes again, were never committed by the failed one.
func TestDeadLettersExactlyOnceAcrossRestore(t *testing.T) {
	dir := t.TempDir()
	dlq, chk := filepath.Join(dir, "dead"), filepath.Join(dir, "checkpoints")
	bad := func(v int64) bool { return v%3 == 0 }
	// build describes the job: an unbounded sequence, every third number
	// dead-lettered by parse. When crash is set, parse panics (which fails
	// the job whatever the policy) at the second bad number after crash
	// is armed.
	build := func(seen *atomic.Int64, armed *atomic.Bool, opts ...weir.Option) *weir.Env {
		env := weir.New(append(opts, weir.DeadLetters(dlq), weir.Checkpoints(time.Millisecond, chk))...)
		src := weir.From(env, weir.Generator(weir.GeneratorSpec{}, func(seq int64) int64 { return seq })).ID("numbers")
		badAfter := 0
		weir.Collect(weir.TryMap(src, func(v int64) (int64, error) {
			seen.Store(v)
			if !bad(v) {
				return v, nil
			}
			if armed != nil && armed.Load() {
				if badAfter++; badAfter == 2 {
					panic("crash")
				}
			}
			return 0, fmt.Errorf("%d is bad", v)
		}).ID("parse").OnError(weir.DeadLetter))
		return env
	}

	// The first run is armed once its first checkpoint completes (so its
	// barrier has passed parse); no second checkpoint follows.
	var seen atomic.Int64
	var armed atomic.Bool
	env := build(&seen, &armed, weir.CheckpointMinPause(time.Hour),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { armed.Store(true) }))
	if err := env.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "panic: crash") {
		t.Fatalf("first run: %v, want the planted panic", err)
	}

	// The second run restores and stops with a savepoint after its first
	// checkpoint.
	stop := make(chan struct{})
	var once sync.Once
	env = build(&seen, nil, weir.Restore("latest"), weir.StopOn(stop),
		weir.OnCheckpoint(func(weir.CheckpointMetrics) { once.Do(func() { close(stop) }) }))
	if err := env.Run(context.Background()); err != nil {
		t.Fatalf("restored run: %v", err)
	}
	var want []int64
	for v := range seen.Load() + 1 {
		if bad(v) {
			want = append(want, v)
		}
	}
	if got := deadLetterSeqs(t, dlq); !slices.Equal(got, want) {
		t.Fatalf("%d dead letters, want %d (every bad number up to %d once); duplicated or lost: %v",
			len(got), len(want), seen.Load(), symmetricDiff(got, want))
	}
}

func symmetricDiff(a, b []int64) []int64 {
	n := map[int64]int{}
	for _, v := range a {
		n[v]++
	}
	for _, v := range b {
		n[v]--
	}
	var out []int64
	for v, c := range n {
		if c != 0 {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}

// A dead-letter directory that holds an earlier run's dead letters is
// refused, naming the file, unless the job restores or appends; a file
// where the directory should be is refused too.
func TestDeadLettersRefuseEarlierOutput(t *testing.T) {
	dir := t.TempDir()
	dlq := filepath.Join(dir, "dead")
	job := func(opts ...weir.Option) error {
		env := weir.New(append(opts, weir.DeadLetters(dlq), weir.OnError(weir.DeadLetter))...)
		weir.Collect(weir.TryMap(weir.From(env, weir.Slice("a", "1", "b")), func(s string) (int, error) {
			var n int
			_, err := fmt.Sscanf(s, "%d", &n)
			return n, err
		}))
		return env.Run(context.Background())
	}
	if err := job(); err != nil {
		t.Fatal(err)
	}
	if n := len(readDeadLetters(t, dlq)); n != 2 {
		t.Fatalf("%d dead letters after one run, want 2", n)
	}
	err := job()
	if err == nil || !strings.Contains(err.Error(), dlq) || !strings.Contains(err.Error(), "earlier run") {
		t.Fatalf("second run into the same directory: %v, want a refusal naming %s", err, dlq)
	}
	if n := len(readDeadLetters(t, dlq)); n != 2 {
		t.Fatalf("%d dead letters after a refused run, want 2", n)
	}
	// A killed run's hidden file is no output: it is removed.
	leftover := filepath.Join(dlq, ".part-0-0123456789abcdef-0.jsonl.inprogress")
	if err := os.WriteFile(leftover, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := job(weir.AppendDeadLetters()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a killed run's in-progress file: %v, want it removed", err)
	}
	if n := len(readDeadLetters(t, dlq)); n != 4 {
		t.Fatalf("%d dead letters after appending a run, want 4", n)
	}
	file := filepath.Join(dir, "dead.jsonl")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	dlq = file
	if err := job(); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Fatalf("dead letters into a file: %v, want an error saying the output is a directory", err)
	}
}

// textRecord is a record that is text, as a line of a file is.
type textRecord struct{ b []byte }

func (r textRecord) MarshalText() ([]byte, error) { return r.b, nil }

// A dead-lettered record that is text but not UTF-8 keeps its bytes, in
// base64, so that it can be replayed; UTF-8 text stays readable.
func TestDeadLetterKeepsInvalidUTF8(t *testing.T) {
	dlq := filepath.Join(t.TempDir(), "dead")
	records := []textRecord{{[]byte("caf\xe9 \xff")}, {[]byte("café")}}
	env := weir.New(weir.DeadLetters(dlq), weir.OnError(weir.DeadLetter))
	weir.Collect(weir.TryMap(weir.From(env, weir.Slice(records...)), func(textRecord) (int, error) {
		return 0, errors.New("no")
	}))
	run(t, env)
	got := map[string]bool{}
	for _, l := range readDeadLetters(t, dlq) {
		var d struct {
			Record       *string
			RecordBase64 string
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Record != nil && d.RecordBase64 == "":
			got[*d.Record] = true
		case d.Record == nil:
			b, err := base64.StdEncoding.DecodeString(d.RecordBase64)
			if err != nil {
				t.Fatalf("dead letter %s: %v", l, err)
			}
			got[string(b)] = true
		default:
			t.Fatalf("dead letter %s has both record and recordBase64", l)
		}
	}
	if len(got) != 2 || !got["caf\xe9 \xff"] || !got["café"] {
		t.Fatalf("dead-lettered records %v, want the original bytes of both", got)
	}
}

// A job with a dead-letter output that had no dead letters to commit can be
// restored into one without a dead-letter output.
func TestRestoreWithoutDeadLetterOutput(t *testing.T) {
	dir := t.TempDir()
	chk := filepath.Join(dir, "checkpoints")
	build := func(opts ...weir.Option) *weir.Env {
		env := weir.New(append(opts, weir.Checkpoints(time.Hour, chk))...)
		weir.Collect(weir.From(env, weir.Slice(1, 2, 3)).ID("numbers"))
		return env
	}
	run(t, build(weir.DeadLetters(filepath.Join(dir, "dead")), weir.OnError(weir.DeadLetter)))
	if err := build(weir.Restore("latest")).Run(context.Background()); err != nil {
		t.Fatalf("restore into a job without dead letters: %v", err)
	}
}
