// Command normal measures Weir's model of normal (package normal) on the
// Numenta Anomaly Benchmark: it scores all 58 series, one fresh model per
// series, and scores the detections with Weir's implementation of NAB's
// scoring under the three profiles, with the threshold swept over the
// corpus and at the model's fixed threshold (normal.Threshold). It also
// reports the model's throughput in points per second per core (scoring
// CPU time from rusage) and its state size. With -doc it writes the table
// between the normal markers of that Markdown file.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/weirstream/weir/bench/internal/report"
	"github.com/weirstream/weir/internal/app/nab"
	"github.com/weirstream/weir/normal"
)

func main() {
	corpus := flag.String("corpus", "testdata/nab", "the NAB corpus directory (data/, labels/, config/)")
	doc := flag.String("doc", "", "write the table into this Markdown file between the normal markers")
	files := flag.Bool("files", false, "also print each file's standard score at the swept threshold")
	config := flag.String("config", "", "JSON of normal.Config fields to change from the defaults (durations in nanoseconds), for trying settings")
	flag.Parse()
	cfg := normal.DefaultConfig()
	if *config != "" {
		if err := json.Unmarshal([]byte(*config), &cfg); err != nil {
			fmt.Fprintln(os.Stderr, "bench-normal: -config:", err)
			os.Exit(2)
		}
	}
	if err := run(*corpus, *doc, *files, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench-normal:", err)
		os.Exit(1)
	}
}

func run(dir, doc string, files bool, cfg normal.Config) error {
	c, err := nab.LoadCorpus(dir)
	if err != nil {
		return err
	}
	probe, err := normal.New(cfg)
	if err != nil {
		return err
	}
	newDetector := func() nab.Detector {
		m, _ := normal.New(cfg) // validated above
		return m.Score
	}
	// Warm up once, then measure the scoring alone.
	c.Detect(newDetector)
	cpu0 := report.CPUSeconds()
	wall0 := time.Now()
	d := c.Detect(newDetector)
	cpu := report.CPUSeconds() - cpu0
	wall := time.Since(wall0)
	rows := c.Rows()

	r, s, err := c.Evaluate(d, normal.Threshold)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Measured %s on %d CPUs (%s/%s): %d series, %d points, one model per series, %d bytes of state per model.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, len(c.Files), rows, probe.StateSize())
	if err := r.WriteTable(&b); err != nil {
		return err
	}
	fmt.Fprintf(&b, "\nScoring: %.0f points/s per core (%.2f CPU s, %.2f s wall).\n", float64(rows)/cpu, cpu, wall.Seconds())
	os.Stdout.Write(b.Bytes())
	if files {
		if err := r.WriteFiles(os.Stdout, c, s); err != nil {
			return err
		}
	}
	if doc != "" {
		return report.WriteSection(doc, "normal", b.String())
	}
	return nil
}
