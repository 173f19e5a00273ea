package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/bench/internal/report"
	"github.com/weirstream/weir/pipeline"
)

// yamlSteps are the stateless queries as declarative pipeline steps over
// the schemaless events (each line an object with one of person, auction
// or bid), the same work as Benthos's mappings: drop what is not a
// selected bid, then build the row.
var yamlSteps = map[string]string{
	"q0": `
  - name: bids
    filter: bid != nil
  - name: row
    project: {auction: bid.auction, bidder: bid.bidder, price: bid.price, dateTime: bid.dateTime, extra: bid.extra}`,
	"q1": `
  - name: bids
    filter: bid != nil
  - name: row
    project: {auction: bid.auction, bidder: bid.bidder, price: bid.price * 0.908, dateTime: bid.dateTime, extra: bid.extra}`,
	"q2": `
  - name: bids
    filter: bid != nil && bid.auction % 123 == 0
  - name: row
    project: {auction: bid.auction, price: bid.price}`,
	"q22": `
  - name: bids
    filter: bid != nil
  - name: row
    project:
      auction: bid.auction
      bidder: bid.bidder
      price: bid.price
      channel: bid.channel
      dir1: 'let p = split(bid.url, "/"); len(p) > 3 ? p[3] : nil'
      dir2: 'let p = split(bid.url, "/"); len(p) > 4 ? p[4] : nil'
      dir3: 'let p = split(bid.url, "/"); len(p) > 5 ? p[5] : nil'`,
}

// yamlRun runs a query as a declarative pipeline on the events file at
// parallelism 1, its rows encoded as JSON lines and discarded (Benthos's
// consumer only counts them), and returns its events per CPU second.
func yamlRun(ctx context.Context, query, path string) (float64, error) {
	steps, ok := yamlSteps[query]
	if !ok {
		return 0, fmt.Errorf("no pipeline for %s", query)
	}
	src := fmt.Sprintf("version: 1\ninputs:\n  events: {type: file, path: %q}\nsteps:%s\noutputs:\n  out: {type: stdout}\n",
		path, steps)
	p, err := pipeline.Parse(query+".yaml", []byte(src), pipeline.Options{})
	if err != nil {
		return 0, fmt.Errorf("pipeline %s: %w", query, err)
	}
	env := weir.New(append(p.EnvOptions(), weir.Parallelism(1))...)
	if _, err := p.Build(env, pipeline.Stdout(io.Discard)); err != nil {
		return 0, fmt.Errorf("pipeline %s: %w", query, err)
	}
	runtime.GC()
	c0 := report.CPUSeconds()
	if err := env.Run(ctx); err != nil {
		return 0, fmt.Errorf("pipeline %s: %w", query, err)
	}
	cpu := report.CPUSeconds() - c0
	var events int64
	for _, m := range env.Metrics() {
		if pipeline.IsSource(m.ID) && strings.HasSuffix(m.ID, "/events") {
			events += m.In
		}
	}
	if events == 0 {
		return 0, fmt.Errorf("pipeline %s read no events", query)
	}
	return float64(events) / cpu, nil
}
