package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// The goroutine-leak check is root_test.go's TestMain.

// TestNexmarkGenerateWritesTheGoldenStream: the command writes exactly the
// stream the generator's golden file pins.
func TestNexmarkGenerateWritesTheGoldenStream(t *testing.T) {
	stdout, stderr, err := execute(t, "nexmark", "generate", "--events", "20", "--seed", "0", "--tps", "100000")
	if err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, stderr)
	}
	want, err := os.ReadFile(filepath.Join("..", "nexmark", "testdata", "seed0-tps100000.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Errorf("weir nexmark generate --events 20 wrote\n%s\nwant the generator's golden file\n%s", stdout, want)
	}
	// The defaults are seed 0 and tps 100000; --out - is standard output.
	if again, _, err := execute(t, "nexmark", "generate", "--events", "20"); err != nil || again != stdout {
		t.Errorf("without --seed and --tps: %v, and a different stream:\n%s", err, again)
	}
	if again, _, err := execute(t, "nexmark", "generate", "--events", "20", "--out", "-"); err != nil || again != stdout {
		t.Errorf("--out -: %v, and a different stream:\n%s", err, again)
	}
	wantErr := regexp.MustCompile(`^weir nexmark: wrote 20 events to standard output in [0-9.]+s \([0-9]+ events/s\), ` +
		`event time 2015-07-15T00:00:00\.000Z to 2015-07-15T00:00:00\.000Z \(seed 0, tps 100000\)\n$`)
	if !wantErr.MatchString(stderr) {
		t.Errorf("stderr\n%s\nis not the one summary line", stderr)
	}
}

