package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// A layout describes how values of a type are encoded — the shape of the
// encoding, not the Go type's name: kinds, array lengths, and the names
// and layouts of a struct's encoded fields in declaration order. Types
// that encode alike have equal layouts (type Title string has the layout
// of string), and two types with equal layouts read each other's bytes.
// Weir's snapshots keep the layout of each state table, so that a restore
// can tell a state type that changed and carry its values over.
//
// A layout's bytes are part of the snapshot format:
//
//	layout = kind:byte                            bool … time (1 … 16)
//	       | 20 length:uvarint elem:layout        [N]T
//	       | 21 elem:layout                       []T
//	       | 22 key:layout value:layout           map[K]V
//	       | 23 elem:layout                       *T
//	       | 24 count:uvarint (name:bytes field:layout){count}   struct
//
// where the kinds are 1 bool, 2 int, 3 int8, 4 int16, 5 int32, 6 int64,
// 7 uint, 8 uint8, 9 uint16, 10 uint32, 11 uint64, 12 float32,
// 13 float64, 14 string, 15 []byte, 16 time.Time, and names are uvarint
// lengths and bytes. An embedded struct is a field named as its type.

const (
	lArray   = 20
	lSlice   = 21
	lMap     = 22
	lPointer = 23
	lStruct  = 24
)

var layoutNames = [...]string{
	opBool: "bool", opInt: "int", opInt8: "int8", opInt16: "int16", opInt32: "int32", opInt64: "int64",
	opUint: "uint", opUint8: "uint8", opUint16: "uint16", opUint32: "uint32", opUint64: "uint64",
	opFloat32: "float32", opFloat64: "float64", opString: "string", opBytes: "[]byte", opTime: "time.Time",
}

var layouts sync.Map // reflect.Type → []byte

// LayoutOf returns the layout of c's encoding when c is a codec this
// package builds for T by its type — For's, Struct's, or a primitive's
// such as String — and false for any other codec, whose layout it cannot
// know. It reads T's layout once and then answers from a cache.
func LayoutOf[T any](c Codec[T]) ([]byte, bool) {
	switch c := c.(type) {
	case *progCodec[T]:
		return layoutOfType(c.p.typ), true
	case nil:
		return nil, false
	}
	if b, ok := builtin[T](); ok && b == c {
		return layoutOfType(reflect.TypeFor[T]()), true
	}
	return nil, false
}

func layoutOfType(t reflect.Type) []byte {
	if l, ok := layouts.Load(t); ok {
		return l.([]byte)
	}
	l := appendLayout(nil, t)
	layouts.Store(t, l)
	return l
}

// appendLayout appends the layout of t, a type that compiles, following
// the rules of compiler.ops.
func appendLayout(b []byte, t reflect.Type) []byte {
	if t == timeType || t.Kind() == reflect.Struct && t.ConvertibleTo(timeType) {
		return append(b, byte(opTime))
	}
	k := t.Kind()
	if int(k) < len(primitiveKinds) && primitiveKinds[k] != opNone {
		return append(b, byte(primitiveKinds[k]))
	}
	switch k {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return append(b, byte(opBytes))
		}
		return appendLayout(append(b, lSlice), t.Elem())
	case reflect.Array:
		b = binary.AppendUvarint(append(b, lArray), uint64(t.Len()))
		return appendLayout(b, t.Elem())
	case reflect.Map:
		return appendLayout(appendLayout(append(b, lMap), t.Key()), t.Elem())
	case reflect.Pointer:
		return appendLayout(append(b, lPointer), t.Elem())
	}
	var fields []reflect.StructField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("codec") == "-" || !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			continue
		}
		fields = append(fields, f)
	}
	b = binary.AppendUvarint(append(b, lStruct), uint64(len(fields)))
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f.Name)))
		b = append(b, f.Name...)
		b = appendLayout(b, f.Type)
	}
	return b
}

// lnode is a parsed layout.
type lnode struct {
	kind      byte
	n         int     // array length
	elem, key *lnode  // element, map value or pointee; map key
	fields    []field // struct
	raw       []byte  // the node's own bytes, for comparing
}

