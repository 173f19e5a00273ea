package stateless

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
	"github.com/weirstream/weir/internal/app/nexmark/job"
	"github.com/weirstream/weir/internal/app/nexmark/job/jobtest"
	"github.com/weirstream/weir/internal/app/nexmark/reference"
)

func TestQ21(t *testing.T) { jobtest.CheckGenerated(t, Q21, reference.Q21, job.Options{}) }

// channelIDRegexp is the reference's REGEXP_EXTRACT pattern.
var channelIDRegexp = regexp.MustCompile(`(&|^)channel_id=([^&]*)`)

// regexpChannelID is REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) as
// the reference computes it.
func regexpChannelID(url string) (string, bool) {
	m := channelIDRegexp.FindStringSubmatch(url)
	if m == nil {
		return "", false
	}
	return m[2], true
}

// hotByToLower is the reference's hot-channel lookup.
func hotByToLower(channel string) (string, bool) {
	id, ok := map[string]string{"apple": "0", "google": "1", "facebook": "2", "baidu": "3"}[strings.ToLower(channel)]
	return id, ok
}

// channelIDEdgeCases are URLs on which a scan could go wrong.
var channelIDEdgeCases = []string{
	"",
	"channel_id=",
	"channel_id=7",
	"channel_id=7&x=1",
	"&channel_id=",
	"&channel_id=42",
	"&&channel_id=42&&",
	"x&channel_id=1&channel_id=2",
	"xchannel_id=1",
	"xchannel_id=1&channel_id=2",
	"?channel_id=1",
	"https://www.nexmark.com/a/b/item.htm?query=1&channel_id=1234",
	"https://www.nexmark.com/a/b/item.htm?query=1",
	"https://www.nexmark.com/a?channel_id=5",
	"channel_id",
	"&channel_id",
	"&channel_id&channel_id=3",
	"channel_id=channel_id=4",
	"&channel_id==&",
	"channel_ID=1",
	"&Channel_id=1",
	"channel_id=a\nb&c",
	"\nchannel_id=1",
	"x\n&channel_id=é\xff\xc3&",
	"\xc3&channel_id=1",
	"\xe2\x82&channel_id=\xe2\x82&",
	"&channel_id=\xc3",
	"channel_id =1",
	" &channel_id=1",
	"&amp;channel_id=1",
	"&&&",
}

// TestExtractChannelIDMatchesRegexp: the hand-written scan gives the
// regular expression's result on edge cases and on random strings made of
// the pieces that matter.
func TestExtractChannelIDMatchesRegexp(t *testing.T) {
	check := func(url string) {
		t.Helper()
		got, gotOK := extractChannelID(url)
		want, wantOK := regexpChannelID(url)
		if got != want || gotOK != wantOK {
			t.Errorf("extractChannelID(%q) = %q, %v; the regexp gives %q, %v", url, got, gotOK, want, wantOK)
		}
	}
	for _, url := range channelIDEdgeCases {
		check(url)
	}
	pieces := []string{"&", "channel_id=", "channel_id", "=", "c", "x", "_", "?", "/", "\n", "é", "\xff", "\xc3", "\xe2\x82", " "}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		var b strings.Builder
		for range r.IntN(8) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		check(b.String())
	}
}

// FuzzExtractChannelID compares the scan with the regular expression on
// any input (go test -fuzz FuzzExtractChannelID).
func FuzzExtractChannelID(f *testing.F) {
	for _, url := range channelIDEdgeCases {
		f.Add(url)
	}
	f.Fuzz(func(t *testing.T, url string) {
		got, gotOK := extractChannelID(url)
		want, wantOK := regexpChannelID(url)
		if got != want || gotOK != wantOK {
			t.Errorf("extractChannelID(%q) = %q, %v; the regexp gives %q, %v", url, got, gotOK, want, wantOK)
		}
	})
}

