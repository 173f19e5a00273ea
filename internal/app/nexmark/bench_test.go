package nexmark

import (
	"encoding/json"
	"io"
	"testing"
)

// BenchmarkEvent generates events in stream order (92 % bids).
func BenchmarkEvent(b *testing.B) {
	g := newGenerator(b, DefaultConfig())
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		e := g.Event(n)
		n++
		if e.Kind > KindBid {
			b.Fatal(e.Kind)
		}
	}
}

// BenchmarkEventJSON generates and encodes events in stream order, what
// `weir nexmark generate` does per line.
func BenchmarkEventJSON(b *testing.B) {
	g := newGenerator(b, DefaultConfig())
	b.ReportAllocs()
	var buf []byte
	var n, bytes int64
	for b.Loop() {
		e := g.Event(n)
		n++
		buf = append(AppendJSON(buf[:0], &e), '\n')
		bytes += int64(len(buf))
	}
	b.ReportMetric(float64(bytes)/float64(n), "B/event")
}

// BenchmarkEncode compares AppendJSON with encoding/json on the same
// events.
func BenchmarkEncode(b *testing.B) {
	g := newGenerator(b, DefaultConfig())
	events := make([]Event, 0, 1000)
	for _, e := range g.Range(0, 1000) {
		events = append(events, e)
	}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		i := 0
		for b.Loop() {
			buf = AppendJSON(buf[:0], &events[i%len(events)])
			i++
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		enc := json.NewEncoder(io.Discard)
		enc.SetEscapeHTML(false)
		i := 0
		for b.Loop() {
			if err := enc.Encode(wrapped(&events[i%len(events)])); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkDecode compares DecodeJSON with encoding/json (decodeStd, what
// UnmarshalJSON did before DecodeJSON) on the same lines: generated events
// in stream order, as `weir nexmark run --input` reads them.
func BenchmarkDecode(b *testing.B) {
	g := newGenerator(b, DefaultConfig())
	var lines [][]byte
	var size int
	for _, e := range g.Range(0, 1000) {
		line := AppendJSON(nil, &e)
		lines = append(lines, line)
		size += len(line)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte, *Event) error
	}{
		{"DecodeJSON", DecodeJSON},
		{"encoding-json", decodeStd},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64((size + len(lines)/2) / len(lines)))
			var e Event
			i := 0
			for b.Loop() {
				if err := bc.decode(lines[i%len(lines)], &e); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