type field struct {
	name string
	t    *lnode
}

var errLayout = errors.New("codec: malformed layout")

// parseLayout parses the layout at the front of b and returns it with the
// bytes after it.
func parseLayout(b []byte, depth int) (*lnode, []byte, error) {
	if len(b) == 0 || depth > 100 {
		return nil, nil, errLayout
	}
	start := b
	n := &lnode{kind: b[0]}
	b = b[1:]
	var err error
	switch {
	case n.kind >= byte(opBool) && n.kind <= byte(opTime):
	case n.kind == lArray:
		l, k := binary.Uvarint(b)
		if k <= 0 || l > 1<<31 {
			return nil, nil, errLayout
		}
		n.n = int(l)
		if n.elem, b, err = parseLayout(b[k:], depth+1); err != nil {
			return nil, nil, err
		}
	case n.kind == lSlice, n.kind == lPointer:
		if n.elem, b, err = parseLayout(b, depth+1); err != nil {
			return nil, nil, err
		}
	case n.kind == lMap:
		if n.key, b, err = parseLayout(b, depth+1); err != nil {
			return nil, nil, err
		}
		if n.elem, b, err = parseLayout(b, depth+1); err != nil {
			return nil, nil, err
		}
	case n.kind == lStruct:
		c, k := binary.Uvarint(b)
		if k <= 0 || c > uint64(len(b)) {
			return nil, nil, errLayout
		}
		b = b[k:]
		for range c {
			l, k := binary.Uvarint(b)
			if k <= 0 || l > uint64(len(b)-k) {
				return nil, nil, errLayout
			}
			f := field{name: string(b[k : k+int(l)])}
			if f.t, b, err = parseLayout(b[k+int(l):], depth+1); err != nil {
				return nil, nil, err
			}
			n.fields = append(n.fields, f)
		}
	default:
		return nil, nil, errLayout
	}
	n.raw = start[:len(start)-len(b)]
	return n, b, nil
}

func parseWhole(b []byte) (*lnode, error) {
	n, rest, err := parseLayout(b, 0)
	if err == nil && len(rest) > 0 {
		err = errLayout
	}
	return n, err
}

// DescribeLayout renders a layout as Go-like type syntax, for messages.
func DescribeLayout(layout []byte) string {
	n, err := parseWhole(layout)
	if err != nil {
		return "<malformed layout>"
	}
	return n.String()
}

func (n *lnode) String() string {
	switch n.kind {
	case lArray:
		return fmt.Sprintf("[%d]%s", n.n, n.elem)
	case lSlice:
		return "[]" + n.elem.String()
	case lMap:
		return fmt.Sprintf("map[%s]%s", n.key, n.elem)
	case lPointer:
		return "*" + n.elem.String()
	case lStruct:
		var b strings.Builder
		b.WriteString("struct{")
		for i, f := range n.fields {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s %s", f.name, f.t)
		}
		b.WriteString("}")
		return b.String()
	}
	return layoutNames[n.kind]
}

// skip returns the length of the value of layout n at the front of src.
func (n *lnode) skip(src []byte, pos int) (int, error) {
	if n.kind <= byte(opTime) {
		if sz := primitiveMemSizeOrWidth(opKind(n.kind)); sz > 0 {
			if len(src)-pos < sz {
				return pos, ErrShort
			}
			return pos + sz, nil
		}
		l, p, err := readLen(src, pos) // string, []byte
		return p + l, err
	}
	switch n.kind {
	case lArray:
		var err error
		for range n.n {
			if pos, err = n.elem.skip(src, pos); err != nil {
				return pos, err
			}
		}
		return pos, nil
	case lSlice, lMap:
		c, p, err := readUvarint(src, pos)
		if err != nil {
			return pos, err
		}
		if n.kind == lSlice && n.elem.minWidth() == 0 {
			if c > maxZeroWidthCount {
				return pos, ErrInvalid
			}
		} else if c > uint64(len(src)-p) {
			return pos, ErrShort
		}
		pos = p
		for range c {
			if n.kind == lMap {
				if pos, err = n.key.skip(src, pos); err != nil {
					return pos, err
				}
			}
			if pos, err = n.elem.skip(src, pos); err != nil {
				return pos, err
			}
		}
		return pos, nil
	case lPointer:
		if pos >= len(src) {
			return pos, ErrShort
		}
		switch src[pos] {
		case 0:
			return pos + 1, nil
		case 1:
			return n.elem.skip(src, pos+1)
		}
		return pos, ErrInvalid
	}
	var err error
	for _, f := range n.fields {
		if pos, err = f.t.skip(src, pos); err != nil {
			return pos, err
		}
	}
	return pos, nil
}

