package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/pipeline"
)

// runUntil runs p with checkpoints into chk until done holds, then stops
// it with a savepoint.
func runUntil(t *testing.T, p *pipeline.Pipeline, chk string, restore bool, done func() bool, opts ...weir.Option) error {
	t.Helper()
	stop := make(chan struct{})
	opts = append(opts, weir.Checkpoints(20*time.Millisecond, chk), weir.StopOn(stop))
	if restore {
		opts = append(opts, weir.Restore("latest"))
	}
	env := weir.New(append(p.EnvOptions(), opts...)...)
	if _, err := p.Build(env); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- env.Run(context.Background()) }()
	deadline := time.After(time.Minute)
	for !done() {
		select {
		case err := <-ended:
			return err
		case <-deadline:
			close(stop)
			<-ended
			t.Fatal("after a minute, the job has not done what it should")
		case <-time.After(10 * time.Millisecond):
		}
	}
	close(stop)
	return <-ended
}

const evolvingV1 = `version: 1
inputs:
  nums:
    type: file
    path: ${env:IN}
    watch: true
    discovery_interval: 5ms
    schema: {n: int}
steps:
  - name: odd
    filter: n % 2 == 1
outputs:
  out: {type: file, path: "${env:OUT}"}
`

// Steps added and reordered keep the savepoint's state: the restored
// pipeline reads on from where the first stopped. A savepoint holding the
// state of an input the pipeline no longer has fails the restore naming
// it, unless its state may be dropped.
func TestPipelineEvolves(t *testing.T) {
	dir := t.TempDir()
	in, out, chk := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "chk")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, from, to int) {
		var b strings.Builder
		for i := from; i < to; i++ {
			b.WriteString(`{"n":` + itoa(i) + "}\n")
		}
		if err := os.WriteFile(filepath.Join(in, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"IN": in, "OUT": out}
	write("a.jsonl", 0, 1000)
	v1 := parse(t, evolvingV1, env)
	if err := runUntil(t, v1, chk, false, func() bool { return len(committed(t, out)) == 500 }); err != nil {
		t.Fatal(err)
	}

	// v2: a step before the filter, one after it, and the filter renamed
	// neither way: its ID is its name.
	v2src := strings.Replace(evolvingV1, `steps:
  - name: odd
    filter: n % 2 == 1`, `steps:
  - name: doubled
    map: {m: n * 2}
  - name: odd
    filter: n % 2 == 1
  - name: small
    project: {n: n}`, 1)
	write("b.jsonl", 1000, 2000)
	if err := runUntil(t, parse(t, v2src, env), chk, true, func() bool { return len(committed(t, out)) >= 1000 }); err != nil {
		t.Fatal(err)
	}
	got := committed(t, out)
	if len(got) != 1000 {
		t.Fatalf("%d records committed, want the 1000 odd numbers once each", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("%s committed twice", got[i])
		}
	}

	// v3 reads another input: the savepoint's "nums" has no operator.
	v3src := strings.ReplaceAll(v2src, "nums:", "numbers:")
	err := runUntil(t, parse(t, v3src, env), chk, true, func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "input/nums") {
		t.Fatalf("restore without the input: error %v, want it to name input/nums", err)
	}
	write("c.jsonl", 2000, 2010)
	if err := runUntil(t, parse(t, v3src, env), chk, true, func() bool { return len(committed(t, out)) >= 1005 }, weir.AllowNonRestoredState()); err != nil {
		t.Fatalf("restore dropping the input's state: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
