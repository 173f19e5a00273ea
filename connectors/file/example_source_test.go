package file_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
	"github.com/weirstream/weir/connectors/format"
)

// Sale is a record read from JSON lines and CSV and written to Parquet.
type Sale struct {
	ID     int     `json:"id" csv:"id" parquet:"id"`
	Region string  `json:"region" csv:"region" parquet:"region"`
	Amount float64 `json:"amount" csv:"amount" parquet:"amount"`
}

// A job reads sales from gzipped JSON lines and from CSV files with a header
// row, and writes them to Parquet part files, exactly once. The line that
// does not decode goes to the dead letters with its file and line.
func Example_sources() {
	dir, err := os.MkdirTemp("", "sales")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in")
	_ = os.MkdirAll(in, 0o755)
	gz, _ := os.Create(filepath.Join(in, "2026-01-01.jsonl.gz"))
	zw := gzip.NewWriter(gz)
	fmt.Fprint(zw, `{"id":1,"region":"eu","amount":9.5}`+"\n"+`{"id":2,"region":"us","amount":"n/a"}`+"\n")
	zw.Close()
	gz.Close()
	// Columns in any order, and more than the format has.
	_ = os.WriteFile(filepath.Join(in, "2026-01-02.csv"), []byte("region,id,amount,note\nus,3,12,\"late, paid\"\n"), 0o644)

	jsonl, err := file.JSONLinesSource(file.SourceConfig{Paths: []string{filepath.Join(in, "*.jsonl.gz")}}, format.JSON[Sale]())
	if err != nil {
		fmt.Println(err)
		return
	}
	csvFormat, err := format.CSV[Sale](format.CSVConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	csv, err := file.CSVSource(file.SourceConfig{Paths: []string{filepath.Join(in, "*.csv")}}, csvFormat)
	if err != nil {
		fmt.Println(err)
		return
	}
	pq, err := file.Parquet[Sale]()
	if err != nil {
		fmt.Println(err)
		return
	}
	out := filepath.Join(dir, "out")
	sink, err := file.New(file.Config[Sale]{Dir: out, Encoding: pq, Ext: ".parquet"})
	if err != nil {
		fmt.Println(err)
		return
	}

	env := weir.New(weir.Checkpoints(time.Minute, filepath.Join(dir, "checkpoints")),
		weir.OnError(weir.DeadLetter), weir.DeadLetters(filepath.Join(dir, "dead")))
	sales := weir.Union(weir.From(env, jsonl), weir.From(env, csv))
	weir.To(sales, sink)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	files, _ := filepath.Glob(filepath.Join(out, "part-*.parquet"))
	var rows []Sale
	for _, f := range files {
		r, err := parquet.ReadFile[Sale](f)
		if err != nil {
			fmt.Println(err)
			return
		}
		rows = append(rows, r...)
	}
	slices.SortFunc(rows, func(a, b Sale) int { return a.ID - b.ID })
	fmt.Println(rows)
	dead, _ := filepath.Glob(filepath.Join(dir, "dead", "part-*"))
	for _, f := range dead {
		b, _ := os.ReadFile(f)
		var l struct {
			Split  string `json:"split"`
			Line   int    `json:"line"`
			Record string `json:"record"`
		}
		_ = json.Unmarshal(b, &l)
		fmt.Printf("dead letter: %s line %d: %s\n", filepath.Base(l.Split), l.Line, l.Record)
	}
	// Output:
	// [{1 eu 9.5} {3 us 12}]
	// dead letter: 2026-01-01.jsonl.gz line 2: {"id":2,"region":"us","amount":"n/a"}
}
