package cli

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weirstream/weir/internal/app/nab"
	"github.com/weirstream/weir/normal"
)

func newNormalCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "normal",
		Short: "Score series with Weir's model of normal, and measure it on NAB",
		Long: `Weir's model of normal (package normal) learns, per series, what its values
usually are — level, daily or weekly profile, usual deviations — and scores
each new value in [0, 1] by how anomalous it is, from the values before it
only. A score at or above 0.5 is an anomaly.

'score' scores a CSV series; 'nab' measures the model on the Numenta Anomaly
Benchmark with Weir's implementation of NAB's scoring (docs/normal.md).`,
		Example: `  # Score a series, writing timestamp,value,anomaly_score.
  weir normal score --input cpu.csv --output cpu-scored.csv

  # Measure the model on NAB's 58 series.
  weir normal nab --corpus testdata/nab`,
		// Without Args and RunE, cobra would answer a mistyped verb with
		// this help and success.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newNormalScoreCommand(), newNormalNABCommand())
	return cmd
}

func newNormalScoreCommand() *cobra.Command {
	var input, output string
	cmd := &cobra.Command{
		Use:   "score --input FILE",
		Short: "Score a timestamp,value CSV series with the model of normal",
		Long: `Read a CSV series of timestamp,value rows (a header line is optional; extra
columns are ignored) and write timestamp,value,anomaly_score rows, one per
input row and in input order, with a header. Each score comes from one model
fed the rows in file order: it uses only the rows before it. Rows with a
repeated timestamp or one earlier than the row before are scored like the
others (judged at their own time of day); a value that is not a finite
number is an error.

Timestamps may be "2006-01-02 15:04:05" (optionally with fractional
seconds), RFC 3339, a date alone, or Unix seconds; without a zone they are
UTC. They are written back as read. The model scores nothing above 0 for
its first 150 rows, while it learns.`,
		Example: `  weir normal score --input cpu.csv
  weir normal score --input cpu.csv --output cpu-scored.csv
  cat cpu.csv | weir normal score --input -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return errors.New("--input is required: the CSV series to score (- for standard input)")
			}
			in, name := io.Reader(cmd.InOrStdin()), "standard input"
			if input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				in, name = f, input
			}
			out := cmd.OutOrStdout()
			var f *os.File
			if output != "" && output != "-" {
				var err error
				if f, err = os.Create(output); err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			if err := scoreSeries(in, name, out); err != nil {
				return err
			}
			if f != nil {
				return f.Close()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "the CSV series to score (- for standard input)")
	cmd.Flags().StringVar(&output, "output", "", "where to write the scored series (default standard output)")
	return cmd
}

// scoreSeries reads timestamp,value rows from in (name in errors) and
// writes timestamp,value,anomaly_score rows to out.
func scoreSeries(in io.Reader, name string, out io.Writer) error {
	cr := csv.NewReader(bufio.NewReaderSize(in, 1<<16))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	w := bufio.NewWriterSize(out, 1<<16)
	if _, err := w.WriteString("timestamp,value,anomaly_score\n"); err != nil {
		return err
	}
	m, err := normal.New(normal.DefaultConfig())
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 64)
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 2 {
			return fmt.Errorf("%s:%d: want timestamp,value, got %d field(s)", name, line, len(rec))
		}
		raw := strings.TrimSpace(rec[1])
		v, err := strconv.ParseFloat(raw, 64)
		var numErr *strconv.NumError
		switch {
		case err != nil && first:
			continue // the header
		case errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange), math.IsInf(v, 0), math.IsNaN(v):
			return fmt.Errorf("%s:%d: value %q is not a finite number", name, line, rec[1])
		case err != nil:
			return fmt.Errorf("%s:%d: value %q is not a number", name, line, rec[1])
		}
		t, err := nab.ParseTime(rec[0])
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, line, err)
		}
		s := m.Score(t, v)
		buf = buf[:0]
		buf = append(buf, strings.TrimSpace(rec[0])...)
		buf = append(buf, ',')
		buf = append(buf, raw...)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, s, 'g', -1, 64)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}

func newNormalNABCommand() *cobra.Command {
	var corpus string
	var files bool
	cmd := &cobra.Command{
		Use:   "nab --corpus DIR",
		Short: "Measure the model of normal on the Numenta Anomaly Benchmark",
		Long: `Score every series of a NAB corpus (DIR holds data/, labels/combined_windows.json
and config/profiles.json, as numenta/NAB lays them out; the repository
carries a copy in testdata/nab) with a fresh model each, then score the
detections with Weir's implementation of NAB's scoring: for each profile
(standard, reward_low_FP_rate, reward_low_FN_rate), the normalised score
(null detector 0, perfect 100) at the threshold that maximises it over the
corpus, and at the model's fixed alert threshold, 0.5.

With --files it also lists each file's raw standard score at the swept
threshold, worst first, with its windows detected and false positives.`,
		Example: `  weir normal nab --corpus testdata/nab
  weir normal nab --corpus ../NAB --files`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if corpus == "" {
				return errors.New("--corpus is required: the NAB directory (data/, labels/, config/)")
			}
			return runNormalNAB(cmd.OutOrStdout(), corpus, files)
		},
	}
	cmd.Flags().StringVar(&corpus, "corpus", "", "the NAB corpus directory (data/, labels/, config/)")
	cmd.Flags().BoolVar(&files, "files", false, "also list each file's standard score, worst first")
	return cmd
}

func runNormalNAB(w io.Writer, dir string, files bool) error {
	c, err := nab.LoadCorpus(dir)
	if err != nil {
		return err
	}
	if _, err := normal.New(normal.DefaultConfig()); err != nil {
		return err
	}
	d := c.Detect(func() nab.Detector {
		m, _ := normal.New(normal.DefaultConfig()) // validated above
		return m.Score
	})
	r, s, err := c.Evaluate(d, normal.Threshold)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d series, %d points\n\n", len(c.Files), c.Rows())
	if err := r.WriteTable(w); err != nil {
		return err
	}
	if files {
		fmt.Fprintln(w)
		return r.WriteFiles(w, c, s)
	}
	return nil
}
