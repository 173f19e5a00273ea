package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/weirstream/weir"
)

// TestResult is the outcome of one test case of a pipeline file.
type TestResult struct {
	Name string
	Pos  Pos
	// Err is nil when the outputs received exactly the expected records;
	// else it lists what was missing and what was not expected.
	Err error
}

// Test runs the pipeline's test cases, each in-process on its own job: the
// case's records replace the inputs, and what reaches each output is
// compared with the case's expectation, as JSON and in any order. An
// output the case does not name is not checked. Dead letters go to a
// temporary directory, removed afterwards.
func (p *Pipeline) Test(ctx context.Context) []TestResult {
	var out []TestResult
	for _, t := range p.Tests {
		out = append(out, TestResult{Name: t.Name, Pos: t.Pos, Err: p.runTest(ctx, t)})
	}
	return out
}

func (p *Pipeline) runTest(ctx context.Context, t *TestCase) error {
	opts := []weir.Option{weir.Parallelism(1)}
	if p.OnError != weir.FailJob {
		opts = append(opts, weir.OnError(p.OnError))
	}
	if p.DeadLetter != nil {
		dir, err := os.MkdirTemp("", "weir-pipeline-test-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		opts = append(opts, weir.DeadLetters(dir))
	}
	env := weir.New(opts...)
	b := &builder{p: p, env: env, job: &Job{env: env}, test: t.Input, stdout: io.Discard}
	defer b.job.Close()
	if err := b.build(); err != nil {
		return err
	}
	if err := env.Run(ctx); err != nil {
		return fmt.Errorf("the job failed: %w", err)
	}
	var problems []string
	for _, name := range t.expectOrder {
		got, err := canonical(b.job.collected[name].Values())
		if err != nil {
			return fmt.Errorf("output %q: %w", name, err)
		}
		want, err := canonical(t.Expect[name])
		if err != nil {
			return fmt.Errorf("expect %q: %w", name, err)
		}
		missing, extra := diff(want, got)
		for _, m := range missing {
			problems = append(problems, fmt.Sprintf("output %q: missing %s", name, m))
		}
		for _, x := range extra {
			problems = append(problems, fmt.Sprintf("output %q: unexpected %s", name, x))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

// canonical encodes each value as JSON with sorted keys, sorted.
func canonical[T any](vs []T) ([]string, error) {
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out, nil
}

// diff returns what is in want and not in got, and the other way round,
// of two sorted lists, counting repeats.
func diff(want, got []string) (missing, extra []string) {
	i, j := 0, 0
	for i < len(want) || j < len(got) {
		switch {
		case j == len(got) || i < len(want) && want[i] < got[j]:
			missing = append(missing, want[i])
			i++
		case i == len(want) || got[j] < want[i]:
			extra = append(extra, got[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}
