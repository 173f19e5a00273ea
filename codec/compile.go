package codec

import (
	"fmt"
	"reflect"
	"sync"
	"time"
	"unsafe"
)

// The codecs For and Struct build are compiled once per type from reflect
// information into a prog: a flat list of ops, each an operation on the
// memory at a fixed offset from the value's address. Encoding and decoding
// walk the ops with unsafe pointer arithmetic, without a reflect.Value per
// field; reflect is used at run time only to allocate slices of structs,
// pointees and maps, and to iterate and fill maps.

// opKind says what an op encodes. The primitive kinds come first.
type opKind uint8

const (
	opNone opKind = iota
	opBool
	opInt
	opInt8
	opInt16
	opInt32
	opInt64
	opUint
	opUint8
	opUint16
	opUint32
	opUint64
	opFloat32
	opFloat64
	opString
	opBytes
	opTime

	opByteArray   // [N]byte: N raw bytes
	opArray       // [N]T, T not a byte
	opStringSlice // []string: decoded into one shared allocation
	opSlice       // []T, T not a byte or string
	opMap
	opPointer
)

// opLastPrimitive is the last kind that encodes a primitive.
const opLastPrimitive = opTime

// op encodes the value of one type at offset off from the start of the
// enclosing prog's value.
type op struct {
	kind opKind
	off  uintptr
	path string // field path within the prog, for decoding errors; "" at the root
	n    int    // array length
	// elem is the element program of an array or slice, the value program
	// of a map and the pointee program of a pointer.
	elem *prog
	key  *prog // map keys
	// typ is the slice or map type, for allocating one, or the pointee type
	// of a pointer.
	typ reflect.Type
	// alloc is the primitive kind of a slice's elements when the slice can
	// be allocated with make instead of reflect.
	alloc opKind
}

// prog is the compiled layout of one type.
type prog struct {
	typ  reflect.Type
	ops  []op    // empty exactly when every value encodes to zero bytes
	size uintptr // size in memory
	min  int     // fewest bytes a value encodes to
}

var (
	timeType = reflect.TypeFor[time.Time]()
	// progs caches compiled programs by type; compiling is deterministic,
	// so a race to fill it is harmless.
	progs sync.Map // reflect.Type → *prog
)

// compile returns the program for t.
func compile(t reflect.Type) (*prog, error) {
	if p, ok := progs.Load(t); ok {
		return p.(*prog), nil
	}
	c := compiler{onPath: map[reflect.Type]bool{}}
	p, err := c.prog(t, "")
	if err != nil {
		return nil, compileErr(t, err)
	}
	progs.Store(t, p)
	return p, nil
}

type compileError struct{ path, msg string }

func (e *compileError) Error() string { return e.path + ": " + e.msg }

type compiler struct {
	// onPath holds the types being compiled from the root to the current
	// one; meeting one again means the type is recursive.
	onPath map[reflect.Type]bool
	// inKey counts the map key types being compiled.
	inKey int
	// lossless makes an unexported field that is not tagged `codec:"-"`
	// an error instead of a field left out.
	lossless bool
}

// prog compiles t; full is the field path of t from the root type, for
// errors.
func (c *compiler) prog(t reflect.Type, full string) (*prog, error) {
	ops, least, err := c.ops(nil, t, 0, "", full)
	if err != nil {
		return nil, err
	}
	return &prog{typ: t, ops: ops, size: t.Size(), min: least}, nil
}

func join(path, name string) string {
	if path == "" || name[0] == '[' {
		return path + name
	}
	return path + "." + name
}

// primitiveKinds maps the reflect kinds that have a primitive op.
var primitiveKinds = [...]opKind{
	reflect.Bool:    opBool,
	reflect.Int:     opInt,
	reflect.Int8:    opInt8,
	reflect.Int16:   opInt16,
	reflect.Int32:   opInt32,
	reflect.Int64:   opInt64,
	reflect.Uint:    opUint,
	reflect.Uint8:   opUint8,
	reflect.Uint16:  opUint16,
	reflect.Uint32:  opUint32,
	reflect.Uint64:  opUint64,
	reflect.Float32: opFloat32,
	reflect.Float64: opFloat64,
	reflect.String:  opString,
}

// primitiveSize is the encoded size of the primitive kinds; opString and
// opBytes take at least one byte.
var primitiveSize = [...]int{
	opBool: 1, opInt: 8, opInt8: 1, opInt16: 2, opInt32: 4, opInt64: 8,
	opUint: 8, opUint8: 1, opUint16: 2, opUint32: 4, opUint64: 8,
	opFloat32: 4, opFloat64: 8, opString: 1, opBytes: 1, opTime: 8,
}

