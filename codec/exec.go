package codec

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"time"
	"unsafe"
)

// sliceHeader is the memory layout of every Go slice.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

// encodeOps appends the encoding of the value at p, laid out as ops say.
//
// p must not escape from here (nor from anything called with a pointer
// derived from it): it often points at a codec's parameter, which then
// stays on the stack.
func encodeOps(dst []byte, p unsafe.Pointer, ops []op) []byte {
	for i := range ops {
		o := &ops[i]
		fp := unsafe.Add(p, o.off)
		switch o.kind {
		case opBool:
			dst = appendBool(dst, *(*bool)(fp))
		case opInt:
			dst = appendInt64(dst, int64(*(*int)(fp)))
		case opInt8:
			dst = append(dst, uint8(*(*int8)(fp))^0x80)
		case opInt16:
			dst = binary.BigEndian.AppendUint16(dst, uint16(*(*int16)(fp))^0x8000)
		case opInt32:
			dst = binary.BigEndian.AppendUint32(dst, uint32(*(*int32)(fp))^0x80000000)
		case opInt64:
			dst = appendInt64(dst, *(*int64)(fp))
		case opUint:
			dst = binary.BigEndian.AppendUint64(dst, uint64(*(*uint)(fp)))
		case opUint8:
			dst = append(dst, *(*uint8)(fp))
		case opUint16:
			dst = binary.BigEndian.AppendUint16(dst, *(*uint16)(fp))
		case opUint32:
			dst = binary.BigEndian.AppendUint32(dst, *(*uint32)(fp))
		case opUint64:
			dst = binary.BigEndian.AppendUint64(dst, *(*uint64)(fp))
		case opFloat32:
			dst = binary.BigEndian.AppendUint32(dst, float32Key(*(*float32)(fp)))
		case opFloat64:
			dst = binary.BigEndian.AppendUint64(dst, float64Key(*(*float64)(fp)))
		case opString:
			dst = appendString(dst, *(*string)(fp))
		case opBytes:
			b := *(*[]byte)(fp)
			dst = append(appendUvarint(dst, len(b)), b...)
		case opTime:
			dst = appendTime(dst, *(*time.Time)(fp))
		case opByteArray:
			dst = append(dst, unsafe.Slice((*byte)(fp), o.n)...)
		case opArray:
			e := o.elem
			for j := range o.n {
				dst = encodeOps(dst, unsafe.Add(fp, uintptr(j)*e.size), e.ops)
			}
		case opStringSlice:
			ss := *(*[]string)(fp)
			dst = appendUvarint(dst, len(ss))
			for _, s := range ss {
				dst = appendString(dst, s)
			}
		case opSlice:
			h := *(*sliceHeader)(fp)
			dst = appendUvarint(dst, h.len)
			if e := o.elem; e.min > 0 {
				for j := range h.len {
					dst = encodeOps(dst, unsafe.Add(h.data, uintptr(j)*e.size), e.ops)
				}
			}
		case opMap:
			dst = encodeMap(dst, *(*unsafe.Pointer)(fp), o)
		case opPointer:
			q := *(*unsafe.Pointer)(fp)
			if q == nil {
				dst = append(dst, 0)
			} else {
				dst = encodeOps(append(dst, 1), q, o.elem.ops)
			}
		}
	}
	return dst
}

// encodeMap appends the encoding of the map m (the map's pointer).
func encodeMap(dst []byte, m unsafe.Pointer, o *op) []byte {
	if m == nil {
		return append(dst, 0)
	}
	mv := reflect.NewAt(o.typ, unsafe.Pointer(&m)).Elem()
	n := mv.Len()
	dst = appendUvarint(dst, n)
	if n == 0 {
		return dst
	}
	kp, vp := o.key, o.elem
	k := reflect.New(kp.typ)
	v := reflect.New(vp.typ)
	kptr, vptr := k.UnsafePointer(), v.UnsafePointer()
	k, v = k.Elem(), v.Elem()
	var stack [8]entrySpan
	spans := spansFor(&stack, n)
	base := len(dst)
	for it := mv.MapRange(); it.Next(); {
		k.SetIterKey(it)
		v.SetIterValue(it)
		start := len(dst)
		dst = encodeOps(dst, kptr, kp.ops)
		mid := len(dst)
		dst = encodeOps(dst, vptr, vp.ops)
		spans = append(spans, newEntrySpan(dst, start, mid, len(dst)))
	}
	return sortEntries(dst, base, spans)
}

