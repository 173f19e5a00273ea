package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/connectors/file"
)

// showFiles prints the names of the files under dir, the sink's attempt
// ID written as <attempt>, and with contents their contents.
func showFiles(dir, attempt string, contents bool) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = strings.ReplaceAll(filepath.ToSlash(rel), attempt, "<attempt>")
		if !contents {
			fmt.Println(" ", rel)
			return nil
		}
		b, _ := os.ReadFile(p)
		fmt.Printf("  %s %q\n", rel, b)
		return nil
	})
}

// In a job with checkpoints, output becomes visible when the checkpoint
// that covers it completes; a bounded job's final checkpoint, taken when
// its input ends, commits the rest. Until then the records are in hidden
// files, which readers skip.
func Example_job() {
	dir, err := os.MkdirTemp("", "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	sink, err := file.New(file.Config[Order]{Dir: filepath.Join(dir, "out"), Format: file.JSONLines[Order](), Ext: ".jsonl"})
	if err != nil {
		fmt.Println(err)
		return
	}
	env := weir.New(weir.Parallelism(1), weir.Checkpoints(time.Minute, filepath.Join(dir, "checkpoints")))
	orders := weir.From(env, weir.Slice(Order{1, "eu"}, Order{2, "us"}))
	weir.To(weir.Map(orders, func(o Order) Order {
		if o.ID == 2 {
			fmt.Println("while the job runs:") // the file is buffered
			showFiles(filepath.Join(dir, "out"), sink.Attempt(), false)
		}
		return o
	}), sink)
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after the final checkpoint:")
	showFiles(filepath.Join(dir, "out"), sink.Attempt(), true)
	// Output:
	// while the job runs:
	//   .part-0-<attempt>-0.jsonl.inprogress
	// after the final checkpoint:
	//   part-0-<attempt>-0.jsonl "{\"id\":1,\"region\":\"eu\"}\n{\"id\":2,\"region\":\"us\"}\n"
}

// Without checkpoints nothing can be replayed, so each sink subtask
// commits everything it wrote when its input ends: a bounded job's output
// appears then, all at once. A job that fails, or is canceled, before its
// input ends leaves no visible output: its writers delete their files
// when they close.
func Example_withoutCheckpoints() {
	dir, err := os.MkdirTemp("", "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	for _, fail := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprint("fail-", fail))
		sink, err := file.New(file.Config[Order]{Dir: out, Format: file.JSONLines[Order](), Ext: ".jsonl"})
		if err != nil {
			fmt.Println(err)
			return
		}
		env := weir.New(weir.Parallelism(1))
		orders := weir.From(env, weir.Slice(Order{1, "eu"}, Order{2, "us"}))
		weir.To(weir.TryMap(orders, func(o Order) (Order, error) {
			if fail && o.ID == 2 {
				return o, fmt.Errorf("order %d: no such region", o.ID)
			}
			return o, nil
		}), sink)
		fmt.Println("job ends with error:", env.Run(context.Background()) != nil)
		showFiles(out, sink.Attempt(), true)
	}
	// Output:
	// job ends with error: false
	//   part-0-<attempt>-0.jsonl "{\"id\":1,\"region\":\"eu\"}\n{\"id\":2,\"region\":\"us\"}\n"
	// job ends with error: true
}