// ops appends the ops that encode a t at offset off to ops and returns them
// with the minimum encoded size of a t. rel is the op path of t within the
// prog being built and full its path from the root type.
func (c *compiler) ops(ops []op, t reflect.Type, off uintptr, rel, full string) ([]op, int, error) {
	if t == timeType || t.Kind() == reflect.Struct && t.ConvertibleTo(timeType) {
		// time.Time and types defined as time.Time, whose fields are
		// unexported.
		return append(ops, op{kind: opTime, off: off, path: rel}), 8, nil
	}
	k := t.Kind()
	if int(k) < len(primitiveKinds) && primitiveKinds[k] != opNone {
		pk := primitiveKinds[k]
		return append(ops, op{kind: pk, off: off, path: rel}), primitiveSize[pk], nil
	}
	switch k {
	case reflect.Slice, reflect.Array, reflect.Map, reflect.Pointer, reflect.Struct:
	default:
		return nil, 0, &compileError{full, "unsupported kind " + k.String()}
	}
	if c.onPath[t] {
		return nil, 0, &compileError{full, fmt.Sprintf("recursive type %s is not supported", t)}
	}
	c.onPath[t] = true
	defer delete(c.onPath, t)

	switch k {
	case reflect.Slice:
		switch t.Elem().Kind() {
		case reflect.Uint8:
			return append(ops, op{kind: opBytes, off: off, path: rel}), 1, nil
		case reflect.String:
			return append(ops, op{kind: opStringSlice, off: off, path: rel}), 1, nil
		}
		e, err := c.prog(t.Elem(), join(full, "[]"))
		if err != nil {
			return nil, 0, err
		}
		o := op{kind: opSlice, off: off, path: rel, elem: e, typ: t}
		if len(e.ops) == 1 && e.ops[0].off == 0 && e.ops[0].kind <= opLastPrimitive &&
			e.size == primitiveMemSize[e.ops[0].kind] {
			o.alloc = e.ops[0].kind
		}
		return append(ops, o), 1, nil

	case reflect.Array:
		n := t.Len()
		if t.Elem().Kind() == reflect.Uint8 {
			if n == 0 {
				return ops, 0, nil
			}
			return append(ops, op{kind: opByteArray, off: off, path: rel, n: n}), n, nil
		}
		e, err := c.prog(t.Elem(), join(full, "[]"))
		if err != nil {
			return nil, 0, err
		}
		if n == 0 || e.min == 0 {
			return ops, 0, nil // zero-width
		}
		return append(ops, op{kind: opArray, off: off, path: rel, n: n, elem: e}), n * e.min, nil

	case reflect.Map:
		c.inKey++
		kp, err := c.prog(t.Key(), join(full, "[key]"))
		c.inKey--
		if err != nil {
			return nil, 0, err
		}
		vp, err := c.prog(t.Elem(), join(full, "[value]"))
		if err != nil {
			return nil, 0, err
		}
		return append(ops, op{kind: opMap, off: off, path: rel, key: kp, elem: vp, typ: t}), 1, nil

	case reflect.Pointer:
		if c.inKey > 0 {
			// Pointer keys are equal by address; decoding cannot give
			// back the addresses.
			return nil, 0, &compileError{full, "pointer in a map key is not supported"}
		}
		e, err := c.prog(t.Elem(), full)
		if err != nil {
			return nil, 0, err
		}
		return append(ops, op{kind: opPointer, off: off, path: rel, elem: e, typ: t.Elem()}), 1, nil
	}

	// Struct: its fields' ops inline, in declaration order.
	least, included, hidden := 0, 0, 0
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Tag.Get("codec") == "-" {
			included++ // deliberately left out
			continue
		}
		if !f.IsExported() && !(f.Anonymous && f.Type.Kind() == reflect.Struct) {
			if c.lossless {
				return nil, 0, &compileError{join(full, f.Name), fmt.Sprintf(
					"unexported field of %s would not be kept (export it, or tag it `codec:\"-\"` to leave it out on purpose)", t)}
			}
			hidden++
			continue
		}
		var m int
		var err error
		ops, m, err = c.ops(ops, f.Type, off+f.Offset, join(rel, f.Name), join(full, f.Name))
		if err != nil {
			return nil, 0, err
		}
		least += m
		included++
	}
	if included == 0 && hidden > 0 {
		return nil, 0, &compileError{full, fmt.Sprintf(
			"type %s has no exported fields, so its state would be lost (tag the field `codec:\"-\"` to leave it out)", t)}
	}
	return ops, least, nil
}

// Lossless reports whether For's codec of T keeps every part of a T: it
// returns an error, naming the type and the field path, for the first
// unexported struct field that is not tagged `codec:"-"`, anywhere in T —
// in nested and embedded structs, elements, map keys and values and
// pointees — since For would leave it out and decode it as its zero value.
// Types For does not support are an error too. Weir's state requires it
// of every type it keeps, so that a restored value is the value written.
func Lossless[T any]() error {
	return LosslessType(reflect.TypeFor[T]())
}

// LosslessType is Lossless for the type t.
func LosslessType(t reflect.Type) error {
	c := compiler{onPath: map[reflect.Type]bool{}, lossless: true}
	_, err := c.prog(t, "")
	return compileErr(t, err)
}

