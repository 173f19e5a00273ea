package reference

import (
	"math/big"
	"regexp"
	"strings"

	"github.com/weirstream/weir/internal/app/nexmark"
)

// Q0 is the passthrough: SELECT auction, bidder, price, dateTime, extra FROM
// bid. Append-only, one row per bid, in stream order.
func Q0(events []nexmark.Event) []Row {
	var out []Row
	for _, b := range bids(events) {
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price},
			{"dateTime", b.DateTime}, {"extra", b.Extra},
		})
	}
	return out
}

// Q1 is the currency conversion: every bid with price replaced by the exact
// DECIMAL(23, 3) value of 0.908 * price (no rounding: price·908
// thousandths). Columns auction, bidder, price, dateTime, extra. Append-only,
// one row per bid, in stream order.
func Q1(events []nexmark.Event) []Row {
	var out []Row
	for _, b := range bids(events) {
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", times0908(b.Price)},
			{"dateTime", b.DateTime}, {"extra", b.Extra},
		})
	}
	return out
}

// Q2 is the selection: the bids with MOD(auction, 123) = 0 (MOD takes the
// sign of the dividend, as Go's %). Columns auction, price. Append-only, in
// stream order.
func Q2(events []nexmark.Event) []Row {
	var out []Row
	for _, b := range bids(events) {
		if b.Auction%123 == 0 {
			out = append(out, Row{{"auction", b.Auction}, {"price", b.Price}})
		}
	}
	return out
}

// Q10 is the bids written to a partitioned file sink: every bid's auction,
// bidder, price, dateTime, extra, plus DATE_FORMAT(dateTime, 'yyyy-MM-dd')
// and DATE_FORMAT(dateTime, 'HH:mm') in UTC. The SELECT list leaves the last
// two unnamed; they take the sink's names dt and hm. Only the rows are
// modelled, not the files. Append-only, one row per bid, in stream order.
func Q10(events []nexmark.Event) []Row {
	var out []Row
	for _, b := range bids(events) {
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price},
			{"dateTime", b.DateTime}, {"extra", b.Extra},
			{"dt", dateOf(b.DateTime)}, {"hm", hourMinuteOf(b.DateTime)},
		})
	}
	return out
}

// Q14 is the calc with a UDF: the bids with 1 000 000 < 0.908 * price <
// 50 000 000 (both bounds exclusive, compared exactly), with columns
// auction, bidder, price (the Decimal 0.908 * price), bidTimeType, dateTime,
// extra, c_counts. bidTimeType comes from HOUR(dateTime) in UTC: 8 to 18
// inclusive "dayTime", ≤ 6 or ≥ 20 "nightTime", otherwise (7 and 19)
// "otherTime". c_counts is count_char(extra, 'c'): how many bytes of extra's
// UTF-8 encoding equal 'c'. Append-only, in stream order.
func Q14(events []nexmark.Event) []Row {
	low := big.NewInt(1_000_000 * 1000) // in thousandths
	high := big.NewInt(50_000_000 * 1000)
	var out []Row
	for _, b := range bids(events) {
		p := thousandths0908(b.Price)
		if p.Cmp(low) <= 0 || p.Cmp(high) >= 0 {
			continue
		}
		var kind string
		switch h := hourOf(b.DateTime); {
		case h >= 8 && h <= 18:
			kind = "dayTime"
		case h <= 6 || h >= 20:
			kind = "nightTime"
		default:
			kind = "otherTime"
		}
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", decimal3(p)},
			{"bidTimeType", kind}, {"dateTime", b.DateTime}, {"extra", b.Extra},
			{"c_counts", int64(strings.Count(b.Extra, "c"))},
		})
	}
	return out
}

// channelIDPattern is the reference's REGEXP_EXTRACT pattern; group 2 is the
// channel id.
var channelIDPattern = regexp.MustCompile(`(&|^)channel_id=([^&]*)`)

// regexpExtractChannelID returns REGEXP_EXTRACT(url,
// '(&|^)channel_id=([^&]*)', 2): group 2 of the first match, or nil (NULL)
// when nothing matches.
func regexpExtractChannelID(url string) any {
	m := channelIDPattern.FindStringSubmatch(url)
	if m == nil {
		return nil
	}
	return m[2]
}

// Q21 is the channel-id extraction: columns auction, bidder, price, channel,
// channel_id. channel_id is "0", "1", "2", "3" when lower(channel) is apple,
// google, facebook, baidu; otherwise REGEXP_EXTRACT(url,
// '(&|^)channel_id=([^&]*)', 2) (the first match's group 2, possibly "").
// A bid is kept when that extraction is not NULL or lower(channel) is one
// of the four names. Append-only, in stream order.
func Q21(events []nexmark.Event) []Row {
	hot := map[string]string{"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}
	var out []Row
	for _, b := range bids(events) {
		extracted := regexpExtractChannelID(b.URL)
		id, isHot := hot[strings.ToLower(b.Channel)]
		if extracted == nil && !isHot {
			continue
		}
		var channelID any = id
		if !isHot {
			channelID = extracted
		}
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price},
			{"channel", b.Channel}, {"channel_id", channelID},
		})
	}
	return out
}

// splitIndex returns Flink's SPLIT_INDEX(s, sep, i): the i-th (from 0)
// piece of s split at every sep, empty pieces kept, or nil (NULL) when
// there are not that many pieces. An empty s has no pieces.
func splitIndex(s, sep string, i int) any {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, sep)
	if i < 0 || i >= len(parts) {
		return nil
	}
	return parts[i]
}

// Q22 is the URL split: columns auction, bidder, price, channel, dir1, dir2,
// dir3 with dirN = SPLIT_INDEX(url, '/', N+2), so for
// "https://www.nexmark.com/a/b/c/item.htm" dir1..dir3 are a, b, c (pieces
// 0..2 being "https:", "" and the host); a missing piece is NULL.
// Append-only, one row per bid, in stream order.
func Q22(events []nexmark.Event) []Row {
	var out []Row
	for _, b := range bids(events) {
		out = append(out, Row{
			{"auction", b.Auction}, {"bidder", b.Bidder}, {"price", b.Price},
			{"channel", b.Channel},
			{"dir1", splitIndex(b.URL, "/", 3)},
			{"dir2", splitIndex(b.URL, "/", 4)},
			{"dir3", splitIndex(b.URL, "/", 5)},
		})
	}
	return out
}
