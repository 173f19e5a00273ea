package nexmark_test

import (
	"fmt"
	"os"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// A stream is a Config; its events are computed from their numbers, so any
// range of it can be generated on its own.
func ExampleGenerator_Range() {
	cfg := nexmark.DefaultConfig()
	cfg.Seed = 1
	g, err := nexmark.NewGenerator(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for n, e := range g.Range(48, 53) {
		switch e.Kind {
		case nexmark.KindPerson:
			fmt.Println(n, "person", e.Person.ID, "at", e.Person.DateTime-nexmark.DefaultBaseTime, "ms")
		case nexmark.KindAuction:
			fmt.Println(n, "auction", e.Auction.ID, "at", e.Auction.DateTime-nexmark.DefaultBaseTime, "ms")
		case nexmark.KindBid:
			fmt.Println(n, "bid", "at", e.Bid.DateTime-nexmark.DefaultBaseTime, "ms")
		}
	}
	// Output:
	// 48 bid at 0 ms
	// 49 bid at 0 ms
	// 50 person 1001 at 0 ms
	// 51 auction 1003 at 0 ms
	// 52 auction 1004 at 0 ms
}

// AppendJSON writes one event as a JSON object, the lines of
// `weir nexmark generate`.
func ExampleAppendJSON() {
	g, err := nexmark.NewGenerator(nexmark.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	e := g.Event(0)
	e.Person.Extra = e.Person.Extra[:8] // shortened for the example
	os.Stdout.Write(append(nexmark.AppendJSON(nil, &e), '\n'))
	// Output:
	// {"person":{"id":1000,"name":"Saul Smith","emailAddress":"mngt@frz.com","creditCard":"2951 7866 9264 2658","city":"San Francisco","state":"CA","dateTime":1436918400000,"extra":"fkkcaifk"}}
}
