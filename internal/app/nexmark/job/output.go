package job

import (
	"context"
	"sync/atomic"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
)

// output says where a query's rows go: nowhere but a count (benchmarks, as
// Flink's blackhole sink), into memory (tests) or into files through the
// exactly-once file sink.
type output struct {
	dir     string // files under dir; "" with collect unset: discard
	collect bool
	rows    atomic.Int64
	// lines returns the collected rows, each a JSON object, once the job
	// has run (collect only).
	lines func() []string
	err   error
}

func attach[T any](c *Context, s weir.Stream[T], enc Encoder[T], cfg emitConfig[T]) {
	o := c.out
	switch {
	case o.collect:
		col := weir.Collect(weir.Map(s, func(v T) string { return string(enc(nil, v)) }).Name("encode"))
		o.lines = col.Values
	case o.dir != "":
		sink, err := file.New(file.Config[T]{
			Dir:       o.dir,
			Format:    func(v T) ([]byte, error) { o.rows.Add(1); return enc(nil, v), nil },
			Ext:       ".jsonl",
			Partition: cfg.partition,
		})
		if err != nil {
			o.err = err
			return
		}
		weir.To(s, sink).Name("result").ID("nexmark-result")
	default:
		weir.To[T](s, discard[T]{rows: &o.rows}).Name("result").ID("nexmark-result")
	}
}

// discard is a sink that counts rows and keeps none.
type discard[T any] struct{ rows *atomic.Int64 }

func (d discard[T]) Open(context.Context, weir.SinkInfo) (weir.SinkWriter[T], error) {
	return &discardWriter[T]{rows: d.rows}, nil
}

type discardWriter[T any] struct {
	rows *atomic.Int64
	n    int64
}

func (w *discardWriter[T]) Write(T) error {
	w.n++
	if w.n&1023 == 0 {
		w.rows.Add(1024)
		w.n = 0
	}
	return nil
}

// Flush publishes the count at every checkpoint.
func (w *discardWriter[T]) Flush() error {
	w.rows.Add(w.n)
	w.n = 0
	return nil
}

func (w *discardWriter[T]) Close() error { return w.Flush() }