// compileErr words an error of compiling t.
func compileErr(t reflect.Type, err error) error {
	if ce, ok := err.(*compileError); ok {
		if ce.path == "" {
			return fmt.Errorf("codec: type %s: %s", t, ce.msg)
		}
		return fmt.Errorf("codec: type %s field %s: %s", t, ce.path, ce.msg)
	}
	return err
}

// primitiveMemSize is the size in memory of the Go type of each primitive
// op kind.
var primitiveMemSize = [...]uintptr{
	opBool: 1, opInt: unsafe.Sizeof(int(0)), opInt8: 1, opInt16: 2, opInt32: 4, opInt64: 8,
	opUint: unsafe.Sizeof(uint(0)), opUint8: 1, opUint16: 2, opUint32: 4, opUint64: 8,
	opFloat32: 4, opFloat64: 8,
	opString: unsafe.Sizeof(""), opBytes: unsafe.Sizeof([]byte(nil)), opTime: unsafe.Sizeof(time.Time{}),
}

// progCodec is the Codec of a compiled program.
type progCodec[T any] struct {
	p    *prog
	name string
}

func (c *progCodec[T]) minSize() int { return c.p.min }

func (c *progCodec[T]) Append(dst []byte, v T) []byte {
	return encodeOps(dst, unsafe.Pointer(&v), c.p.ops)
}

func (c *progCodec[T]) Decode(src []byte) (T, int, error) {
	var v T
	n, err := decodeOps(src, 0, unsafe.Pointer(&v), c.p.ops)
	if err != nil {
		var zero T
		return zero, 0, decodeError(c.name, n, err)
	}
	return v, n, nil
}

// Struct returns the codec for the struct type T. The encoding is T's
// encoded fields concatenated in declaration order, with no field names,
// tags or counts: a struct encodes exactly as its fields would one after
// another, and adding, removing or reordering fields changes the layout.
//
// Exported fields are encoded, by their types as For would. Unexported
// fields are skipped and decode as their zero value, except that an
// embedded struct of an unexported type is encoded like an exported one, so
// its exported fields are kept. A field tagged `codec:"-"` is skipped. A
// struct type with fields but none it could encode, such as sync.Mutex or a
// struct of only unexported fields, is an error, since its state would be
// silently lost.
//
// Struct reads T's layout once, here; encoding and decoding then work on
// the value's memory directly. It returns an error naming the field path if
// a field's type is not supported: chan, func, interface, unsafe.Pointer,
// uintptr, complex, a recursive type, or a pointer inside a map key.
func Struct[T any]() (Codec[T], error) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("codec: Struct: type %s is not a struct", t)
	}
	return compiled[T](t)
}

func compiled[T any](t reflect.Type) (Codec[T], error) {
	p, err := compile(t)
	if err != nil {
		return nil, err
	}
	return &progCodec[T]{p: p, name: t.String()}, nil
}

// For returns the codec for T, chosen by T's type:
//
//   - bool, the integer and float types, string, []byte, time.Time,
//     time.Duration and struct{} get the codecs of the same name (String,
//     Int64, Time…);
//   - structs are encoded as by Struct;
//   - []T as by Slice, map[K]V as by Map, *T as by Pointer, each with For's
//     codec for the element types; [N]T is its N elements one after
//     another, with no count;
//   - a defined type is encoded as its underlying type (type Title string
//     encodes as a string), except that types defined as time.Time encode
//     as times.
//
// Types with other kinds (chan, func, interface, unsafe.Pointer, uintptr,
// complex) are an error. For reads T's layout once; call it while building
// a job, not per record.
func For[T any]() (Codec[T], error) {
	if c, ok := builtin[T](); ok {
		return c, nil
	}
	return compiled[T](reflect.TypeFor[T]())
}

// MustFor is like For but panics if T is not supported. It is for building
// job graphs, where a bad type is a programming error.
func MustFor[T any]() Codec[T] {
	c, err := For[T]()
	if err != nil {
		panic(err)
	}
	return c
}

// builtin returns the exported codec of the primitive type T itself (not of
// types defined from it).
func builtin[T any]() (Codec[T], bool) {
	var c any
	switch any(*new(T)).(type) {
	case bool:
		c = Bool()
	case int:
		c = Int()
	case int8:
		c = Int8()
	case int16:
		c = Int16()
	case int32:
		c = Int32()
	case int64:
		c = Int64()
	case uint:
		c = Uint()
	case uint8:
		c = Uint8()
	case uint16:
		c = Uint16()
	case uint32:
		c = Uint32()
	case uint64:
		c = Uint64()
	case float32:
		c = Float32()
	case float64:
		c = Float64()
	case string:
		c = String()
	case []byte:
		c = Bytes()
	case time.Time:
		c = Time()
	case time.Duration:
		c = Duration()
	case struct{}:
		c = Unit()
	default:
		return nil, false
	}
	return c.(Codec[T]), true
}
