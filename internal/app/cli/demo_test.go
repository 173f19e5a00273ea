package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/demo"
)

func TestDemoHelp(t *testing.T) {
	out, _, err := execute(t, "demo", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--duration", "--rate", "--views", "--block-size", "--parallelism",
		"--checkpoints", "--checkpoint-interval", "--restore", "--allow-non-restored-state"} {
		if !strings.Contains(out, flag) {
			t.Errorf("weir demo --help does not mention %s:\n%s", flag, out)
		}
	}
}

func TestDemoPrintsBlocks(t *testing.T) {
	stdout, stderr, err := execute(t, "demo", "--no-server", "--views", "2000", "--rate", "0", "--duration", "0", "--parallelism", "1", "--blocks")
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
		if strings.HasPrefix(l, "ALERT") {
			continue
		}
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
	if !strings.Contains(stderr, ", "+strconv.Itoa(len(lines))+" lines printed\n") {
		t.Errorf("stderr\n%s\ndoes not count the %d lines printed", stderr, len(lines))
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
		{[]string{"--rate", "Inf"}, "invalid --rate +Inf: want a finite number"},
		{[]string{"--rate", "NaN"}, "invalid --rate NaN"},
		{[]string{"--views", "-1"}, "--views"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--duration", "soon"}, "--duration"},
		{[]string{"--block-size", "many"}, "--block-size"},
		{[]string{"extra"}, "unknown command"},
		{[]string{"--restore", "latest"}, "--restore latest needs --checkpoints"},
		{[]string{"--restore", ""}, "--restore"},
		{[]string{"--restore", "/no/such/checkpoint"}, "--restore"},
		{[]string{"--restore", "latest", "--checkpoints", "/no/such/dir"}, "--restore latest: --checkpoints /no/such/dir does not exist"},
		{[]string{"--restore", "latest", "--checkpoints", t.TempDir()}, "--restore latest: no completed checkpoint"},
		{[]string{"--checkpoints", ""}, "--checkpoints"},
		{[]string{"--checkpoint-interval", "1s"}, "--checkpoint-interval needs --checkpoints"},
		{[]string{"--checkpoints", t.TempDir(), "--checkpoint-interval", "0s"}, "--checkpoint-interval"},
		{[]string{"--checkpoints", t.TempDir(), "--checkpoint-interval", "often"}, "--checkpoint-interval"},
		{[]string{"--allow-non-restored-state"}, "--allow-non-restored-state needs --restore"},
	} {
		stdout, _, err := execute(t, append([]string{"demo", "--no-server"}, tc.args...)...)
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
	o.Blocks = true
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

// A bounded run with checkpoints, the listing of what it left, and a run
// restored from it: the end-to-end path a user takes.
func TestDemoCheckpointsListAndRestore(t *testing.T) {
	dir := t.TempDir()
	demoArgs := []string{"demo", "--no-server", "--checkpoints", dir, "--checkpoint-interval", "50ms",
		"--views", "20000", "--rate", "0", "--duration", "0", "--blocks"}
	stdout, stderr, err := execute(t, demoArgs...)
	if err != nil {
		t.Fatalf("weir %v: %v\nstderr:\n%s", demoArgs, err, stderr)
	}
	if stdout == "" {
		t.Fatal("the first run printed no block")
	}
	// The summary balances the views read: the source read all 20 000.
	for _, w := range []string{"weir demo: starting from empty state (no --restore); checkpoints every 50ms into " + dir + "\n", " completed last, at ",
		"weir demo: records per operator (all subtasks):\n", "weir demo: dropped on the way: 0 filtered, 0 dead-lettered, 0 skipped, 0 late\n"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr\n%s\nlacks %q", stderr, w)
		}
	}

	if !regexp.MustCompile(`(?m)^  views +20000 +20000 +- +- +- +- +in = out \+ dropped$`).MatchString(stderr) {
		t.Errorf("stderr\n%s\nlacks the views read in its balance", stderr)
	}

	// It ends with a final checkpoint, so there is at least one, and that
	// one comes first.
	newest := strings.Fields(listedCheckpoints(t, dir)[0])
	if _, err := time.Parse(time.RFC3339, newest[2]); newest[0] != "checkpoint" || err != nil {
		t.Fatalf("the newest entry is %q, want a completed checkpoint", newest)
	}
	id, location := newest[1], newest[len(newest)-1]
	if filepath.Dir(location) != dir {
		t.Errorf("checkpoint %s is at %s, not in %s", id, location, dir)
	}

	stdout, stderr, err = execute(t, append(demoArgs, "--restore", "latest", "--parallelism", "3")...)
	if err != nil {
		t.Fatalf("restored run: %v\nstderr:\n%s", err, stderr)
	}
	want := "weir demo: restoring from checkpoint " + id + " (completed "
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, ") at "+location+"; ") {
		t.Errorf("stderr\n%s\nlacks %q…%q", stderr, want, location)
	}
	// The checkpoint was taken after every view was read, so the restored
	// job has nothing left to read — where a fresh run would print every
	// block again.
	if stdout != "" {
		t.Errorf("the restored run printed blocks:\n%s", stdout)
	}
	// Its own checkpoints continue the IDs.
	after := strings.Fields(listedCheckpoints(t, dir)[0])[1]
	a, _ := strconv.Atoi(after)
	if b, _ := strconv.Atoi(id); a <= b {
		t.Errorf("the restored run's newest checkpoint is %s, want one after %s", after, id)
	}
}

// listedCheckpoints returns the rows of `weir checkpoints list dir`, each
// with its fields joined by one space, after checking the header.
func listedCheckpoints(t *testing.T, dir string) []string {
	t.Helper()
	stdout, _, err := execute(t, "checkpoints", "list", dir)
	if err != nil {
		t.Fatalf("weir checkpoints list: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) < 2 || strings.Join(strings.Fields(lines[0]), " ") != "KIND ID COMPLETED SIZE LOCATION" {
		t.Fatalf("weir checkpoints list %s printed\n%s\nwant a header and at least one checkpoint", dir, stdout)
	}
	var rows []string
	for _, l := range lines[1:] {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	return rows
}

// A demo restored with another --views would read other input from the
// restored positions: it fails naming both values.
func TestDemoRefusesRestoreWithOtherViews(t *testing.T) {
	dir := t.TempDir()
	args := []string{"demo", "--no-server", "--checkpoints", dir, "--rate", "0", "--duration", "0"}
	if _, stderr, err := execute(t, append(args, "--views", "2000")...); err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}
	_, _, err := execute(t, append(args, "--views", "3000", "--restore", "latest")...)
	if err == nil || !strings.Contains(err.Error(), "taken with views=2000, the job runs with views=3000") {
		t.Fatalf("restore with --views 3000: %v; want an error naming both values", err)
	}
}

// A damaged newest checkpoint makes --restore latest fail naming it and
// the way to restore an older one, instead of restoring that one silently.
func TestDemoRestoreLatestRefusesDamagedNewest(t *testing.T) {
	dir := t.TempDir()
	args := []string{"demo", "--no-server", "--checkpoints", dir, "--rate", "0", "--duration", "0", "--views", "2000"}
	if _, stderr, err := execute(t, args...); err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "*", "_metadata"))
	if len(all) == 0 {
		t.Fatal("no checkpoint")
	}
	newest := all[len(all)-1]
	data, err := os.ReadFile(newest)
	if err != nil {
		t.Fatal(err)
	}
	data[5] ^= 1
	if err := os.WriteFile(newest, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = execute(t, append(args, "--restore", "latest")...)
	if err == nil || !strings.Contains(err.Error(), newest) || !strings.Contains(err.Error(), "--restore PATH") {
		t.Fatalf("restore latest: %v; want an error naming %s and --restore PATH", err, newest)
	}
}
