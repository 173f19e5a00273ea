package stateless

import (
	"strings"
	"unicode/utf8"

	"github.com/weirstream/weir"
	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
)

// Q21 adds a channel id to the bids: columns auction, bidder, price,
// channel, channel_id. channel_id is "0", "1", "2", "3" when
// lower(channel) is apple, google, facebook, baidu, and otherwise
// REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2); a bid with neither is
// dropped. The extraction is a hand-written scan, not a regular
// expression: extractChannelID gives exactly the regular expression's
// result (TestExtractChannelIDMatchesRegexp, FuzzExtractChannelID) without
// its cost.
var Q21 = job.Query{Name: "q21", Title: "add channel id", Build: buildQ21}

// q21Row is a bid with its channel id.
type q21Row struct {
	auction, bidder, price int64
	channel, channelID     string
}

// channelIDParam is the URL parameter q21 extracts.
const channelIDParam = "channel_id="

// extractChannelID returns REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)',
// 2): the value of the leftmost "channel_id=" that starts url or follows a
// '&', up to the next '&' or the end (possibly ""); ok is false (NULL)
// when there is none. Leftmost-first matching makes the regular
// expression's match the earliest of those places: the text start, then
// each '&' in order, and [^&]* greedy takes the whole run of non-'&'
// bytes. Invalid UTF-8 changes nothing, since '&' is never part of a
// multi-byte sequence the regexp package would decode.
func extractChannelID(url string) (id string, ok bool) {
	i := 0 // a place where "channel_id=" may start: 0 or just after a '&'
	for {
		if strings.HasPrefix(url[i:], channelIDParam) {
			v := url[i+len(channelIDParam):]
			if j := strings.IndexByte(v, '&'); j >= 0 {
				v = v[:j]
			}
			return v, true
		}
		j := strings.IndexByte(url[i:], '&')
		if j < 0 {
			return "", false
		}
		i += j + 1
	}
}

// hotChannelID returns the id of the hot channels: "0" to "3" when
// strings.ToLower(channel) is apple, google, facebook or baidu. An ASCII
// channel is compared case-insensitively in place, with no allocation;
// any other is lowered with strings.ToLower, whose Unicode mapping can
// turn a non-ASCII letter into one of these names (U+212A KELVIN SIGN
// into 'k', U+0130 into 'i').
func hotChannelID(channel string) (string, bool) {
	for i := range len(channel) {
		if channel[i] >= utf8.RuneSelf {
			return hotLowerChannelID(strings.ToLower(channel))
		}
	}
	switch len(channel) {
	case len("apple"):
		if equalLowerASCII(channel, "apple") {
			return "0", true
		}
		if equalLowerASCII(channel, "baidu") {
			return "3", true
		}
	case len("google"):
		if equalLowerASCII(channel, "google") {
			return "1", true
		}
	case len("facebook"):
		if equalLowerASCII(channel, "facebook") {
			return "2", true
		}
	}
	return "", false
}

// hotLowerChannelID is hotChannelID of a lowered channel name.
func hotLowerChannelID(lower string) (string, bool) {
	switch lower {
	case "apple":
		return "0", true
	case "google":
		return "1", true
	case "facebook":
		return "2", true
	case "baidu":
		return "3", true
	}
	return "", false
}

// equalLowerASCII reports whether the ASCII string s, lowered, equals
// lower, which is lower-case ASCII of the same length.
func equalLowerASCII(s, lower string) bool {
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// channelID is q21's channel_id of b and whether b is kept.
func channelID(b *nexmark.Bid) (string, bool) {
	if id, ok := hotChannelID(b.Channel); ok {
		return id, true
	}
	return extractChannelID(b.URL)
}

func buildQ21(c *job.Context) error {
	rows := weir.FlatMap(c.Bids(), func(b nexmark.Bid, out weir.Out[q21Row]) error {
		if id, ok := channelID(&b); ok {
			out.Emit(q21Row{auction: b.Auction, bidder: b.Bidder, price: b.Price, channel: b.Channel, channelID: id})
		}
		return nil
	}).Name("channel id")
	job.Emit(c, rows, func(dst []byte, b q21Row) []byte {
		r := job.BeginRow(dst)
		r.Int("auction", b.auction)
		r.Int("bidder", b.bidder)
		r.Int("price", b.price)
		r.Str("channel", b.channel)
		r.Str("channel_id", b.channelID)
		return r.End()
	})
	return nil
}
