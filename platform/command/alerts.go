package command

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/platform"
)

// loadServerConfig reads the server's configuration file; nil (the
// defaults) when there is none. The file is not looked for in the data
// directory: the jobs' own files go there, and a job must not configure
// the server.
func loadServerConfig(file string) (*platform.Alerting, error) {
	if file == "" {
		return nil, nil
	}
	a, err := platform.LoadConfig(file)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// alertsCommand is `weir jobs alerts`.
func alertsCommand(client func() (*platform.Client, error), print func(io.Writer, any, func()) error) *cobra.Command {
	var state, job string
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List the server's open and recently closed alerts",
		Long: `List the alerts of the server's rules (docs/serve.md, Alerting): the open
ones, oldest first, then those it closed, the most recent first.`,
		Example: `  weir jobs alerts
  weir jobs alerts --state open --job j1a2b3c4d5e6f`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			as, err := c.Alerts(cmd.Context(), state, job)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return print(w, platform.AlertList{Alerts: as}, func() {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tRULE\tJOB\tSTATE\tVALUE\tEXPECTED\tOPENED\tCLOSED\tMESSAGE")
				for _, a := range as {
					closed := "-"
					if a.ClosedAt != nil {
						closed = a.ClosedAt.Format(time.RFC3339)
					}
					job := a.JobID
					if job == "" {
						job = "-"
					}
					// A normal rule's alert: the range its model expected.
					expected := "-"
					if a.ExpectedLow != nil && a.ExpectedHigh != nil {
						expected = fmt.Sprintf("%.4g..%.4g", *a.ExpectedLow, *a.ExpectedHigh)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.4g\t%s\t%s\t%s\t%s\n", a.ID, a.Rule, job, a.State, a.Value, expected,
						a.OpenedAt.Format(time.RFC3339), closed, a.Message)
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "list only the open or the closed alerts")
	cmd.Flags().StringVar(&job, "job", "", "list only the alerts of this job `ID`")
	return cmd
}