// primitiveMemSizeOrWidth is the encoded width of a fixed-width primitive
// kind, 0 for strings and byte slices.
func primitiveMemSizeOrWidth(k opKind) int {
	if k == opString || k == opBytes {
		return 0
	}
	return primitiveSize[k]
}

func (n *lnode) minWidth() int {
	switch {
	case n.kind <= byte(opTime):
		return primitiveSize[n.kind]
	case n.kind == lArray:
		return n.n * n.elem.minWidth()
	case n.kind == lStruct:
		m := 0
		for _, f := range n.fields {
			m += f.t.minWidth()
		}
		return m
	}
	return 1
}

// appendZero appends the encoding of the zero value of layout n.
func (n *lnode) appendZero(dst []byte) []byte {
	switch {
	case n.kind == byte(opString) || n.kind == byte(opBytes) || n.kind == lSlice || n.kind == lMap || n.kind == lPointer:
		return append(dst, 0) // empty, or nil
	case n.kind == byte(opInt) || n.kind >= byte(opInt8) && n.kind <= byte(opInt64) ||
		n.kind == byte(opFloat32) || n.kind == byte(opFloat64):
		// Signed numbers and floats flip the sign bit: 0 is 0x80 00….
		dst = append(dst, 0x80)
		return append(dst, make([]byte, primitiveSize[n.kind]-1)...)
	case n.kind <= byte(opTime):
		// Unsigned numbers, false, and the zero Time (MinInt64, flipped).
		return append(dst, make([]byte, primitiveSize[n.kind])...)
	case n.kind == lArray:
		for range n.n {
			dst = n.elem.appendZero(dst)
		}
		return dst
	}
	for _, f := range n.fields {
		dst = f.t.appendZero(dst)
	}
	return dst
}

// A migration rewrites the value at the front of src, written with one
// layout, in another, appending it to dst; it returns the position after
// the value in src.
type migration func(dst, src []byte, pos int) ([]byte, int, error)

// Migration returns a function that rewrites an encoding written with the
// layout from into the layout to, or an error naming the first field that
// cannot be carried over. Only struct fields may differ: a field of to
// that from lacks is its zero value, a field of from that to lacks is
// dropped, fields are matched by name whatever their order, and this
// holds at any depth (inside elements, map values and pointees). Any
// other difference — a field whose layout changed kind, an array whose
// length changed, a map whose key changed — is an error, because the old
// bytes cannot say what the new value would be.
//
// The function it returns must be given exactly one encoded value.
func Migration(from, to []byte) (func(dst, src []byte) ([]byte, error), error) {
	f, err := parseWhole(from)
	if err != nil {
		return nil, fmt.Errorf("old layout: %w", err)
	}
	t, err := parseWhole(to)
	if err != nil {
		return nil, fmt.Errorf("new layout: %w", err)
	}
	m, err := plan(f, t, "")
	if err != nil {
		return nil, err
	}
	return func(dst, src []byte) ([]byte, error) {
		out, pos, err := m(dst, src, 0)
		if err != nil {
			return dst, &DecodeError{Type: f.String(), Offset: pos, Err: err}
		}
		if pos != len(src) {
			return dst, &DecodeError{Type: f.String(), Offset: pos, Err: fmt.Errorf("%w: %d bytes after the value", ErrInvalid, len(src)-pos)}
		}
		return out, nil
	}, nil
}

