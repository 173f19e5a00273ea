package codec_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

// CanonicalTime is what decoding gives back, and two times are == after it
// exactly when they encode alike: one instant in any location, with or
// without a monotonic reading, and times past the encodable range.
func TestCanonicalTimeAgreesWithEncoding(t *testing.T) {
	now := time.Now()
	zone := time.FixedZone("UTC+5", 5*3600)
	times := []time.Time{
		{}, time.Time{}.In(zone), now, now.Round(0), now.UTC(), now.In(zone), now.Add(1),
		time.Unix(0, math.MaxInt64), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(4000, 1, 1, 0, 0, 0, 0, zone),
		time.Unix(0, math.MinInt64+1), time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
	}
	c := codec.Time()
	for _, a := range times {
		ea := c.Append(nil, a)
		d, _, err := c.Decode(ea)
		if err != nil {
			t.Fatal(err)
		}
		if ca := codec.CanonicalTime(a); ca != d {
			t.Errorf("CanonicalTime(%v) = %v, decoding gives %v", a, ca, d)
		}
		for _, b := range times {
			sameBytes := bytes.Equal(ea, c.Append(nil, b))
			if same := codec.CanonicalTime(a) == codec.CanonicalTime(b); same != sameBytes {
				t.Errorf("%v and %v: canonical times equal %v, encodings equal %v", a, b, same, sameBytes)
			}
		}
	}
}