// decodeOps decodes into the value at p, laid out as ops say, from
// src[pos:]. It returns the position after the value, or where decoding
// failed and why. Every op overwrites the memory it covers, so p need not
// point at a zero value. Like encodeOps, it must not let p escape.
func decodeOps(src []byte, pos int, p unsafe.Pointer, ops []op) (int, error) {
	for i := range ops {
		o := &ops[i]
		fp := unsafe.Add(p, o.off)
		var err error
		switch o.kind {
		case opBool:
			*(*bool)(fp), pos, err = readBool(src, pos)
		case opInt:
			*(*int)(fp), pos, err = readInt(src, pos)
		case opInt8:
			var u uint8
			u, pos, err = readU8(src, pos)
			*(*int8)(fp) = int8(u ^ 0x80)
		case opInt16:
			var u uint16
			u, pos, err = readU16(src, pos)
			*(*int16)(fp) = int16(u ^ 0x8000)
		case opInt32:
			var u uint32
			u, pos, err = readU32(src, pos)
			*(*int32)(fp) = int32(u ^ 0x80000000)
		case opInt64:
			*(*int64)(fp), pos, err = readInt64(src, pos)
		case opUint:
			*(*uint)(fp), pos, err = readUint(src, pos)
		case opUint8:
			*(*uint8)(fp), pos, err = readU8(src, pos)
		case opUint16:
			*(*uint16)(fp), pos, err = readU16(src, pos)
		case opUint32:
			*(*uint32)(fp), pos, err = readU32(src, pos)
		case opUint64:
			*(*uint64)(fp), pos, err = readU64(src, pos)
		case opFloat32:
			var u uint32
			u, pos, err = readU32(src, pos)
			*(*float32)(fp) = float32FromKey(u)
		case opFloat64:
			var u uint64
			u, pos, err = readU64(src, pos)
			*(*float64)(fp) = float64FromKey(u)
		case opString:
			*(*string)(fp), pos, err = readString(src, pos)
		case opBytes:
			*(*[]byte)(fp), pos, err = readBytes(src, pos)
		case opTime:
			*(*time.Time)(fp), pos, err = readTime(src, pos)
		case opByteArray:
			if len(src)-pos < o.n {
				err = ErrShort
				break
			}
			pos += copy(unsafe.Slice((*byte)(fp), o.n), src[pos:])
		case opArray:
			e := o.elem
			for j := range o.n {
				if pos, err = decodeOps(src, pos, unsafe.Add(fp, uintptr(j)*e.size), e.ops); err != nil {
					err = withPath("[]", err)
					break
				}
			}
		case opStringSlice:
			pos, err = decodeStrings(src, pos, (*[]string)(fp))
		case opSlice:
			pos, err = decodeSlice(src, pos, fp, o)
		case opMap:
			pos, err = decodeMap(src, pos, fp, o)
		case opPointer:
			pos, err = decodePointer(src, pos, fp, o)
		}
		if err != nil {
			return pos, withPath(o.path, err)
		}
	}
	return pos, nil
}

// decodeStrings decodes a []string into *out. All its strings share one
// allocation, sized in a first pass over the lengths.
func decodeStrings(src []byte, pos int, out *[]string) (int, error) {
	n, p, err := readCount(src, pos, 1)
	if err != nil {
		return pos, err
	}
	if n == 0 {
		*out = nil
		return p, nil
	}
	total, q := 0, p
	for range n {
		l, q2, err := readLen(src, q)
		if err != nil {
			return q, withPath("[]", err)
		}
		total += l
		q = q2 + l
	}
	buf := make([]byte, total) // total ≤ len(src)
	ss := make([]string, n)
	off := 0
	for i := range ss {
		l, q2, _ := readLen(src, p)
		if l > 0 {
			copy(buf[off:], src[q2:q2+l])
			ss[i] = unsafe.String(&buf[off], l)
			off += l
		}
		p = q2 + l
	}
	*out = ss
	return p, nil
}

// decodeSlice decodes a slice of o.elem into the slice at fp.
func decodeSlice(src []byte, pos int, fp unsafe.Pointer, o *op) (int, error) {
	e := o.elem
	minSize := e.min
	if minSize == 0 && e.size > 0 {
		minSize = -1 // zero-width but not zero-size: bound by the input
	}
	n, p, err := readCount(src, pos, minSize)
	if err != nil {
		return pos, err
	}
	if n == 0 {
		*(*sliceHeader)(fp) = sliceHeader{}
		return p, nil
	}
	var data unsafe.Pointer
	if o.alloc != opNone {
		data = makeSlice(o.alloc, fp, n)
	} else {
		data = reflect.MakeSlice(o.typ, n, n).UnsafePointer()
		*(*sliceHeader)(fp) = sliceHeader{data, n, n}
	}
	if e.min == 0 {
		return p, nil // nothing to decode
	}
	for j := range n {
		if p, err = decodeOps(src, p, unsafe.Add(data, uintptr(j)*e.size), e.ops); err != nil {
			return p, withPath("[]", err)
		}
	}
	return p, nil
}

