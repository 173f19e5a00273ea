// Package httpingest is the collector of events posted over HTTP — a
// video player's beacons, say: an http.Handler that takes one JSON event,
// a JSON array of events or JSON lines, checks each event, appends them to
// a journal (package journal) partitioned by a field of the event, and
// answers 200 only once they are durable. An acknowledged event is never
// lost, even if the process is killed the moment after.
//
// Handler is the collector; Server serves it on 127.0.0.1 by default with
// bounds against slow and oversized requests. When the journal's readers
// fall too far behind, or its append queue is full, the collector answers
// 429 or 503 with Retry-After instead of buffering. Metrics counts
// requests, events, bytes and refusals.
//
// docs/ingest.md lists the configuration, the status codes and what a
// client should do with each.
package httpingest
