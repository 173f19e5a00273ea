package demo

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/weirstream/weir/normal"
)

// Pipeline returns the demo job as a pipeline file, the form `weir demo`
// submits to the job server: the job of Build, on views posted to an HTTP
// ingest input (input "beacons", at path /beacons, kept in the journal
// directory journal) as JSON with the fields of BeaconOf. Blocks of
// blockSize views per title are a count window, each block's error rate
// per customer is scored by the pipeline's normal step (Weir's model of
// normal, as in Build; it learns from a key's first 150 values where Build
// takes 200), and the alerts it opens and closes are the records of output
// "alerts" (stdout); AlertLine formats one as Build prints it.
func Pipeline(blockSize int, journal string) string {
	return fmt.Sprintf(`version: 1
name: video-quality
inputs:
  beacons:
    type: http
    path: /beacons
    listen: 127.0.0.1:0
    journal: %q
    start: latest
    schema: {view_id: int, title: string, customer: string, error: string, ended_at: timestamp}
    event_time: {field: ended_at, max_out_of_orderness: 5s, idleness: 10s}
steps:
  - name: blocks
    window:
      key: title
      count: %d
      aggregates: {views: count, errors: count(error), customer: max(customer)}
  - name: error-rate
    project: {customer: customer, error_rate: float(errors) / float(views)}
  - name: normal
    normal: {key: customer, value: error_rate, alerts: alerts}
  # The scored blocks themselves are not kept: only the alerts are.
  - name: scored
    filter: "false"
outputs:
  alerts: {type: stdout}
  none: {type: stdout, from: scored}
`, journal, blockSize)
}

// AlertLine formats an alert record of Pipeline's output "alerts", as
// JSON, the way Build prints an alert; false when line is not one.
func AlertLine(line []byte) (string, bool) {
	var r struct {
		Key      string     `json:"key"`
		State    string     `json:"state"`
		Value    float64    `json:"value"`
		Lo       float64    `json:"expected_low"`
		Hi       float64    `json:"expected_high"`
		Score    float64    `json:"score"`
		OpenedAt time.Time  `json:"opened_at"`
		ClosedAt *time.Time `json:"closed_at"`
	}
	if err := json.Unmarshal(line, &r); err != nil || r.Key == "" || (r.State != "open" && r.State != "closed") {
		return "", false
	}
	a := normal.Alert[string]{Key: r.Key, Value: r.Value, Lo: r.Lo, Hi: r.Hi, Score: r.Score, OpenedAt: r.OpenedAt}
	if r.State == "closed" {
		if r.ClosedAt == nil {
			return "", false
		}
		a.ClosedAt = *r.ClosedAt
	}
	return alertLine(a), true
}

// Beacon is a view as a player posts it to the demo's HTTP ingest input.
type Beacon struct {
	ViewID   int64  `json:"view_id"`
	Title    string `json:"title"`
	Customer string `json:"customer"`
	Error    string `json:"error,omitempty"`
	EndedAt  int64  `json:"ended_at"` // Unix milliseconds
}

// BeaconOf returns view v as a beacon.
func BeaconOf(v View) Beacon {
	return Beacon{ViewID: v.ViewID, Title: v.Title, Customer: v.Customer, Error: v.Error, EndedAt: v.EndedAt.UnixMilli()}
}