// makeSlice allocates a slice of n elements of the Go type of primitive
// kind k, stores it at fp and returns its data pointer. The type at fp may
// be a defined type with that element type as underlying type; the memory
// layout is the same.
func makeSlice(k opKind, fp unsafe.Pointer, n int) unsafe.Pointer {
	switch k {
	case opBool:
		return makeTyped[bool](fp, n)
	case opInt:
		return makeTyped[int](fp, n)
	case opInt8:
		return makeTyped[int8](fp, n)
	case opInt16:
		return makeTyped[int16](fp, n)
	case opInt32:
		return makeTyped[int32](fp, n)
	case opInt64:
		return makeTyped[int64](fp, n)
	case opUint:
		return makeTyped[uint](fp, n)
	case opUint8:
		return makeTyped[uint8](fp, n)
	case opUint16:
		return makeTyped[uint16](fp, n)
	case opUint32:
		return makeTyped[uint32](fp, n)
	case opUint64:
		return makeTyped[uint64](fp, n)
	case opFloat32:
		return makeTyped[float32](fp, n)
	case opFloat64:
		return makeTyped[float64](fp, n)
	case opString:
		return makeTyped[string](fp, n)
	case opBytes:
		return makeTyped[[]byte](fp, n)
	case opTime:
		return makeTyped[time.Time](fp, n)
	}
	panic("codec: makeSlice of non-primitive kind")
}

func makeTyped[E any](fp unsafe.Pointer, n int) unsafe.Pointer {
	s := make([]E, n)
	*(*[]E)(fp) = s
	return unsafe.Pointer(unsafe.SliceData(s))
}

// decodeMap decodes a map into the map at fp.
func decodeMap(src []byte, pos int, fp unsafe.Pointer, o *op) (int, error) {
	kp, vp := o.key, o.elem
	n, p, err := readCount(src, pos, kp.min+vp.min)
	if err == nil && kp.min+vp.min == 0 && n > 1 {
		err = errMapOrder // zero-width keys are all equal
	}
	if err != nil {
		return pos, err
	}
	hint := n
	if entry := int(kp.size+vp.size) + 8; hint > maxPrealloc/entry {
		hint = maxPrealloc / entry
	}
	mv := reflect.MakeMapWithSize(o.typ, hint)
	k := reflect.New(kp.typ)
	v := reflect.New(vp.typ)
	kptr, vptr := k.UnsafePointer(), v.UnsafePointer()
	k, v = k.Elem(), v.Elem()
	var prevKey, prevVal []byte
	for i := range n {
		ks := p
		if p, err = decodeOps(src, p, kptr, kp.ops); err != nil {
			return p, withPath("[key]", err)
		}
		key := src[ks:p]
		cmp := 1
		if i > 0 {
			// Keys that are not equal to themselves (NaN) may repeat.
			cmp = bytes.Compare(key, prevKey)
			if cmp < 0 || cmp == 0 && k.Equal(k) {
				return ks, withPath("[key]", errMapOrder)
			}
		}
		vs := p
		if p, err = decodeOps(src, p, vptr, vp.ops); err != nil {
			return p, withPath("[value]", err)
		}
		val := src[vs:p]
		if cmp == 0 && bytes.Compare(val, prevVal) < 0 {
			return vs, withPath("[value]", errMapOrder)
		}
		mv.SetMapIndex(k, v)
		prevKey, prevVal = key, val
	}
	*(*unsafe.Pointer)(fp) = mv.UnsafePointer()
	return p, nil
}

// decodePointer decodes a pointer into the pointer at fp.
func decodePointer(src []byte, pos int, fp unsafe.Pointer, o *op) (int, error) {
	tag, p, err := readU8(src, pos)
	if err != nil {
		return pos, err
	}
	switch tag {
	case 0:
		*(*unsafe.Pointer)(fp) = nil
		return p, nil
	case 1:
	default:
		return pos, errPointerTag
	}
	q := reflect.New(o.typ).UnsafePointer()
	if p, err = decodeOps(src, p, q, o.elem.ops); err != nil {
		return p, err
	}
	*(*unsafe.Pointer)(fp) = q
	return p, nil
}
