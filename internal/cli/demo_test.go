package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/demo"
)

func TestDemoHelp(t *testing.T) {
	out, _, err := execute(t, "demo", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--duration", "--rate", "--views", "--block-size", "--parallelism"} {
		if !strings.Contains(out, flag) {
			t.Errorf("weir demo --help does not mention %s:\n%s", flag, out)
		}
	}
}

func TestDemoPrintsBlocks(t *testing.T) {
	stdout, stderr, err := execute(t, "demo", "--views", "2000", "--rate", "0", "--duration", "0", "--parallelism", "1")
	if err != nil {
		t.Fatalf("weir demo: %v\nstderr:\n%s", err, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	// 2000 views over 12 titles make at least 5 blocks of the most popular
	// title alone.
	if len(lines) < 5 {
		t.Fatalf("weir demo printed %d lines, want blocks:\n%s", len(lines), stdout)
	}
	for _, l := range lines {
		if !strings.Contains(l, "views=100 ") || !strings.Contains(l, "network=") {
			t.Errorf("line %q is not a block of 100 views", l)
		}
	}
	wantErr := []string{
		"weir demo: video-quality job, views as fast as possible, 2000 views in all, blocks of 100 views per title, parallelism 1, until all views are processed (Ctrl-C stops)\n",
		"weir demo: stopped after ",
	}
	for _, w := range wantErr {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr\n%s\nlacks %q", stderr, w)
		}
	}
	if !strings.HasSuffix(stderr, ", "+strconv.Itoa(len(lines))+" blocks printed\n") {
		t.Errorf("stderr\n%s\ndoes not count the %d blocks printed", stderr, len(lines))
	}
}

func TestDemoRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--block-size", "0"}, "--block-size"},
		{[]string{"--parallelism", "-1"}, "--parallelism"},
		{[]string{"--rate", "-5"}, "--rate"},
		{[]string{"--views", "-1"}, "--views"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--duration", "soon"}, "--duration"},
		{[]string{"--block-size", "many"}, "--block-size"},
		{[]string{"extra"}, "unknown command"},
	} {
		stdout, _, err := execute(t, append([]string{"demo"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("weir demo %v: err = %v, want one naming %s", tc.args, err, tc.want)
		}
		if stdout != "" {
			t.Errorf("weir demo %v printed %q before failing", tc.args, stdout)
		}
	}
}

// Ctrl-C cancels the command's context; for the demo that is a normal end.
func TestDemoStopsCleanlyWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := demo.DefaultOptions()
	o.Duration, o.Views, o.Rate = 0, 0, 0 // unbounded: only cancellation ends it
	// Cancel once the job is running and has printed a block.
	stdout := &cancelOnWrite{cancel: cancel}
	var stderr strings.Builder
	if err := runDemo(ctx, stdout, &stderr, o); err != nil {
		t.Fatalf("canceled demo returned %v, want nil", err)
	}
	if !strings.Contains(stdout.String(), "views=100 ") {
		t.Errorf("stdout %q has no block", stdout.String())
	}
	if !strings.Contains(stderr.String(), "weir demo: stopped after ") {
		t.Errorf("stderr %q lacks the stop line", stderr.String())
	}
}

type cancelOnWrite struct {
	strings.Builder
	cancel context.CancelFunc
}

func (w *cancelOnWrite) Write(p []byte) (int, error) {
	w.cancel()
	return w.Builder.Write(p)
}