func plan(from, to *lnode, path string) (migration, error) {
	if bytes.Equal(from.raw, to.raw) {
		return func(dst, src []byte, pos int) ([]byte, int, error) {
			end, err := from.skip(src, pos)
			if err != nil {
				return dst, pos, err
			}
			return append(dst, src[pos:end]...), end, nil
		}, nil
	}
	changed := func() error {
		if path == "" {
			return fmt.Errorf("type changed from %s to %s", from, to)
		}
		return fmt.Errorf("field %s changed type from %s to %s", path, from, to)
	}
	if from.kind != to.kind {
		return nil, changed()
	}
	switch from.kind {
	case lArray:
		if from.n != to.n {
			return nil, changed()
		}
		e, err := plan(from.elem, to.elem, join(path, "[]"))
		if err != nil {
			return nil, err
		}
		return func(dst, src []byte, pos int) ([]byte, int, error) {
			var err error
			for range from.n {
				if dst, pos, err = e(dst, src, pos); err != nil {
					return dst, pos, err
				}
			}
			return dst, pos, nil
		}, nil
	case lSlice, lMap:
		if from.kind == lMap && !bytes.Equal(from.key.raw, to.key.raw) {
			return nil, fmt.Errorf("map key of %s changed type from %s to %s", orRoot(path), from.key, to.key)
		}
		what := "[]"
		if from.kind == lMap {
			what = "[value]"
		}
		e, err := plan(from.elem, to.elem, join(path, what))
		if err != nil {
			return nil, err
		}
		return func(dst, src []byte, pos int) ([]byte, int, error) {
			c, p, err := readUvarint(src, pos)
			if err != nil {
				return dst, pos, err
			}
			if zeroWidth := from.kind == lSlice && from.elem.minWidth() == 0; zeroWidth && c > maxZeroWidthCount ||
				!zeroWidth && c > uint64(len(src)-p) {
				return dst, pos, ErrShort
			}
			dst = binary.AppendUvarint(dst, c)
			pos = p
			for range c {
				if from.kind == lMap {
					end, err := from.key.skip(src, pos)
					if err != nil {
						return dst, pos, err
					}
					dst, pos = append(dst, src[pos:end]...), end
				}
				if dst, pos, err = e(dst, src, pos); err != nil {
					return dst, pos, err
				}
			}
			return dst, pos, nil
		}, nil
	case lPointer:
		e, err := plan(from.elem, to.elem, path)
		if err != nil {
			return nil, err
		}
		return func(dst, src []byte, pos int) ([]byte, int, error) {
			if pos >= len(src) {
				return dst, pos, ErrShort
			}
			switch src[pos] {
			case 0:
				return append(dst, 0), pos + 1, nil
			case 1:
				return e(append(dst, 1), src, pos+1)
			}
			return dst, pos, ErrInvalid
		}, nil
	case lStruct:
	default:
		return nil, changed()
	}
	// Each old field is either rewritten into the slot of the new field of
	// its name or skipped; new fields without an old one are zero.
	slot := make([]int, len(from.fields))
	steps := make([]migration, len(from.fields))
	zeros := make([][]byte, len(to.fields))
	for j, tf := range to.fields {
		zeros[j] = tf.t.appendZero(nil)
	}
	for i, ff := range from.fields {
		slot[i] = -1
		for j, tf := range to.fields {
			if tf.name != ff.name {
				continue
			}
			m, err := plan(ff.t, tf.t, join(path, ff.name))
			if err != nil {
				return nil, err
			}
			slot[i], steps[i] = j, m
		}
	}
	return func(dst, src []byte, pos int) ([]byte, int, error) {
		parts := make([][]byte, len(to.fields))
		var err error
		for i, ff := range from.fields {
			if slot[i] < 0 {
				if pos, err = ff.t.skip(src, pos); err != nil {
					return dst, pos, err
				}
				continue
			}
			if parts[slot[i]], pos, err = steps[i](nil, src, pos); err != nil {
				return dst, pos, err
			}
		}
		for j, p := range parts {
			if p == nil {
				p = zeros[j]
			}
			dst = append(dst, p...)
		}
		return dst, pos, nil
	}, nil
}

func orRoot(path string) string {
	if path == "" {
		return "the value"
	}
	return "field " + path
}
