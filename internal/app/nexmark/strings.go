package nexmark

import (
	"bytes"
	"math"
	"math/bits"
	"strconv"
	"sync"
)

// The model's vocabulary, from the reference's PersonGenerator (US_STATES,
// US_CITIES, FIRST_NAMES, LAST_NAMES) and BidGenerator (HOT_CHANNELS). The
// queries depend on some of it: q3 looks for sellers in OR, ID and CA, q21
// for the hot channels by name.
var (
	usStates   = []string{"AZ", "CA", "ID", "OR", "WA", "WY"}
	usCities   = []string{"Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"}
	firstNames = []string{"Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"}
	lastNames  = []string{"Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"}
	// hotChannels take half of the bids between them (HOT_CHANNELS_RATIO
	// 2 in BidGenerator), each with one URL of its own.
	hotChannels = []string{"Google", "Facebook", "Baidu", "Apple"}
)

// numChannels is how many other channels there are, "channel-0" to
// "channel-9999" (BidGenerator.CHANNELS_NUMBER).
const numChannels = 10_000

// channelIDShare: one in this many of the other channels' URLs lacks the
// channel_id parameter (BidGenerator: random.nextInt(10) > 0 adds it).
const channelIDShare = 10

// Lengths of random strings, from StringsGenerator (MIN_STRING_LENGTH) and
// the calls to it: names and descriptions of auctions are up to 20 and 100
// characters, the two halves of an e-mail address up to 7 and 5, the three
// path segments of a URL up to 5 (all bounds exclusive). One character in 13
// is a space (an underscore in URLs), and strings are trimmed of spaces.
const (
	minStringLen     = 3
	maxItemNameLen   = 20
	maxDescLen       = 100
	maxEmailUserLen  = 7
	maxEmailHostLen  = 5
	maxURLSegmentLen = 5
	specialOneIn     = 13
)

// poolSize is the length of the text Extra fields are cut from: the
// reference (StringsGenerator.REUSABLE_EXTRA_STRING) cuts them from one
// random megabyte too rather than drawing every letter.
const poolSize = 1 << 20

// tables are the strings shared by all generators: made once, from fixed
// seeds, so that they are the same in every process and need no allocation
// per event. The reference draws its URLs from an unseeded generator when
// the class loads, so they differ from run to run.
type tables struct {
	names       []string // every first name and last name
	pool        string   // random lowercase letters for Extra
	hotURLs     []string // one per hot channel
	channels    []string // "channel-<i>"
	channelURLs []string
}

var sharedTables = sync.OnceValue(func() *tables {
	t := &tables{}
	for _, f := range firstNames {
		for _, l := range lastNames {
			t.names = append(t.names, f+" "+l)
		}
	}
	r := rng{s: seedKey(0x6e65786d61726b)} // "nexmark"
	pool := make([]byte, poolSize)
	for i := range pool {
		pool[i] = 'a' + byte(r.intn(26))
	}
	t.pool = string(pool)
	for range hotChannels {
		t.hotURLs = append(t.hotURLs, string(appendBaseURL(nil, &r)))
	}
	t.channels = make([]string, numChannels)
	t.channelURLs = make([]string, numChannels)
	for i := range numChannels {
		t.channels[i] = "channel-" + strconv.Itoa(i)
		u := appendBaseURL(nil, &r)
		if r.intn(channelIDShare) > 0 {
			// The reference writes |Integer.reverse(i)|: the channel's
			// number with its 32 bits reversed, a spread-out id. It
			// overflows to a negative number for channel 1 (-2^31); this
			// writes 2^31.
			rev := int64(int32(bits.Reverse32(uint32(i))))
			if rev < 0 {
				rev = -rev
			}
			u = append(u, "&channel_id="...)
			u = strconv.AppendInt(u, rev, 10)
		}
		t.channelURLs[i] = string(u)
	}
	return t
})

// appendBaseURL appends a URL with three random path segments of 3 to 4
// characters (BidGenerator.getBaseUrl).
func appendBaseURL(dst []byte, r *rng) []byte {
	dst = append(dst, "https://www.nexmark.com/"...)
	for range 3 {
		dst = appendRandomString(dst, r, maxURLSegmentLen, '_')
		dst = append(dst, '/')
	}
	return append(dst, "item.htm?query=1"...)
}

// appendRandomString appends a string of minStringLen to maxLen-1 random
// lowercase letters, one in specialOneIn of them replaced by special, and
// trims spaces from its ends (StringsGenerator.nextString).
func appendRandomString(dst []byte, r *rng, maxLen int64, special byte) []byte {
	start := len(dst)
	for n := minStringLen + r.intn(maxLen-minStringLen); n > 0; n-- {
		// One draw per character: v < 26 has probability 1/13, and v mod
		// 26 is uniform over the other 12·26 values.
		v := r.intn(specialOneIn * 26)
		if v < 26 {
			dst = append(dst, special)
		} else {
			dst = append(dst, 'a'+byte(v%26))
		}
	}
	if special == ' ' {
		trimmed := bytes.Trim(dst[start:], " ")
		dst = dst[:start+copy(dst[start:], trimmed)]
	}
	return dst
}

// extra returns the padding that brings an event of size current to size
// avg on average: a string of random letters whose length is uniform within
// ±20 % of avg-current, and empty if the event is already larger
// (StringsGenerator.nextExtra).
func (t *tables) extra(r *rng, current, avg int) string {
	if current > avg {
		return ""
	}
	want := avg - current
	delta := int(math.Floor(float64(want)*0.2 + 0.5)) // Java's Math.round
	size := want - delta
	if delta > 0 {
		size += int(r.intn(int64(2 * delta)))
	}
	if size < len(t.pool)/2 {
		off := int(r.intn(int64(len(t.pool) - size)))
		return t.pool[off : off+size]
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = 'a' + byte(r.intn(26))
	}
	return string(b)
}

// price returns a price in cents from 1.00 to 1,000,000.00, its logarithm
// uniform (PriceGenerator.nextPrice).
func price(r *rng) int64 {
	return int64(math.Round(math.Pow(10, r.float64()*6) * 100))
}
