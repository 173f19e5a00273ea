package windows

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

// year3000 is 3000-01-01T00:00:00Z in Unix milliseconds.
const year3000 = 32_503_680_000_000

// The window queries on generated events (2015) with bids of the first
// auction's bidder far from them: at the start of the event-time range and
// with its dateTime in seconds (1970) first, in the year 3000 and at the end
// of the range last: the work of a record or a watermark must not
// grow with how far apart event times are (q5 used to step through every
// window between 1970 and 2015, for hours), and the rows are the
// reference's.
func TestWindowQueriesWithFarApartTimestamps(t *testing.T) {
	gen, _ := jobtest.Events(t, 2_000, 1_000)
	events := append([]nexmark.Event{bid(1000, 1001, 5, weir.MinEventTime.UnixMilli()), bid(1000, 1001, 5, 1_436_918_400)}, gen...)
	events = append(events, bid(1000, 1001, 5, year3000), bid(1000, 1001, 5, weir.MaxEventTime.UnixMilli()))
	if err := reference.CheckNotLate(events); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		q   job.Query
		ref func([]nexmark.Event) []reference.Row
	}{{Q5, reference.Q5}, {Q7, reference.Q7}, {Q8, reference.Q8}, {Q11, reference.Q11}} {
		t.Run(c.q.Name, func(t *testing.T) { jobtest.CheckInput(t, c.q, events, c.ref(events), job.Options{}) })
	}
}

// Bids at the ends of the event-time range are sessions like any other;
// bids beyond them (up to the int64 limits, where a session's end used to
// overflow into a negative endtime) meet the error policy as bad records
// of the source, named by line and time.
func TestQ11ExtremeTimestamps(t *testing.T) {
	gen, _ := jobtest.Events(t, 200, 1_000)
	lo, hi := weir.MinEventTime.UnixMilli(), weir.MaxEventTime.UnixMilli()
	good := append([]nexmark.Event{bid(1, 7, 1, lo), bid(1, 7, 1, lo+10_000)}, gen...)
	good = append(good, bid(1, 7, 1, hi-10_000), bid(1, 8, 1, hi))
	if err := reference.CheckNotLate(good); err != nil {
		t.Fatal(err)
	}
	var events []nexmark.Event
	bad := []int64{math.MinInt64, math.MinInt64 + 1, hi + 1, math.MaxInt64 - 1, math.MaxInt64}
	for i, e := range good {
		if i%40 == 20 && len(bad) > 0 {
			events = append(events, bid(2, 9, 1, bad[0]))
			bad = bad[1:]
		}
		events = append(events, e)
	}
	want := reference.Q11(good)
	if !slices.ContainsFunc(want, func(r reference.Row) bool {
		return r.JSON() == jobtest.R("bidder", 8, "bid_count", 1, "starttime", hi, "endtime", hi+10_000).JSON()
	}) {
		t.Fatalf("the reference has no session at the end of time: %v", want)
	}
	t.Run("skip", func(t *testing.T) {
		jobtest.CheckInput(t, Q11, events, want, job.Options{OnError: weir.Skip})
	})
	t.Run("fail", func(t *testing.T) {
		_, _, err := job.RunCollect(t.Context(), Q11, job.Options{Input: jobtest.WriteEvents(t, events), Parallelism: 1})
		if err == nil {
			t.Fatal("the job succeeded")
		}
		for _, s := range []string{"events.jsonl", "line 21", "event time -9223372036854775808 ms (the int64 minimum, which stands for no event time) is outside"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not say %q", err, s)
			}
		}
	})
}
