package stateless

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ0(t *testing.T) { jobtest.CheckGenerated(t, Q0, reference.Q0, job.Options{}) }
func TestQ1(t *testing.T) { jobtest.CheckGenerated(t, Q1, reference.Q1, job.Options{}) }
func TestQ2(t *testing.T) { jobtest.CheckGenerated(t, Q2, reference.Q2, job.Options{}) }

func bid(auction, price int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{Auction: auction, Bidder: 7, Price: price,
		Channel: "Google", URL: "https://www.nexmark.com/a/b/c/item.htm", DateTime: 1_000, Extra: "x"}}
}

// The hand-made cases: expected rows worked out by hand.
func TestStatelessByHand(t *testing.T) {
	person := nexmark.Event{Kind: nexmark.KindPerson, Person: nexmark.Person{ID: 1, Name: "a", DateTime: 1_000}}
	events := []nexmark.Event{person, bid(246, 1), bid(247, 1000), bid(-123, 33)}
	t.Run("q0", func(t *testing.T) {
		jobtest.CheckInput(t, Q0, events, []reference.Row{
			jobtest.R("auction", 246, "bidder", 7, "price", 1, "dateTime", 1000, "extra", "x"),
			jobtest.R("auction", 247, "bidder", 7, "price", 1000, "dateTime", 1000, "extra", "x"),
			jobtest.R("auction", -123, "bidder", 7, "price", 33, "dateTime", 1000, "extra", "x"),
		}, job.Options{})
	})
	t.Run("q1", func(t *testing.T) {
		// 0.908 × 1 = 0.908; × 1000 = 908.000; × 33 = 29.964.
		jobtest.CheckInput(t, Q1, events, []reference.Row{
			jobtest.R("auction", 246, "bidder", 7, "price", reference.Decimal("0.908"), "dateTime", 1000, "extra", "x"),
			jobtest.R("auction", 247, "bidder", 7, "price", reference.Decimal("908.000"), "dateTime", 1000, "extra", "x"),
			jobtest.R("auction", -123, "bidder", 7, "price", reference.Decimal("29.964"), "dateTime", 1000, "extra", "x"),
		}, job.Options{})
	})
	t.Run("q2", func(t *testing.T) {
		// 246 = 2·123 and -123 are multiples of 123; 247 is not.
		jobtest.CheckInput(t, Q2, events, []reference.Row{
			jobtest.R("auction", 246, "price", 1),
			jobtest.R("auction", -123, "price", 33),
		}, job.Options{})
	})
}
