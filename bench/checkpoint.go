package bench

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weirstream/weir"
)

// KeyedCountCheckpointed is KeyedCount with a checkpoint every interval
// into dir (none when interval is zero). It also returns how long each
// checkpoint took, trigger to completion.
func KeyedCountCheckpointed(n int64, p int, interval time.Duration, dir string) (Result, Totals, []time.Duration, error) {
	opts := []weir.Option{weir.Parallelism(p)}
	var (
		mu   sync.Mutex
		took []time.Duration
	)
	if interval > 0 {
		opts = append(opts, weir.Checkpoints(interval, dir), weir.OnCheckpoint(func(c weir.CheckpointMetrics) {
			d := c.Duration
			mu.Lock()
			took = append(took, d)
			mu.Unlock()
		}))
	}
	env := weir.New(opts...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: n, Splits: p}, Gen)).ID("gen")
	counts := weir.Process(weir.KeyBy(src, keyOf), &counter{}).ID("count")
	sink := newTotalSink()
	weir.To(counts, weir.Sink[Event](sink)).ID("sink")
	r, err := measure(n, func() error { return env.Run(context.Background()) })
	return r, *sink.total, took, err
}

// Payload is the value of the recovery benchmark's keyed state: about a
// hundred bytes once encoded.
type Payload struct {
	Seq  int64
	Name string
	Pad  [64]byte
}

// latest keeps each key's latest payload.
type latest struct {
	v weir.ValueState[int64, Payload]
}

func (l *latest) Open(c weir.KeyedOpenContext[int64]) error {
	l.v = weir.Value[Payload](c, "latest")
	return nil
}

func (l *latest) Process(c weir.KeyedContext[int64], seq int64, _ weir.Out[int64]) error {
	return l.v.Set(c, Payload{Seq: seq, Name: "payload"})
}

func stateJob(keys int64, p int, opts ...weir.Option) *weir.Env {
	env := weir.New(append([]weir.Option{weir.Parallelism(p)}, opts...)...)
	src := weir.From(env, weir.Generator(weir.GeneratorSpec{Count: keys, Splits: p}, func(seq int64) int64 { return seq })).ID("gen")
	weir.To(weir.Process(weir.KeyBy(src, func(v int64) int64 { return v }), &latest{}).ID("latest"),
		weir.Print[int64](discardWriter{}, nil)).ID("sink")
	return env
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BuildState runs a job that leaves one Payload per key for keys keys in
// its final checkpoint in dir, and returns the checkpoint's state size in
// bytes.
func BuildState(keys int64, p int, dir string) (int64, error) {
	if err := stateJob(keys, p, weir.Checkpoints(time.Hour, dir)).Run(context.Background()); err != nil {
		return 0, err
	}
	var size int64
	files, _ := filepath.Glob(filepath.Join(dir, "chk-*", "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && filepath.Base(f) != "_metadata" {
			size += fi.Size()
		}
	}
	return size, nil
}

// Recover restores the state BuildState left into a job without
// checkpoints (so nothing is written back) and returns how long the job took
// from Run to its end: reading the checkpoint and rebuilding every key's
// state, with no input left to read.
func Recover(keys int64, p int, dir string) (time.Duration, error) {
	chk, _ := filepath.Glob(filepath.Join(dir, "chk-*"))
	if len(chk) == 0 {
		return 0, os.ErrNotExist
	}
	start := time.Now()
	err := stateJob(keys, p, weir.Restore(chk[len(chk)-1])).Run(context.Background())
	return time.Since(start), err
}
