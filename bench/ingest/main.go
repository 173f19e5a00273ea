// Command ingest is the HTTP ingest benchmark behind `make bench-ingest`:
// it runs the beacon collector (connectors/httpingest) on a journal in a
// temporary directory, on a free port of 127.0.0.1, and drives it with
// wrk, whose requests post JSON arrays of -batch beacons each. Every 200
// answer means its beacons were fsynced (group commit). It reports events
// per second (wall), events per CPU second of the collector's process
// (rusage; wrk runs in a process of its own), and wrk's latency
// percentiles, and checks that the journal holds every acknowledged
// event.
//
// With -doc it writes the table between the markers
// "<!-- ingest:begin -->" and "<!-- ingest:end -->" of that file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/weirstream/weir/bench/internal/report"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/weirstream/weir/connectors/httpingest"
	"github.com/weirstream/weir/connectors/journal"
)

type options struct {
	duration    time.Duration
	connections int
	threads     int
	batch       int
	partitions  int
	doc         string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "how long wrk posts")
	flag.IntVar(&o.connections, "connections", 64, "wrk's connections")
	flag.IntVar(&o.threads, "threads", 2, "wrk's threads")
	flag.IntVar(&o.batch, "batch", 100, "beacons per request (a JSON array)")
	flag.IntVar(&o.partitions, "partitions", 8, "journal partitions (by view ID)")
	flag.StringVar(&o.doc, "doc", "", "write the table into this Markdown file between the ingest markers")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-ingest: %v\n", err)
		os.Exit(1)
	}
}

// script is wrk's Lua script: it posts one of 16 bodies in turn, each a
// JSON array of batch beacons of distinct views.
const script = `
local bodies = {}
local n = 0
local batch = %d
init = function(args)
  for b = 1, 16 do
    local events = {}
    for i = 1, batch do
      events[i] = string.format('{"view":"v-%%d-%%d","player":"web-7.2","event":"heartbeat","ts":1700000000000,"bitrate":2500,"buffering":0,"position":%%d.5}', b, i, i)
    end
    bodies[b] = "[" .. table.concat(events, ",") .. "]"
  end
end
request = function()
  n = n + 1
  return wrk.format("POST", "/events", {["Content-Type"] = "application/json"}, bodies[n %% 16 + 1])
end
`

func run(o options) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (Debian: apt-get install wrk)")
	}
	dir, err := os.MkdirTemp("", "weir-bench-ingest-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	j, err := journal.Open(journal.Config{Dir: filepath.Join(dir, "journal"), Partitions: o.partitions})
	if err != nil {
		return err
	}
	defer j.Close()
	h, err := httpingest.NewHandler(httpingest.Config{Journal: j, PartitionField: "view", MaxInFlight: 4 * o.connections})
	if err != nil {
		return err
	}
	srv, err := httpingest.Listen(h, httpingest.ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	defer func() {
		cancel()
		<-served
	}()
	lua := filepath.Join(dir, "post.lua")
	if err := os.WriteFile(lua, fmt.Appendf(nil, script, o.batch), 0o644); err != nil {
		return err
	}
	url := "http://" + srv.Addr() + "/events"
	// One request first, so that a refusal shows before the load does.
	resp, err := http.Post(url, "application/json", strings.NewReader(`[{"view":"warm-up"}]`))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("warm-up request answered %s", resp.Status)
	}

	cpu0 := report.CPUSeconds()
	out, err := exec.Command("wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", o.duration.String(), "--latency", "-s", lua, url).CombinedOutput()
	if err != nil {
		return fmt.Errorf("wrk: %w\n%s", err, out)
	}
	cpu := report.CPUSeconds() - cpu0
	w, err := parseWrk(string(out))
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	events := (w.requests - w.non2xx) * int64(o.batch)
	// wrk counts the answers it read before its time was up; the
	// requests in flight then were appended too, unanswered.
	stored := j.Metrics().Records - 1 // the warm-up event
	if stored < events || stored > events+int64(o.connections*o.batch) {
		return fmt.Errorf("the journal holds %d events, but %d requests of %d were acknowledged (%d events, and at most %d in flight)",
			stored, w.requests-w.non2xx, o.batch, events, o.connections)
	}
	table := render(o, w, events, cpu)
	fmt.Print(table)
	if o.doc != "" {
		return report.WriteSection(o.doc, "ingest", table)
	}
	return nil
}

// wrkResult is what wrk printed.
type wrkResult struct {
	requests, non2xx int64
	seconds          float64
	p50, p90, p99    string
}

var (
	wrkRequests = regexp.MustCompile(`(\d+) requests in ([\d.]+)(ms|s|m)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|90|99)%\s+(\S+)`)
)

func parseWrk(s string) (wrkResult, error) {
	var w wrkResult
	m := wrkRequests.FindStringSubmatch(s)
	if m == nil {
		return w, errors.New("no request count in wrk's output")
	}
	w.requests, _ = strconv.ParseInt(m[1], 10, 64)
	w.seconds, _ = strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "ms":
		w.seconds /= 1000
	case "m":
		w.seconds *= 60
	}
	if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
		w.non2xx, _ = strconv.ParseInt(m[1], 10, 64)
	}
	for _, m := range wrkPct.FindAllStringSubmatch(s, -1) {
		switch m[1] {
		case "50":
			w.p50 = m[2]
		case "90":
			w.p90 = m[2]
		case "99":
			w.p99 = m[2]
		}
	}
	return w, nil
}

func render(o options, w wrkResult, events int64, cpu float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %d CPUs (%s/%s): wrk -t%d -c%d for %v, JSON arrays of %d beacons (about 130 bytes each), %d journal partitions by view ID, every answer after its fsync.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH,
		o.threads, o.connections, o.duration, o.batch, o.partitions)
	b.WriteString("| requests | refused | events/s | events per collector CPU s | latency p50 | p90 | p99 |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %d | %d | %.0f | %.0f | %s | %s | %s |\n", w.requests, w.non2xx,
		float64(events)/w.seconds, float64(events)/cpu, w.p50, w.p90, w.p99)
	return b.String()
}
