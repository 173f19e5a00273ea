package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/checkpoint"
)

func newCheckpointsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "checkpoints",
		Short: "Inspect and clean up checkpoint directories",
		Long: `Inspect the checkpoints and savepoints a job keeps in its checkpoint directory
(the DIR of 'weir demo --checkpoints DIR'), local or on S3 (s3://bucket/prefix,
with the endpoint and credentials from the environment: AWS_ENDPOINT_URL_S3,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, …).

A checkpoint directory holds one chk-<id> directory per checkpoint and one
sp-<id> directory per savepoint. Each is complete once its _metadata file is
written; one without it was abandoned, or is still being written. A job keeps
its newest three checkpoints and removes older ones; savepoints stay until
you delete them ('delete', or 'prune --savepoints').`,
		Example: `  # List what a demo run left behind.
  weir demo --views 100000 --rate 0 --duration 0 --checkpoints /tmp/weir-demo
  weir checkpoints list /tmp/weir-demo
  weir checkpoints list s3://my-bucket/jobs/demo
  weir checkpoints prune --keep 1 --savepoints /tmp/weir-demo`,
		// Without Args and RunE, cobra would answer a mistyped verb with
		// this help and success.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCheckpointsListCommand(), newCheckpointsShowCommand(), newCheckpointsDeleteCommand(), newCheckpointsPruneCommand())
	return cmd
}

func newCheckpointsListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list DIR",
		Short: "List the checkpoints and savepoints in a checkpoint directory",
		Long: `List the completed checkpoints and savepoints in the checkpoint directory DIR,
newest first, one per line: kind, ID, completion time (RFC 3339, UTC), size
(state files and metadata) and location. A job restoring "latest" takes the
first one. After them come the broken ones, with "broken" for a completion
time and, below the table, what is wrong: a _metadata that is damaged or
that this version of weir cannot read, or a state file it lists that is
missing or of another size. A broken one is never restored from, and while
one is there "latest" is an error rather than an older checkpoint. Last come
the incomplete ones — abandoned, left by a crash, or still being written —
with "incomplete" for a completion time; no job restores from those either.

DIR may be an S3 location, s3://bucket/prefix.

It fails when DIR does not exist or holds no checkpoint or savepoint at all.`,
		Example: `  weir checkpoints list /tmp/weir-demo
  weir checkpoints list s3://my-bucket/jobs/demo`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one argument, the checkpoint directory; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return listCheckpointDir(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
}

// listCheckpointDir writes the table of `weir checkpoints list`.
func listCheckpointDir(ctx context.Context, w io.Writer, dir string) error {
	d, err := openCheckpointDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	entries, err := d.Inspect(ctx)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return fmt.Errorf("%s holds no checkpoint or savepoint (no chk-<id> or sp-<id> directory); is it a checkpoint directory?", dir)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tCOMPLETED\tSIZE\tLOCATION")
	var problems []string
	for _, e := range entries {
		loc := checkpoint.RefLocation(d.Location(), e.Ref)
		switch e.Status {
		case checkpoint.Complete:
			fmt.Fprintf(tw, "%v\t%d\t%s\t%s\t%s\n", e.Ref.Kind, e.Ref.ID,
				e.Info.CompletedAt.UTC().Format(time.RFC3339), humanSize(e.Info.Size), loc)
		default:
			fmt.Fprintf(tw, "%v\t%d\t%v\t-\t%s\n", e.Ref.Kind, e.Ref.ID, e.Status, loc)
		}
		if e.Status == checkpoint.Broken {
			problems = append(problems, fmt.Sprintf("%v %d is broken: %v", e.Ref.Kind, e.Ref.ID, e.Problem))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(problems) > 0 {
		fmt.Fprintln(w)
	}
	for _, p := range problems {
		if _, err := fmt.Fprintln(w, p); err != nil {
			return err
		}
	}
	return nil
}

// openCheckpointDir opens an existing checkpoint directory or S3 location,
// saying what is wrong with dir when it is not one. Unlike checkpoint.OpenDir
// it never creates a directory where a user mistyped a path.
func openCheckpointDir(dir string) (checkpoint.Store, error) {
	if checkpoint.IsS3URL(dir) {
		_, prefix, err := checkpoint.ParseS3URL(dir)
		if err != nil {
			return nil, err
		}
		if ref, err := checkpoint.ParseRef(path.Base(prefix)); err == nil {
			return nil, fmt.Errorf("%s is a %v, not a checkpoint directory; list the one holding it: weir checkpoints list %s",
				dir, ref.Kind, strings.TrimSuffix(strings.TrimSuffix(dir, "/"), "/"+path.Base(prefix)))
		}
		return checkpoint.Open(dir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s is not a checkpoint directory: it does not exist", dir)
	case err != nil:
		return nil, fmt.Errorf("checkpoint directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a checkpoint directory: it is a file", dir)
	}
	clean := filepath.Clean(dir)
	if ref, err := checkpoint.ParseRef(filepath.Base(clean)); err == nil {
		return nil, fmt.Errorf("%s is a %v, not a checkpoint directory; list the one holding it: weir checkpoints list %s",
			dir, ref.Kind, filepath.Dir(clean))
	}
	return checkpoint.OpenDir(dir)
}

// humanSize formats a size in bytes with binary units: "512 B", "1.5 KiB".
func humanSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, i := float64(n), 0
	// 1023.95 rather than 1024, so a value never prints as "1024.0".
	for v >= 1023.95 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}
