package pipeline

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/weirstream/weir/codec"
)

// A record whose lookup is in flight at a checkpoint comes back from the
// checkpoint with the same fields and types.
func TestHeldRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 5, time.UTC)
	r := Record{"s": "x", "i": int64(-3), "f": 2.5, "b": true, "no": false, "t": at, "null": nil,
		"nested": Record{"a": int64(1), "list": []any{"x", int64(2)}}}
	c, err := codec.For[heldRecord]()
	if err != nil {
		t.Fatal(err)
	}
	b := c.Append(nil, holdRecord(r))
	h, n, err := c.Decode(b)
	if err != nil || n != len(b) {
		t.Fatalf("decode: %v (%d of %d bytes)", err, n, len(b))
	}
	if h.rec != nil {
		t.Fatal("the codec kept the live record")
	}
	got, err := h.record(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("restored %#v\nwant     %#v", got, r)
	}
}

// The cache keeps a result for its TTL, drops the least recently used
// key beyond its bound, keeps misses and forgets failures.
func TestLookupCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newLookupCache(time.Minute, 2)
	c.now = func() time.Time { return now }
	fetches := map[string]int{}
	get := func(key string, fail bool) (Record, error) {
		return c.get(context.Background(), key, func(context.Context) (Record, error) {
			fetches[key]++
			if fail {
				return nil, errors.New("down")
			}
			if key == "miss" {
				return nil, nil
			}
			return Record{"k": key}, nil
		})
	}
	get("a", false)
	get("a", false)
	get("miss", false)
	get("miss", false)
	if fetches["a"] != 1 || fetches["miss"] != 1 {
		t.Fatalf("fetches %v, want one of a and one of miss", fetches)
	}
	get("b", false) // a is the least recently used: dropped
	get("miss", false)
	get("a", false)
	if fetches["a"] != 2 || fetches["miss"] != 1 {
		t.Fatalf("fetches %v, want a fetched again after b pushed it out", fetches)
	}
	now = now.Add(time.Minute)
	get("a", false)
	if fetches["a"] != 3 {
		t.Fatalf("fetches %v, want a fetched again after its TTL", fetches)
	}
	if _, err := get("x", true); err == nil {
		t.Fatal("a failure was not returned")
	}
	get("x", false)
	if fetches["x"] != 2 {
		t.Fatalf("fetches %v, want x fetched again after a failure", fetches)
	}
	if c.hits.Load() != 3 {
		t.Errorf("%d hits, want 3", c.hits.Load())
	}
}

// The limiter lets the first request go at once and makes the next wait
// its interval: with its context done, it does not wait.
func TestLimiter(t *testing.T) {
	l := newLimiter(0.001) // one per 1000 s
	if err := l.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("the second request in a 1000 s interval: %v, want it held until its context ended", err)
	}
}
