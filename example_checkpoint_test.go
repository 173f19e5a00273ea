package weir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weirstream/weir"
)

// countViews is a job counting the views of each title pushed on views,
// with stable IDs so that a savepoint of one run restores into the next.
func countViews(views <-chan string, out io.Writer, opts ...weir.Option) *weir.Env {
	env := weir.New(append([]weir.Option{weir.Parallelism(1)}, opts...)...)
	titles := weir.FromChannel(env, views).ID("views")
	counts := weir.Process(weir.KeyBy(titles, func(t string) string { return t }), &titleViews{}).ID("count")
	weir.To(counts, weir.Print[string](out, nil)).ID("print")
	return env
}

// titleViews counts each title's views in keyed state.
type titleViews struct{ n weir.ValueState[string, int] }

func (f *titleViews) Open(c weir.KeyedOpenContext[string]) error {
	f.n = weir.Value[int](c, "views")
	return nil
}

func (f *titleViews) Process(c weir.KeyedContext[string], title string, out weir.Out[string]) error {
	n, _, err := f.n.Get(c)
	if err != nil {
		return err
	}
	n++
	out.Emit(title + ": view " + strconv.Itoa(n))
	return f.n.Set(c, n)
}

// A job stops with a savepoint when its StopOn channel is closed (a
// program closes it on SIGINT, say); the next run restores it with
// Restore("latest") and goes on counting where it stopped.
func ExampleStopOn() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	views := make(chan string)
	out := signalWriter{lines: make(chan string, 3)}
	stop := make(chan struct{})
	env := countViews(views, out, weir.Checkpoints(time.Minute, dir), weir.StopOn(stop))
	done := make(chan error, 1)
	go func() { done <- env.Run(context.Background()) }()
	for _, v := range []string{"Heat", "Up", "Heat"} {
		views <- v
		<-out.lines // its count is out: it is in the savepoint's state
	}
	close(stop)
	if err := <-done; err != nil {
		fmt.Println(err)
		return
	}
	sp := env.JobMetrics().Stopped
	fmt.Printf("stopped with a %s in %s\n", sp.Kind(), filepath.Base(sp.Path))

	views = make(chan string, 1)
	views <- "Heat"
	close(views)
	env = countViews(views, os.Stdout, weir.Checkpoints(time.Minute, dir), weir.Restore("latest"))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored", filepath.Base(env.JobMetrics().Restored.Path))
	// Output:
	// Heat: view 1
	// Up: view 1
	// Heat: view 2
	// stopped with a savepoint in sp-0000000000000000001
	// Heat: view 3
	// restored sp-0000000000000000001
}

// A bounded job with checkpoints takes one every interval and a final one
// when its input ends; the checkpoint directory keeps the last few
// (RetainCheckpoints) as chk-<id>, each a directory that Restore takes.
func ExampleCheckpoints() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	env := weir.New(weir.Checkpoints(time.Minute, dir),
		weir.OnCheckpoint(func(m weir.CheckpointMetrics) {
			fmt.Printf("%s %d completed, final: %v\n", m.Kind(), m.ID, m.Final)
		}))
	weir.To(weir.Map(weir.From(env, weir.Slice(1, 2, 3)), func(n int) int { return n * n }), weir.Stdout[int](nil))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Println(e.Name())
	}
	// Output:
	// 1
	// 4
	// 9
	// checkpoint 1 completed, final: true
	// chk-0000000000000000001
}

// A record that fails goes to the dead-letter output instead of failing
// the job: what `--on-error dead-letter --dead-letters DIR` does on the
// command line. Dead letters are JSON lines in part files; hidden files
// (names starting with a dot) are not committed yet and are skipped.
func ExampleDeadLetters() {
	dir, err := os.MkdirTemp("", "dead")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	env := weir.New(weir.OnError(weir.DeadLetter), weir.DeadLetters(dir))
	lines := weir.From(env, weir.Slice("12", "twelve", "7"))
	numbers := weir.TryMap(lines, strconv.Atoi).Name("parse")
	weir.To(numbers, weir.Stdout[int](nil))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "part-*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Println(err)
			return
		}
		var dl struct {
			Operator string `json:"operator"`
			Offset   int64  `json:"offset"`
			Error    string `json:"error"`
			Record   string `json:"record"`
		}
		for line := range bytes.Lines(b) {
			if err := json.Unmarshal(line, &dl); err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("dead letter: %q at offset %d of %s: %s\n", dl.Record, dl.Offset, dl.Operator, dl.Error)
		}
	}
	// Output:
	// 12
	// 7
	// dead letter: "twelve" at offset 1 of parse: strconv.Atoi: parsing "twelve": invalid syntax
}

// A job with Restarts restores its latest checkpoint when it fails and
// runs again. This one fails before its first checkpoint, so it starts
// over, and the stdout sink, which is not two-phase, prints "a" twice
// (at-least-once); an exactly-once sink would not have committed it.
func ExampleRestarts() {
	dir, err := os.MkdirTemp("", "checkpoints")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	failed := false // the first run fails at "b"; the restarted one does not
	env := weir.New(weir.Parallelism(1), weir.Checkpoints(time.Minute, dir),
		weir.Restarts(weir.RestartStrategy{MaxAttempts: 3, InitialBackoff: time.Millisecond, Jitter: -1}),
		weir.OnRestart(func(r weir.Restart) {
			fmt.Printf("restart %d from %q after: %v\n", r.Attempt, r.From, errors.Unwrap(r.Cause))
		}))
	letters := weir.TryMap(weir.From(env, weir.Slice("a", "b", "c")), func(s string) (string, error) {
		if s == "b" && !failed {
			failed = true
			return "", errors.New("the service is down")
		}
		return s, nil
	})
	weir.To(letters, weir.Stdout[string](nil))
	if err := env.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// a
	// restart 1 from "" after: the service is down
	// a
	// b
	// c
}
