package codec_test

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/weirstream/weir/codec"
)

// The struct benchmarks compare the compiled struct codec with encoding/gob
// on benchView (string, int64, float64, time.Time, bool, []string).
//
//	go test ./codec/ -run '^$' -bench 'Struct' -benchmem
//
// gob is measured two ways. "gob-per-value" gives every value its own
// Encoder or Decoder, which is what encoding values independently (a state
// entry, a key) requires, since gob sends type information once per stream.
// "gob-stream" reuses one Encoder or Decoder for many values, gob's best
// case, which state entries cannot use.

func BenchmarkStructEncode(b *testing.B) {
	v := sampleView()
	b.Run("weir", func(b *testing.B) {
		c := mustStruct[benchView]()
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Append(buf[:0], v)
		}
		b.ReportMetric(float64(len(buf)), "bytes/value")
	})
	b.Run("gob-per-value", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes/value")
	})
	b.Run("gob-stream", func(b *testing.B) {
		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		if err := enc.Encode(&v); err != nil { // type information goes out once
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := enc.Encode(&v); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "bytes/value")
	})
}

func BenchmarkStructDecode(b *testing.B) {
	v := sampleView()
	b.Run("weir", func(b *testing.B) {
		c := mustStruct[benchView]()
		enc := c.Append(nil, v)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := c.Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gob-per-value", func(b *testing.B) {
		var buf bytes.Buffer
		if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
			b.Fatal(err)
		}
		enc := buf.Bytes()
		var r bytes.Reader
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(enc)
			var got benchView
			if err := gob.NewDecoder(&r).Decode(&got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gob-stream", func(b *testing.B) {
		// One stream holding the type once and then the value many
		// times, read by one Decoder.
		var buf bytes.Buffer
		enc := gob.NewEncoder(&buf)
		const perStream = 10_000
		for range perStream {
			if err := enc.Encode(&v); err != nil {
				b.Fatal(err)
			}
		}
		stream := buf.Bytes()
		var r bytes.Reader
		var dec *gob.Decoder
		n := perStream
		b.ReportAllocs()
		for b.Loop() {
			if n == perStream {
				r.Reset(stream)
				dec = gob.NewDecoder(&r)
				n = 0
			}
			var got benchView
			if err := dec.Decode(&got); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
}

// BenchmarkKeyEncode measures encoding typical keys, which happens for
// every keyed record.
func BenchmarkKeyEncode(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.Run("string", func(b *testing.B) {
		c := codec.String()
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Append(buf[:0], "customer-42/video-7")
		}
	})
	b.Run("int64", func(b *testing.B) {
		c := codec.Int64()
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Append(buf[:0], 42)
		}
	})
	b.Run("struct", func(b *testing.B) {
		c := codec.MustFor[Point]()
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Append(buf[:0], Point{3, 4})
		}
	})
}

func BenchmarkMapEncode(b *testing.B) {
	m := make(map[string]int64, 100)
	for i := range 100 {
		m[string(rune('a'+i%26))+string(rune('a'+i/26))] = int64(i)
	}
	buf := make([]byte, 0, 4096)
	b.Run("Map", func(b *testing.B) {
		c := codec.Map(codec.String(), codec.Int64())
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Append(buf[:0], m)
		}
	})
	b.Run("For", func(b *testing.B) {
		c := codec.MustFor[map[string]int64]()
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Append(buf[:0], m)
		}
	})
}
