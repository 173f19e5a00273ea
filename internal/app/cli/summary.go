package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/weirstream/weir"
)

// writeRunSummary ends every run verb's report on w, each line after
// prefix: the balance of the job's counts and, with a checkpoint
// directory, what the run left there (before is the newest checkpoint ID
// before the run).
func writeRunSummary(ctx context.Context, w io.Writer, prefix string, ms []weir.OperatorMetrics, checkpointDir string, before int64) {
	writeBalance(w, prefix, ms)
	if checkpointDir != "" {
		// After Ctrl-C ctx is done, and the directory is still worth
		// reading.
		fmt.Fprintf(w, "%s%s\n", prefix, summarizeCheckpoints(context.WithoutCancel(ctx), checkpointDir, before))
	}
}

// writeBalance writes the counts of a finished run, one line per operator
// summed over its subtasks, in graph order, so that every record read is
// accounted for: what each operator received (for a source, read), what it
// emitted (for a sink, wrote), and what it filtered, dead-lettered, skipped
// or dropped as late. An operator whose in equals out plus what it dropped
// says so; windows, joins, flat maps and aggregations emit any
// number of records per record, and say so. The total line sums what was
// dropped, so that `--on-error skip` never loses a record without a trace.
// Every run verb ends with it.
func writeBalance(w io.Writer, prefix string, ms []weir.OperatorMetrics) {
	type row struct {
		name                                   string
		in, out, filtered, dead, skipped, late int64
	}
	var rows []*row
	byID := map[string]*row{}
	for _, m := range ms {
		r := byID[m.ID]
		if r == nil {
			r = &row{name: m.Operator}
			byID[m.ID] = r
			rows = append(rows, r)
		}
		r.in += m.In
		r.out += m.Out
		r.filtered += m.Filtered
		r.dead += m.DeadLettered
		r.skipped += m.Skipped
		r.late += m.Late
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "%srecords per operator (all subtasks):\n", prefix)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  operator\tin\tout\tfiltered\tdead-lettered\tskipped\tlate\tbalance\n")
	var total row
	for _, r := range rows {
		dropped := r.filtered + r.dead + r.skipped + r.late
		note := "in = out + dropped"
		if r.in != r.out+dropped {
			note = "emits any number per record"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.name, r.in, r.out,
			count(r.filtered), count(r.dead), count(r.skipped), count(r.late), note)
		total.filtered += r.filtered
		total.dead += r.dead
		total.skipped += r.skipped
		total.late += r.late
	}
	tw.Flush()
	fmt.Fprintf(w, "%sdropped on the way: %d filtered, %d dead-lettered, %d skipped, %d late\n",
		prefix, total.filtered, total.dead, total.skipped, total.late)
}

// count writes a count, leaving zeros out so that the drops stand out.
func count(n int64) string {
	if n == 0 {
		return "-"
	}
	return strconv.FormatInt(n, 10)
}