// hotChannelEdgeCases are channel names whose lower-casing matters.
var hotChannelEdgeCases = []string{
	"Apple", "apple", "APPLE", "aPpLe", "Google", "GOOGLE", "Facebook", "FACEBOOK", "Baidu", "baidu", "BAIDU",
	"", "appl", "apples", "Goog1e", "face book", "channel-1",
	"faceboo\u212a",    // KELVIN SIGN, lowered to 'k'
	"BA\u0130DU",       // İ, lowered to 'i'
	"ba\u0131du",       // dotless ı stays ı
	"\u017fapple",      // long s stays ſ
	"appl\u00e9",       // é
	"Apple\xff",        // invalid UTF-8
	"\u0391pple",       // Greek capital alpha
	"ＡＰＰＬＥ",            // full-width letters stay full-width
	"GOOGLE\u0000",     // NUL
	"appl\u0065\u0301", // e + combining acute
}

// TestHotChannelIDMatchesToLower: the in-place comparison gives the
// reference's strings.ToLower lookup.
func TestHotChannelIDMatchesToLower(t *testing.T) {
	for _, ch := range hotChannelEdgeCases {
		got, gotOK := hotChannelID(ch)
		want, wantOK := hotByToLower(ch)
		if got != want || gotOK != wantOK {
			t.Errorf("hotChannelID(%q) = %q, %v; strings.ToLower gives %q, %v", ch, got, gotOK, want, wantOK)
		}
	}
	if id, ok := hotChannelID("faceboo\u212a"); id != "2" || !ok {
		t.Errorf("the Kelvin sign lowers to k: facebook is hot, got %q, %v", id, ok)
	}
}

// FuzzHotChannelID compares the in-place comparison with strings.ToLower.
func FuzzHotChannelID(f *testing.F) {
	for _, ch := range hotChannelEdgeCases {
		f.Add(ch)
	}
	f.Fuzz(func(t *testing.T, ch string) {
		got, gotOK := hotChannelID(ch)
		want, wantOK := hotByToLower(ch)
		if got != want || gotOK != wantOK {
			t.Errorf("hotChannelID(%q) = %q, %v; strings.ToLower gives %q, %v", ch, got, gotOK, want, wantOK)
		}
	})
}

// TestQ21ByHand: hot channels in any case (and through Unicode lowering)
// take their fixed id whatever the URL; other channels take the URL's
// channel_id, possibly empty, or are dropped without one.
func TestQ21ByHand(t *testing.T) {
	b := func(auction int64, channel, url string) nexmark.Event {
		e := bid(auction, 10)
		e.Bid.Channel, e.Bid.URL = channel, url
		return e
	}
	const plain = "https://www.nexmark.com/a/b/item.htm"
	events := []nexmark.Event{
		b(1, "Apple", plain),                       // "0"
		b(2, "GOOGLE", plain+"?x=1&channel_id=99"), // hot wins over the URL: "1"
		b(3, "faceBook", plain),                    // "2"
		b(4, "BA\u0130DU", plain),                  // lowers to baidu: "3"
		b(5, "channel-5", plain+"?q=1&channel_id=1234&z=2"),
		b(6, "channel-6", plain+"?channel_id=1234"),           // after '?', not '&': dropped
		b(7, "channel-7", "channel_id=77"),                    // at the start: "77"
		b(8, "channel-8", plain+"?q=1&channel_id="),           // empty id ""
		b(9, "channel-9", plain),                              // none: dropped
		b(10, "Apples", plain+"?a&channel_id=1&channel_id=2"), // not hot; first match "1"
	}
	row := func(auction int64, channel, id string) reference.Row {
		return jobtest.R("auction", auction, "bidder", 7, "price", 10, "channel", channel, "channel_id", id)
	}
	want := []reference.Row{
		row(1, "Apple", "0"),
		row(2, "GOOGLE", "1"),
		row(3, "faceBook", "2"),
		row(4, "BA\u0130DU", "3"),
		row(5, "channel-5", "1234"),
		row(7, "channel-7", "77"),
		row(8, "channel-8", ""),
		row(10, "Apples", "1"),
	}
	jobtest.CheckInput(t, Q21, events, want, job.Options{})
	jobtest.Check(t, rowsJSON(want), false, reference.Q21(events))
}
