package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"unsafe"
)

// maxPrealloc bounds, in bytes, the memory Slice and Map set aside for the
// element count an input claims before the elements have been decoded.
const maxPrealloc = 1 << 20

type sliceCodec[T any] struct {
	elem Codec[T]
	min  int // elem's minimum encoded size, -1 if unknown
	name string
}

// Slice returns a codec for slices whose elements elem encodes: the element
// count as a uvarint, then each element. Nil and empty slices encode alike
// and decode as nil.
//
// Decode rejects a count that the remaining input cannot hold. For an elem
// codec from outside this package, which does not declare its minimum size,
// every element is assumed to take at least one byte.
func Slice[T any](elem Codec[T]) Codec[[]T] {
	return &sliceCodec[T]{elem: elem, min: minSizeOf(elem), name: reflect.TypeFor[[]T]().String()}
}

func (c *sliceCodec[T]) minSize() int { return 1 }

func (c *sliceCodec[T]) Append(dst []byte, v []T) []byte {
	dst = appendUvarint(dst, len(v))
	if c.min == 0 {
		return dst // zero-width elements
	}
	for i := range v {
		dst = c.elem.Append(dst, v[i])
	}
	return dst
}

func (c *sliceCodec[T]) Decode(src []byte) ([]T, int, error) {
	size := int(unsafe.Sizeof(*new(T)))
	least := c.min
	if least == 0 && size > 0 {
		// Zero-width in the input but not in memory: bound the count by
		// the input as for an unknown codec.
		least = -1
	}
	n, pos, err := readCount(src, 0, least)
	if err != nil {
		return nil, 0, decodeError(c.name, 0, err)
	}
	if n == 0 {
		return nil, pos, nil
	}
	if c.min == 0 && size == 0 {
		// Every element is the one value of a zero-size type.
		return make([]T, n), pos, nil
	}
	hint := n
	if size > 0 && hint > maxPrealloc/size {
		hint = maxPrealloc / size
	}
	out := make([]T, 0, hint)
	for i := 0; i < n; i++ {
		v, k, err := c.elem.Decode(src[pos:])
		if err == nil {
			err = checkUsed(k, len(src)-pos)
		}
		if err != nil {
			return nil, 0, wrapInner(c.name, pos, fmt.Sprintf("element %d", i), err)
		}
		out = append(out, v)
		pos += k
	}
	return out, pos, nil
}

type mapCodec[K comparable, V any] struct {
	k    Codec[K]
	v    Codec[V]
	min  int // minimum encoded size of an entry, -1 if unknown
	name string
}

// Map returns a codec for maps: the entry count as a uvarint, then each
// entry's key and value, entries sorted by the bytes of the key encoding
// (then of the value encoding, for keys such as NaN that are not equal to
// themselves). Sorting makes the encoding of a map deterministic although Go
// iterates maps in random order. Nil and empty maps encode alike; both decode
// as an empty, non-nil map.
//
// Decode accepts entries only in that order and without duplicate keys, so
// every map has exactly one encoding.
func Map[K comparable, V any](k Codec[K], v Codec[V]) Codec[map[K]V] {
	least := -1
	if km, vm := minSizeOf(k), minSizeOf(v); km >= 0 && vm >= 0 {
		least = km + vm
	}
	return &mapCodec[K, V]{k: k, v: v, min: least, name: reflect.TypeFor[map[K]V]().String()}
}

func (c *mapCodec[K, V]) minSize() int { return 1 }

func (c *mapCodec[K, V]) Append(dst []byte, m map[K]V) []byte {
	dst = appendUvarint(dst, len(m))
	if len(m) == 0 {
		return dst
	}
	var stack [8]entrySpan
	spans := spansFor(&stack, len(m))
	base := len(dst)
	for k, v := range m {
		start := len(dst)
		dst = c.k.Append(dst, k)
		mid := len(dst)
		dst = c.v.Append(dst, v)
		spans = append(spans, newEntrySpan(dst, start, mid, len(dst)))
	}
	return sortEntries(dst, base, spans)
}

