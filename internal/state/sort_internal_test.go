package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weirstream/weir/codec"
)

// TestSectionSort checks that sort orders a section's entries by the bytes
// of their key parts, as FORMAT.md requires, for key parts of the shapes
// the tables write: short and long, sharing their first 16 bytes or more,
// prefixes of one another, equal, and sections too small for the radix
// sort.
func TestSectionSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := map[string]func(i int) []byte{
		"int64": func(i int) []byte {
			k := binary.BigEndian.AppendUint64(nil, uint64(rng.Int64())^1<<63)
			return append(append([]byte{8}, k...), 0)
		},
		"small ints": func(i int) []byte {
			return append(binary.AppendUvarint([]byte{4}, uint64(rng.IntN(1000))), 0)
		},
		"long shared prefix": func(i int) []byte {
			return fmt.Appendf(nil, "window-2026-12-07T10:00:00/customer-%06d/%d", rng.IntN(500), rng.IntN(7))
		},
		"prefixes of one another": func(i int) []byte {
			return bytes.Repeat([]byte{byte(rng.IntN(2))}, rng.IntN(40))
		},
		"last 8 of 16 bytes vary": func(i int) []byte {
			return binary.BigEndian.AppendUint64([]byte("stem-8b:"), rng.Uint64()>>uint(rng.IntN(64)))
		},
		"9 bytes vary": func(i int) []byte {
			return append(binary.BigEndian.AppendUint64([]byte{3, byte(rng.IntN(2))}, rng.Uint64()), 7)
		},
		"one varying byte": func(i int) []byte { return []byte{1, byte(rng.IntN(256)), 0} },
		"equal":            func(i int) []byte { return []byte("same-key-for-every-entry-of-it") },
	}
	for name, key := range shapes {
		for _, n := range []int{0, 1, radixMin - 1, radixMin, 5000} {
			t.Run(fmt.Sprintf("%s/%d", name, n), func(t *testing.T) {
				var s sectionBuf
				for i := range n {
					s.begin(key(i))
					s.keyDone()
					s.buf = binary.AppendUvarint(s.buf, uint64(i))
					s.end()
				}
				want := slices.Clone(s.recs)
				slices.SortStableFunc(want, func(a, b recSpan) int {
					return bytes.Compare(s.buf[a.start:a.keyEnd], s.buf[b.start:b.keyEnd])
				})
				s.sort()
				got := sortedRecs(&s)
				if len(got) != n {
					t.Fatalf("%d entries after sort, want %d", len(got), n)
				}
				seen := make(map[int]bool, n)
				for i, r := range got {
					if seen[r.start] {
						t.Fatalf("entry at %d appears twice", r.start)
					}
					seen[r.start] = true
					if got, w := s.buf[r.start:r.keyEnd], s.buf[want[i].start:want[i].keyEnd]; !bytes.Equal(got, w) {
						t.Fatalf("entry %d has key %x, want %x", i, got, w)
					}
				}
			})
		}
	}
}

// sortedRecs returns the entries of s in the order sort left them in.
func sortedRecs(s *sectionBuf) []recSpan {
	if !s.ordered {
		return s.recs
	}
	recs := make([]recSpan, 0, len(s.order))
	for _, k := range s.order {
		recs = append(recs, s.recs[k.idx])
	}
	return recs
}

// TestEncodeField checks that a field encoded straight into the section
// buffer is the length of its encoding as a uvarint followed by the
// encoding, for lengths whose uvarint takes one, two and three bytes.
func TestEncodeField(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 129, 300, 16383, 16384, 70000} {
		v := bytes.Repeat([]byte{'v'}, n)
		for i := range v {
			v[i] = byte(i)
		}
		var s sectionBuf
		s.buf = append(s.buf, "before"...)
		encodeField(&s, codec.Bytes(), v)
		enc := codec.Bytes().Append(nil, v)
		want := binary.AppendUvarint([]byte("before"), uint64(len(enc)))
		want = append(want, enc...)
		if !bytes.Equal(s.buf, want) {
			t.Errorf("%d bytes: encoded as %d bytes starting %x, want %d starting %x", n, len(s.buf), s.buf[:min(len(s.buf), 12)], len(want), want[:min(len(want), 12)])
		}
	}
}