// TestNexmarkGenerateOut: --out writes what standard output gets, the same
// for the same flags, into a new file, over an existing one and through a
// link; another seed or tps gives another stream.
func TestNexmarkGenerateOut(t *testing.T) {
	dir := t.TempDir()
	args := []string{"nexmark", "generate", "--events", "5000", "--seed", "9", "--tps", "1000"}
	stdout, _, err := execute(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stdout, "\n"); n != 5000 {
		t.Fatalf("wrote %d lines, want 5000", n)
	}
	// At 1000 tps, event 4999 happens 4.999 s after event 0.
	last := stdout[strings.LastIndex(stdout[:len(stdout)-1], "\n")+1:]
	var e nexmark.Event
	if err := e.UnmarshalJSON([]byte(last)); err != nil || e.DateTime() != nexmark.DefaultBaseTime+4999 {
		t.Errorf("the last line %s: %v, want dateTime %d", last, err, nexmark.DefaultBaseTime+4999)
	}

	path := filepath.Join(dir, "events.jsonl")
	for _, tc := range []struct {
		name   string
		before func()
	}{
		{"new file", func() {}},
		{"over an existing file", func() {
			if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		tc.before()
		_, stderr, err := execute(t, append(args, "--out", path)...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != stdout {
			t.Errorf("%s: --out wrote %d bytes (%v), not what standard output got", tc.name, len(got), err)
		}
		if !strings.Contains(stderr, "wrote 5000 events to "+path) {
			t.Errorf("%s: stderr %q does not name the file", tc.name, stderr)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the file replaced lost its mode: %v, %v", fi.Mode(), err)
	}

	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := execute(t, append(args, "--out", link)...); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("--out through a link replaced the link: %v, %v", fi.Mode(), err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != stdout {
		t.Errorf("--out through a link: the file it points to has %d bytes (%v)", len(got), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("%s holds %v, want the file and the link only (no temporary files)", dir, entries)
	}

	for _, other := range [][]string{
		{"nexmark", "generate", "--events", "5000", "--seed", "10", "--tps", "1000"},
		{"nexmark", "generate", "--events", "5000", "--seed", "9", "--tps", "2000"},
	} {
		if out, _, err := execute(t, other...); err != nil || out == stdout {
			t.Errorf("%v: %v, and the same stream as %v", other, err, args)
		}
	}
}

// TestNexmarkGenerateToAPipe: a named pipe (like a device) is written to,
// not replaced.
func TestNexmarkGenerateToAPipe(t *testing.T) {
	mkfifo, err := exec.LookPath("mkfifo")
	if err != nil {
		t.Skip("no mkfifo")
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if out, err := exec.Command(mkfifo, fifo).CombinedOutput(); err != nil {
		t.Fatalf("mkfifo: %v: %s", err, out)
	}
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- b
	}()
	_, stderr, err := execute(t, "nexmark", "generate", "--events", "20", "--out", fifo)
	if err != nil {
		// Let the reader go: it waits for a writer to open the pipe.
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-got
		t.Fatalf("%v\n%s", err, stderr)
	}
	b := <-got
	if n := bytes.Count(b, []byte("\n")); n != 20 {
		t.Errorf("read %d lines from the pipe, want 20", n)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the pipe is now %v (%v)", fi.Mode(), err)
	}
}

func TestNexmarkGenerateRejectsBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--events is required"},
		{[]string{"--events", "0"}, "invalid --events 0: must be positive"},
		{[]string{"--events", "-5"}, "invalid --events -5: must be positive"},
		{[]string{"--events", "ten"}, `invalid argument "ten" for "--events"`},
		{[]string{"--events", "10", "--tps", "0"}, "invalid --tps 0: must be positive"},
		{[]string{"--events", "10", "--seed", "x"}, `invalid argument "x" for "--seed"`},
		{[]string{"--events", "10", "--out", ""}, "invalid --out: the file name is empty"},
		{[]string{"--events", "10", "--out", "/nonexistent-dir/f"}, "--out /nonexistent-dir/f: cannot create a file in /nonexistent-dir: no such file or directory"},
		{[]string{"--events", "10", "--out", t.TempDir()}, "--out "},
		{[]string{"--events", "10", "extra"}, `unknown command "extra"`},
	} {
		args := append([]string{"nexmark", "generate"}, tc.args...)
		stdout, _, err := execute(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
		if stdout != "" {
			t.Errorf("%v wrote %q to standard output", tc.args, stdout)
		}
	}
	if _, _, err := execute(t, "nexmark", "frobnicate"); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("weir nexmark frobnicate: err = %v, want an unknown command error", err)
	}
}

// fakeClock advances by step each time it is read.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func newTestGenerator(t *testing.T, events int64) *nexmark.Generator {
	t.Helper()
	cfg := nexmark.DefaultConfig()
	cfg.Events = events
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestNexmarkProgress: a line every second of the (fake) clock, with the
// events written so far and the rate since the line before.
func TestNexmarkProgress(t *testing.T) {
	var out, progress bytes.Buffer
	ew := newEventWriter(&out, &progress)
	ew.flushAt = 1 << 10 // a check every few events
	clock := &fakeClock{t: time.Unix(0, 0), step: 250 * time.Millisecond}
	ew.now = clock.now
	n, err := ew.write(t.Context(), nil, newTestGenerator(t, 2000))
	if err != nil || n != 2000 {
		t.Fatalf("write = %d, %v", n, err)
	}
	if got := strings.Count(out.String(), "\n"); got != 2000 {
		t.Fatalf("wrote %d lines, want 2000", got)
	}
	lines := strings.Split(strings.TrimSuffix(progress.String(), "\n"), "\n")
	if len(lines) < 5 {
		t.Fatalf("progress:\n%s\nwant a line every 4 checks", progress.String())
	}
	line := regexp.MustCompile(`^weir nexmark: ([0-9]+) events written, ([0-9]+) events/s$`)
	prev := 0
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("progress line %q", l)
		}
		n, _ := strconv.Atoi(m[1])
		if n <= prev || n > 2000 {
			t.Fatalf("progress went from %d to %d events", prev, n)
		}
		prev = n
	}
}

func TestNexmarkGenerateStops(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(ctx context.Context) (context.Context, func())
	}{
		{"canceled", func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancel(ctx)
			return ctx, cancel
		}},
		{"stopped", func(ctx context.Context) (context.Context, func()) {
			stop := make(chan struct{})
			return WithStop(ctx, stop), func() { close(stop) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.jsonl")
			if err := os.WriteFile(path, []byte("before\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, end := tc.setup(t.Context())
			end() // before the first check
			cfg := nexmark.DefaultConfig()
			cfg.Events = 1_000_000
			err := runNexmarkGenerate(ctx, io.Discard, io.Discard, cfg, path)
			if err == nil || !strings.Contains(err.Error(), "interrupted after") || !strings.Contains(err.Error(), path+" is left as it was") {
				t.Fatalf("err = %v, want an interruption that leaves the file", err)
			}
			if got, _ := os.ReadFile(path); string(got) != "before\n" {
				t.Errorf("the file holds %q, want what it held before", got)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("left %v behind", entries)
			}
			var out bytes.Buffer
			err = runNexmarkGenerate(ctx, &out, io.Discard, cfg, "")
			if err == nil || !strings.Contains(err.Error(), "interrupted after") {
				t.Fatalf("to standard output: err = %v", err)
			}
			if out.Len() == 0 || out.Bytes()[out.Len()-1] != '\n' {
				t.Errorf("to standard output: wrote %d bytes, want whole lines", out.Len())
			}
		})
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.after -= len(b); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(b), nil
}

func TestNexmarkGenerateReportsWriteErrors(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	cfg.Events = 100_000
	err := runNexmarkGenerate(t.Context(), &failingWriter{after: 1 << 20}, io.Discard, cfg, "")
	if err == nil || err.Error() != "writing to standard output: disk full" {
		t.Errorf("err = %v, want the write error", err)
	}
}

// TestNexmarkGenerateRemovesKilledRunsTempFiles: a run killed with SIGKILL
// leaves its hidden temporary file (nothing unlocked it but the kernel);
// the next run to the same --out removes it, and leaves alone the one a
// running generate holds locked.
func TestNexmarkGenerateRemovesKilledRunsTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	killed := filepath.Join(dir, ".events.jsonl.tmp-123456")
	if err := os.WriteFile(killed, bytes.Repeat([]byte("x"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	running := filepath.Join(dir, ".events.jsonl.tmp-654321")
	f, err := os.Create(running)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, ".other.jsonl.tmp-1")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := execute(t, "nexmark", "generate", "--events", "10", "--out", path)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if _, err := os.Stat(killed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed run's temporary file: %v, want it removed", err)
	}
	if !strings.Contains(stderr, "removed "+killed+" (1000 bytes), left by a run that was killed") {
		t.Errorf("stderr does not report the removal:\n%s", stderr)
	}
	for _, keep := range []string{running, other, path} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s: %v, want it kept", keep, err)
		}
	}
}