func (c *mapCodec[K, V]) Decode(src []byte) (map[K]V, int, error) {
	n, pos, err := readCount(src, 0, c.min)
	if err == nil && c.min == 0 && n > 1 {
		// Zero-width keys are all equal: at most one entry.
		err = errMapOrder
	}
	if err != nil {
		return nil, 0, decodeError(c.name, 0, err)
	}
	hint := n
	if entry := int(unsafe.Sizeof(*new(K))+unsafe.Sizeof(*new(V))) + 8; hint > maxPrealloc/entry {
		hint = maxPrealloc / entry
	}
	out := make(map[K]V, hint)
	var prevKey, prevVal []byte
	for i := 0; i < n; i++ {
		ks := pos
		k, kn, err := c.k.Decode(src[pos:])
		if err == nil {
			err = checkUsed(kn, len(src)-pos)
		}
		if err != nil {
			return nil, 0, wrapInner(c.name, pos, fmt.Sprintf("entry %d key", i), err)
		}
		pos += kn
		key := src[ks:pos]
		cmp := 1
		if i > 0 {
			cmp = bytes.Compare(key, prevKey)
			if cmp < 0 || cmp == 0 && selfEqual(k) {
				return nil, 0, decodeError(c.name, ks, errMapOrder)
			}
		}
		vs := pos
		v, vn, err := c.v.Decode(src[pos:])
		if err == nil {
			err = checkUsed(vn, len(src)-pos)
		}
		if err != nil {
			return nil, 0, wrapInner(c.name, pos, fmt.Sprintf("entry %d value", i), err)
		}
		pos += vn
		val := src[vs:pos]
		if cmp == 0 && bytes.Compare(val, prevVal) < 0 {
			return nil, 0, decodeError(c.name, vs, errMapOrder)
		}
		out[k] = v
		prevKey, prevVal = key, val
	}
	return out, pos, nil
}

// selfEqual reports whether k == k, which is false for NaN and for values
// that contain a NaN. Such keys can occur in a map more than once.
func selfEqual[K comparable](k K) bool {
	k2 := k
	return k2 == k
}

// entrySpan locates an encoded map entry in a buffer: key in [start, mid),
// value in [mid, end). prefix holds the key's first eight bytes, zero
// padded, big-endian: where two prefixes differ they order the keys as
// their bytes do, which saves most byte comparisons while sorting.
type entrySpan struct {
	prefix          uint64
	start, mid, end int
}

func newEntrySpan(dst []byte, start, mid, end int) entrySpan {
	var p [8]byte
	copy(p[:], dst[start:mid])
	return entrySpan{binary.BigEndian.Uint64(p[:]), start, mid, end}
}

// spansFor returns an empty slice for n map entries, in stack if it fits.
func spansFor(stack *[8]entrySpan, n int) []entrySpan {
	if n <= len(stack) {
		return stack[:0]
	}
	return make([]entrySpan, 0, n)
}

// sortEntries reorders the encoded map entries that fill dst[base:] into
// the canonical order: by key bytes, then value bytes.
func sortEntries(dst []byte, base int, spans []entrySpan) []byte {
	cmp := func(a, b entrySpan) int {
		if a.prefix != b.prefix {
			if a.prefix < b.prefix {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(dst[a.start:a.mid], dst[b.start:b.mid]); c != 0 {
			return c
		}
		return bytes.Compare(dst[a.mid:a.end], dst[b.mid:b.end])
	}
	if slices.IsSortedFunc(spans, cmp) {
		return dst
	}
	slices.SortFunc(spans, cmp)
	// Append the entries in order after the unsorted ones, then move them
	// down over those.
	end := len(dst)
	for _, e := range spans {
		dst = append(dst, dst[e.start:e.end]...)
	}
	n := copy(dst[base:], dst[end:])
	return dst[:base+n]
}

type pointerCodec[T any] struct {
	elem Codec[T]
	name string
}

// Pointer returns a codec for pointers: 0x00 for nil, or 0x01 followed by
// the encoding of the value pointed to. Decode allocates a new value for
// each non-nil pointer, so pointers that shared a value before encoding do
// not share one after decoding.
func Pointer[T any](elem Codec[T]) Codec[*T] {
	return &pointerCodec[T]{elem: elem, name: reflect.TypeFor[*T]().String()}
}

func (c *pointerCodec[T]) minSize() int { return 1 }

func (c *pointerCodec[T]) Append(dst []byte, v *T) []byte {
	if v == nil {
		return append(dst, 0)
	}
	return c.elem.Append(append(dst, 1), *v)
}

func (c *pointerCodec[T]) Decode(src []byte) (*T, int, error) {
	if len(src) == 0 {
		return nil, 0, decodeError(c.name, 0, ErrShort)
	}
	switch src[0] {
	case 0:
		return nil, 1, nil
	case 1:
	default:
		return nil, 0, decodeError(c.name, 0, errPointerTag)
	}
	v, n, err := c.elem.Decode(src[1:])
	if err == nil {
		err = checkUsed(n, len(src)-1)
	}
	if err != nil {
		return nil, 0, wrapInner(c.name, 1, "value", err)
	}
	p := new(T)
	*p = v
	return p, 1 + n, nil
}

// checkUsed guards against an element codec, possibly written outside this
// package, that reports using more bytes than it was given.
func checkUsed(n, avail int) error {
	if n < 0 || n > avail {
		return fmt.Errorf("%w: element codec reports using %d of %d bytes", ErrInvalid, n, avail)
	}
	return nil
}
