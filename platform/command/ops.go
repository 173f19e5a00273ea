package command

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/platform"
)

// opsCommands are the job operations of `weir jobs`: restore, rescale,
// rewind, delete.
func opsCommands(client func() (*platform.Client, error), print func(io.Writer, any, func()) error) []*cobra.Command {
	var from string
	var parallelism int
	restore := &cobra.Command{
		Use:   "restore ID",
		Short: "Start an ended job again from one of its checkpoints or savepoints",
		Long: `Start a new run of an ended job (stopped, canceled, finished or failed) from
one of its checkpoints or savepoints: --from names it as 'weir jobs show'
lists it (chk-<id> or sp-<id>), or latest. The job keeps its ID, pipeline and
directory; --parallelism changes its parallelism.`,
		Example: `  weir jobs restore j1a2b3c4d5e6f --from chk-42
  weir jobs restore j1a2b3c4d5e6f --from sp-40 --parallelism 4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			j, err := c.Restore(cmd.Context(), args[0], platform.RestoreRequest{From: from, Parallelism: parallelism})
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), j, func() { fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", j.ID, j.State) })
		},
	}
	restore.Flags().StringVar(&from, "from", "latest", "the `checkpoint` or savepoint: chk-<id>, sp-<id> or latest")
	restore.Flags().IntVar(&parallelism, "parallelism", 0, "run at this parallelism (0: as before)")

	var to int
	rescale := &cobra.Command{
		Use:   "rescale ID --parallelism N",
		Short: "Stop a job with a savepoint and start it again from it at a new parallelism",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == 0 {
				return fmt.Errorf("weir jobs rescale needs --parallelism N, the new parallelism")
			}
			c, err := client()
			if err != nil {
				return err
			}
			j, err := c.Rescale(cmd.Context(), args[0], to)
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), j, func() { fmt.Fprintf(cmd.OutOrStdout(), "%s %s at parallelism %d\n", j.ID, j.State, j.Parallelism) })
		},
	}
	rescale.Flags().IntVar(&to, "parallelism", 0, "the new parallelism")

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Remove an ended job and its directory (checkpoints, savepoints, log)",
		Long: `Remove an ended job (stopped, canceled, finished or failed) with its directory
under the server's DIR/jobs: its pipeline, checkpoints, savepoints and log.
Its output files, elsewhere under DIR, stay. A live job is refused: stop or
cancel it first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			if err := c.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), map[string]string{"deleted": args[0]}, func() { fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", args[0]) })
		},
	}
	var toTime, fixedFile string
	var dryRun bool
	rewind := &cobra.Command{
		Use:   "rewind ID --to TIME [--pipeline fixed.yaml] [--dry-run]",
		Short: "Rewind a job to a retained checkpoint and restate its file and Kafka outputs into new versions",
		Long: `Restore the newest retained checkpoint completed at or before --to (an RFC 3339
time, or a checkpoint's name chk-<id>) with the job's pipeline, or the fixed
one in --pipeline; the job re-reads its inputs from that checkpoint's
positions into a new version of each file output (P.v<n>), which starts with
the files the checkpoint had committed, and the link P.current is switched
to it. A Kafka input goes back to the offsets the checkpoint recorded; a
Kafka output's restatement goes to a new topic <topic>.v<n>, made like the
old one, which consumers switch to (a compacted topic is re-emitted over
itself instead). A running job is stopped with a savepoint first. --dry-run
prints what would be re-read — per Kafka partition, the offset it goes back
to and how many records that re-reads — and what is replaced, changing
nothing. A job reaches back as
far as its retention (weir jobs submit --retain, weir serve --retain).`,
		Example: `  weir jobs rewind j1a2b3c4d5e6f --to 2026-01-02T15:00:00Z --pipeline fixed.yaml --dry-run
  weir jobs rewind j1a2b3c4d5e6f --to 2026-01-02T15:00:00Z --pipeline fixed.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if toTime == "" {
				return fmt.Errorf("weir jobs rewind needs --to TIME (RFC 3339) or --to chk-<id>")
			}
			req := platform.RewindRequest{To: toTime, DryRun: dryRun}
			if fixedFile != "" {
				b, err := os.ReadFile(fixedFile)
				if err != nil {
					return err
				}
				req.Pipeline = string(b)
			}
			c, err := client()
			if err != nil {
				return err
			}
			plan, err := c.Rewind(cmd.Context(), args[0], req)
			if err != nil {
				if fixedFile != "" {
					return fmt.Errorf("%s: %w", fixedFile, err)
				}
				return err
			}
			return print(cmd.OutOrStdout(), plan, func() { printPlan(cmd.OutOrStdout(), plan) })
		},
	}
	rewind.Flags().StringVar(&toTime, "to", "", "the `time` (RFC 3339) or checkpoint (chk-<id>) to rewind to")
	rewind.Flags().StringVar(&fixedFile, "pipeline", "", "the fixed pipeline `file` to run from the checkpoint on")
	rewind.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be re-read and replaced; change nothing")
	templates := &cobra.Command{
		Use:   "templates",
		Short: "List the server's built-in job templates and their parameters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			ts, err := c.Templates(cmd.Context())
			if err != nil {
				return err
			}
			return print(cmd.OutOrStdout(), platform.TemplateList{Templates: ts}, func() {
				w := cmd.OutOrStdout()
				for _, t := range ts {
					fmt.Fprintf(w, "%s: %s\n", t.Name, t.Description)
					for _, p := range t.Params {
						fmt.Fprintf(w, "  %s (%s, default %q): %s\n", p.Name, p.Kind, p.Default, p.Description)
					}
				}
			})
		},
	}
	return []*cobra.Command{restore, rescale, del, rewind, templates}
}

// opsServeFlags puts the job-operation flags of `weir serve` into cfg.
func opsServeFlags(cfg *platform.Config, retain string, enrichAllow []string) error {
	allow, err := platform.ParseEnrichAllow(enrichAllow)
	if err != nil {
		return err
	}
	cfg.EnrichAllow = allow
	if retain != "" {
		d, err := platform.ParseRetain(retain)
		if err != nil {
			return fmt.Errorf("--retain: %w", err)
		}
		cfg.Retain = d
	}
	return nil
}

func printPlan(w io.Writer, p platform.RewindPlan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	verb := "rewound to"
	if p.DryRun {
		verb = "would rewind to"
	}
	fmt.Fprintf(tw, "%s:\t%s %d (%s), %s\n", verb, p.Checkpoint.Kind, p.Checkpoint.ID, p.Checkpoint.Completed.Format(time.RFC3339), p.Checkpoint.Path)
	if p.PipelineChanged {
		fmt.Fprintf(tw, "pipeline:\tthe fixed one\n")
	}
	for _, in := range p.Inputs {
		fmt.Fprintf(tw, "re-read %s:\t%s (%s) from %s\n", in.Name, in.Reads, in.Type, in.From)
		for _, o := range in.Offsets {
			from := strconv.FormatInt(o.Offset, 10)
			if o.Offset < 0 {
				from = "earliest"
			}
			if o.End < 0 {
				fmt.Fprintf(tw, "  %s/%d:\tback to offset %s\n", o.Topic, o.Partition, from)
				continue
			}
			fmt.Fprintf(tw, "  %s/%d:\tback to offset %s (end now %d: %d records read again)\n", o.Topic, o.Partition, from, o.End, o.Records)
		}
	}
	for _, o := range p.Outputs {
		switch o.Type {
		case "file":
			fmt.Fprintf(tw, "replace %s:\tversion %d (%s) by version %d (%s): %d files kept, %d re-made; %s → %s\n",
				o.Name, o.FromVersion, o.FromDir, o.ToVersion, o.ToDir, o.KeptFiles, o.ReplacedFiles, o.Current, o.ToDir)
		case "kafka":
			if o.Compacted {
				fmt.Fprintf(tw, "re-emit %s:\tover the compacted topic %s (version %d); its keys converge to the restated values\n", o.Name, o.ToTopic, o.ToVersion)
				continue
			}
			fmt.Fprintf(tw, "replace %s:\ttopic %s (version %d) by the new topic %s (version %d, %d partitions); %s stays as it is, consumers switch to %s\n",
				o.Name, o.FromTopic, o.FromVersion, o.ToTopic, o.ToVersion, o.Partitions, o.FromTopic, o.ToTopic)
		default:
			fmt.Fprintf(tw, "output %s:\t%s, written again as it is re-read\n", o.Name, o.Type)
		}
	}
	if p.Job != nil {
		fmt.Fprintf(tw, "job:\t%s %s\n", p.Job.ID, p.Job.State)
	}
	tw.Flush()
}

// submitSource fills in the pipeline or template of a submission from
// weir jobs submit's argument and flags, and returns what it is, for
// errors.
func submitSource(req *platform.SubmitRequest, args []string, tmpl string, params []string) (string, error) {
	switch {
	case tmpl != "" && len(args) > 0:
		return "", fmt.Errorf("give a pipeline file or --template, not both")
	case tmpl == "" && len(args) == 0:
		return "", fmt.Errorf("weir jobs submit needs a pipeline file or --template NAME")
	case tmpl == "" && len(params) > 0:
		return "", fmt.Errorf("--param is for --template")
	case tmpl == "":
		data, err := os.ReadFile(args[0])
		if err != nil {
			return "", err
		}
		req.Pipeline = string(data)
		return args[0], nil
	}
	req.Template = tmpl
	req.Params = map[string]any{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("invalid --param %q: want name=value", p)
		}
		req.Params[k] = v
	}
	return "template " + tmpl, nil
}
