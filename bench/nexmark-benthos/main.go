// Command nexmark-benthos runs the stateless Nexmark queries Redpanda's
// Benthos can express (q0, q1, q2, q22) on a JSON-lines events file, so that
// `make bench-nexmark` can compare Weir with it on the same input. It lives
// in a Go module of its own so that Benthos never becomes a dependency of
// the engine.
//
// It prints one line of JSON: the query, the rows it produced, the events
// read, the wall-clock seconds and the CPU seconds of the process (rusage).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/redpanda-data/benthos/v4/public/components/io"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// mappings are the queries in Bloblang. Each parses the event line as JSON,
// drops events that are not bids (and, for q2, bids not selected) and
// builds the result row with the reference SQL's column names.
var mappings = map[string]string{
	"q0": `
if this.exists("bid") {
  root.auction = this.bid.auction
  root.bidder = this.bid.bidder
  root.price = this.bid.price
  root.dateTime = this.bid.dateTime
  root.extra = this.bid.extra
} else {
  root = deleted()
}`,
	"q1": `
if this.exists("bid") {
  root.auction = this.bid.auction
  root.bidder = this.bid.bidder
  root.price = this.bid.price * 0.908
  root.dateTime = this.bid.dateTime
  root.extra = this.bid.extra
} else {
  root = deleted()
}`,
	"q2": `
if this.exists("bid") && this.bid.auction % 123 == 0 {
  root.auction = this.bid.auction
  root.price = this.bid.price
} else {
  root = deleted()
}`,
	"q22": `
if this.exists("bid") {
  let parts = this.bid.url.split("/")
  root.auction = this.bid.auction
  root.bidder = this.bid.bidder
  root.price = this.bid.price
  root.channel = this.bid.channel
  root.dir1 = $parts.index(3).catch(null)
  root.dir2 = $parts.index(4).catch(null)
  root.dir3 = $parts.index(5).catch(null)
} else {
  root = deleted()
}`,
}

// result is what one run measured.
type result struct {
	Query   string  `json:"query"`
	Events  int64   `json:"events"`
	Rows    int64   `json:"rows"`
	Seconds float64 `json:"seconds"`
	CPU     float64 `json:"cpuSeconds"`
}

func main() {
	query := flag.String("query", "", "the query: q0, q1, q2 or q22")
	input := flag.String("input", "", "the JSON-lines events file")
	threads := flag.Int("threads", 1, "pipeline threads")
	flag.Parse()
	if err := run(*query, *input, *threads); err != nil {
		fmt.Fprintf(os.Stderr, "nexmark-benthos: %v\n", err)
		os.Exit(1)
	}
}

func run(query, input string, threads int) error {
	mapping, ok := mappings[query]
	switch {
	case !ok:
		return fmt.Errorf("-query %q: want q0, q1, q2 or q22", query)
	case input == "":
		return errors.New("-input is required")
	}
	if _, err := os.Stat(input); err != nil {
		return fmt.Errorf("-input: %w", err)
	}
	events, err := countLines(input)
	if err != nil {
		return err
	}
	b := service.NewStreamBuilder()
	b.SetThreads(threads)
	if err := b.SetLoggerYAML("level: none"); err != nil {
		return err
	}
	if err := b.SetMetricsYAML("none: {}"); err != nil {
		return err
	}
	inputYAML := fmt.Sprintf("file:\n  paths: [%q]\n  scanner:\n    lines: {}\n", input)
	if err := b.AddInputYAML(inputYAML); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if err := b.AddProcessorYAML("mapping: |\n" + indent(mapping, "  ")); err != nil {
		return fmt.Errorf("mapping: %w", err)
	}
	var rows atomic.Int64
	if err := b.AddBatchConsumerFunc(func(_ context.Context, batch service.MessageBatch) error {
		rows.Add(int64(len(batch)))
		return nil
	}); err != nil {
		return err
	}
	stream, err := b.Build()
	if err != nil {
		return err
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	if err := stream.Run(context.Background()); err != nil {
		return err
	}
	r := result{Query: query, Events: events, Rows: rows.Load(), Seconds: time.Since(start).Seconds(), CPU: cpuSeconds() - cpu0}
	return json.NewEncoder(os.Stdout).Encode(r)
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// countLines counts the events of the file, before the clock starts.
func countLines(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return int64(strings.Count(string(data), "\n")), nil
}

// cpuSeconds is the process's user + system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
