package reference

import (
	"testing"

	"github.com/weirstream/weir/internal/app/nexmark"
)

func TestRowJSON(t *testing.T) {
	r := Row{{"b", int64(1)}, {"a", "<&>"}, {"d", Decimal("0.908")}, {"n", nil}}
	if got, want := r.JSON(), `{"b":1,"a":"<&>","d":0.908,"n":null}`; got != want {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

func TestDecimal(t *testing.T) {
	for price, want := range map[int64]Decimal{
		0: "0.000", 1: "0.908", 2: "1.816", 1000: "908.000", -1: "-0.908", 11: "9.988",
		9223372036854775807: "8374821809464136432.756", // 9223372036854775807·900 + ·8: no int64 overflow
	} {
		if got := times0908(price); got != want {
			t.Errorf("0.908 * %d = %s, want %s", price, got, want)
		}
	}
}

func TestQ0Q1Q2(t *testing.T) {
	in := []nexmark.Event{
		personAt(t0, 1000, "p", "OR"), // not a bid: ignored
		bidAt(t0+1, 246, 7, 100),      // 246 = 2·123
		bidAt(t0+2, 247, 8, 3),
	}
	wantRows(t, Q0(in),
		`{"auction":246,"bidder":7,"price":100,"dateTime":1436918400001,"extra":"x"}`,
		`{"auction":247,"bidder":8,"price":3,"dateTime":1436918400002,"extra":"x"}`)
	// 0.908·100 = 90.8; 0.908·3 = 2.724.
	wantRows(t, Q1(in),
		`{"auction":246,"bidder":7,"price":90.800,"dateTime":1436918400001,"extra":"x"}`,
		`{"auction":247,"bidder":8,"price":2.724,"dateTime":1436918400002,"extra":"x"}`)
	// Only 246 is a multiple of 123.
	wantRows(t, Q2(in), `{"auction":246,"price":100}`)
}

func TestQ10(t *testing.T) {
	// t0 is 2015-07-15 00:00 UTC; plus 13 h 5 min 59.999 s.
	in := []nexmark.Event{bidAt(t0+(13*3600+5*60+59)*1000+999, 1, 2, 3)}
	wantRows(t, Q10(in),
		`{"auction":1,"bidder":2,"price":3,"dateTime":1436965559999,"extra":"x","dt":"2015-07-15","hm":"13:05"}`)
}

func TestQ14(t *testing.T) {
	const hour = 3600 * 1000
	b := func(ms, price int64, extra string) nexmark.Event {
		e := bidAt(ms, 1, 2, price)
		e.Bid.Extra = extra
		return e
	}
	in := []nexmark.Event{
		b(t0+8*hour, 1101322, "cc"),          // 0.908·1101322 = 1000000.376 > 1e6: kept; 08:00 dayTime; 2 c's
		b(t0+7*hour, 1101321, "c"),           // 999999.468: dropped
		b(t0+19*hour, 1101322, "abc"),        // 19:00 otherTime
		b(t0+20*hour, 55066079, "ccc c"),     // 49999999.732 < 5e7: kept; nightTime; 4 c's
		b(t0+6*hour+59*60000, 1101322, "Cé"), // 06:59 nightTime; 'C' is not 'c'
		b(t0+7*hour, 1101322, ""),            // 07:00 otherTime
		b(t0+12*hour, 55066080, ""),          // 0.908·55066080 = 50000000.640: dropped
	}
	wantRows(t, Q14(in),
		`{"auction":1,"bidder":2,"price":1000000.376,"bidTimeType":"dayTime","dateTime":1436947200000,"extra":"cc","c_counts":2}`,
		`{"auction":1,"bidder":2,"price":1000000.376,"bidTimeType":"otherTime","dateTime":1436986800000,"extra":"abc","c_counts":1}`,
		`{"auction":1,"bidder":2,"price":49999999.732,"bidTimeType":"nightTime","dateTime":1436990400000,"extra":"ccc c","c_counts":4}`,
		`{"auction":1,"bidder":2,"price":1000000.376,"bidTimeType":"nightTime","dateTime":1436943540000,"extra":"Cé","c_counts":0}`,
		`{"auction":1,"bidder":2,"price":1000000.376,"bidTimeType":"otherTime","dateTime":1436943600000,"extra":"","c_counts":0}`)
}

func TestQ21(t *testing.T) {
	b := func(channel, url string) nexmark.Event {
		e := bidAt(t0, 1, 2, 3)
		e.Bid.Channel, e.Bid.URL = channel, url
		return e
	}
	in := []nexmark.Event{
		b("Apple", "https://x/y?query=1"),                  // hot: "0"
		b("BAIDU", "https://x/y?query=1&channel_id=77"),    // hot wins over the URL: "3"
		b("channel-5", "https://x/y?query=1&channel_id=5"), // extracted "5"
		b("channel-6", "https://x/y?query=1"),              // no channel_id: dropped
		b("channel-7", "channel_id=9&a=1"),                 // ^ matches: "9"
		b("channel-8", "https://x/y?q=1&channel_id=&b=2"),  // empty match is not NULL: ""
		b("channel-9", "https://x/y?q=1&xchannel_id=4"),    // needs & or ^ before: dropped
	}
	wantRows(t, Q21(in),
		`{"auction":1,"bidder":2,"price":3,"channel":"Apple","channel_id":"0"}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"BAIDU","channel_id":"3"}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"channel-5","channel_id":"5"}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"channel-7","channel_id":"9"}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"channel-8","channel_id":""}`)
}

func TestQ22(t *testing.T) {
	b := func(url string) nexmark.Event {
		e := bidAt(t0, 1, 2, 3)
		e.Bid.URL = url
		return e
	}
	in := []nexmark.Event{
		b("https://www.nexmark.com/ab/cde/f_g/item.htm?query=1"), // pieces: https:, "", host, ab, cde, f_g, item...
		b("https://host/a/b"), // piece 5 missing: NULL
		b("https://host//"),   // empty pieces are kept: "", ""
		b(""),                 // no pieces at all
	}
	wantRows(t, Q22(in),
		`{"auction":1,"bidder":2,"price":3,"channel":"Google","dir1":"ab","dir2":"cde","dir3":"f_g"}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"Google","dir1":"a","dir2":"b","dir3":null}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"Google","dir1":"","dir2":"","dir3":null}`,
		`{"auction":1,"bidder":2,"price":3,"channel":"Google","dir1":null,"dir2":null,"dir3":null}`)
}
