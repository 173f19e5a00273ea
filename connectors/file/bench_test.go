package file

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirstream/weir"
)

// BenchmarkSource reads a file of 100,000 records through a reader, as a
// task polls it, for each format and compression.
func BenchmarkSource(b *testing.B) {
	const n = 100_000
	var jl, cs strings.Builder
	cs.WriteString("n,user\n")
	for i := range n {
		fmt.Fprintf(&jl, "{\"n\":%d,\"user\":\"user-%d\"}\n", i, i%100)
		fmt.Fprintf(&cs, "%d,user-%d\n", i, i%100)
	}
	t := &testing.T{}
	for _, format := range []string{"jsonl", "csv"} {
		for _, c := range []Compression{Uncompressed, Gzip, Zstd} {
			b.Run(format+"/"+c.String(), func(b *testing.B) {
				content, open := jl.String(), jsonSource
				if format == "csv" {
					content, open = cs.String(), csvSource
				}
				name := filepath.Join(b.TempDir(), "a."+format+ext(c))
				writeFile(t, name, c, content)
				s := open(t, SourceConfig{Paths: []string{name}})
				b.SetBytes(int64(len(content)))
				b.ResetTimer()
				for range b.N {
					r, err := s.OpenSplit(context.Background(), weir.Split{ID: name}, nil)
					if err != nil {
						b.Fatal(err)
					}
					o := &countOutput{}
					for st := weir.More; st != weir.End; {
						if st, err = r.Poll(o, 256); err != nil {
							b.Fatal(err)
						}
					}
					r.Close()
					if o.n != n {
						b.Fatalf("read %d records, want %d", o.n, n)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
			})
		}
	}
}

// countOutput counts the records a reader emits.
type countOutput struct {
	output
	n int
}

func (o *countOutput) Emit(event, int64) { o.n++ }
