package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/demo"
)

func newDemoCommand() *cobra.Command {
	o := demo.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the video-quality monitoring demo job",
		Long: `Run the demo job: video-quality monitoring on generated video views.

A generator produces views of a dozen video titles, about 1% to 4% of them
failing with an error type (network, decode, drm, timeout). The job keys the
views by title and closes a block every --block-size views of a title (a count
window kept in keyed state). For each block it prints one line to standard
output: the title, the number of views and the error rate per error type.

What runs is printed to standard error first, and how long it ran at the end.
The run ends when --duration is over, when --views views have been processed,
or on Ctrl-C, whichever comes first.`,
		Example: `  # Run for 10 seconds at 20000 views per second.
  weir demo

  # Process exactly 100000 views as fast as possible.
  weir demo --views 100000 --rate 0 --duration 0

  # Run until Ctrl-C with larger blocks on 4 parallel subtasks.
  weir demo --duration 0 --block-size 1000 --parallelism 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := validateDemoFlags(o); err != nil {
				return err
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Duration, "duration", o.Duration, "how long to run; 0 runs until the views run out or Ctrl-C")
	f.Float64Var(&o.Rate, "rate", o.Rate, "views generated per second; 0 generates them as fast as possible")
	f.Int64Var(&o.Views, "views", o.Views, "total views to generate; 0 is unbounded")
	f.IntVar(&o.BlockSize, "block-size", o.BlockSize, "views per block (the count window) of each title")
	f.IntVar(&o.Parallelism, "parallelism", o.Parallelism, "parallel subtasks of each operator")
	return cmd
}

// validateDemoFlags names the flag at fault; demo.Options.Validate checks the
// same rules in the options' own terms.
func validateDemoFlags(o demo.Options) error {
	switch {
	case o.Duration < 0:
		return fmt.Errorf("invalid --duration %v: must not be negative", o.Duration)
	case o.Rate < 0:
		return fmt.Errorf("invalid --rate %v: must not be negative", o.Rate)
	case o.Views < 0:
		return fmt.Errorf("invalid --views %d: must not be negative", o.Views)
	case o.BlockSize <= 0:
		return fmt.Errorf("invalid --block-size %d: must be positive", o.BlockSize)
	case o.Parallelism <= 0:
		return fmt.Errorf("invalid --parallelism %d: must be positive", o.Parallelism)
	}
	return nil
}

func runDemo(ctx context.Context, stdout, stderr io.Writer, o demo.Options) error {
	fmt.Fprintf(stderr, "weir demo: %s\n", describeDemo(o))
	out := &lineCounter{w: stdout}
	start := time.Now()
	err := demo.Run(ctx, out, o)
	elapsed := time.Since(start)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Ctrl-C is how a demo without a bound is meant to end.
		err = nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "weir demo: stopped after %.1fs, %d blocks printed\n", elapsed.Seconds(), out.lines.Load())
	return nil
}

// describeDemo says in one line what the demo is about to run.
func describeDemo(o demo.Options) string {
	rate := strconv.FormatFloat(o.Rate, 'f', -1, 64) + " views/s"
	if o.Rate == 0 {
		rate = "views as fast as possible"
	}
	var views string
	if o.Views > 0 {
		views = fmt.Sprintf(", %d views in all", o.Views)
	}
	until := "until Ctrl-C"
	switch {
	case o.Duration > 0:
		until = "for " + o.Duration.String() + " (Ctrl-C stops)"
	case o.Views > 0:
		until = "until all views are processed (Ctrl-C stops)"
	}
	return fmt.Sprintf("video-quality job, %s%s, blocks of %d views per title, parallelism %d, %s",
		rate, views, o.BlockSize, o.Parallelism, until)
}

// lineCounter counts the blocks the demo prints: its sink writes each line
// with one Write call.
type lineCounter struct {
	w     io.Writer
	lines atomic.Int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines.Add(1)
	return c.w.Write(p)
}
