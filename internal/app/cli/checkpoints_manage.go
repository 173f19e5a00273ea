package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/checkpoint"
)

// openCheckpointEntry opens the checkpoint directory holding location, a
// chk-<id> or sp-<id> directory in it, and returns the directory and the
// entry's reference.
func openCheckpointEntry(location string) (checkpoint.Store, checkpoint.Ref, error) {
	parent, base := splitLocation(location)
	ref, err := checkpoint.ParseRef(base)
	if err != nil {
		return nil, checkpoint.Ref{}, fmt.Errorf("%s is not a checkpoint or savepoint: want a chk-<id> or sp-<id> directory, as 'weir checkpoints list' prints", location)
	}
	d, err := openCheckpointDir(parent)
	if err != nil {
		return nil, checkpoint.Ref{}, err
	}
	return d, ref, nil
}

// splitLocation splits a checkpoint's location, a path or an s3:// URL,
// into the location of its storage and its own name.
func splitLocation(location string) (parent, base string) {
	if checkpoint.IsS3URL(location) {
		parent, base = path.Split(strings.TrimSuffix(location, "/"))
		return strings.TrimSuffix(parent, "/"), base
	}
	clean := filepath.Clean(location)
	return filepath.Dir(clean), filepath.Base(clean)
}

func newCheckpointsShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show LOCATION",
		Short: "Show what a checkpoint or savepoint holds",
		Long: `Show one checkpoint or savepoint: its kind, ID and completion time, its size
(state files and metadata), the job's max parallelism, and per operator its
ID, name, parallelism, number of state files and their size, and the sizes
of what the job keeps with the checkpoint (sink transactions, source
positions).

LOCATION is a chk-<id> or sp-<id> directory, as 'weir checkpoints list'
prints it, or a checkpoint directory, meaning its newest checkpoint or
savepoint (the one 'latest' restores).`,
		Example: `  weir checkpoints show /tmp/weir-demo/chk-0000000000000000012
  weir checkpoints show /tmp/weir-demo`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one argument, a checkpoint or savepoint (or a checkpoint directory); got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return showCheckpoint(cmd.Context(), cmd.OutOrStdout(), args[0])
		},
	}
}

// showCheckpoint writes the report of `weir checkpoints show`.
func showCheckpoint(ctx context.Context, w io.Writer, location string) error {
	var (
		d   checkpoint.Store
		ref checkpoint.Ref
		err error
	)
	if _, perr := checkpoint.ParseRef(lastElem(location)); perr == nil {
		d, ref, err = openCheckpointEntry(location)
	} else {
		d, err = openCheckpointDir(location)
		if err == nil {
			var in checkpoint.Info
			in, err = d.Resolve(ctx, location)
			ref = in.Ref
		}
	}
	if err != nil {
		return err
	}
	defer d.Close()
	m, err := d.ReadMetadata(ctx, ref)
	if err != nil {
		return err
	}
	in, err := d.Resolve(ctx, checkpoint.RefLocation(d.Location(), ref))
	if err != nil {
		return err
	}
	state := m.StateSize()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%v %d\n", ref.Kind, ref.ID)
	fmt.Fprintf(tw, "location\t%s\n", in.Location)
	fmt.Fprintf(tw, "completed\t%s\n", m.CompletedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "size\t%s (state files %s, metadata %s)\n", humanSize(in.Size), humanSize(state), humanSize(in.Size-state))
	fmt.Fprintf(tw, "max parallelism\t%d\n", m.MaxParallelism)
	if err := d.Verify(ctx, ref); err != nil {
		fmt.Fprintf(tw, "broken\t%v\n", err)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATOR\tNAME\tPARALLELISM\tFILES\tSIZE")
	for _, op := range m.Operators {
		var size int64
		for _, f := range op.Subtasks {
			size += f.Size
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", op.ID, op.Name, op.Parallelism, len(op.Subtasks), humanSize(size))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(m.Job) > 0 {
		keys := make([]string, 0, len(m.Job))
		for k := range m.Job {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %s", k, humanSize(int64(len(m.Job[k]))))
		}
		fmt.Fprintf(w, "\njob data: %s\n", strings.Join(parts, ", "))
	}
	return nil
}

func newCheckpointsDeleteCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete LOCATION...",
		Short: "Delete checkpoints or savepoints",
		Long: `Delete the checkpoints or savepoints named, each a chk-<id> or sp-<id>
directory as 'weir checkpoints list' prints it: complete, incomplete or
broken. The metadata goes first, so an interrupted delete leaves an
incomplete checkpoint, never one that looks complete with files missing.

The newest complete one of its directory is what a job restoring "latest"
resumes from; deleting it makes "latest" an older one, whose restore writes
again the output the newer one had committed. That needs --force.`,
		Example: `  weir checkpoints delete /tmp/weir-demo/sp-0000000000000000004
  weir checkpoints delete --force /tmp/weir-demo/chk-0000000000000000012`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("want at least one checkpoint or savepoint to delete")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return deleteCheckpoints(cmd.Context(), cmd.OutOrStdout(), args, force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also delete the newest complete checkpoint or savepoint, the one \"latest\" restores")
	return cmd
}

// deleteCheckpoints deletes each location, checking them all first.
func deleteCheckpoints(ctx context.Context, w io.Writer, locations []string, force bool) error {
	type target struct {
		d   checkpoint.Store
		ref checkpoint.Ref
		loc string
	}
	var targets []target
	defer func() {
		for _, t := range targets {
			t.d.Close()
		}
	}()
	for _, loc := range locations {
		d, ref, err := openCheckpointEntry(loc)
		if err != nil {
			return err
		}
		targets = append(targets, target{d, ref, loc})
		if force {
			continue
		}
		latest, err := d.Resolve(ctx, d.Location())
		switch {
		case errors.Is(err, checkpoint.ErrNotFound):
		case err != nil:
			return fmt.Errorf("%s: cannot tell which checkpoint is the newest, so deleting needs --force: %w", loc, err)
		case latest.Ref == ref:
			return fmt.Errorf("%s is the newest complete %v of %s, the one a job restoring \"latest\" resumes from; deleting it needs --force", loc, ref.Kind, d.Location())
		}
	}
	for _, t := range targets {
		if err := t.d.Delete(ctx, t.ref); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "deleted %s\n", checkpoint.RefLocation(t.d.Location(), t.ref)); err != nil {
			return err
		}
	}
	return nil
}

