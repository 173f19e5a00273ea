package pipeline_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// ordersPipeline: file → filter → project → route → two file outputs.
const ordersPipeline = `version: 1
inputs:
  orders:
    type: file
    path: ${env:IN}
    watch: WATCH
    discovery_interval: 5ms
    schema: {id: int, kind: string, amount: float, user: string}
steps:
  - name: positive
    filter: amount > 0
  - name: slim
    project:
      id: id
      kind: kind
      cents: int(amount * 100)
      who: upper(user)
  - name: split
    route:
      cases:
        - when: kind == "book"
          to: books
        - when: kind == "music"
          to: music
          project: {id: id, cents: cents}
outputs:
  books: {type: file, path: "${env:OUT}/books"}
  music: {type: file, path: "${env:OUT}/music"}
`

func parse(t *testing.T, src string, env map[string]string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.Parse("orders.yaml", []byte(src), pipeline.Options{LookupEnv: func(n string) (string, bool) {
		v, ok := env[n]
		return v, ok
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeOrders writes n orders, numbered from first, as a JSON-lines file.
func writeOrders(t *testing.T, path string, first, n int) {
	t.Helper()
	var b strings.Builder
	kinds := []string{"book", "music", "film"}
	for i := first; i < first+n; i++ {
		// Every seventh order has no amount worth keeping.
		amount := float64(i%50) + 0.25
		if i%7 == 0 {
			amount = 0
		}
		fmt.Fprintf(&b, `{"id":%d,"kind":%q,"amount":%v,"user":"u%d"}`+"\n", i, kinds[i%3], amount, i%13)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// committed returns the lines of the visible part files under dir, sorted.
func committed(t *testing.T, dir string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(lines)
	return lines
}

func run(t *testing.T, p *pipeline.Pipeline, opts ...weir.Option) {
	t.Helper()
	env := weir.New(append(p.EnvOptions(), opts...)...)
	if _, err := p.Build(env); err != nil {
		t.Fatal(err)
	}
	if err := env.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The orders pipeline stopped with a savepoint after its first file and
// restored from it, at another parallelism, to read a second one, writes
// exactly what one uninterrupted run over both files writes.
func TestPipelineRestoresFromSavepoint(t *testing.T) {
	dir := t.TempDir()
	in, out, chk := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "chk")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	writeOrders(t, filepath.Join(in, "000.jsonl"), 0, 3000)

	// The uninterrupted run reads both files at once.
	once, onceIn := filepath.Join(dir, "once"), filepath.Join(dir, "once-in")
	if err := os.MkdirAll(onceIn, 0o755); err != nil {
		t.Fatal(err)
	}
	writeOrders(t, filepath.Join(onceIn, "000.jsonl"), 0, 3000)
	writeOrders(t, filepath.Join(onceIn, "001.jsonl"), 3000, 2000)
	run(t, parse(t, strings.Replace(ordersPipeline, "WATCH", "false", 1), map[string]string{"IN": onceIn, "OUT": once}), weir.Parallelism(2))
	wantBooks, wantMusic := committed(t, filepath.Join(once, "books")), committed(t, filepath.Join(once, "music"))
	// 5000 orders, a third of each kind, a seventh of them dropped.
	if len(wantBooks) < 1400 || len(wantMusic) < 1400 {
		t.Fatalf("the uninterrupted run wrote %d books and %d music", len(wantBooks), len(wantMusic))
	}
	if !strings.Contains(wantBooks[0], `"who":"U`) || strings.Contains(wantMusic[0], "who") {
		t.Fatalf("projections: book %s, music %s", wantBooks[0], wantMusic[0])
	}

	p := parse(t, strings.Replace(ordersPipeline, "WATCH", "true", 1), map[string]string{"IN": in, "OUT": out})
	phase := func(restore bool, parallelism, books int) {
		t.Helper()
		stop := make(chan struct{})
		opts := []weir.Option{weir.Parallelism(parallelism), weir.Checkpoints(20*time.Millisecond, chk), weir.StopOn(stop)}
		if restore {
			opts = append(opts, weir.Restore("latest"))
		}
		env := weir.New(append(p.EnvOptions(), opts...)...)
		if _, err := p.Build(env); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- env.Run(context.Background()) }()
		deadline := time.After(time.Minute)
		for len(committed(t, filepath.Join(out, "books"))) < books {
			select {
			case err := <-done:
				t.Fatalf("the job ended early: %v", err)
			case <-deadline:
				t.Fatalf("after a minute, %d of %d books", len(committed(t, filepath.Join(out, "books"))), books)
			case <-time.After(10 * time.Millisecond):
			}
		}
		close(stop) // a savepoint, then the end
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	firstBooks := 0
	for _, l := range wantBooks {
		var id int
		fmt.Sscanf(l[strings.Index(l, `"id":`)+5:], "%d", &id)
		if id < 3000 {
			firstBooks++
		}
	}
	phase(false, 2, firstBooks)
	writeOrders(t, filepath.Join(in, "001.jsonl"), 3000, 2000)
	phase(true, 3, len(wantBooks))

	if got := committed(t, filepath.Join(out, "books")); !slices.Equal(got, wantBooks) {
		t.Errorf("books: %d lines, want %d as the uninterrupted run", len(got), len(wantBooks))
	}
	if got := committed(t, filepath.Join(out, "music")); !slices.Equal(got, wantMusic) {
		t.Errorf("music: %d lines, want %d as the uninterrupted run", len(got), len(wantMusic))
	}
}

// A generator input computes each record's fields from its sequence
// number, with their types inferred for the steps' expressions.
func TestPipelineGenerator(t *testing.T) {
	const src = `version: 1
inputs:
  gen:
    type: generator
    count: 100
    splits: 2
    fields: {n: seq, kind: '["a", "b"][seq % 2]', ts: seq * 1000}
    event_time: {field: ts, max_out_of_orderness: 1s}
steps:
  - name: as
    filter: kind == "a" && n < 10
outputs:
  out: {type: stdout}
`
	p := parse(t, src, nil)
	var out strings.Builder
	env := weir.New(weir.Parallelism(1))
	if _, err := p.Build(env, pipeline.Stdout(&out)); err != nil {
		t.Fatal(err)
	}
	if err := env.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	slices.Sort(lines)
	want := []string{}
	for _, n := range []int{0, 2, 4, 6, 8} {
		want = append(want, fmt.Sprintf(`{"kind":"a","n":%d,"ts":%d}`, n, n*1000))
	}
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, err := pipeline.Parse("g.yaml", []byte(strings.Replace(src, `kind == "a"`, `kind == 1`, 1)), pipeline.Options{}); err == nil ||
		!strings.Contains(err.Error(), "g.yaml:11:18: step \"as\": filter: invalid operation: == (mismatched types string and int)") {
		t.Errorf("a string compared with an int: error %v", err)
	}
}

// An expression that fails on a record (a null in arithmetic) meets its
// step's on_error: dead-lettered with the cause in one step, skipped in
// another, while the pipeline's own policy fails the job.
func TestPipelineStepErrorPolicies(t *testing.T) {
	const src = `version: 1
inputs:
  nums:
    type: file
    path: ${env:IN}
    schema: {n: int, d: int}
steps:
  - name: ratio
    on_error: dead-letter
    map: {r: n / d}
  - name: big
    on_error: skip
    filter: n % (d - 1) == 0 && r > 4
outputs:
  out: {type: file, path: "${env:OUT}"}
dead_letter:
  path: ${env:DEAD}
`
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	lines := `{"n":10,"d":2}` + "\n" + `{"n":10}` + "\n" + `{"n":1,"d":1}` + "\n" + `{"n":9,"d":3}` + "\n"
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"IN": in, "OUT": filepath.Join(dir, "out"), "DEAD": filepath.Join(dir, "dead")}
	p := parse(t, src, env)
	e := weir.New(p.EnvOptions()...)
	if _, err := p.Build(e); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, env["OUT"]); !slices.Equal(got, []string{`{"d":2,"n":10,"r":5}`}) {
		t.Errorf("output %q", got)
	}
	dead := committed(t, env["DEAD"])
	if len(dead) != 1 || !strings.Contains(dead[0], `ratio`) || !strings.Contains(dead[0], `n / d`) {
		t.Errorf("dead letters %q, want the record without d, naming the step and the expression", dead)
	}
	var skipped, filtered int64
	for _, m := range e.Metrics() {
		skipped += m.Skipped
		filtered += m.Filtered
	}
	// 1 % 0 fails in "big" and is skipped; 9 % 2 is not 0: filtered.
	if skipped != 1 || filtered != 1 {
		t.Errorf("skipped %d, filtered %d; want 1 and 1", skipped, filtered)
	}
}
