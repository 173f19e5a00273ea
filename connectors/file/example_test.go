package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
)

// Order is an example record.
type Order struct {
	ID     int    `json:"id"`
	Region string `json:"region"`
}

// The runtime drives a writer this way; here it is by hand.
func Example() {
	dir, err := os.MkdirTemp("", "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	sink, err := file.New(file.Config[Order]{
		Dir:       dir,
		Format:    file.JSONLines[Order](),
		Ext:       ".jsonl",
		Partition: func(o Order) string { return "region=" + o.Region },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := sink.OpenWriter(weir.SinkInfo{Subtask: 0, Parallelism: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()

	show := func(when string) {
		fmt.Println(when + ":")
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			rel = strings.ReplaceAll(filepath.ToSlash(rel), sink.Attempt(), "<attempt>")
			b, _ := os.ReadFile(p)
			fmt.Printf("  %s %s", rel, b)
			return nil
		})
	}

	for _, o := range []Order{{1, "eu"}, {2, "us"}} {
		if err := w.Write(o); err != nil {
			fmt.Println(err)
			return
		}
	}
	committable, err := w.Prepare(1) // at checkpoint 1's barrier
	if err != nil {
		fmt.Println(err)
		return
	}
	show("prepared")
	// When checkpoint 1 has completed:
	if err := w.Commit(context.Background(), [][]byte{committable}); err != nil {
		fmt.Println(err)
		return
	}
	show("committed")
	// Output:
	// prepared:
	//   region=eu/.part-0-<attempt>-0.jsonl.pending {"id":1,"region":"eu"}
	//   region=us/.part-0-<attempt>-1.jsonl.pending {"id":2,"region":"us"}
	// committed:
	//   region=eu/part-0-<attempt>-0.jsonl {"id":1,"region":"eu"}
	//   region=us/part-0-<attempt>-1.jsonl {"id":2,"region":"us"}
}