func newCheckpointsPruneCommand() *cobra.Command {
	var (
		keep       int
		olderThan  time.Duration
		savepoints bool
		dryRun     bool
	)
	cmd := &cobra.Command{
		Use:   "prune DIR",
		Short: "Delete old checkpoints and what crashes left behind",
		Long: `Delete from the checkpoint directory DIR what is no longer needed:

  - checkpoints and savepoints that were never completed (a crash or an
    abandoned attempt left them) and that a newer complete one replaces;
    one newer than every complete one may still be being written and stays;
  - with --keep N, the complete checkpoints beyond the newest N;
  - with --older-than D, the complete checkpoints completed more than D ago
    (with --keep too, beyond the newest N as well);
  - with --savepoints, savepoints by the same rules (the newest N of them
    are kept apart from the checkpoints). Without it savepoints are never
    deleted: they belong to whoever took them.

The newest complete checkpoint or savepoint, the one a job restoring
"latest" resumes from, is always kept. Broken ones (damaged metadata, a
state file missing) are left for you to look at ('weir checkpoints list'
says what is wrong) and delete by name; while a metadata is damaged, prune
deletes nothing complete, because which one is the newest cannot be told.

It prints each one deleted with why; --dry-run prints them and deletes
nothing.`,
		Example: `  weir checkpoints prune /tmp/weir-demo
  weir checkpoints prune --keep 3 --older-than 168h --savepoints /tmp/weir-demo
  weir checkpoints prune --keep 1 --dry-run /tmp/weir-demo`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("want one argument, the checkpoint directory; got %d", len(args))
			}
			if cmd.Flags().Changed("keep") && keep < 1 {
				return fmt.Errorf("--keep %d: must be at least 1; the newest is always kept", keep)
			}
			if olderThan < 0 {
				return fmt.Errorf("--older-than %v: must be positive", olderThan)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o := checkpoint.PruneOptions{Keep: keep, OlderThan: olderThan, Savepoints: savepoints, DryRun: dryRun}
			return pruneCheckpoints(cmd.Context(), cmd.OutOrStdout(), args[0], o)
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 0, "keep the newest N complete checkpoints (and, with --savepoints, savepoints)")
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "delete only complete ones completed more than this long ago (e.g. 72h)")
	cmd.Flags().BoolVar(&savepoints, "savepoints", false, "prune savepoints too")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would be deleted and delete nothing")
	return cmd
}

// pruneCheckpoints runs `weir checkpoints prune`.
func pruneCheckpoints(ctx context.Context, w io.Writer, dir string, o checkpoint.PruneOptions) error {
	d, err := openCheckpointDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	pruned, err := checkpoint.Prune(ctx, d, o)
	verb := "deleted"
	if o.DryRun {
		verb = "would delete"
	}
	var freed int64
	for _, p := range pruned {
		freed += p.Size
		if _, werr := fmt.Fprintf(w, "%s %s (%s)\n", verb, checkpoint.RefLocation(d.Location(), p.Ref), p.Why); werr != nil {
			return werr
		}
	}
	if _, werr := fmt.Fprintf(w, "%s %d (%s)\n", verb, len(pruned), humanSize(freed)); werr != nil {
		return werr
	}
	return err
}

// lastElem is the last element of a location, a path or an s3:// URL.
func lastElem(location string) string {
	_, base := splitLocation(location)
	return base
}
