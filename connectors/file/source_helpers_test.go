package file

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/format"
)

// compress returns b compressed with c (Uncompressed: as it is).
func compress(t *testing.T, c Compression, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch c {
	case Uncompressed, Auto:
		return b
	case Gzip:
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case Zstd:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zw.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// ext is the file extension Auto tells c by.
func ext(c Compression) string {
	switch c {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// writeFile writes content, compressed with c, to name the way a producer
// should: under a hidden name first, then renamed.
func writeFile(t *testing.T, name string, c Compression, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp")
	if err := os.WriteFile(tmp, compress(t, c, []byte(content)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// jsonLines returns the JSON lines of events from to n.
func jsonLines(from, to int) string {
	var b []byte
	for n := from; n < to; n++ {
		b = fmt.Appendf(b, "{\"n\":%d}\n", n)
	}
	return string(b)
}

// readAll runs a bounded job at parallelism p reading src and returns what
// it read, as sorted numbers, and the job's error.
func readAll(t *testing.T, src weir.Source[event], p int, opts ...weir.Option) ([]string, error) {
	t.Helper()
	env := weir.New(append([]weir.Option{weir.Parallelism(p)}, opts...)...)
	got := weir.Collect(weir.From(env, src).Name("files"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := env.Run(ctx)
	var out []string
	for _, e := range got.Values() {
		out = append(out, strconv.Itoa(e.N))
	}
	slices.Sort(out)
	return out, err
}

func jsonSource(t *testing.T, cfg SourceConfig) *Source[event] {
	t.Helper()
	s, err := JSONLinesSource(cfg, format.JSON[event]())
	if err != nil {
		t.Fatalf("JSONLinesSource: %v", err)
	}
	return s
}

// output is a weir.SourceOutput that keeps what a reader gives it.
type output struct {
	got     []string // "n@line"
	rejects []rejected
}

type rejected struct {
	raw  string
	line int64
	err  error
}

func (o *output) Emit(v event, line int64)                { o.got = append(o.got, fmt.Sprintf("%d@%d", v.N, line)) }
func (o *output) EmitAt(v event, _ time.Time, line int64) { o.Emit(v, line) }
func (o *output) Watermark(time.Time)                     {}
func (o *output) Idle()                                   {}
func (o *output) Reject(raw any, line int64, err error) {
	o.rejects = append(o.rejects, rejected{fmt.Sprint(raw), line, err})
}

// readSplit reads a split to its end, max records a Poll, reopening the
// reader at its position after every Poll when reopen is set. It fails the
// test on an error.
func readSplit(t *testing.T, s *Source[event], id string, max int, reopen bool) *output {
	t.Helper()
	o := &output{}
	if err := readSplitErr(s, id, max, reopen, o); err != nil {
		t.Fatal(err)
	}
	return o
}

func readSplitErr(s *Source[event], id string, max int, reopen bool, o *output) error {
	var pos []byte
	r, err := s.OpenSplit(context.Background(), weir.Split{ID: id}, nil)
	if err != nil {
		return err
	}
	for polls := 0; ; polls++ {
		if polls > 1e5 || len(o.got)+len(o.rejects) > 1e5 {
			r.Close()
			return fmt.Errorf("%s: no end after %d polls and %d records", id, polls, len(o.got)+len(o.rejects))
		}
		before := len(o.got) + len(o.rejects)
		st, err := r.Poll(o, max)
		if n := len(o.got) + len(o.rejects) - before; n > max {
			r.Close()
			return fmt.Errorf("%s: Poll(%d) gave %d records", id, max, n)
		}
		if err != nil {
			r.Close()
			return err
		}
		if st == weir.End {
			return r.Close()
		}
		if reopen {
			pos = bytes.Clone(r.Position())
			if err := r.Close(); err != nil {
				return err
			}
			if r, err = s.OpenSplit(context.Background(), weir.Split{ID: id}, pos); err != nil {
				return err
			}
		}
	}
}

// readSplitOut reads a split to its end and hands each record to fn.
func readSplitOut(s *Source[event], id string, fn func(event)) error {
	r, err := s.OpenSplit(context.Background(), weir.Split{ID: id}, nil)
	if err != nil {
		return err
	}
	defer r.Close()
	o := &funcOutput{fn: fn}
	for {
		st, err := r.Poll(o, 100)
		if err != nil || st == weir.End {
			return err
		}
	}
}

type funcOutput struct {
	output
	fn func(event)
}

func (o *funcOutput) Emit(v event, _ int64) { o.fn(v) }
