package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/app/nexmark"
)

func newNexmarkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nexmark",
		Short: "Generate the Nexmark benchmark's events and run its queries",
		Long: `Work with the data of the Nexmark benchmark: an online auction where people
register, open auctions and bid on them. Weir generates the benchmark's event
stream with the reference generator's model (nexmark/nexmark, after Apache
Beam's Nexmark) and runs its queries (q0–q22 but q6) through the DataStream
API, so that its results can be compared with published ones.`,
		Example: `  # Write the first million events of the default stream to a file.
  weir nexmark generate --events 1000000 --out /tmp/nexmark.jsonl

  # Run query q7 on them, then on 10 million generated events.
  weir nexmark run --query q7 --input /tmp/nexmark.jsonl
  weir nexmark run --query q7`,
		// Without Args and RunE, cobra would answer a mistyped verb with
		// this help and success.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newNexmarkGenerateCommand(), newNexmarkRunCommand())
	return cmd
}

// generateOptions are the flags of `weir nexmark generate`.
type generateOptions struct {
	events int64
	seed   int64
	tps    int64
	out    string
}

func newNexmarkGenerateCommand() *cobra.Command {
	o := generateOptions{tps: nexmark.DefaultTPS}
	cmd := &cobra.Command{
		Use:   "generate --events N",
		Short: "Write the Nexmark event stream as JSON lines",
		Long: `Write the first --events events of the Nexmark event stream, one JSON object
per line, to standard output or to the file --out. The same flags always give
the same bytes.

Each line has exactly one key, person, auction or bid, holding the event with
the Nexmark model's field names:

  person   id name emailAddress creditCard city state dateTime extra
  auction  id itemName description initialBid reserve dateTime expires
           seller category extra
  bid      auction bidder price channel url dateTime extra

Times (dateTime, expires) are Unix milliseconds and prices are in cents. Of
every 50 events 1 is a person, 3 are auctions and 46 are bids; person and
auction ids count up from 1000. Half of the bids go to the newest "hot"
auction and three quarters come from a hot bidder; the model and its
parameters are those of the reference generator (see internal/app/nexmark).

--tps sets how dense the stream is in event time, not how fast it is written:
event n happens at 2015-07-15T00:00:00Z + n·1000/tps ms. The default, 100000,
is the reference V2 suite's, so 1,000,000 events span 10 seconds of event
time; compare window results only at the same --tps. The file is written as
fast as possible.

A progress line goes to standard error every second, and a summary at the end.
With --out FILE the file appears only when it is complete: an interrupted or
failed run leaves whatever was at that path before. (A device or a named pipe
is written to as it is.) Until then the events go to a hidden temporary file
beside it, .FILE.tmp-*; a run killed with SIGKILL cannot remove it, so the next
run to the same --out removes it and says so.`,
		Example: `  # The first 20 events, to the terminal.
  weir nexmark generate --events 20

  # 10 million events (100 s of event time) into a file.
  weir nexmark generate --events 10000000 --out /tmp/nexmark.jsonl

  # Another stream, ten times denser in event time.
  weir nexmark generate --events 1000000 --seed 7 --tps 1000000 > /tmp/nexmark-7.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := generateConfig(o, cmd.Flags().Changed)
			if err != nil {
				return err
			}
			return runNexmarkGenerate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), cfg, o.out)
		},
	}
	f := cmd.Flags()
	f.Int64Var(&o.events, "events", 0, "how many events to write (required)")
	f.Int64Var(&o.seed, "seed", 0, "which stream: every event depends on it")
	f.Int64Var(&o.tps, "tps", o.tps, "events per second of event time (the reference's tps)")
	f.StringVar(&o.out, "out", "", "write to this `file` instead of standard output (- is standard output)")
	return cmd
}

// generateConfig checks the flags, naming the one at fault, and turns them
// into the generator's Config.
func generateConfig(o generateOptions, changed func(flag string) bool) (nexmark.Config, error) {
	switch {
	case !changed("events"):
		return nexmark.Config{}, errors.New("--events is required: how many events to write")
	case o.events <= 0:
		return nexmark.Config{}, fmt.Errorf("invalid --events %d: must be positive", o.events)
	case o.tps <= 0:
		return nexmark.Config{}, fmt.Errorf("invalid --tps %d: must be positive (events per second of event time)", o.tps)
	case changed("out") && o.out == "":
		return nexmark.Config{}, errors.New("invalid --out: the file name is empty (leave --out out, or give -, for standard output)")
	}
	cfg := nexmark.DefaultConfig()
	cfg.Events, cfg.Seed, cfg.TPS = o.events, o.seed, o.tps
	// The checks above cover what the flags set; this is a backstop.
	if err := cfg.Validate(); err != nil {
		return nexmark.Config{}, err
	}
	return cfg, nil
}

// runNexmarkGenerate writes cfg's events to out (stdout when "" or "-").
func runNexmarkGenerate(ctx context.Context, stdout, stderr io.Writer, cfg nexmark.Config, out string) error {
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		return err
	}
	where := "standard output"
	w := stdout
	var o *output
	if out != "" && out != "-" {
		where = out
		if o, err = openOutput(out); err != nil {
			return fmt.Errorf("--out %s: %w", out, err)
		}
		defer o.abort()
		for _, r := range o.removed {
			fmt.Fprintf(stderr, "weir nexmark: removed %s, left by a run that was killed\n", r)
		}
		w = o.f
	}

	gw := newEventWriter(w, stderr)
	n, err := gw.write(ctx, stopOf(ctx), g)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errStopped) {
			if o != nil && o.temp {
				return fmt.Errorf("interrupted after %d of %d events; %s is left as it was", n, cfg.Events, out)
			}
			return fmt.Errorf("interrupted after %d of %d events", n, cfg.Events)
		}
		return fmt.Errorf("writing to %s: %w", where, err)
	}
	if o != nil {
		if err := o.commit(); err != nil {
			return fmt.Errorf("--out %s: %w", out, err)
		}
	}
	elapsed := gw.now().Sub(gw.start)
	fmt.Fprintf(stderr, "weir nexmark: wrote %d events to %s in %.2fs (%.0f events/s), event time %s to %s (seed %d, tps %d)\n",
		n, where, elapsed.Seconds(), float64(n)/max(elapsed.Seconds(), 1e-9),
		formatMillis(g.Timestamp(0)), formatMillis(g.Timestamp(n-1)), cfg.Seed, cfg.TPS)
	return nil
}

// output is the file --out names. A regular file (or a path that does not
// exist yet) is written as a temporary file beside it, renamed over it once
// complete, so that the path never holds a partial stream; through a
// symbolic link, the file it points to is replaced. Anything else — a
// device such as /dev/null, a named pipe — is written to as it is.
//
// The writer holds an exclusive flock on its temporary file, which the
// kernel drops when the process dies however it dies. A run killed with
// SIGKILL cannot remove its temporary file, so the next run to the same
// path removes every temporary file of that path nobody holds locked.
type output struct {
	f       *os.File
	temp    bool
	target  string   // what the temporary file replaces
	removed []string // temporary files of killed runs, removed
	done    bool
}

// tempPattern is the glob of the temporary files of target.
func tempPattern(target string) string {
	return filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
}

// removeAbandoned removes the temporary files of target that no running
// writer holds locked, and returns their names and sizes.
func removeAbandoned(target string) ([]string, error) {
	names, err := filepath.Glob(tempPattern(target))
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			continue // gone already, or not ours to read
		}
		fi, serr := f.Stat()
		// A lock we can take means its writer is gone.
		if serr == nil && fi.Mode().IsRegular() && syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				f.Close()
				return removed, fmt.Errorf("removing the temporary file of a killed run: %w", err)
			}
			removed = append(removed, fmt.Sprintf("%s (%d bytes)", name, fi.Size()))
		}
		f.Close()
	}
	return removed, nil
}

func openOutput(path string) (*output, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &output{f: f}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	target, mode := path, fs.FileMode(0o644)
	if err == nil {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return nil, err
		}
		mode = fi.Mode().Perm()
	}
	removed, err := removeAbandoned(target)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(target)
	f, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		// Name the directory, not the temporary file.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot create a file in %s: %w", dir, err)
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &output{f: f, temp: true, target: target, removed: removed}, nil
}

// commit closes the file and, if it is a temporary one, puts it in place.
func (o *output) commit() error {
	o.done = true
	if err := o.f.Close(); err != nil {
		if o.temp {
			os.Remove(o.f.Name())
		}
		return err
	}
	if !o.temp {
		return nil
	}
	if err := os.Rename(o.f.Name(), o.target); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	return nil
}

// abort closes the file and removes a temporary one, unless commit ran.
func (o *output) abort() {
	if o.done {
		return
	}
	o.done = true
	o.f.Close()
	if o.temp {
		os.Remove(o.f.Name())
	}
}

func formatMillis(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// errStopped: the stop channel closed (the first Ctrl-C).
var errStopped = errors.New("stopped")

// eventWriter writes events as JSON lines through a buffer of its own and,
// each time it hands the buffer on, checks for cancellation and reports
// progress once a second.
type eventWriter struct {
	w        io.Writer
	progress io.Writer
	now      func() time.Time
	// flushAt is the size at which the buffer is written out.
	flushAt int
	buf     []byte

	start, last time.Time
	lastN       int64
}

func newEventWriter(w, progress io.Writer) *eventWriter {
	const flushAt = 256 << 10
	return &eventWriter{w: w, progress: progress, now: time.Now, flushAt: flushAt, buf: make([]byte, 0, flushAt+4<<10)}
}

// write writes g's events, returning how many it wrote.
func (ew *eventWriter) write(ctx context.Context, stop <-chan struct{}, g *nexmark.Generator) (int64, error) {
	ew.start = ew.now()
	ew.last = ew.start
	var n int64
	for _, e := range g.All() {
		ew.buf = nexmark.AppendJSON(ew.buf, &e)
		ew.buf = append(ew.buf, '\n')
		n++
		if len(ew.buf) < ew.flushAt {
			continue
		}
		if err := ew.flush(); err != nil {
			return n, err
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-stop:
			return n, errStopped
		default:
		}
		if t := ew.now(); t.Sub(ew.last) >= time.Second {
			fmt.Fprintf(ew.progress, "weir nexmark: %d events written, %.0f events/s\n",
				n, float64(n-ew.lastN)/t.Sub(ew.last).Seconds())
			ew.last, ew.lastN = t, n
		}
	}
	return n, ew.flush()
}

func (ew *eventWriter) flush() error {
	_, err := ew.w.Write(ew.buf)
	ew.buf = ew.buf[:0]
	return err
}
