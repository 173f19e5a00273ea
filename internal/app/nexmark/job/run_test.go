package job

import (
	"testing"
	"time"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// passthrough emits every event as a row, so at every moment the rows
// written are at most the events read.
var passthrough = Query{Name: "all", Title: "every event", Build: func(c *Context) error {
	Emit(c, c.Events(), func(dst []byte, e nexmark.Event) []byte {
		r := BeginRow(dst)
		r.Int("time", e.DateTime())
		return r.End()
	})
	return nil
}}

// TestProgressEventsNeverBehindRows: the progress line's counts are read so
// that the events include every event behind the rows; they used to come
// from metrics published every quarter second, behind the rows counted at
// once.
func TestProgressEventsNeverBehindRows(t *testing.T) {
	cfg := nexmark.DefaultConfig()
	cfg.Events = 100_000
	var seen []Progress
	r, err := Run(t.Context(), passthrough, Options{
		Generator: cfg, Parallelism: 2, Rate: 400_000,
		Progress:      func(p Progress) { seen = append(seen, p) },
		ProgressEvery: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != cfg.Events || r.Rows != cfg.Events {
		t.Fatalf("read %d events and wrote %d rows, want %d of each", r.Events, r.Rows, cfg.Events)
	}
	if len(seen) == 0 {
		t.Fatal("no progress was reported")
	}
	for _, p := range seen {
		if p.Rows > p.Events {
			t.Fatalf("progress at %v shows %d rows from %d events of a query that writes one row per event", p.Elapsed, p.Rows, p.Events)
		}
	}
	t.Logf("%d progress reports", len(seen))
}
