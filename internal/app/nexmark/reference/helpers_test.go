package reference

import (
	"slices"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// t0 is a round time to build inputs from: 2015-07-15T00:00:00Z.
const t0 = nexmark.DefaultBaseTime

func bidAt(ms, auction, bidder, price int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindBid, Bid: nexmark.Bid{
		Auction: auction, Bidder: bidder, Price: price, DateTime: ms,
		Channel: "Google", URL: "https://www.nexmark.com/a/b/c/item.htm?query=1", Extra: "x",
	}}
}

func personAt(ms, id int64, name, state string) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindPerson, Person: nexmark.Person{
		ID: id, Name: name, City: "City" + name, State: state, DateTime: ms,
	}}
}

func auctionAt(ms, id, seller, category, expires int64) nexmark.Event {
	return nexmark.Event{Kind: nexmark.KindAuction, Auction: nexmark.Auction{
		ID: id, ItemName: "item", Seller: seller, Category: category, DateTime: ms, Expires: expires,
	}}
}

// jsonLines returns the rows' JSON, one a line.
func jsonLines(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.JSON()
	}
	return out
}

// wantRows fails t unless rows, as JSON, are want, in order.
func wantRows(t *testing.T, rows []Row, want ...string) {
	t.Helper()
	got := jsonLines(rows)
	if !slices.Equal(got, want) {
		t.Errorf("got %d rows:\n%s\nwant %d rows:\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
}
